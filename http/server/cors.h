// CORS for browser clients such as PouchDB (http-api.md §2.2; CouchDB's chttpd_cors). Off unless
// origins are configured. Preflights (OPTIONS with Origin and Access-Control-Request-Method) are
// answered before routing, without authentication; other responses to an allowed Origin carry
// Access-Control-Allow-Origin (+ -Allow-Credentials) and -Expose-Headers.
//
// Thread-safety: immutable after construction; free functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server/request.h"

namespace divan::http::server {

struct CorsOptions {
  std::vector<std::string> origins;  // exact origins ("https://app.example:8080"), or "*" for any
  bool credentials = false;          // Access-Control-Allow-Credentials: true; origin echoed

  bool enabled() const { return !origins.empty(); }
  // "*" or a comma-separated list, as the --cors-origins flag takes it (spaces ignored).
  static std::vector<std::string> parse_origins(std::string_view list);
};

// The 204 preflight answer, or nullopt when `req` is no preflight we accept (CORS off, no or an
// unlisted Origin, a method or a requested header we do not allow): it is then routed normally.
std::optional<Response> cors_preflight(const CorsOptions& cors, const Request& req);

// Adds the CORS headers to a normal response when `req` has an allowed Origin.
void add_cors_headers(const CorsOptions& cors, const Request& req, Response& res);

}  // namespace divan::http::server
