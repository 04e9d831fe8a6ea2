// The route table: which handler answers which path shape and method (chttpd_httpd_handlers).
#pragma once

#include "http/server/handler.h"

namespace divan::http {

// Routes `req`, runs its handler, and turns any escaped exception into a logged 500.
// HEAD is answered by the GET handler (the session drops the body).
Task<Response> handle_request(Request& req, ServerContext& ctx);

}  // namespace divan::http
