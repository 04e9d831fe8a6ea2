// The route table (chttpd_httpd_handlers): every path shape the node answers, and for each the
// handler per method, the access rule (auth.h Access) and whether the request body streams to the
// handler. The one place a path is understood: the dispatch, the access check (AuthService) and
// the session's body handling (streams_request_body) all ask it. Adding an endpoint touches the
// table in routes.cpp only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server/auth.h"
#include "http/server/handler.h"

namespace divan::http::server {

// Routes `req`, runs its handler, and turns any escaped exception into a logged 500.
// HEAD is answered by the GET handler (the session drops the body).
Task<Response> handle_request(Request& req, ServerContext& ctx);

// What the table says of a path and method.
struct RouteMatch {
  Handler handler = nullptr;    // null: no handler (see error, or method_not_allowed below)
  std::string_view allow;       // the path's methods, CouchDB's spelling (405 reason and Allow)
  std::optional<Error> error;   // a path shape CouchDB refuses outright (400 / 404)
  Access access = Access::kPublic;
  std::string_view db;          // the database segment, for database-level routes
  bool streams = false;         // the body goes to the handler as a BodyReader (see below)
};

// The route of `path` (decoded segments, as Request::path()) for `method` (HEAD as GET).
// `multipart_related`: the Content-Type is multipart/related (a document PUT then streams).
RouteMatch match_route(bhttp::verb method, const std::vector<std::string>& path,
                       bool multipart_related = false);

// The access rule of a request: match_route's, in the shape AuthService and the tests use.
AccessTarget classify_request(bhttp::verb method, const std::vector<std::string>& path);

// Whether the session hands this request's body to its handler as a BodyReader (request.h)
// instead of reading it whole first: PUT of an attachment and PUT of a document with
// Content-Type multipart/related. Decided from the header alone, before any body byte is read.
bool streams_request_body(const bhttp::request_header<>& header);

}  // namespace divan::http::server
