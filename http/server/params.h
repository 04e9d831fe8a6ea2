// Typed reads of query parameters, with CouchDB's errors for bad values (http-api.md §1.1, §9).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "http/server/json_body.h"  // parse_json, parse_json_object
#include "http/server/request.h"

namespace divan::http::server {

// "true"/"false"; anything else → 400 query_parse_error `Invalid boolean parameter: "x"`.
Result<bool> bool_param(const Request& req, std::string_view key, bool fallback = false);
// Non-negative integer; else 400 query_parse_error `Invalid value for integer: "x"`.
Result<std::optional<uint64_t>> uint_param(const Request& req, std::string_view key);
// URL-encoded JSON text (keys, startkey, open_revs…); bad JSON → 400 bad_request.
Result<std::optional<nlohmann::ordered_json>> json_param(const Request& req, std::string_view key);

// 415 unless Content-Type is application/json (parameters allowed). An absent type is accepted.
Result<void> require_json_content_type(const Request& req);

}  // namespace divan::http::server
