// Small text helpers: trimming spaces and tabs, splitting a comma-separated list of settings (CORS
// origins, compressible types, header values), ASCII case folding for protocol tokens (header
// names, schemes, media types: never locale-dependent). Header-only, pure; any thread.
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

// `s` with A-Z folded to a-z; every other byte as is (so UTF-8 passes through unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `a` and `b` equal up to ASCII case, without allocating (header names, codings, schemes).
inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
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
