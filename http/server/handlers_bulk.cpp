// The replicator's read endpoints: POST /{db}/_bulk_get (http-api.md §11) and
// POST /{db}/_revs_diff (§12, revision-trees.md §10). Each request reads from one snapshot, so
// all its answers agree with each other; the snapshot is released before the reply is written.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/server/doc_json.h"
#include "http/server/errors.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace {

using revtree::RevId;

// ---- _bulk_get ----

struct BulkGetOptions {
  bool latest = false;
  ReadOptions read;
};

// `{"error":{"id":…,"rev":…,"error":…,"reason":…}}`; `id_json`/`rev_json` are JSON text
// (CouchDB echoes what it was given: null, the bad value, or "undefined" for an omitted rev).
void append_error_item(std::string& out, std::string_view id_json, std::string_view rev_json,
                       const Error& error) {
  out += "{\"error\":{\"id\":";
  out += id_json;
  out += ",\"rev\":";
  out += rev_json;
  out += ",\"error\":";
  append_json_string(out, error_info(error.code).error);
  out += ",\"reason\":";
  append_json_string(out, error.reason);
  out += "}}";
}

const Error kMissing{Code::kNotFound, reason::kMissing};

// The revisions one entry asks for, read and appended as `docs` items (chttpd_db
// bulk_get_open_doc_revs: `rev` omitted → all leaves; `latest` → the leaves under `rev`).
void append_revisions(std::string& out, engine::Snapshot& snapshot, std::string_view id_json,
                      const std::string& id, const std::optional<RevId>& rev,
                      const BulkGetOptions& options, uint32_t revs_limit) {
  auto doc = snapshot.doc(id);
  if (!doc) {
    append_error_item(out, id_json, rev ? json_string(rev->str()) : "\"undefined\"", kMissing);
    return;
  }
  // deleted leaves too: they come back with "_deleted":true
  revtree::OpenRevs selected = doc->tree.open_revs(
      rev ? std::optional<std::vector<RevId>>({*rev}) : std::nullopt, options.latest);
  const std::vector<revtree::Leaf>& to_send = selected.found;
  bool first = true;
  for (const auto& leaf : to_send) {
    if (!first) out.push_back(',');
    first = false;
    auto rendered = read_revision(snapshot, *doc, leaf.rev, leaf.deleted, options.read, revs_limit);
    if (rendered) {
      out += "{\"ok\":";
      out += *rendered;
      out.push_back('}');
    } else {
      append_error_item(out, id_json, json_string(leaf.rev.str()), kMissing);
    }
  }
  for (const auto& missing : selected.missing) {
    if (!first) out.push_back(',');
    first = false;
    append_error_item(out, id_json, json_string(missing.str()), kMissing);
  }
}

// One element of `results`: {"id":…,"docs":[…]}. A malformed entry becomes an error item rather
// than failing the request, with CouchDB's reasons (§11).
void append_entry(std::string& out, engine::Snapshot& snapshot, const Json& entry,
                  const BulkGetOptions& options, uint32_t revs_limit) {
  std::string id_json = "null";
  auto error_entry = [&](std::string_view rev_json, const Error& error) {
    out += "{\"id\":" + id_json + ",\"docs\":[";
    append_error_item(out, id_json, rev_json, error);
    out += "]}";
  };
  if (!entry.is_object()) {
    return error_entry("null", {Code::kBadRequest, "document must be a JSON object"});
  }
  auto id_it = entry.find("id");
  if (id_it == entry.end()) return error_entry("null", {Code::kBadRequest, "document id missed"});
  id_json = id_it->dump();
  if (auto ok = validate_json_doc_id(*id_it); !ok) return error_entry("null", ok.error());
  const std::string& id = id_it->get_ref<const std::string&>();

  std::optional<RevId> rev;
  if (auto it = entry.find("rev"); it != entry.end()) {
    rev = it->is_string() ? revtree::parse_rev(it->get_ref<const std::string&>()) : std::nullopt;
    if (!rev) return error_entry(it->dump(), {Code::kBadRequest, reason::kBadRev});
  }
  // atts_since: attachment bodies newer than the nearest listed ancestor go inline (§11).
  const BulkGetOptions* entry_options = &options;
  BulkGetOptions with_since;
  if (auto it = entry.find("atts_since"); it != entry.end()) {
    if (!it->is_array()) {
      return error_entry(it->dump(), {Code::kBadRequest, "att_since value must be array of revs."});
    }
    for (const auto& since : *it) {
      if (!since.is_string() || !revtree::parse_rev(since.get_ref<const std::string&>())) {
        return error_entry(since.dump(), {Code::kBadRequest, reason::kBadRev});
      }
    }
    with_since = options;
    with_since.read.atts_since = *parse_atts_since(*it);
    with_since.read.attachments = engine::AttachmentMode::kInline;
    entry_options = &with_since;
  }
  out += "{\"id\":" + id_json + ",\"docs\":[";
  append_revisions(out, snapshot, id_json, id, rev, *entry_options, revs_limit);
  out += "]}";
}

// ---- _revs_diff ----

struct DiffRequest {
  std::string id;
  std::vector<RevId> revs;
};

Result<std::vector<DiffRequest>> parse_revs_diff(Json&& body) {
  std::vector<DiffRequest> out;
  out.reserve(body.size());
  for (auto& [id, revs] : body.items()) {
    if (!revs.is_array()) return fail(Code::kBadRequest, "Invalid list of revisions");
    DiffRequest request{id, {}};
    request.revs.reserve(revs.size());
    for (const auto& text : revs) {
      auto rev =
          text.is_string() ? revtree::parse_rev(text.get_ref<const std::string&>()) : std::nullopt;
      if (!rev) return fail(Code::kBadRequest, reason::kBadRev);
      request.revs.push_back(std::move(*rev));
    }
    out.push_back(std::move(request));
  }
  return out;
}

void append_rev_array(std::string& out, const std::vector<RevId>& revs) {
  out.push_back('[');
  for (size_t i = 0; i < revs.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, revs[i].str());
  }
  out.push_back(']');
}

}  // namespace

Task<Response> handle_bulk_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto body = parse_json_object(req.body());
  if (!body) co_return error_response(body.error());
  auto docs = body->find("docs");
  if (docs == body->end() || !docs->is_array()) {
    co_return error_response({Code::kBadRequest, "Missing JSON list of 'docs'."});
  }
  // Per-entry options belong in the body; these would be ambiguous in the query (chttpd_db
  // validate_query_param). The first one in request order is reported.
  for (const auto& [name, value] : req.params()) {
    for (std::string_view forbidden : {"rev", "open_revs", "atts_since", "new_edits", "w"}) {
      if (name == forbidden) {
        co_return error_response(
            {Code::kBadRequest, "\"" + name + "\" query parameter is not acceptable"});
      }
    }
  }
  BulkGetOptions options;
  auto latest = bool_param(req, "latest");
  if (!latest) co_return error_response(latest.error());
  options.latest = *latest;
  // Only `revs` shapes an open_revs answer: CouchDB reads these revisions without the doc meta
  // that `conflicts`, `revs_info` and `local_seq` would need (couch_db open_doc_revs).
  auto revs = bool_param(req, "revs");
  if (!revs) co_return error_response(revs.error());
  options.read.revs = *revs;
  // attachments=true inlines every attachment body; the query string, or a body field as the
  // CouchDB replicator repeats its options there.
  auto attachments = bool_param(req, "attachments");
  if (!attachments) co_return error_response(attachments.error());
  auto att_encoding_info = bool_param(req, "att_encoding_info");
  if (!att_encoding_info) co_return error_response(att_encoding_info.error());
  options.read.att_encoding_info = *att_encoding_info;
  auto body_flag = body->find("attachments");
  if (*attachments || (body_flag != body->end() && *body_flag == true)) {
    options.read.attachments = engine::AttachmentMode::kInline;
  }

  std::string out = "{\"results\":[";
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    const uint32_t revs_limit = (*db)->revs_limit();
    bool first = true;
    for (const Json& entry : *docs) {
      if (!first) out.push_back(',');
      first = false;
      append_entry(out, *snapshot, entry, options, revs_limit);
    }
  }  // the read transaction ends here, before the reply is written
  out += "]}";
  co_return json_response(bhttp::status::ok, std::move(out));
}

Task<Response> handle_revs_diff(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto body = parse_json_object(req.body());
  if (!body) co_return error_response(body.error());
  // Every rev is parsed before anything is read: one bad rev fails the whole request.
  auto requests = parse_revs_diff(std::move(*body));
  if (!requests) co_return error_response(requests.error());

  std::string out = "{";
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    for (const DiffRequest& request : *requests) {
      revtree::RevsDiff diff = snapshot->revs_diff(request.id, request.revs);
      if (diff.missing.empty()) continue;  // complete docs are omitted (§12)
      if (out.size() > 1) out.push_back(',');
      append_json_string(out, request.id);
      out += ":{\"missing\":";
      append_rev_array(out, diff.missing);
      if (!diff.possible_ancestors.empty()) {
        out += ",\"possible_ancestors\":";
        append_rev_array(out, diff.possible_ancestors);
      }
      out.push_back('}');
    }
  }
  out.push_back('}');
  co_return json_response(bhttp::status::ok, std::move(out));
}

}  // namespace divan::http::server
