// replicator/db_patterns.h: which databases a mesh syncs (`--peer-dbs`).
#include <doctest/doctest.h>

#include "replicator/db_patterns.h"

using namespace divan;
using namespace divan::replicator;

TEST_CASE("mesh: no patterns syncs every database but the system ones") {
  auto all = DbPatterns::parse("");
  REQUIRE(all.has_value());
  CHECK(all->matches("orders"));
  CHECK(all->matches("a/b"));
  CHECK_FALSE(all->matches("_users"));
  CHECK_FALSE(all->matches("_replicator"));
}

TEST_CASE("mesh: includes, excludes, and system databases only when named") {
  auto p = DbPatterns::parse("shop_*, _users, !shop_tmp*");
  REQUIRE(p.has_value());
  CHECK(p->matches("shop_eu"));
  CHECK_FALSE(p->matches("shop_tmp1"));  // an exclude wins
  CHECK_FALSE(p->matches("orders"));     // includes given: only what they name
  CHECK(p->matches("_users"));
  CHECK_FALSE(p->matches("_replicator"));

  auto star = DbPatterns::parse("*");
  REQUIRE(star.has_value());
  CHECK(star->matches("x"));
  CHECK_FALSE(star->matches("_users"));  // '*' does not name a system database

  auto excludes_only = DbPatterns::parse("!tmp_*");
  REQUIRE(excludes_only.has_value());
  CHECK(excludes_only->matches("orders"));
  CHECK_FALSE(excludes_only->matches("tmp_1"));
  CHECK_FALSE(excludes_only->matches("_users"));
}

TEST_CASE("mesh: an empty pattern is refused") {
  for (const char* bad : {"a,,b", "!", "a, ,b", ","}) {
    auto p = DbPatterns::parse(bad);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == Code::kBadRequest);
  }
}
