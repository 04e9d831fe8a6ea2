#include "base/base64.h"

#include <array>
#include <cstdint>

namespace divan {

namespace {

constexpr char kStandardChars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr int8_t kInvalid = -1;

// Each byte's value in `chars`, or kInvalid.
constexpr std::array<int8_t, 256> decode_table(const char* chars) {
  std::array<int8_t, 256> table{};
  table.fill(kInvalid);
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(chars[i])] = static_cast<int8_t>(i);
  return table;
}

constexpr auto kStandardTable = decode_table(kStandardChars);
constexpr auto kUrlTable = decode_table(kUrlChars);

}  // namespace

std::string base64_encode(std::string_view bytes, Base64Alphabet alphabet) {
  const char* chars = alphabet == Base64Alphabet::kUrl ? kUrlChars : kStandardChars;
  const bool pad = alphabet == Base64Alphabet::kStandard;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t whole = bytes.size() / 3 * 3;
  std::string out((bytes.size() + 2) / 3 * 4, '\0');
  char* at = out.data();
  for (size_t i = 0; i < whole; i += 3) {
    const uint32_t n = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
    *at++ = chars[n >> 18];
    *at++ = chars[(n >> 12) & 63];
    *at++ = chars[(n >> 6) & 63];
    *at++ = chars[n & 63];
  }
  const size_t left = bytes.size() - whole;
  if (left > 0) {
    uint32_t n = uint32_t{in[whole]} << 16;
    if (left == 2) n |= uint32_t{in[whole + 1]} << 8;
    *at++ = chars[n >> 18];
    *at++ = chars[(n >> 12) & 63];
    if (left == 2) *at++ = chars[(n >> 6) & 63];
    if (pad) {
      *at++ = '=';
      if (left == 1) *at++ = '=';
    }
  }
  out.resize(static_cast<size_t>(at - out.data()));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text, Base64Alphabet alphabet) {
  const auto& table = alphabet == Base64Alphabet::kUrl ? kUrlTable : kStandardTable;
  size_t data_chars = text.size();
  while (data_chars > 0 && text[data_chars - 1] == '=') --data_chars;
  const size_t padding = text.size() - data_chars;
  if (padding > 2 || (padding > 0 && text.size() % 4 != 0) || data_chars % 4 == 1) {
    return std::nullopt;
  }
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const size_t whole = data_chars / 4 * 4;
  const size_t tail = data_chars - whole;  // 0, 2 or 3 characters of a last, short group
  std::string out(whole / 4 * 3 + (tail == 0 ? 0 : tail - 1), '\0');
  char* at = out.data();
  for (size_t i = 0; i < whole; i += 4) {
    const int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
    if ((a | b | c | d) < 0) return std::nullopt;
    const uint32_t n = uint32_t(a) << 18 | uint32_t(b) << 12 | uint32_t(c) << 6 | uint32_t(d);
    *at++ = static_cast<char>(n >> 16);
    *at++ = static_cast<char>((n >> 8) & 0xff);
    *at++ = static_cast<char>(n & 0xff);
  }
  if (tail > 0) {
    const int a = table[in[whole]], b = table[in[whole + 1]];
    const int c = tail == 3 ? table[in[whole + 2]] : 0;
    if ((a | b | c) < 0) return std::nullopt;
    const uint32_t n = uint32_t(a) << 18 | uint32_t(b) << 12 | uint32_t(c) << 6;
    *at++ = static_cast<char>(n >> 16);
    if (tail == 3) *at++ = static_cast<char>((n >> 8) & 0xff);
  }
  return out;
}

}  // namespace divan
