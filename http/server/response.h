// Building responses: JSON bodies with CouchDB's headers, and errors through the one error table.
#pragma once

#include <string>
#include <string_view>

#include "engine/error.h"
#include "http/server/request.h"

namespace divan::http {

// 2xx/3xx JSON reply with Content-Type: application/json and Cache-Control: must-revalidate.
Response json_response(bhttp::status status, std::string body);
// {"error":…,"reason":…} with the status from errors.cpp.
Response error_response(const Error& error);
// 405 with `Allow: <methods>` and reason "Only <methods> allowed" (chttpd:send_method_not_allowed).
Response method_not_allowed(std::string_view methods);

// Appends `text` as a JSON string literal (quotes included). UTF-8 passes through unescaped.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace divan::http
