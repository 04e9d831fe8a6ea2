#include "http/server/cors.h"

#include <algorithm>
#include <cctype>

#include "base/text.h"
#include "http/server/header_values.h"

namespace divan::http::server {

namespace {

// spec: http-api.md §2.2 (CouchDB's ?SUPPORTED_METHODS / ?SUPPORTED_HEADERS / ?COUCH_HEADERS).
constexpr std::string_view kAllowMethods = "GET, HEAD, POST, PUT, DELETE, COPY, OPTIONS";
constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "COPY", "OPTIONS"};
constexpr std::string_view kAllowedHeaders[] = {
    "accept", "accept-language", "authorization", "content-length", "content-range",
    "content-type", "destination", "expires", "if-match", "last-modified", "origin", "pragma",
    "x-couch-full-commit", "x-couch-id", "x-couch-persist", "x-csrf-token",
    "x-http-method-override", "x-requested-with", "x-couchdb-www-authenticate"};
constexpr std::string_view kExposeHeaders =
    "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, "
    "x-couch-update-newrev, x-couchdb-body-time";
constexpr std::string_view kMaxAge = "600";  // seconds a browser may cache a preflight

bool wildcard(const CorsOptions& cors) {
  return std::find(cors.origins.begin(), cors.origins.end(), "*") != cors.origins.end();
}

bool origin_allowed(const CorsOptions& cors, std::string_view origin) {
  if (!cors.enabled() || origin.empty()) return false;
  return wildcard(cors) ||
         std::find(cors.origins.begin(), cors.origins.end(), origin) != cors.origins.end();
}

bool header_allowed(std::string_view name) {
  const std::string lower = ascii_lower(name);
  return std::find(std::begin(kAllowedHeaders), std::end(kAllowedHeaders), lower) !=
         std::end(kAllowedHeaders);
}

}  // namespace

std::vector<std::string> CorsOptions::parse_origins(std::string_view list) {
  return split_list(list);
}

std::optional<Response> cors_preflight(const CorsOptions& cors, const Request& req) {
  std::string_view origin = req.header(bhttp::field::origin);
  if (req.method() != bhttp::verb::options || !origin_allowed(cors, origin)) return std::nullopt;
  std::string_view method = trim_ows(req.header(bhttp::field::access_control_request_method));
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
    return std::nullopt;
  }
  std::string_view requested = trim_ows(req.header(bhttp::field::access_control_request_headers));
  for (std::string_view rest = requested; !rest.empty();) {
    auto comma = rest.find(',');
    std::string_view name = trim_ows(rest.substr(0, comma));
    if (!name.empty() && !header_allowed(name)) return std::nullopt;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  Response res{bhttp::status::no_content, 11};
  res.set(bhttp::field::access_control_allow_origin, origin);  // preflights always echo it
  if (cors.credentials) res.set(bhttp::field::access_control_allow_credentials, "true");
  res.set(bhttp::field::access_control_allow_methods, kAllowMethods);
  if (!requested.empty()) res.set(bhttp::field::access_control_allow_headers, requested);
  res.set(bhttp::field::access_control_max_age, kMaxAge);
  return res;
}

void add_cors_headers(const CorsOptions& cors, const Request& req, Response& res) {
  std::string_view origin = req.header(bhttp::field::origin);
  if (!origin_allowed(cors, origin)) return;
  if (res.find(bhttp::field::access_control_allow_origin) != res.end()) return;  // a preflight
  // With credentials a browser rejects "*": the origin itself must come back.
  bool echo = cors.credentials || !wildcard(cors);
  res.set(bhttp::field::access_control_allow_origin, echo ? origin : std::string_view("*"));
  if (cors.credentials) res.set(bhttp::field::access_control_allow_credentials, "true");
  res.set(bhttp::field::access_control_expose_headers, kExposeHeaders);
}

}  // namespace divan::http::server
