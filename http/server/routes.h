// The route table: which handler answers which path shape and method (chttpd_httpd_handlers).
#pragma once

#include "http/server/handler.h"

namespace divan::http::server {

// Routes `req`, runs its handler, and turns any escaped exception into a logged 500.
// HEAD is answered by the GET handler (the session drops the body).
Task<Response> handle_request(Request& req, ServerContext& ctx);

// Whether the session hands this request's body to its handler as a BodyReader (request.h)
// instead of reading it whole first: PUT of an attachment (/{db}/{docid}/{att…}, including
// /{db}/_design/{name}/{att…}) and PUT /{db}/{docid} with Content-Type multipart/related.
// Decided from the header alone, before any body byte is read.
bool streams_request_body(const bhttp::request_header<>& header);

}  // namespace divan::http::server
