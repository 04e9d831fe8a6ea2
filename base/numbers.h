// Numbers in text: the one wrapper of std::from_chars every layer uses, for query values, headers,
// rev positions, seqs, ports and cookie times. Header-only, pure; any thread.
#pragma once

#include <charconv>
#include <concepts>
#include <optional>
#include <string_view>
#include <system_error>

namespace divan {

// The whole of `text` as an unsigned number in `base` (16: either case): digits only, no sign,
// space or prefix. nullopt when `text` is empty, holds anything else, or is out of T's range.
template <std::unsigned_integral T = unsigned long long>
std::optional<T> parse_unsigned(std::string_view text, int base = 10) {
  T value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace divan
