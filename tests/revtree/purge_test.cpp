// RevTree::remove_leaves: CouchDB's couch_key_tree:remove_leafs, as _purge uses it.
#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

TEST_CASE("purge: the only leaf of a chain empties the tree") {
  RevTree t = tree_of({{P(3, {"c", "b", "a"})}});
  CHECK(revs(t.remove_leaves({R("3-c")})) == "3-c");
  CHECK(t.empty());
}

TEST_CASE("purge: a conflict branch goes up to the fork, the shared trunk stays") {
  RevTree t = tree_of({{P(4, {"d", "c", "b", "a"})}, {P(3, {"x", "b", "a"})}});
  REQUIRE(t.to_string() == "1: a → b → {c → d, x}");
  CHECK(revs(t.remove_leaves({R("4-d")})) == "4-d");
  CHECK(t.to_string() == "1: a → b → x");
  CHECK(t.winner().rev == R("3-x"));
  CHECK(t.is_leaf(R("3-x")));
  CHECK(t.find(R("3-c")) == nullptr);
}

TEST_CASE("purge: names that are not leaves, or unknown, are ignored") {
  const RevTree before = tree_of({{P(3, {"c", "b", "a"})}, {P(2, {"y", "a"})}});
  RevTree t = before;
  CHECK(t.remove_leaves({R("2-b"), R("1-a"), R("9-zz")}).empty());
  CHECK(t == before);
}

TEST_CASE("purge: every leaf named once is reported once, in the order named") {
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(2, {"c", "a"})}, {P(2, {"d", "a"})}});
  CHECK(revs(t.remove_leaves({R("2-d"), R("2-b"), R("2-d")})) == "2-d,2-b");
  CHECK(t.to_string() == "1: a → c");
}

TEST_CASE("purge: one tree of a forest goes whole, the other stays untouched") {
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(5, {"e", "d"})}});
  REQUIRE(t.to_string() == "1: a → b | 4: d → e");
  CHECK(revs(t.remove_leaves({R("5-e")})) == "5-e");
  CHECK(t.to_string() == "1: a → b");
}

TEST_CASE("purge: a deleted leaf and its flags; bodies of kept nodes stay") {
  RevTree t = tree_of({{P(3, {"c", "b", "a"}), true}, {P(2, {"x", "a"})}});
  t.merge(P(1, {"a"}), false);  // a holds a body (history kept)
  CHECK(revs(t.remove_leaves({R("3-c")})) == "3-c");
  CHECK(t.to_string() == "1: a → x");
  CHECK(t.find(R("1-a"))->has_body);
  CHECK_FALSE(t.deleted());
}
