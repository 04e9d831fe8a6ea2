// spec: revision-trees.md §2.2 (deterministic rev ids, canonical JSON), §14 "Deterministic rev
// generation". The frozen vectors below pin the exact hashed text: if one fails, Divan would start
// generating different ids for identical edits (spurious conflicts between versions).
#include <cstdlib>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace divan::revtree;
using Json = nlohmann::ordered_json;

namespace {
std::string canon(std::string_view text) { return canonical_json(Json::parse(text)); }
}  // namespace

TEST_CASE("canonical_json: object keys sorted by bytes, recursively; no whitespace") {
  CHECK(canon(R"({"b":1,"a":[true,false,null],"c":{"z":"x","y":1.5}})") ==
        R"({"a":[true,false,null],"b":1,"c":{"y":1.5,"z":"x"}})");
  CHECK(canon(" { \"b\" : [ { \"d\" : 1 , \"c\" : 2 } ] , \"a\" : { } } ") ==
        R"({"a":{},"b":[{"c":2,"d":1}]})");
  // Byte order: uppercase before lowercase, shorter prefix first, UTF-8 after ASCII.
  CHECK(canon(R"({"é":1,"a":2,"B":3,"aa":4,"":5})") == R"({"":5,"B":3,"a":2,"aa":4,"é":1})");
  CHECK(canon("[]") == "[]");
  CHECK(canon("{}") == "{}");
  CHECK(canon("[[],[[]],{}]") == "[[],[[]],{}]");
  CHECK(canon("\"s\"") == "\"s\"");
  CHECK(canon("null") == "null");
}

TEST_CASE("canonical_json: key order of the input does not matter") {
  const std::string a = canon(R"({"x":{"p":1,"q":[{"m":1,"n":2}]},"y":"v","_access":["u"]})");
  const std::string b = canon(R"({"_access":["u"],"y":"v","x":{"q":[{"n":2,"m":1}],"p":1}})");
  CHECK(a == b);
  // Array order does matter.
  CHECK(canon("[1,2]") != canon("[2,1]"));
}

TEST_CASE("canonical_json: strings escape only quote, backslash and C0 controls") {
  Json s = std::string("q\"b\\s/\b\f\n\r\t") + std::string(1, '\0') + "\x01\x1f\x7f" + "é😀";
  CHECK(canonical_json(s) ==
        std::string("\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\x7f") + "é😀\"");
  CHECK(canon(R"("\u00e9\u001F\/")") == "\"é\\u001f/\"");
  // Keys are escaped the same way.
  CHECK(canon(R"({"a\nb":1})") == R"({"a\nb":1})");
}

TEST_CASE("canonical_json: numbers") {
  CHECK(canon("0") == "0");
  CHECK(canon("-1") == "-1");
  CHECK(canon("9223372036854775807") == "9223372036854775807");
  CHECK(canon("-9223372036854775808") == "-9223372036854775808");
  // Integral values print as integers whatever their spelling.
  CHECK(canon("1.0") == "1");
  CHECK(canon("1e2") == "100");
  CHECK(canon("1e16") == "10000000000000000");
  CHECK(canon("-0.0") == "0");
  CHECK(canon("-0") == "0");
  // Everything else: shortest round-trip double (std::to_chars).
  CHECK(canon("1.5") == "1.5");
  CHECK(canon("0.1") == "0.1");
  CHECK(canon("0.10000000000000000555") == "0.1");
  CHECK(canon("-2.5e-3") == "-0.0025");
  CHECK(canon("1e-7") == "1e-07");
  CHECK(canon("1e100") == "1e+100");
  CHECK(canon("123456.789") == "123456.789");
  // Beyond int64: as a double (2^63 exactly; 2^64-1 rounds to 2^64).
  CHECK(canon("9223372036854775808") == "9223372036854775808");
  CHECK(canon("18446744073709551615") == "18446744073709551616");
  CHECK(canon("100000000000000000000000") == "1e+23");
  // Not producible by JSON parsing, but defined: non-finite numbers render as null.
  CHECK(canonical_json(Json(std::numeric_limits<double>::infinity())) == "null");
}

TEST_CASE("canonical_json: very deep nesting does not recurse") {
  // A hostile body 100k levels deep would overflow a recursive serializer's stack.
  const size_t depth = 100000;
  const std::string text = std::string(depth, '[') + std::string(depth, ']');
  const Json v = Json::parse(text);
  CHECK(canonical_json(v) == text);
}

TEST_CASE("new_rev_id: frozen vectors") {
  // MD5 of the literal canonical text, computed independently (python hashlib).
  // [false,0,"",{},[]]
  CHECK(new_rev_id(false, 0, "", "{}") == "6fa291d16abd1f332fb2f8bf592e52bf");
  // [true,2,"abc",{"a":1},[["a.txt","text/plain","md5-abc"],["b.txt","text/plain","md5-xyz"]]]
  CHECK(new_rev_id(true, 2, "abc", R"({"a":1})",
                   {{"b.txt", "text/plain", "md5-xyz"}, {"a.txt", "text/plain", "md5-abc"}}) ==
        "55e664cd63e4caf0b1426d9bbeab77b6");
  // [false,1,"q\"\\\n",{"a":[1,2.5,"\u0001"]},[]]
  CHECK(new_rev_id(false, 1, "q\"\\\n", canon(R"({"a":[1.0,2.5,"\u0001"]})")) ==
        "d6e48436cd2967a78f71c551dc44ec14");
}

TEST_CASE("new_rev_id: deterministic, and every input matters") {
  const std::string body = canon(R"({"v":1,"w":[1,2]})");
  const std::vector<AttachmentDigest> atts = {{"a.txt", "text/plain", "md5-AAAA"},
                                              {"b.bin", "application/octet-stream", "md5-BBBB"}};
  const std::string base = new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body, atts);

  // Shape: 32 lowercase hex, usable as a rev id.
  REQUIRE(base.size() == 32);
  CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(parse_rev("4-" + base).has_value());

  // Same inputs → same id (two independent databases making the same edit).
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body, atts) == base);
  // Body key order and attachment order are irrelevant.
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", canon(R"({"w":[1,2],"v":1})"),
                   {atts[1], atts[0]}) == base);

  // Any change → a different id.
  CHECK(new_rev_id(true, 3, "0123456789abcdef0123456789abcdef", body, atts) != base);
  CHECK(new_rev_id(false, 2, "0123456789abcdef0123456789abcdef", body, atts) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdee", body, atts) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", canon(R"({"v":2,"w":[1,2]})"),
                   atts) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", canon(R"({"v":1,"w":[2,1]})"),
                   atts) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body,
                   {atts[0], {"b.bin", "application/octet-stream", "md5-BBBC"}}) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body,
                   {atts[0], {"b.bin", "text/plain", "md5-BBBB"}}) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body,
                   {atts[0], {"c.bin", "application/octet-stream", "md5-BBBB"}}) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body, {atts[0]}) != base);
  CHECK(new_rev_id(false, 3, "0123456789abcdef0123456789abcdef", body) != base);
  // A first revision (no parent) differs from any child.
  CHECK(new_rev_id(false, 0, "", body) != new_rev_id(false, 1, "", body));
}

TEST_CASE("canonical_json(value, dump): the same text as canonical_json(value)") {
  // The fast path returns the dump itself when it is already canonical; every other body must
  // still go through the full canonicalisation.
  const char* bodies[] = {
      R"({"n":1,"name":"bench-doc-000001","tags":["alpha","beta"],"text":"lorem"})",  // sorted
      R"({"b":1,"a":2})",                            // unsorted
      R"({"a":{"d":1,"c":2}})",                      // unsorted inside
      R"([{"b":1,"a":2}])",                          // unsorted inside an array
      R"({"a":1.0})",                                // float: dump keeps "1.0"
      R"({"a":1.5,"b":[0.1]})",                      // floats
      R"({"a":18446744073709551615})",               // unsigned beyond int64
      R"({"a":9223372036854775807,"b":-9223372036854775808})",
      R"({"a":"q\"b\\s/\b\f\n\r\t\u0001\u007f é😀","b":null,"c":true})",
      R"({"":1,"B":2,"a":3,"aa":4,"é":5})",         // byte order, sorted
      R"({"a":1,"a\u0000":2})",
      R"({})", R"([])", R"("s")", R"(-0)", R"(0)", R"(null)", R"([[[]],{}])",
  };
  for (const char* text : bodies) {
    CAPTURE(text);
    const Json v = Json::parse(text);
    CHECK(canonical_json(v, v.dump()) == canonical_json(v));
  }
}

TEST_CASE("canonical_json(value, dump): random documents") {
  // Random small documents (keys in random order, so about half the objects are sorted).
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("DIVAN_SEED")) seed = std::strtoull(env, nullptr, 10);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const char* keys[] = {"a", "b", "B", "_x", "ab", "é", "n", "z"};
  std::function<Json(int)> random_value = [&](int depth) -> Json {
    switch (rng() % (depth > 3 ? 6 : 8)) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return static_cast<int64_t>(rng()) >> (rng() % 64);
      case 3: return rng();  // unsigned, sometimes beyond int64
      case 4: return static_cast<double>(static_cast<int64_t>(rng() % 2000) - 1000) / 8;
      case 5: return std::string(keys[rng() % 8]) + "\n\"\\";
      case 6: {
        Json a = Json::array();
        for (int i = rng() % 4; i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        Json o = Json::object();
        for (int i = rng() % 5; i > 0; --i) o[keys[rng() % 8]] = random_value(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    const Json v = random_value(0);
    CAPTURE(v.dump());
    REQUIRE(canonical_json(v, v.dump()) == canonical_json(v));
  }
}

TEST_CASE("md5_hex: RFC 1321 test vectors, lowercase hex") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex(std::string_view("a\0b", 3)) != md5_hex("ab"));  // bytes, not C strings
}
