#include "http/server/routes.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "http/server/auth_service.h"
#include "http/server/handlers.h"
#include "http/server/multipart_doc.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace {

using bhttp::verb;

// ---- The table ----------------------------------------------------------------------------------

// How a request body reaches its handler.
enum class Body {
  kBuffered,           // read whole first (the fast path)
  kStreamed,           // a BodyReader: attachment uploads
  kStreamedMultipart,  // a BodyReader when the Content-Type is multipart/related (document PUT)
};

struct MethodRoute {
  verb method;
  Handler handler;
  Access access;
  Body body = Body::kBuffered;
};

// A path pattern: '/'-separated segments, each a literal, `{db}` (the database: any one
// segment), `*` (any one segment) or `**` (one or more segments, last only). "" is the root.
struct Route {
  std::string_view pattern;
  std::string_view allow;  // CouchDB's spelling in the 405 reason and the Allow header
  std::initializer_list<MethodRoute> methods;
  // A shape CouchDB refuses outright, whatever the method (after the access check, as CouchDB).
  std::optional<Error> error = std::nullopt;
  Access error_access = Access::kServerAdmin;
};

constexpr Access kPublic = Access::kPublic;
constexpr Access kAuthenticated = Access::kAuthenticated;
constexpr Access kServerAdmin = Access::kServerAdmin;
constexpr Access kDbAdmin = Access::kDbAdmin;
constexpr Access kMember = Access::kMember;
constexpr Access kMemberDbAdmin = Access::kMemberDbAdmin;
constexpr Access kListing = Access::kListing;

Error not_found() { return Error{Code::kNotFound, reason::kMissing}; }
Error bad_request(const char* reason) { return Error{Code::kBadRequest, reason}; }

// First match wins: specific shapes before the general `{db}/*` ones. spec: http-api.md; the
// access rules are §2.2's.
const Route kRoutes[] = {
    // Server level.
    {"", "GET,HEAD", {{verb::get, handle_welcome, kPublic}}},
    {"_up", "GET,HEAD", {{verb::get, handle_up, kPublic}}},
    {"_all_dbs", "GET,HEAD", {{verb::get, handle_all_dbs, kServerAdmin}}},
    {"_uuids", "GET", {{verb::get, handle_uuids, kPublic}}},
    {"_session", "GET,HEAD,POST,DELETE",
     {{verb::get, handle_session, kPublic}, {verb::post, handle_session, kPublic},
      {verb::delete_, handle_session, kPublic}}},
    {"_db_updates", "GET,HEAD,POST",
     {{verb::get, handle_db_updates, kServerAdmin}, {verb::post, handle_db_updates, kServerAdmin}}},
    {"_replicate", "POST", {{verb::post, handle_replicate, kAuthenticated}}},
    {"_active_tasks", "GET,HEAD", {{verb::get, handle_active_tasks, kServerAdmin}}},
    {"_scheduler/jobs", "GET,HEAD", {{verb::get, handle_scheduler_jobs, kServerAdmin}}},
    {"_scheduler/jobs/*", "GET,HEAD", {{verb::get, handle_scheduler_jobs, kServerAdmin}}},
    {"_scheduler/docs", "GET,HEAD", {{verb::get, handle_scheduler_docs, kServerAdmin}}},
    {"_scheduler/docs/**", "GET,HEAD", {{verb::get, handle_scheduler_docs, kServerAdmin}}},
    {"_mesh", "GET,HEAD", {{verb::get, handle_mesh, kServerAdmin}}},
    {"_mesh/peers", "GET,HEAD,POST",
     {{verb::get, handle_mesh_peers, kServerAdmin}, {verb::post, handle_mesh_peers, kServerAdmin}}},
    {"_mesh/peers/*", "DELETE", {{verb::delete_, handle_mesh_peer_delete, kServerAdmin}}},
    {"_all_dbs/**", "", {}, not_found()},
    {"_up/**", "", {}, not_found()},
    {"_uuids/**", "", {}, not_found()},

    // Database level.
    {"{db}", "DELETE,GET,HEAD,POST",
     {{verb::get, handle_db_info, kMember},
      {verb::put, handle_db_create, kServerAdmin},
      {verb::delete_, handle_db_delete, kServerAdmin},
      {verb::post, handle_db_post, kMember}}},
    {"{db}/_all_docs", "GET,HEAD,POST",
     {{verb::get, handle_all_docs, kListing}, {verb::post, handle_all_docs, kListing}}},
    {"{db}/_design_docs", "GET,HEAD,POST",
     {{verb::get, handle_design_docs, kMember}, {verb::post, handle_design_docs, kMember}}},
    {"{db}/_local_docs", "GET,HEAD,POST",
     {{verb::get, handle_local_docs, kMember}, {verb::post, handle_local_docs, kMember}}},
    {"{db}/_bulk_docs", "POST", {{verb::post, handle_bulk_docs, kMember}}},
    {"{db}/_bulk_get", "POST", {{verb::post, handle_bulk_get, kMember}}},
    {"{db}/_revs_diff", "POST", {{verb::post, handle_revs_diff, kMember}}},
    {"{db}/_ensure_full_commit", "POST", {{verb::post, handle_ensure_full_commit, kMember}}},
    {"{db}/_revs_limit", "GET,PUT",
     {{verb::get, handle_revs_limit_get, kMember},
      {verb::put, handle_revs_limit_put, kMemberDbAdmin}}},
    {"{db}/_security", "PUT,GET",
     {{verb::get, handle_security_get, kMember}, {verb::put, handle_security_put, kMemberDbAdmin}}},
    {"{db}/_changes", "GET,POST,HEAD",
     {{verb::get, handle_changes, kListing}, {verb::post, handle_changes, kListing}}},
    {"{db}/_compact", "POST", {{verb::post, handle_compact, kDbAdmin}}},
    {"{db}/_purge", "POST", {{verb::post, handle_purge, kMemberDbAdmin}}},
    {"{db}/_purged_infos_limit", "GET,PUT",
     {{verb::get, handle_purged_infos_limit_get, kMember},
      {verb::put, handle_purged_infos_limit_put, kMemberDbAdmin}}},
    {"{db}/_compact/**", "POST", {{verb::post, handle_accepted_noop, kDbAdmin}}},
    {"{db}/_view_cleanup", "POST", {{verb::post, handle_accepted_noop, kDbAdmin}}},

    // Documents: _local ones (no attachments), design ones (admin writes), the rest.
    {"{db}/_local", "", {}, bad_request("Invalid _local document id."), kMember},
    {"{db}/_local/*", "DELETE,GET,HEAD,PUT",
     {{verb::get, handle_doc_get, kMember},
      {verb::put, handle_doc_put, kMember},
      {verb::delete_, handle_doc_delete, kMember}}},
    {"{db}/_local/*/**", "", {}, bad_request("_local documents do not accept attachments."),
     kMember},
    // "_design" alone is a document id the id rules refuse: nothing to stream for it.
    {"{db}/_design", "DELETE,GET,HEAD,PUT",
     {{verb::get, handle_doc_get, kMember},
      {verb::put, handle_doc_put, kMember},
      {verb::delete_, handle_doc_delete, kMember}}},
    {"{db}/_design/*", "DELETE,GET,HEAD,PUT",
     {{verb::get, handle_doc_get, kMember},
      {verb::put, handle_doc_put, kMemberDbAdmin, Body::kStreamedMultipart},
      {verb::delete_, handle_doc_delete, kMemberDbAdmin}}},
    {"{db}/_design/*/**", "DELETE,GET,HEAD,PUT",
     {{verb::get, handle_attachment_get, kMember},
      {verb::put, handle_attachment_put, kMemberDbAdmin, Body::kStreamed},
      {verb::delete_, handle_attachment_delete, kMemberDbAdmin}}},
    {"{db}/*", "DELETE,GET,HEAD,PUT",  // ids starting with '_' are refused by the id rules
     {{verb::get, handle_doc_get, kMember},
      {verb::put, handle_doc_put, kMember, Body::kStreamedMultipart},
      {verb::delete_, handle_doc_delete, kMember}}},
    {"{db}/*/**", "DELETE,GET,HEAD,PUT",
     {{verb::get, handle_attachment_get, kMember},
      {verb::put, handle_attachment_put, kMember, Body::kStreamed},
      {verb::delete_, handle_attachment_delete, kMember}}},
};

// ---- Matching -----------------------------------------------------------------------------------

std::string_view next_segment(std::string_view& pattern) {
  size_t slash = pattern.find('/');
  std::string_view segment = pattern.substr(0, slash);
  pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
  return segment;
}

// Whether `path` has the shape of `pattern`; sets `db` to the `{db}` segment.
bool matches(std::string_view pattern, const std::vector<std::string>& path, std::string_view& db) {
  if (pattern.empty()) return path.empty();
  size_t i = 0;
  while (!pattern.empty()) {
    std::string_view want = next_segment(pattern);
    if (want == "**") return i < path.size();  // one or more, to the end
    if (i == path.size()) return false;
    if (want == "{db}") {
      db = path[i];
    } else if (want != "*" && want != path[i]) {
      return false;
    }
    ++i;
  }
  return i == path.size();
}

// `_users` and `_replicator` are databases; any other first segment starting with '_' names a
// node endpoint, so what the table does not list there is server-admin land (then 404).
bool system_db(std::string_view db) { return db == "_users" || db == "_replicator"; }

Access effective_access(Access access, std::string_view db) {
  if (!db.empty() && db.front() == '_' && !system_db(db)) return Access::kServerAdmin;
  // Listings and feeds of the system databases are admin-only (http-api.md §2.2).
  if (access == Access::kListing) return system_db(db) ? Access::kServerAdmin : Access::kMember;
  return access;
}

}  // namespace

RouteMatch match_route(verb method, const std::vector<std::string>& path, bool multipart_related) {
  if (method == verb::head) method = verb::get;
  RouteMatch out;
  for (const Route& route : kRoutes) {
    std::string_view db;
    if (!matches(route.pattern, path, db)) continue;
    out.db = db;
    out.allow = route.allow;
    if (route.error) {
      out.error = route.error;
      out.access = effective_access(route.error_access, db);
      return out;
    }
    // The empty id of "/db/_local/" with a slash too many.
    if (route.pattern == "{db}/_local/*" && path[2].empty()) {
      out.error = bad_request("Invalid _local document id.");
      out.access = effective_access(Access::kMember, db);
      return out;
    }
    for (const MethodRoute& m : route.methods) {
      if (m.method != method) continue;
      out.handler = m.handler;
      out.access = effective_access(m.access, db);
      out.streams = m.body == Body::kStreamed || (m.body == Body::kStreamedMultipart && multipart_related);
      return out;
    }
    // A method the path does not take: 405, once the path's own access rule (its GET's, else
    // its first method's) let the request through.
    const MethodRoute* rule = route.methods.size() > 0 ? route.methods.begin() : nullptr;
    for (const MethodRoute& m : route.methods) {
      if (m.method == verb::get) rule = &m;
    }
    if (rule) out.access = effective_access(rule->access, db);
    return out;
  }
  out.error = not_found();  // unreachable: `{db}/*/**` takes every longer path
  return out;
}

AccessTarget classify_request(verb method, const std::vector<std::string>& path) {
  RouteMatch route = match_route(method, path);
  return {route.access, route.db};
}

Task<Response> handle_request(Request& req, ServerContext& ctx) {
  if (!req.target_valid()) co_return error_response({Code::kBadRequest, "Malformed request URI"});
  if (ctx.auth) {  // CORS preflight, authentication, access rules (auth_service.h)
    if (auto refused = ctx.auth->before_route(req)) co_return std::move(*refused);
  }
  RouteMatch route = match_route(req.method(), req.path());
  if (route.error) co_return error_response(*route.error);
  if (!route.handler) co_return method_not_allowed(route.allow);
  try {
    co_return co_await route.handler(req, ctx);
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

bool streams_request_body(const bhttp::request_header<>& header) {
  if (header.method() != verb::put) return false;  // the hot path (GET, POST) stops here
  const bool multipart = is_multipart_related(header[bhttp::field::content_type]);
  // A JSON PUT /{db}/{docid} (the other hot path) needs no URL parse: fewer than three '/' means
  // at most two segments, since an encoded %2F never splits one.
  std::string_view target = header.target();
  std::string_view raw_path = target.substr(0, target.find('?'));
  if (!multipart && std::count(raw_path.begin(), raw_path.end(), '/') < 3) return false;
  auto path = decode_path(target);
  if (!path) return false;  // answered 400 "Malformed request URI" after a buffered read
  return match_route(verb::put, *path, multipart).streams;
}

}  // namespace divan::http::server
