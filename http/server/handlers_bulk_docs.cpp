// POST /{db}/_bulk_docs (http-api.md §10): many interactive or replicated writes in one request,
// handed to the writer as one batch so they share one commit.
#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <variant>

#include "engine/doc_scan.h"
#include "http/server/doc_json.h"
#include "http/server/errors.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/write_concern.h"
#include "http/server/uuids.h"

namespace divan::http::server {

namespace {

struct BulkRequest {
  bool new_edits = true;
  std::vector<engine::WriteOp> ops;
  std::vector<std::string> ids;  // per op, for the response
};

// One doc of the request, appended to `bulk` as its write op and id.
Result<void> add_doc(Json&& item, BulkRequest& bulk) {
  auto doc = parse_incoming_doc(std::move(item));
  if (!doc) return tl::unexpected(doc.error());
  std::string id = doc->id ? *doc->id : next_uuid();
  auto op = engine::to_write_op(std::move(*doc), id, bulk.new_edits);
  if (!op) return tl::unexpected(op.error());
  bulk.ops.push_back(std::move(*op));
  bulk.ids.push_back(std::move(id));
  return {};
}

// The same for a doc split by engine::scan_replicated_bulk (new_edits=false, not `_local/`).
Result<void> add_split_doc(engine::SplitDoc&& split, BulkRequest& bulk) {
  auto doc = parse_incoming_doc(std::move(split.specials));
  if (!doc) return tl::unexpected(doc.error());
  std::string id = doc->id ? *doc->id : next_uuid();
  auto update = engine::replicated_update(std::move(*doc), id, std::move(split.body));
  if (!update) return tl::unexpected(update.error());
  bulk.ops.push_back(std::move(*update));
  bulk.ids.push_back(std::move(id));
  return {};
}

// A replicator's request ({"new_edits":false,…}: most of a push's or a mesh's writes) read with
// simdjson, its bodies never built as nlohmann trees (engine/doc_scan.h); nullopt for any other
// request, read by the nlohmann path below, which also gives the errors of a malformed body.
std::optional<Result<BulkRequest>> scan_replicated_request(std::string_view body) {
  auto docs = engine::scan_replicated_bulk(body);
  if (!docs) return std::nullopt;
  BulkRequest bulk;
  bulk.new_edits = false;
  bulk.ops.reserve(docs->size());
  bulk.ids.reserve(docs->size());
  for (auto& doc : *docs) {
    auto added = std::holds_alternative<engine::SplitDoc>(doc)
                     ? add_split_doc(std::get<engine::SplitDoc>(std::move(doc)), bulk)
                     : add_doc(std::get<Json>(std::move(doc)), bulk);
    if (!added) return tl::unexpected(added.error());
  }
  return bulk;
}

// Validates every doc before anything is written: one bad doc fails the whole request (§10).
Result<BulkRequest> parse_bulk_request(std::string_view body) {
  if (auto scanned = scan_replicated_request(body)) return std::move(*scanned);
  auto json = parse_json_object(body);
  if (!json) return tl::unexpected(json.error());
  BulkRequest bulk;
  if (auto it = json->find("new_edits"); it != json->end()) {
    if (!it->is_boolean()) return fail(Code::kBadRequest, "`new_edits` parameter must be a boolean.");
    bulk.new_edits = it->get<bool>();
  }
  auto docs = json->find("docs");
  if (docs == json->end()) return fail(Code::kBadRequest, "POST body must include `docs` parameter.");
  if (!docs->is_array()) return fail(Code::kBadRequest, "`docs` parameter must be an array.");
  bulk.ops.reserve(docs->size());
  bulk.ids.reserve(docs->size());
  for (auto& item : *docs) {
    if (auto added = add_doc(std::move(item), bulk); !added) return tl::unexpected(added.error());
  }
  return bulk;
}

void append_error_item(std::string& out, std::string_view id, const std::string* rev,
                       const Error& error, std::string_view error_name) {
  out += "{\"id\":";
  append_json_string(out, id);
  if (rev) {
    out += ",\"rev\":";
    append_json_string(out, *rev);
  }
  out += ",\"error\":";
  append_json_string(out, error_name);
  out += ",\"reason\":";
  append_json_string(out, error.reason);
  out.push_back('}');
}

// CouchDB aborts the whole request on an unresolvable stub (§7.3): checked before anything is
// written. Writes of an id seen earlier in the batch are skipped (their base may be written by that
// earlier op); the writer still checks every op, so a race with another writer can only cost
// atomicity, never correctness.
std::optional<Error> first_unresolvable_stub(engine::Database& db,
                                             const std::vector<engine::WriteOp>& ops) {
  std::optional<engine::Snapshot> snapshot;
  std::unordered_set<std::string_view> seen;
  for (const engine::WriteOp& op : ops) {
    const auto* update = std::get_if<engine::DocUpdate>(&op);
    if (!update) continue;
    bool first_of_id = seen.insert(update->id()).second;
    if (!update->has_stubs() || !first_of_id) continue;
    if (!snapshot) {
      auto opened = db.snapshot();
      if (!opened) return std::nullopt;  // the write reports it
      snapshot.emplace(std::move(*opened));
    }
    if (auto error = snapshot->check_stubs(*update)) return error;  // the writer's own rule
  }
  return std::nullopt;
}

}  // namespace

Task<Response> handle_bulk_docs(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());
  auto bulk = parse_bulk_request(req.body());
  if (!bulk) co_return error_response(bulk.error());
  req.mutable_body().clear();  // the parsed copy is all we need from here on

  if (auto error = first_unresolvable_stub(**db, bulk->ops)) co_return error_response(*error);
  // Design docs by non-admins and `_users` rules are refused per doc by the engine's write rules.
  auto result = co_await write(req, **db, std::move(bulk->ops));
  if (!result) co_return error_response(result.error());
  // An unresolvable attachment stub fails the whole request with 412, as in CouchDB (§7.3): the
  // CouchDB replicator reacts by re-sending the doc with its attachment bodies. Checked above
  // before writing; should a concurrent write still make the writer refuse a stub, the other docs
  // of the batch were committed in the same group and stay written, unlike CouchDB: re-sending
  // them is harmless (known revs are no-ops, interactive ones conflict).
  for (const engine::WriteOutcome& outcome : *result) {
    if (outcome.error && outcome.error->code == Code::kMissingStub) {
      co_return error_response(*outcome.error);
    }
  }

  // new_edits=true: one item per doc, in order. new_edits=false: only the failures (§10).
  std::string body = "[";
  for (size_t i = 0; i < result->size(); ++i) {
    const engine::WriteOutcome& outcome = (*result)[i];
    if (!bulk->new_edits && !outcome.error) continue;
    if (body.size() > 1) body.push_back(',');
    if (outcome.error) {
      ErrorInfo info = error_info(outcome.error->code);
      append_error_item(body, bulk->ids[i], bulk->new_edits ? nullptr : &outcome.rev,
                        *outcome.error, info.error);
    } else {
      body += "{\"ok\":true,\"id\":";
      append_json_string(body, bulk->ids[i]);
      body += ",\"rev\":";
      append_json_string(body, outcome.rev);
      body.push_back('}');
    }
  }
  body.push_back(']');
  Response res = json_response(bhttp::status::created, std::move(body));
  if (!*concern) co_return res;
  std::vector<std::pair<std::string, std::string>> written;
  for (size_t i = 0; i < result->size(); ++i) {
    if (!(*result)[i].error) written.emplace_back(bulk->ids[i], (*result)[i].rev);
  }
  co_return co_await await_write_concern(**concern, ctx, req.path().at(0), std::move(written),
                                         std::move(res));
}

}  // namespace divan::http::server
