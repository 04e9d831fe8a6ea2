// spec: revision-trees.md §7 (stemming), examples §13.5, §13.8, §13.16.
#include <chrono>

#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

TEST_CASE("13.5 Stemming a linear chain") {
  const RevTree chain = tree_of({{P(5, {"e", "d", "c", "b", "a"})}});
  REQUIRE(chain.to_string() == "1: a → b → c → d → e");

  RevTree t = chain;
  t.stem(3);
  CHECK(t.to_string() == "3: c → d → e");

  RevTree abc = tree_of({{P(3, {"c", "b", "a"})}});
  abc.stem(2);
  CHECK(abc.to_string() == "2: b → c");

  for (uint32_t limit : {5u, 6u, 1000u}) {
    RevTree u = chain;
    CHECK(u.stem(limit).empty());
    CHECK(u == chain);
  }
}

TEST_CASE("13.8 Stemming with branches") {
  SUBCASE("every node within limit-1 of some leaf: unchanged (CouchDB, not PouchDB)") {
    RevTree t = tree_of({{P(3, {"c", "b", "a"})}, {P(2, {"d", "a"})}});
    REQUIRE(t.to_string() == "1: a → {b → c, d}");
    const RevTree before = t;
    CHECK(t.stem(2).empty());
    CHECK(t == before);
    CHECK(t.to_string() == "1: a → {b → c, d}");  // PouchDB would give "1: a → d | 2: b → c"
  }
  SUBCASE("an inner node too far from every leaf splits the tree") {
    RevTree t = tree_of({{P(4, {"d", "c", "b", "a"})}, {P(2, {"x", "a"})}});
    REQUIRE(t.to_string() == "1: a → {b → c → d, x}");
    t.stem(2);
    CHECK(t.to_string() == "1: a → x | 3: c → d");
    CHECK(t.find(R("2-b")) == nullptr);
  }
  SUBCASE("a fork near the leaves") {
    const RevTree fork = tree_of({{P(4, {"d", "c", "b", "a"})}, {P(4, {"x", "c", "b", "a"})}});
    REQUIRE(fork.to_string() == "1: a → b → c → {d, x}");
    RevTree t = fork;
    t.stem(2);
    CHECK(t.to_string() == "3: c → {d, x}");
    t = fork;
    t.stem(1);
    CHECK(t.to_string() == "4: d | 4: x");
  }
}

TEST_CASE("13.16 Stemming on write with a small limit") {
  RevTree t;
  CHECK(t.merge(P(5, {"e", "d", "c", "b", "a"}), false) == MergeResult::kNewLeaf);
  t.stem(2);
  CHECK(t.to_string() == "4: d → e");
  const RevPath revisions = t.ancestry(R("5-e"), 2);
  CHECK(revisions.start == 5);
  CHECK(revisions.ids == std::vector<std::string>{"e", "d"});
  const RevsDiff d = t.revs_diff({R("3-c")});
  CHECK(revs(d.missing) == "3-c");
  CHECK(d.possible_ancestors.empty());
}

TEST_CASE("stem: returns the removed revs that held a body, keeps every leaf") {
  RevTree t = tree_of(
      {{P(4, {"d", "c", "b", "a"})}, {P(2, {"b", "a"})}, {P(1, {"a"})}, {P(2, {"x", "a"}), true}});
  REQUIRE(bodies(t) == "1-a,2-b,4-d,2-x(D)");
  const std::vector<Leaf> before = t.leaves();
  const std::vector<RevId> removed = t.stem(1);
  CHECK(revs(removed) == "1-a,2-b");  // 3-c was dropped too, but held no body
  CHECK(t.leaves() == before);
  CHECK(t.to_string() == "2: x(D) | 4: d");
}

TEST_CASE("stem: a lower revs_limit takes effect on the next write") {
  RevTree t;
  std::optional<RevId> rev = interactive(t, std::nullopt, false, "{\"v\":0}");
  for (int i = 1; i < 10; ++i)
    rev = interactive(t, rev, false, "{\"v\":" + std::to_string(i) + "}");
  REQUIRE(rev);
  CHECK(t.nodes().size() == 10);
  rev = interactive(t, rev, false, "{}", std::nullopt, /*revs_limit=*/3);
  REQUIRE(rev);
  CHECK(rev->pos == 11);
  CHECK(t.nodes().size() == 3);
  CHECK(t.nodes().front().rev.pos == 9);
  CHECK(t.ancestry(*rev, 1000).ids.size() == 3);
}

TEST_CASE("stem: limit 0 is treated as 1") {
  RevTree t = tree_of({{P(3, {"c", "b", "a"})}});
  t.stem(0);
  CHECK(t.to_string() == "3: c");
}

TEST_CASE("deep history: 5000 interactive edits with revs_limit 1000 stay linear-time") {
  // spec §12 case 12. Each write is plan_edit + merge + stem(1000) + drop_internal_bodies.
  const auto t0 = std::chrono::steady_clock::now();
  RevTree t;
  std::optional<RevId> rev;
  for (int i = 0; i < 5000; ++i) {
    rev = interactive(t, rev, false, "{\"i\":" + std::to_string(i) + "}");
    REQUIRE(rev);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("5000 edits at revs_limit 1000: " << secs << " s");
  CHECK(rev->pos == 5000);
  CHECK(t.nodes().size() == 1000);
  CHECK(t.nodes().front().rev.pos == 4001);
  CHECK(bodies(t) == rev->str());
  const RevPath anc = t.ancestry(*rev, 1000);
  CHECK(anc.ids.size() == 1000);
  CHECK(t.ancestry(*rev, 10).ids.size() == 10);
  // A replicated copy of the full 1000-rev history merges as one known path.
  RevTree copy = t;
  CHECK(copy.merge(anc, false) == MergeResult::kInternalNode);
  CHECK(copy == t);
  // Round trip of a big tree.
  const auto decoded = RevTree::decode(t.encode());
  REQUIRE(decoded);
  CHECK(*decoded == t);
}
