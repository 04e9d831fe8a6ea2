// The one parser every JSON text from a request goes through: bodies (documents, _bulk_docs,
// _security, _local docs, _replicate, _session, multipart document parts) and JSON-valued query
// parameters.
// Strict as CouchDB's (jiffy) is, where nlohmann alone is lenient: a leading UTF-8 byte order mark
// and anything after a NUL byte would otherwise be accepted. Pure functions; any thread.
// Fuzzed by tests/fuzz/json_fuzz.cpp.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace divan::http::server {

// Any JSON value, or 400 bad_request: "invalid UTF-8 JSON" when `text` is not exactly one JSON text
// in UTF-8 (a byte order mark, a NUL byte, invalid UTF-8 in a string, trailing bytes), "JSON nested
// too deeply" past 512 levels of arrays and objects.
[[nodiscard]] Result<nlohmann::ordered_json> parse_json(std::string_view text);

// A request body that must be a JSON object: parse_json's errors, 400 `not_object_reason` for valid
// JSON of another type, 400 "Missing request body" when it is empty or only whitespace.
[[nodiscard]] Result<nlohmann::ordered_json> parse_json_object(
    std::string_view body, std::string_view not_object_reason = "Request body must be a JSON object");

}  // namespace divan::http::server
