#include "http/server/params.h"

#include "base/numbers.h"
#include "http/multipart/multipart.h"

namespace divan::http::server {

Result<bool> bool_param(const Request& req, std::string_view key, bool fallback) {
  auto value = req.param(key);
  if (!value) return fallback;
  if (*value == "true") return true;
  if (*value == "false") return false;
  return fail(Code::kQueryParseError, "Invalid boolean parameter: \"" + std::string(*value) + "\"");
}

Result<std::optional<uint64_t>> uint_param(const Request& req, std::string_view key) {
  auto value = req.param(key);
  if (!value) return std::optional<uint64_t>();
  auto n = parse_unsigned<uint64_t>(*value);
  if (!n) {
    return fail(Code::kQueryParseError, "Invalid value for integer: \"" + std::string(*value) + "\"");
  }
  return n;
}

Result<std::optional<nlohmann::ordered_json>> json_param(const Request& req, std::string_view key) {
  auto value = req.param(key);
  if (!value) return std::optional<nlohmann::ordered_json>();
  auto parsed = parse_json(*value);
  if (!parsed) return tl::unexpected(parsed.error());
  return std::optional<nlohmann::ordered_json>(std::move(*parsed));
}

Result<void> require_json_content_type(const Request& req) {
  std::string_view type = req.header(bhttp::field::content_type);
  // The media type alone, case-folded, as CouchDB compares it: "Application/JSON; charset=utf-8"
  // is JSON, "application/jsonx" is not.
  if (type.empty() || multipart::parse_media_type(type) == "application/json") return {};
  return fail(Code::kBadContentType, "Content-Type must be application/json");
}

}  // namespace divan::http::server
