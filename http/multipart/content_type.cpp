// Content-Type parsing (RFC 7231 §3.1.1.1, RFC 2045 §5.1) and header lookup.
#include <algorithm>
#include <cctype>

#include "base/text.h"
#include "http/multipart/multipart.h"
#include "http/multipart/text.h"

namespace divan::multipart {
namespace {

using text::is_token_char;

// Visible ASCII or obs-text (>= 0x80).
bool is_visible(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u > 0x20 && u < 0x7f) || u >= 0x80;
}

// A cursor over the header value; each method consumes what it returns.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  bool at_end() const { return pos_ == s_.size(); }
  char peek() const { return s_[pos_]; }
  bool take(char c) {
    if (at_end() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void skip_spaces() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  std::string_view token() {
    size_t start = pos_;
    while (!at_end() && is_token_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // Leniently, an unquoted value is any run of visible characters but ';' and '"' (real senders
  // put '=' or '/' in unquoted boundaries).
  std::string_view bare_value() {
    size_t start = pos_;
    while (!at_end() && is_visible(s_[pos_]) && s_[pos_] != ';' && s_[pos_] != '"') ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // After the opening quote: the unescaped text up to the closing quote, or nullopt.
  std::optional<std::string> quoted_rest() {
    std::string out;
    while (!at_end()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (at_end()) return std::nullopt;
        c = s_[pos_++];
      }
      if (!is_visible(c) && c != ' ' && c != '\t') return std::nullopt;
      out += c;
    }
    return std::nullopt;  // unterminated
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// One `name=value` parameter, the reader just past the ';' and spaces.
std::optional<ContentType::Parameter> parse_parameter(Reader& r) {
  std::string_view name = r.token();
  if (name.empty()) return std::nullopt;
  r.skip_spaces();
  if (!r.take('=')) return std::nullopt;
  r.skip_spaces();
  ContentType::Parameter p{ascii_lower(name), {}};
  if (r.take('"')) {
    auto value = r.quoted_rest();
    if (!value) return std::nullopt;
    p.value = std::move(*value);
  } else {
    p.value = std::string(r.bare_value());
    if (p.value.empty()) return std::nullopt;
  }
  return p;
}

// "type/subtype", lowercased, the reader just past it; nullopt when malformed.
std::optional<std::string> read_media_type(Reader& r) {
  r.skip_spaces();
  std::string_view type = r.token();
  if (type.empty() || !r.take('/')) return std::nullopt;
  std::string_view subtype = r.token();
  if (subtype.empty()) return std::nullopt;
  return ascii_lower(type) + "/" + ascii_lower(subtype);
}

}  // namespace

std::optional<std::string> parse_media_type(std::string_view header) {
  Reader r(header);
  auto type = read_media_type(r);
  if (!type) return std::nullopt;
  r.skip_spaces();
  if (!r.at_end() && r.peek() != ';') return std::nullopt;
  return type;
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (ascii_iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::optional<std::string_view> ContentType::parameter(std::string_view name) const {
  for (const Parameter& p : parameters) {
    if (ascii_iequals(p.name, name)) return std::string_view(p.value);
  }
  return std::nullopt;
}

bool valid_boundary(std::string_view boundary) {
  if (boundary.empty() || boundary.size() > 70 || boundary.back() == ' ') return false;
  return std::all_of(boundary.begin(), boundary.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::optional<ContentType> parse_content_type(std::string_view header) {
  Reader r(header);
  auto media_type = read_media_type(r);
  if (!media_type) return std::nullopt;

  ContentType ct;
  ct.media_type = std::move(*media_type);
  for (;;) {
    r.skip_spaces();
    if (r.at_end()) break;
    if (!r.take(';')) return std::nullopt;
    r.skip_spaces();
    if (r.at_end() || r.peek() == ';') continue;  // tolerate "type/sub;" and ";;"
    auto p = parse_parameter(r);
    if (!p) return std::nullopt;
    ct.parameters.push_back(std::move(*p));
  }

  if (ct.is_multipart()) {
    auto boundary = ct.parameter("boundary");
    if (!boundary || !valid_boundary(*boundary)) return std::nullopt;
    ct.boundary = std::string(*boundary);
  }
  return ct;
}

}  // namespace divan::multipart
