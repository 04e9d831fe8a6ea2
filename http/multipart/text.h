// Character classes and small string helpers shared by the multipart sources (RFC 7230 §3.2.6).
// Internal to http/multipart, which uses the standard library only.
#pragma once

#include <algorithm>
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

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace divan::multipart::text
