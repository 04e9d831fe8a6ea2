// Server-generated ids (http/server/uuids.h): CouchDB's sequential form, every random bit from the
// source the generator is given (the CSPRNG by default).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "base/hex.h"
#include "http/server/uuids.h"

namespace divan::http::server::test {
namespace {

// A source whose byte i is i mod 256, so every id it leads to can be worked out by hand.
unsigned char g_next_byte = 0;
int g_source_calls = 0;
std::string counting_bytes(size_t size) {
  ++g_source_calls;
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(g_next_byte++);
  return out;
}

TEST_CASE("regress: server-generated ids take every random bit from the source they are given") {
  // uuids.cpp seeded mt19937_64 from one 32-bit random_device() value: 2^32 possible streams, so
  // one id gave the rest away. Now each bit is drawn from the source (engine::random_bytes).
  g_next_byte = 0;
  g_source_calls = 0;
  SequentialUuids uuids(counting_bytes);
  // Bytes 0,1: the first step (it overflows the unset suffix); 2..14: the prefix; 15,16: the
  // starting suffix, (0x0f10 & 0xfff) = 0xf10.
  CHECK(uuids.next() == "02030405060708090a0b0c0d0e000f10");
  // Bytes 17,18: step 0x112.
  CHECK(uuids.next() == "02030405060708090a0b0c0d0e001022");
  CHECK(g_source_calls == 1);  // bytes are drawn a pool at a time
}

TEST_CASE("uuids: 32 lowercase hex, increasing under one prefix, a fresh prefix on overflow") {
  SequentialUuids uuids;
  std::set<std::string> prefixes;
  std::string previous;
  int new_prefixes = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = uuids.next();
    REQUIRE(id.size() == 32);
    REQUIRE(is_lower_hex(id));
    if (!previous.empty() && id.substr(0, 26) == previous.substr(0, 26)) {
      const unsigned long step = std::stoul(id.substr(26), nullptr, 16) -
                                 std::stoul(previous.substr(26), nullptr, 16);
      CHECK((step >= 1 && step <= 0xffe));
    } else if (!previous.empty()) {
      ++new_prefixes;
    }
    prefixes.insert(id.substr(0, 26));
    previous = id;
  }
  // Steps average 0x7ff against a suffix range of 0xfff000: a new prefix every ~8000 ids.
  CHECK(new_prefixes >= 1);
  CHECK(prefixes.size() == static_cast<size_t>(new_prefixes) + 1);  // never a prefix twice
  CHECK(SequentialUuids().next().substr(0, 26) != SequentialUuids().next().substr(0, 26));
  CHECK(next_uuid().size() == 32);
}

}  // namespace
}  // namespace divan::http::server::test
