#include "http/server/routes.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <spdlog/spdlog.h>

#include "http/server/auth_service.h"
#include "http/server/handlers.h"
#include "http/server/multipart_doc.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace {

using bhttp::verb;

struct Method {
  verb method;
  Handler handler;
};

struct Endpoint {
  std::string_view allow;  // CouchDB's spelling in the 405 reason and the Allow header
  std::initializer_list<Method> methods;
};

// Server level.
const Endpoint kWelcome{"GET,HEAD", {{verb::get, handle_welcome}}};
const Endpoint kUp{"GET,HEAD", {{verb::get, handle_up}}};
const Endpoint kAllDbs{"GET,HEAD", {{verb::get, handle_all_dbs}}};
const Endpoint kUuids{"GET", {{verb::get, handle_uuids}}};
const Endpoint kDbUpdates{"GET,HEAD,POST", {{verb::get, handle_db_updates}, {verb::post, handle_db_updates}}};
const Endpoint kSession{"GET,HEAD,POST,DELETE",
                        {{verb::get, handle_session}, {verb::post, handle_session},
                         {verb::delete_, handle_session}}};

// Database level.
const Endpoint kDatabase{"DELETE,GET,HEAD,POST",
                         {{verb::get, handle_db_info},
                          {verb::put, handle_db_create},
                          {verb::delete_, handle_db_delete},
                          {verb::post, handle_db_post}}};
const Endpoint kAllDocs{"GET,HEAD,POST", {{verb::get, handle_all_docs}, {verb::post, handle_all_docs}}};
const Endpoint kDesignDocs{"GET,HEAD,POST",
                           {{verb::get, handle_design_docs}, {verb::post, handle_design_docs}}};
const Endpoint kLocalDocs{"GET,HEAD,POST",
                          {{verb::get, handle_local_docs}, {verb::post, handle_local_docs}}};
const Endpoint kBulkDocs{"POST", {{verb::post, handle_bulk_docs}}};
const Endpoint kBulkGet{"POST", {{verb::post, handle_bulk_get}}};
const Endpoint kRevsDiff{"POST", {{verb::post, handle_revs_diff}}};
const Endpoint kEnsureFullCommit{"POST", {{verb::post, handle_ensure_full_commit}}};
const Endpoint kRevsLimit{"GET,PUT",
                          {{verb::get, handle_revs_limit_get}, {verb::put, handle_revs_limit_put}}};
const Endpoint kSecurity{"PUT,GET",
                         {{verb::get, handle_security_get}, {verb::put, handle_security_put}}};
const Endpoint kChanges{"GET,POST,HEAD", {{verb::get, handle_changes}, {verb::post, handle_changes}}};
const Endpoint kCompact{"POST", {{verb::post, handle_accepted_noop}}};

// Document level.
const Endpoint kDoc{"DELETE,GET,HEAD,PUT",
                    {{verb::get, handle_doc_get},
                     {verb::put, handle_doc_put},
                     {verb::delete_, handle_doc_delete}}};
const Endpoint kAttachment{"DELETE,GET,HEAD,PUT",
                           {{verb::get, handle_attachment_get},
                            {verb::put, handle_attachment_put},
                            {verb::delete_, handle_attachment_delete}}};

const Endpoint* database_special(std::string_view name) {
  static constexpr std::pair<std::string_view, const Endpoint*> kTable[] = {
      {"_all_docs", &kAllDocs},       {"_design_docs", &kDesignDocs},
      {"_local_docs", &kLocalDocs},   {"_bulk_docs", &kBulkDocs},
      {"_bulk_get", &kBulkGet},       {"_revs_diff", &kRevsDiff},
      {"_ensure_full_commit", &kEnsureFullCommit},
      {"_revs_limit", &kRevsLimit},   {"_security", &kSecurity},
      {"_changes", &kChanges},        {"_compact", &kCompact},        {"_view_cleanup", &kCompact},
  };
  for (const auto& [key, endpoint] : kTable) {
    if (key == name) return endpoint;
  }
  return nullptr;
}

// nullptr with `error` set when the path is malformed in a way CouchDB answers with 400.
const Endpoint* match(const Request& req, std::optional<Error>& error) {
  const auto& path = req.path();
  if (path.empty()) return &kWelcome;
  if (path.size() == 1) {
    if (path[0] == "_up") return &kUp;
    if (path[0] == "_all_dbs") return &kAllDbs;
    if (path[0] == "_uuids") return &kUuids;
    if (path[0] == "_db_updates") return &kDbUpdates;
    if (path[0] == "_session") return &kSession;
    return &kDatabase;  // other `_x` names fail the database-name rule in the handler
  }
  if (path[0] == "_all_dbs" || path[0] == "_up" || path[0] == "_uuids") {
    error = Error{Code::kNotFound, reason::kMissing};
    return nullptr;
  }
  const std::string& second = path[1];
  if (second == "_local") {
    if (path.size() == 2 || path[2].empty()) {
      error = Error{Code::kBadRequest, "Invalid _local document id."};
      return nullptr;
    }
    if (path.size() > 3) {
      error = Error{Code::kBadRequest, "_local documents do not accept attachments."};
      return nullptr;
    }
    return &kDoc;
  }
  if (second == "_design" && path.size() >= 3) return path.size() == 3 ? &kDoc : &kAttachment;
  if (path.size() == 2) {
    if (const Endpoint* special = database_special(second)) return special;
    return &kDoc;  // ids starting with '_' are rejected by the id rules
  }
  return &kAttachment;
}

Handler find_handler(const Endpoint& endpoint, verb method) {
  if (method == verb::head) method = verb::get;
  for (const Method& m : endpoint.methods) {
    if (m.method == method) return m.handler;
  }
  return nullptr;
}

}  // namespace

Task<Response> handle_request(Request& req, ServerContext& ctx) {
  if (!req.target_valid()) co_return error_response({Code::kBadRequest, "Malformed request URI"});
  if (ctx.auth) {  // CORS preflight, authentication, access rules (auth_service.h)
    if (auto refused = ctx.auth->before_route(req)) co_return std::move(*refused);
  }
  std::optional<Error> error;
  const Endpoint* endpoint = match(req, error);
  if (!endpoint) co_return error_response(*error);
  Handler handler = find_handler(*endpoint, req.method());
  if (!handler) co_return method_not_allowed(endpoint->allow);
  try {
    co_return co_await handler(req, ctx);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unhandled error: {}", req.method_string(), req.target(), e.what());
    co_return error_response({Code::kInternal, e.what()});
  }
}

std::string doc_id_from_path(const Request& req) {
  const auto& path = req.path();
  if (path.size() >= 3 && (path[1] == "_design" || path[1] == "_local")) {
    return path[1] + "/" + path[2];
  }
  return path.at(1);
}

// Mirrors match() above, segment for segment, so a streamed body always reaches the handler that
// expects one: the attachment endpoint, or the document endpoint with a multipart body.
bool streams_request_body(const bhttp::request_header<>& header) {
  if (header.method() != verb::put) return false;  // the hot path (GET, POST) stops here
  const bool multipart = is_multipart_related(header[bhttp::field::content_type]);
  // A JSON PUT /{db}/{docid} (the other hot path) needs no URL parse: fewer than three '/' means
  // at most two segments, since an encoded %2F never splits one.
  std::string_view target = header.target();
  std::string_view raw_path = target.substr(0, target.find('?'));
  if (!multipart && std::count(raw_path.begin(), raw_path.end(), '/') < 3) return false;

  // Decoded exactly as Request's constructor decodes it (request.cpp), trailing slash dropped.
  auto url = boost::urls::parse_origin_form(header.target());
  if (!url) return false;  // answered 400 "Malformed request URI" after a buffered read
  std::vector<std::string> path;
  for (auto segment : url->segments()) path.push_back(std::string(segment));
  if (!path.empty() && path.back().empty()) path.pop_back();

  if (path.size() < 2) return false;
  if (path[0] == "_all_dbs" || path[0] == "_up" || path[0] == "_uuids") return false;  // 404s
  const std::string& second = path[1];
  if (second == "_local") return false;  // no attachments on _local docs: a 400, or a JSON doc
  if (second == "_design") {
    if (path.size() == 3) return multipart;  // the design doc itself
    return path.size() >= 4;                 // one of its attachments
  }
  if (path.size() == 2) return multipart && database_special(second) == nullptr;
  return true;  // /{db}/{docid}/{att…}
}

}  // namespace divan::http::server
