// Hex digits: the one encoder and decoder of every layer, for digests, rev ids, random ids, \u00XX
// escapes, percent-escapes and boundaries. Lowercase unless asked: percent-encoding in a header
// writes uppercase (RFC 3986 §2.1). Header-only, pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace divan {

inline constexpr char kLowerHexDigits[] = "0123456789abcdef";
inline constexpr char kUpperHexDigits[] = "0123456789ABCDEF";

enum class HexCase { kLower, kUpper };

// Appends the two hex digits of `byte`, high nibble first.
inline void append_hex(std::string& out, unsigned char byte, HexCase hex_case = HexCase::kLower) {
  const char* digits = hex_case == HexCase::kUpper ? kUpperHexDigits : kLowerHexDigits;
  out.push_back(digits[byte >> 4]);
  out.push_back(digits[byte & 0xf]);
}

// Lowercase hex of `bytes`, two digits a byte.
inline std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_hex(out, static_cast<unsigned char>(c));
  return out;
}

// The value of a hex digit, or -1. Only lowercase unless `hex_case` is kUpper (then both cases):
// what Divan writes and stores is lowercase, so an uppercase digit there means the text is not
// ours; input from outside (rev ids in a request) may use either.
inline int hex_digit_value(char c, HexCase hex_case = HexCase::kLower) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (hex_case == HexCase::kUpper && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Every character a lowercase hex digit (true for the empty text).
inline bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (hex_digit_value(c) < 0) return false;
  }
  return true;
}

}  // namespace divan
