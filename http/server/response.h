// Building responses: JSON bodies with CouchDB's headers, and errors through the one error table.
#pragma once

#include <string>
#include <string_view>

#include "engine/doc_render.h"
#include "engine/error.h"
#include "http/server/request.h"

namespace divan::http::server {

// The Server header of every response.
inline constexpr const char* kServerHeader = "Divan/0.1.0 (CouchDB/3 compatible)";

// 2xx/3xx JSON reply with Content-Type: application/json and Cache-Control: must-revalidate.
Response json_response(bhttp::status status, std::string body);
// {"error":…,"reason":…} with the status from errors.cpp.
Response error_response(const Error& error);
// 405 with `Allow: <methods>` and reason "Only <methods> allowed" (chttpd:send_method_not_allowed).
Response method_not_allowed(std::string_view methods);

using engine::append_json_string;
using engine::json_string;

}  // namespace divan::http::server
