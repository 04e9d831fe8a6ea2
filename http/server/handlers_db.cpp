// Database endpoints: /{db} and its settings (http-api.md §4).

#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>

#include "base/numbers.h"
#include "changes/feed.h"
#include "http/server/doc_json.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/write_concern.h"
#include "http/server/uuids.h"

namespace divan::http::server {

Task<Response> handle_db_info(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  engine::DbInfo info = (*db)->info();
  std::string body = "{\"db_name\":";
  append_json_string(body, (*db)->name());
  body += ",\"update_seq\":" + changes::seq_json(info.update_seq);
  body += ",\"purge_seq\":" + std::to_string(info.purge_seq);
  body += ",\"doc_count\":" + std::to_string(info.doc_count);
  body += ",\"doc_del_count\":" + std::to_string(info.doc_del_count);
  body += ",\"sizes\":{\"file\":" + std::to_string(info.file_size) +
          ",\"external\":" + std::to_string(info.external_size) +
          ",\"active\":" + std::to_string(info.active_size) + "}";
  body += ",\"props\":{},\"compact_running\":";
  body += info.compact_running ? "true" : "false";
  body += ",\"disk_format_version\":8";
  // Must equal _ensure_full_commit's value for the life of the db (http-api.md §4.4).
  body += ",\"instance_start_time\":\"0\"";
  body += ",\"cluster\":{\"q\":1,\"n\":1,\"w\":1,\"r\":1}}";
  co_return json_response(bhttp::status::ok, std::move(body));
}

Task<Response> handle_db_create(Request& req, ServerContext& ctx) {
  for (std::string_view key : {"q", "n"}) {
    if (auto value = req.param(key)) {
      const auto n = parse_unsigned<unsigned>(*value);
      if (!n || *n == 0) {
        co_return error_response({Code::kBadRequest, "The `" + std::string(key) +
                                                         "` value should be a positive integer."});
      }
    }
  }
  if (req.param("partitioned") == "true") {
    co_return error_response({Code::kBadRequest, "Partitioned feature is not enabled."});
  }
  auto db = ctx.catalog.create(req.path().at(0));  // the catalog tells the notifier
  if (!db) co_return error_response(db.error());
  Response res = json_response(bhttp::status::created, R"({"ok":true})");
  res.set(bhttp::field::location, "http://" + std::string(req.header(bhttp::field::host)) + "/" +
                                      boost::urls::encode(req.path().at(0), boost::urls::pchars));
  co_return res;
}

Task<Response> handle_db_delete(Request& req, ServerContext& ctx) {
  if (req.param("rev")) {
    co_return error_response(
        {Code::kBadRequest,
         "You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a "
         "document instead?"});
  }
  // The catalog tells the notifier, which ends the database's open feeds.
  auto removed = ctx.catalog.remove(req.path().at(0));
  if (!removed) co_return error_response(removed.error());
  co_return json_response(bhttp::status::ok, R"({"ok":true})");
}

// POST /{db}: create a document, generating its id when absent (§4.5).
Task<Response> handle_db_post(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());
  auto json = parse_json_object(req.body(), "Document must be a JSON object");
  if (!json) co_return error_response(json.error());
  auto doc = parse_incoming_doc(std::move(*json));
  if (!doc) co_return error_response(doc.error());
  std::string id = doc->id ? *doc->id : next_uuid();
  auto op = engine::to_write_op(std::move(*doc), id, true);
  if (!op) co_return error_response(op.error());
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(*op));
  auto result = co_await write(req, **db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const engine::WriteOutcome& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  if (req.param("batch") == "ok") {
    // We always write synchronously; the 202 shape is what batch=ok clients expect.
    std::string body = "{\"ok\":true,\"id\":" + json_string(id) + "}";
    co_return json_response(bhttp::status::accepted, std::move(body));
  }
  Response res = doc_written(req, id, outcome.rev, bhttp::status::created);
  if (!*concern) co_return res;
  co_return co_await await_write_concern(**concern, ctx, req, id, outcome.rev, std::move(res));
}

Task<Response> handle_ensure_full_commit(Request& req, ServerContext& ctx) {
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  // Every acknowledged write was already fsynced by the writer: nothing left to flush.
  co_return json_response(bhttp::status::created, R"({"ok":true,"instance_start_time":"0"})");
}

Task<Response> handle_revs_limit_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  co_return json_response(bhttp::status::ok, std::to_string((*db)->revs_limit()));
}

Task<Response> handle_revs_limit_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto json = parse_json(req.body());
  if (!json) co_return error_response(json.error());
  if (!json->is_number_integer() || json->get<int64_t>() <= 0 ||
      json->get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
    co_return error_response({Code::kBadRequest, "`revs_limit` must be a positive integer"});
  }
  std::vector<engine::WriteOp> ops;
  ops.push_back(engine::SetRevsLimit{static_cast<uint32_t>(json->get<int64_t>())});
  auto result = co_await write(req, **db, std::move(ops));
  if (!result) co_return error_response(result.error());
  co_return json_response(bhttp::status::ok, R"({"ok":true})");
}

Task<Response> handle_security_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  co_return json_response(bhttp::status::ok, (*db)->security());
}

namespace {

// `names`/`roles` under admins/members must be arrays of strings (http-api.md §4.8).
Result<void> validate_security(const Json& security) {
  for (const char* group : {"admins", "members"}) {
    auto it = security.find(group);
    if (it == security.end()) continue;
    if (!it->is_object()) return fail(Code::kBadRequest, std::string(group) + " must be a JSON object");
    for (const char* list : {"names", "roles"}) {
      auto entries = it->find(list);
      if (entries == it->end()) continue;
      bool ok = entries->is_array() &&
                std::all_of(entries->begin(), entries->end(), [](const Json& v) { return v.is_string(); });
      if (!ok) return fail(Code::kBadRequest, std::string(list) + " must be a JSON list of strings");
    }
  }
  return {};
}

}  // namespace

Task<Response> handle_security_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto json = parse_json_object(req.body());
  if (!json) co_return error_response(json.error());
  if (auto ok = validate_security(*json); !ok) co_return error_response(ok.error());
  std::vector<engine::WriteOp> ops;
  ops.push_back(engine::SetSecurity{json->dump()});
  auto result = co_await write(req, **db, std::move(ops));
  if (!result) co_return error_response(result.error());
  co_return json_response(bhttp::status::ok, R"({"ok":true})");
}

}  // namespace divan::http::server
