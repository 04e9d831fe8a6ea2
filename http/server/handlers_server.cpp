// Server-level endpoints: GET /, /_up, /_all_dbs, /_uuids (http-api.md §3).
#include <algorithm>

#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/uuids.h"

namespace divan::http::server {

Task<Response> handle_welcome(Request&, ServerContext& ctx) {
  std::string body = "{\"couchdb\":\"Welcome\",\"version\":";
  append_json_string(body, ctx.version);
  body += ",\"git_sha\":\"divan\",\"uuid\":";
  append_json_string(body, ctx.catalog.server_uuid());
  body += ",\"features\":[\"access-ready\",\"scheduler\"],\"vendor\":{\"name\":\"Divan\"}}";
  co_return json_response(bhttp::status::ok, std::move(body));
}

Task<Response> handle_up(Request&, ServerContext&) {
  co_return json_response(bhttp::status::ok, R"({"status":"ok","seeds":{}})");
}

namespace {

// A JSON string key from startkey/endkey (and their start_key/end_key spellings).
Result<std::optional<std::string>> string_key(const Request& req, std::string_view a,
                                              std::string_view b) {
  auto value = json_param(req, req.param(a) ? a : b);
  if (!value) return tl::unexpected(value.error());
  if (!*value) return std::optional<std::string>();
  if (!(*value)->is_string()) return fail(Code::kQueryParseError, "Invalid key: must be a string");
  return std::optional<std::string>((*value)->get<std::string>());
}

}  // namespace

Task<Response> handle_all_dbs(Request& req, ServerContext& ctx) {
  auto descending = bool_param(req, "descending");
  auto inclusive_end = bool_param(req, "inclusive_end", true);
  auto limit = uint_param(req, "limit");
  auto skip = uint_param(req, "skip");
  auto start = string_key(req, "startkey", "start_key");
  auto end = string_key(req, "endkey", "end_key");
  for (const Error* e : {descending ? nullptr : &descending.error(),
                         inclusive_end ? nullptr : &inclusive_end.error(),
                         limit ? nullptr : &limit.error(), skip ? nullptr : &skip.error(),
                         start ? nullptr : &start.error(), end ? nullptr : &end.error()}) {
    if (e) co_return error_response(*e);
  }
  std::vector<std::string> names = ctx.catalog.all_dbs();
  if (*descending) std::reverse(names.begin(), names.end());
  // "before" in scan direction
  auto before = [&](const std::string& a, const std::string& b) { return *descending ? a > b : a < b; };
  std::string body = "[";
  uint64_t skipped = 0, emitted = 0;
  for (const auto& name : names) {
    if (*start && before(name, **start)) continue;
    if (*end && (before(**end, name) || (!*inclusive_end && name == **end))) break;
    if (skipped < skip->value_or(0)) { ++skipped; continue; }
    if (*limit && emitted >= **limit) break;
    if (emitted++) body.push_back(',');
    append_json_string(body, name);
  }
  body.push_back(']');
  co_return json_response(bhttp::status::ok, std::move(body));
}

Task<Response> handle_uuids(Request& req, ServerContext&) {
  auto raw = req.param("count");
  uint64_t count = 1;
  if (raw) {
    auto parsed = uint_param(req, "count");
    if (!parsed) co_return error_response({Code::kBadRequest, "count must be a positive integer"});
    count = **parsed;
  }
  if (count > 1000) co_return error_response({Code::kBadRequest, "count parameter too large"});
  std::string body = "{\"uuids\":[";
  for (uint64_t i = 0; i < count; ++i) {
    if (i) body.push_back(',');
    append_json_string(body, next_uuid());
  }
  body += "]}";
  Response res = json_response(bhttp::status::ok, std::move(body));
  res.set(bhttp::field::pragma, "no-cache");
  res.set(bhttp::field::expires, "Fri, 01 Jan 1990 00:00:00 GMT");
  res.set(bhttp::field::cache_control, "must-revalidate, no-cache");
  co_return res;
}

}  // namespace divan::http::server
