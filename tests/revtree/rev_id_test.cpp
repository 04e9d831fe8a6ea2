// spec: revision-trees.md §1 (rev id format and canonicalisation), §14 "Rev parsing".
#include "test_util.h"

using namespace divan::revtree;
using divan::revtree::test::R;

namespace {
const std::string kLowerHex = "0123456789abcdef0123456789abcdef";
const std::string kUpperHex = "0123456789ABCDEF0123456789ABCDEF";
}  // namespace

TEST_CASE("parse_rev: valid forms") {
  auto r = parse_rev("1-abc");
  REQUIRE(r);
  CHECK(r->pos == 1);
  CHECK(r->id == "abc");
  CHECK(r->str() == "1-abc");

  r = parse_rev("123456-x");
  REQUIRE(r);
  CHECK(r->pos == 123456);

  // Leading zeros are a number like any other (Erlang list_to_integer, PouchDB /^\d+-/).
  r = parse_rev("007-x");
  REQUIRE(r);
  CHECK(r->pos == 7);
  CHECK(r->str() == "7-x");

  // Largest accepted pos: int64 max.
  r = parse_rev("9223372036854775807-x");
  REQUIRE(r);
  CHECK(r->pos == 9223372036854775807ull);
}

TEST_CASE("parse_rev: ids containing '-' split at the first dash") {
  auto r = parse_rev("3-a-b-c");
  REQUIRE(r);
  CHECK(r->pos == 3);
  CHECK(r->id == "a-b-c");
  r = parse_rev("2--");
  REQUIRE(r);
  CHECK(r->id == "-");
  CHECK(r->str() == "2--");
}

TEST_CASE("parse_rev: 32-hex ids are canonicalised to lowercase") {
  auto upper = parse_rev("1-" + kUpperHex);
  auto lower = parse_rev("1-" + kLowerHex);
  REQUIRE(upper);
  REQUIRE(lower);
  CHECK(upper->id == kLowerHex);
  CHECK(*upper == *lower);
  CHECK(upper->str() == "1-" + kLowerHex);
  auto mixed = parse_rev("5-0123456789AbCdEf0123456789aBcDeF");
  REQUIRE(mixed);
  CHECK(mixed->id == kLowerHex);
}

TEST_CASE("parse_rev: ids of other lengths are kept verbatim, case included") {
  CHECK(R("1-ABC").id == "ABC");
  CHECK(R("1-" + kUpperHex.substr(0, 31)).id == kUpperHex.substr(0, 31));
  CHECK(R("1-" + kUpperHex + "0").id == kUpperHex + "0");
  // 31/33-char non-hex ids are just opaque strings.
  CHECK(parse_rev("1-" + std::string(31, 'z')));
  CHECK(parse_rev("1-" + std::string(33, 'z')));
}

TEST_CASE("parse_rev: rejected forms") {
  CHECK_FALSE(parse_rev(""));
  CHECK_FALSE(parse_rev("abc"));    // no dash
  CHECK_FALSE(parse_rev("1"));      // no dash
  CHECK_FALSE(parse_rev("-abc"));   // no pos
  CHECK_FALSE(parse_rev("x-abc"));  // non-numeric pos
  CHECK_FALSE(parse_rev("1x-abc"));
  CHECK_FALSE(parse_rev("+1-abc"));  // signs are not digits
  CHECK_FALSE(parse_rev(" 1-abc"));
  CHECK_FALSE(parse_rev("0-abc"));  // pos 0 is the _local form, not a tree rev
  CHECK_FALSE(parse_rev("00-abc"));
  CHECK_FALSE(parse_rev("1-"));                         // empty id
  CHECK_FALSE(parse_rev("9223372036854775808-x"));      // beyond int64
  CHECK_FALSE(parse_rev("99999999999999999999999-x"));  // overflows uint64
  // 32 characters that are not hex: rejected, never kept verbatim.
  CHECK_FALSE(parse_rev("1-" + std::string(32, 'z')));
  CHECK_FALSE(parse_rev("1-0123456789abcdef0123456789abcdeg"));
  CHECK_FALSE(parse_rev("1-0123456789abcdef-123456789abcdef"));
}

TEST_CASE("canonical_rev_id: _revisions ids") {
  CHECK(canonical_rev_id("abc") == std::optional<std::string>("abc"));
  CHECK(canonical_rev_id("a-b") == std::optional<std::string>("a-b"));
  CHECK(canonical_rev_id(kUpperHex) == std::optional<std::string>(kLowerHex));
  CHECK(canonical_rev_id(kLowerHex) == std::optional<std::string>(kLowerHex));
  CHECK_FALSE(canonical_rev_id(""));
  CHECK_FALSE(
      canonical_rev_id(std::string(32, 'q')));  // doc_validation "RevId isn't a valid hexadecimal"
}

TEST_CASE("RevId ordering is (pos, id bytes), prefix first, unsigned bytes") {
  CHECK(R("1-z") < R("2-a"));
  CHECK(R("2-a") < R("2-b"));
  CHECK(R("2-a") < R("2-aa"));  // shorter prefix first
  CHECK(R("2-B") < R("2-a"));   // byte order, not case-insensitive
  CHECK(R("10-a") > R("9-z"));  // numeric pos, not text
  // Bytes >= 0x80 sort after ASCII (memcmp on unsigned char), as UTF-8 code point order requires.
  CHECK(R("1-z") < R("1-\xc3\xa9"));
  CHECK((R("3-abc") <=> R("3-abc")) == std::strong_ordering::equal);
}
