// Database maintenance: POST /{db}/_compact (engine/compaction.h), POST /{db}/_purge,
// GET|PUT /{db}/_purged_infos_limit, and the view endpoints a server without views answers.
#include <limits>
#include <string>
#include <vector>

#include "engine/random.h"
#include "http/server/handlers.h"
#include "http/server/json_body.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "revtree/rev_id.h"

namespace divan::http::server {

using Json = nlohmann::ordered_json;
namespace {

// CouchDB's [purge] max_document_id_number and max_revisions_number defaults.
constexpr size_t kMaxPurgeDocs = 100;
constexpr size_t kMaxPurgeRevs = 1000;

// {"id": ["rev", …], …} → one PurgeDoc per id, under one request uuid; CouchDB's errors.
Result<std::vector<engine::PurgeDoc>> parse_purge(const Json& body) {
  if (!body.is_object()) return fail(Code::kBadRequest, "Request body must be a JSON object");
  if (body.size() > kMaxPurgeDocs) {
    return fail(Code::kBadRequest, "Exceeded maximum number of documents.");
  }
  std::string uuid = engine::random_uuid();
  std::vector<engine::PurgeDoc> docs;
  size_t total_revs = 0;
  for (const auto& [id, revs] : body.items()) {
    if (!revs.is_array()) return fail(Code::kBadRequest, "Invalid list of revisions");
    engine::PurgeDoc doc{id, {}, uuid};
    for (const auto& rev : revs) {
      auto parsed = rev.is_string() ? revtree::parse_rev(rev.get_ref<const std::string&>())
                                    : std::nullopt;
      if (!parsed) return fail(Code::kBadRequest, "Invalid rev format");
      doc.revs.push_back(std::move(*parsed));
    }
    total_revs += doc.revs.size();
    docs.push_back(std::move(doc));
  }
  if (total_revs > kMaxPurgeRevs) {
    return fail(Code::kBadRequest, "Exceeded maximum number of revisions.");
  }
  return docs;
}

}  // namespace

Task<Response> handle_compact(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  // Already compacting: CouchDB answers 202 again and lets the running one finish.
  (*db)->compact();
  co_return json_response(bhttp::status::accepted, R"({"ok":true})");
}

Task<Response> handle_accepted_noop(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  // No views, so nothing to compact or clean; CouchDB answers 202 without looking for the ddoc.
  co_return json_response(bhttp::status::accepted, R"({"ok":true})");
}

Task<Response> handle_purge(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto body = parse_json(req.body());
  if (!body) co_return error_response(body.error());
  auto docs = parse_purge(*body);
  if (!docs) co_return error_response(docs.error());
  std::vector<std::string> ids;
  std::vector<engine::WriteOp> ops;
  for (auto& doc : *docs) {
    ids.push_back(doc.id);
    ops.push_back(std::move(doc));
  }
  auto outcomes = co_await write(req, **db, std::move(ops));
  if (!outcomes) co_return error_response(outcomes.error());
  // A clustered CouchDB 3 answers purge_seq null; `purged` lists what went, [] for the rest.
  std::string out = R"({"purge_seq":null,"purged":{)";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, ids[i]);
    out += ":[";
    const auto& purged = (*outcomes)[i].purged;
    for (size_t k = 0; k < purged.size(); ++k) {
      if (k) out.push_back(',');
      append_json_string(out, purged[k].str());
    }
    out.push_back(']');
  }
  out += "}}";
  co_return json_response(bhttp::status::created, std::move(out));
}

Task<Response> handle_purged_infos_limit_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  co_return json_response(bhttp::status::ok, std::to_string((*db)->purged_infos_limit()));
}

Task<Response> handle_purged_infos_limit_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto json = parse_json(req.body());
  if (!json) co_return error_response(json.error());
  if (!json->is_number_integer() || json->get<int64_t>() <= 0) {
    co_return error_response({Code::kBadRequest, "`purged_infos_limit` must be positive integer"});
  }
  std::vector<engine::WriteOp> ops;
  ops.push_back(engine::SetPurgedInfosLimit{static_cast<uint64_t>(json->get<int64_t>())});
  auto result = co_await write(req, **db, std::move(ops));
  if (!result) co_return error_response(result.error());
  co_return json_response(bhttp::status::ok, R"({"ok":true})");
}

}  // namespace divan::http::server
