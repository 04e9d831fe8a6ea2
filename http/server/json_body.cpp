#include "http/server/json_body.h"

#include <cstddef>
#include <string>

namespace divan::http::server {

namespace {

using Json = nlohmann::ordered_json;

// Deeper JSON is refused: nlohmann parses iteratively but dumps recursively, so a 100,000-deep array
// would overflow the stack when echoed or stored. CouchDB documents never need it.
constexpr size_t kMaxJsonDepth = 512;

// nlohmann's DOM builder, counting depth as it goes, so the limit costs no second pass over the
// text. sax_parse calls these by name on this type (a template), so hiding the base's is enough.
class DepthLimitedDom : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  explicit DepthLimitedDom(Json& root) : json_sax_dom_parser(root, /*allow_exceptions=*/false) {}

  bool start_object(size_t n) { return enter() && json_sax_dom_parser::start_object(n); }
  bool start_array(size_t n) { return enter() && json_sax_dom_parser::start_array(n); }
  bool end_object() { return leave() && json_sax_dom_parser::end_object(); }
  bool end_array() { return leave() && json_sax_dom_parser::end_array(); }

  bool too_deep() const { return too_deep_; }

 private:
  bool enter() {
    too_deep_ = ++depth_ > kMaxJsonDepth;
    return !too_deep_;
  }
  bool leave() {
    --depth_;
    return true;
  }

  size_t depth_ = 0;
  bool too_deep_ = false;
};

// What nlohmann's parser would accept but is not one JSON text (RFC 8259), checked first: it skips
// a leading UTF-8 byte order mark, and its lexer takes a NUL byte for the end of the input, so
// `{"a":1}\0garbage` would parse as {"a":1}. A NUL can never be part of a valid JSON text (in a
// string it must be escaped as \u0000), so any NUL refuses the text.
bool nlohmann_would_misread(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") || text.find('\0') != std::string_view::npos;
}

}  // namespace

Result<nlohmann::ordered_json> parse_json(std::string_view text) {
  if (nlohmann_would_misread(text)) return fail(Code::kBadRequest, "invalid UTF-8 JSON");
  // nlohmann refuses invalid UTF-8 in strings (overlong forms, surrogates, truncated sequences),
  // numbers that overflow a double, and trailing bytes (strict); bytes outside strings must be
  // ASCII JSON anyway, so an accepted text is valid UTF-8 throughout.
  Json parsed;
  DepthLimitedDom dom(parsed);
  const bool ok = Json::sax_parse(text, &dom, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (dom.too_deep()) return fail(Code::kBadRequest, "JSON nested too deeply");
  if (!ok || dom.is_errored()) return fail(Code::kBadRequest, "invalid UTF-8 JSON");
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

}  // namespace divan::http::server
