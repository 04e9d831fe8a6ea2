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

namespace {

// Deeper JSON is refused before parsing: nlohmann parses iteratively but dumps recursively, so a
// 100,000-deep array would overflow the stack when echoed or stored. CouchDB documents never need it.
constexpr int kMaxJsonDepth = 512;

bool nesting_within_limit(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace

Result<nlohmann::ordered_json> parse_json(std::string_view body) {
  if (!nesting_within_limit(body)) return fail(Code::kBadRequest, "JSON nested too deeply");
  auto parsed = nlohmann::ordered_json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return fail(Code::kBadRequest, "invalid UTF-8 JSON");
  return parsed;
}

Result<nlohmann::ordered_json> parse_json_object(std::string_view body,
                                                 std::string_view not_object_reason) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return fail(Code::kBadRequest, "Missing request body");
  }
  auto parsed = parse_json(body);
  if (parsed && !parsed->is_object()) return fail(Code::kBadRequest, std::string(not_object_reason));
  return parsed;
}

Result<void> require_json_content_type(const Request& req) {
  std::string_view type = req.header(bhttp::field::content_type);
  if (type.empty() || type.starts_with("application/json")) return {};
  return fail(Code::kBadContentType, "Content-Type must be application/json");
}

}  // namespace divan::http::server
