// base/: hex, base64 and numbers in text, the one home of each (issue 12 part 8).
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/base64.h"
#include "base/hex.h"
#include "base/numbers.h"
#include "base/text.h"

namespace divan::test {
namespace {

std::string all_bytes() {
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  return all;
}

TEST_CASE("base64: RFC 4648 §10 vectors, padding optional on input") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded) == std::optional<std::string>(plain));
    const std::string unpadded = encoded.substr(0, encoded.find('='));
    CHECK(base64_encode(plain, Base64Alphabet::kUrl) == unpadded);  // §5 form: no padding
    CHECK(base64_decode(unpadded) == std::optional<std::string>(plain));
    CHECK(base64_decode(encoded, Base64Alphabet::kUrl) == std::optional<std::string>(plain));
  }
}

TEST_CASE("base64: malformed text is refused") {
  for (std::string bad : {"Z", "Zg=", "Zg===", "Zm9vY", "Zm9v YmFy", "Zm9v\n", " Zm9v", "Zg==Zg==",
                          "Zm9v!mFy", "=Zm9", "Zm=v", "Zm9vYmFy===="}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
    CHECK_FALSE(base64_decode(bad, Base64Alphabet::kUrl).has_value());
  }
  CHECK_FALSE(base64_decode(std::string("Zm9v\0\0\0\0", 8)).has_value());
}

TEST_CASE("regress: base64 reads one alphabet per text, never a mix") {
  const std::string bytes = "\xfb\xff\xbf";  // every 6-bit group is 62 or 63
  CHECK(base64_encode(bytes) == "+/+/");
  CHECK(base64_encode(bytes, Base64Alphabet::kUrl) == "-_-_");
  CHECK(base64_decode("+/+/") == std::optional<std::string>(bytes));
  CHECK(base64_decode("-_-_", Base64Alphabet::kUrl) == std::optional<std::string>(bytes));
  for (std::string_view mixed : {"-_-_", "+_+_", "-/-/", "+/-_"}) {
    CAPTURE(mixed);
    CHECK_FALSE(base64_decode(mixed).has_value());
  }
  for (std::string_view mixed : {"+/+/", "+_+_", "-/-/", "+/-_"}) {
    CAPTURE(mixed);
    CHECK_FALSE(base64_decode(mixed, Base64Alphabet::kUrl).has_value());
  }
}

TEST_CASE("base64: every byte value and every length round-trip in both alphabets") {
  const std::string all = all_bytes();
  std::mt19937_64 rng(7);
  std::string big((7u << 20) + 2, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  for (auto alphabet : {Base64Alphabet::kStandard, Base64Alphabet::kUrl}) {
    for (size_t n = 0; n <= all.size(); ++n) {
      const std::string plain = all.substr(all.size() - n);
      CHECK(base64_decode(base64_encode(plain, alphabet), alphabet) ==
            std::optional<std::string>(plain));
    }
    const std::string encoded = base64_encode(big, alphabet);
    CHECK(base64_decode(encoded, alphabet) == std::optional<std::string>(big));
  }
  CHECK(base64_encode(big).size() == (big.size() + 2) / 3 * 4);
}

TEST_CASE("hex: lowercase by default, uppercase on request; decoding lowercase unless asked") {
  CHECK(to_hex("") == "");
  CHECK(to_hex(std::string("\x00\x0f\xa5\xff", 4)) == "000fa5ff");
  std::string out;
  append_hex(out, 0xab);
  append_hex(out, 0x0c, HexCase::kUpper);
  CHECK(out == "ab0C");
  CHECK(to_hex(all_bytes()).size() == 512);
  for (int i = 0; i < 16; ++i) {
    CHECK(hex_digit_value(kLowerHexDigits[i]) == i);
    CHECK(hex_digit_value(kUpperHexDigits[i], HexCase::kUpper) == i);
  }
  CHECK(hex_digit_value('A') == -1);
  CHECK(hex_digit_value('g') == -1);
  CHECK(hex_digit_value('G', HexCase::kUpper) == -1);
  CHECK(is_lower_hex("0123456789abcdef"));
  CHECK_FALSE(is_lower_hex("0123456789abcdeF"));
  CHECK_FALSE(is_lower_hex("12 3"));
}

TEST_CASE("numbers: the whole text, digits only, in range") {
  CHECK(parse_unsigned("0") == 0u);
  CHECK(parse_unsigned("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(parse_unsigned("18446744073709551616"));
  CHECK(parse_unsigned<uint16_t>("65535") == uint16_t{65535});
  CHECK_FALSE(parse_unsigned<uint16_t>("65536"));
  for (std::string_view bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.0", "1e3"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_unsigned(bad));
  }
  CHECK(parse_unsigned("5F5E100", 16) == 100000000u);
  CHECK(parse_unsigned("5f5e100", 16) == 100000000u);
  CHECK_FALSE(parse_unsigned("5g", 16));
}

TEST_CASE("text: trim spaces and tabs only; split a list, trimmed, empty items left out") {
  CHECK(trim_ows(" \t a b\t ") == "a b");
  CHECK(trim_ows("\r\nx") == "\r\nx");  // not optional whitespace
  CHECK(trim_ows("   ").empty());
  CHECK(split_list(" text/*, ,application/json ,") ==
        std::vector<std::string>{"text/*", "application/json"});
  CHECK(split_list("").empty());
  CHECK(split_list("a;b", ';') == std::vector<std::string>{"a", "b"});
}

TEST_CASE("text: ASCII case folding only; other bytes, UTF-8 included, as they are") {
  CHECK(ascii_lower("Content-Type: GZIP") == "content-type: gzip");
  CHECK(ascii_lower("\xC3\x89t\xC3\xA9") == "\xC3\x89t\xC3\xA9");  // "Été": É stays
  CHECK(ascii_lower("") == "");
  CHECK(ascii_iequals("Authorization", "authorization"));
  CHECK(ascii_iequals("X-GZIP", "x-gzip"));
  CHECK(ascii_iequals("", ""));
  CHECK_FALSE(ascii_iequals("gzip", "gzip2"));
  CHECK_FALSE(ascii_iequals("gzip", "gzjp"));
  CHECK_FALSE(ascii_iequals("[", "{"));  // '[' + 32 is '{': only A-Z fold
  CHECK_FALSE(ascii_iequals("\xC3\x89", "\xC3\xA9"));
}

}  // namespace
}  // namespace divan::test
