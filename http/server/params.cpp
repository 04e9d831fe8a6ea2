#include "http/server/params.h"

#include <charconv>

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
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size() || value->empty()) {
    return fail(Code::kQueryParseError, "Invalid value for integer: \"" + std::string(*value) + "\"");
  }
  return std::optional<uint64_t>(n);
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
  if (type.empty() || type.starts_with("application/json")) return {};
  return fail(Code::kBadContentType, "Content-Type must be application/json");
}

}  // namespace divan::http::server
