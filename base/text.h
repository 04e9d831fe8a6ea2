// Lists in text: trimming spaces and tabs, and splitting a comma-separated list of settings
// (CORS origins, compressible types, header values). Header-only, pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace divan {

// `s` without surrounding spaces and tabs (RFC 9110 §5.6.3 optional whitespace).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The items of a `separator`-separated list, each trimmed, empty ones left out:
// " a, ,b " → {"a", "b"}.
inline std::vector<std::string> split_list(std::string_view list, char separator = ',') {
  std::vector<std::string> out;
  while (!list.empty()) {
    const size_t at = list.find(separator);
    std::string_view item = trim_ows(list.substr(0, at));
    if (!item.empty()) out.emplace_back(item);
    if (at == std::string_view::npos) break;
    list.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace divan
