// byte_ranges.h: Range headers on attachments, as chttpd_db:parse_ranges answers them (§7.2).
#include "http/server/byte_ranges.h"

#include <doctest/doctest.h>

namespace divan::http::server::test {
namespace {

using Ranges = std::vector<ByteRange>;

// The ranges, or nullopt for "the whole body"; fails the test on a 416.
std::optional<Ranges> ranges(std::string_view header, uint64_t length) {
  auto result = parse_ranges(header, length);
  REQUIRE(result.has_value());
  return *result;
}

bool unsatisfiable(std::string_view header, uint64_t length) {
  auto result = parse_ranges(header, length);
  if (result) return false;
  CHECK(result.error().code == Code::kRangeNotSatisfiable);
  CHECK(result.error().reason == "Requested range not satisfiable");
  return true;
}

TEST_CASE("§7.2 one range: a-b, a-, -n, clipped at the end") {
  CHECK(ranges("bytes=0-4", 10) == Ranges{{0, 4}});
  CHECK(ranges("bytes=2-2", 10) == Ranges{{2, 2}});
  CHECK(ranges("bytes=5-", 10) == Ranges{{5, 9}});
  CHECK(ranges("bytes=-3", 10) == Ranges{{7, 9}});
  CHECK(ranges("bytes=-30", 10) == Ranges{{0, 9}});  // a suffix longer than the body: all of it
  CHECK(ranges("bytes=4-100", 10) == Ranges{{4, 9}});
  CHECK(ranges("bytes=0-9", 10) == Ranges{{0, 9}});
  CHECK(ranges(" bytes=1-2 ", 10) == Ranges{{1, 2}});
  CHECK(ranges("bytes=99999999999999999999-", 10) == std::nullopt);  // not a uint64: ignored
}

TEST_CASE("§7.2 bytes=0- (anywhere) is the whole body; no header, or a bad one, too") {
  CHECK(ranges("bytes=0-", 10) == std::nullopt);
  CHECK(ranges("bytes=1-2,0-", 10) == std::nullopt);
  CHECK(ranges("", 10) == std::nullopt);
  CHECK(ranges("items=0-1", 10) == std::nullopt);
  CHECK(ranges("bytes=a-b", 10) == std::nullopt);
  CHECK(ranges("bytes=1", 10) == std::nullopt);
  CHECK(ranges("bytes=--1", 10) == std::nullopt);
  CHECK(ranges("bytes=", 10) == std::nullopt);
  CHECK(ranges("bytes=,", 10) == std::nullopt);
}

TEST_CASE("§7.2 416: the end before the start, also after clipping") {
  CHECK(unsatisfiable("bytes=5-1", 10));
  CHECK(unsatisfiable("bytes=10-", 10));
  CHECK(unsatisfiable("bytes=10-20", 10));
  CHECK(unsatisfiable("bytes=-0", 10));
  CHECK(unsatisfiable("bytes=0-0", 0));
  CHECK(unsatisfiable("bytes=-5", 0));
  // In request order: the first bad range fails the request, even after good ones.
  CHECK(unsatisfiable("bytes=0-1,5-1", 10));
  // ...but "0-" before it means the whole body.
  CHECK(ranges("bytes=0-,5-1", 10) == std::nullopt);
}

TEST_CASE("§7.2 several ranges keep their order; empty items are skipped") {
  CHECK(ranges("bytes=0-1,4-5,-2", 10) == Ranges{{0, 1}, {4, 5}, {8, 9}});
  CHECK(ranges("bytes=6-7, 0-1", 10) == Ranges{{6, 7}, {0, 1}});
  CHECK(ranges("bytes=1-2,,3-4,", 10) == Ranges{{1, 2}, {3, 4}});
  CHECK(kMaxRanges == 10);
}

TEST_CASE("content_range") {
  CHECK(content_range({2, 5}, 10) == "bytes 2-5/10");
}

}  // namespace
}  // namespace divan::http::server::test
