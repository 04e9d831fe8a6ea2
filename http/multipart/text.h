// Character classes and small string helpers shared by the multipart sources (RFC 7230 §3.2.6).
// Internal to http/multipart, which uses the standard library only.
#pragma once

#include <cctype>
#include <string_view>

namespace divan::multipart::text {

inline bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_space(char c) { return c == ' ' || c == '\t'; }

// A control character other than tab: never allowed in a header value.
inline bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

}  // namespace divan::multipart::text
