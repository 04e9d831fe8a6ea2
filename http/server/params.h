// Typed reads of query parameters, with CouchDB's errors for bad values (http-api.md §1.1, §9).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "http/server/request.h"

namespace divan::http::server {

// "true"/"false"; anything else → 400 query_parse_error `Invalid boolean parameter: "x"`.
Result<bool> bool_param(const Request& req, std::string_view key, bool fallback = false);
// Non-negative integer; else 400 query_parse_error `Invalid value for integer: "x"`.
Result<std::optional<uint64_t>> uint_param(const Request& req, std::string_view key);
// URL-encoded JSON text (keys, startkey, open_revs…); bad JSON → 400 bad_request.
Result<std::optional<nlohmann::ordered_json>> json_param(const Request& req, std::string_view key);

// Parses a request body that must be a JSON object: 400 "invalid UTF-8 JSON" for bad JSON,
// 400 `not_object_reason` for valid JSON of another type, 400 "Missing request body" if empty.
Result<nlohmann::ordered_json> parse_json_object(std::string_view body,
                                                 std::string_view not_object_reason =
                                                     "Request body must be a JSON object");
// Any JSON value; 400 "invalid UTF-8 JSON" when it does not parse.
Result<nlohmann::ordered_json> parse_json(std::string_view body);

// 415 unless Content-Type is application/json (parameters allowed). An absent type is accepted.
Result<void> require_json_content_type(const Request& req);

}  // namespace divan::http::server
