// spec: revision-trees.md §8 (reading revisions: _revisions, latest, find), example §13.12.
#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

namespace {
// Forest of §13.11/§13.12: 1: a → {b → c, d(D)}.
RevTree forest_13_11() {
  RevTree t = tree_of({{P(3, {"c", "b", "a"})}, {P(2, {"d", "a"}), true}});
  REQUIRE(t.to_string() == "1: a → {b → c, d(D)}");
  return t;
}
}  // namespace

TEST_CASE("13.12 latest") {
  const RevTree t = forest_13_11();
  // open_revs=["1-a"]&latest=true → both leaves, the deleted one included.
  CHECK(leaves(t.leaves_under(R("1-a"))) == "3-c,2-d(D)");
  // open_revs=["2-b","9-x"]&latest=true → 3-c found; 9-x missing.
  CHECK(leaves(t.leaves_under(R("2-b"))) == "3-c");
  CHECK(t.leaves_under(R("9-x")).empty());
  // A leaf is its own latest.
  CHECK(leaves(t.leaves_under(R("3-c"))) == "3-c");
  CHECK(leaves(t.leaves_under(R("2-d"))) == "2-d(D)");
}

TEST_CASE("latest: subtrees across a multi-tree forest") {
  const RevTree t = tree_of(
      {{P(3, {"c", "b", "a"})}, {P(3, {"y", "x", "a"})}, {P(4, {"z", "q"})}, {P(2, {"w", "a"})}});
  REQUIRE(t.to_string() == "1: a → {b → c, w, x → y} | 3: q → z");
  CHECK(leaves(t.leaves_under(R("1-a"))) == "3-y,3-c,2-w");
  CHECK(leaves(t.leaves_under(R("2-x"))) == "3-y");
  CHECK(leaves(t.leaves_under(R("3-q"))) == "4-z");
}

TEST_CASE("ancestry: _revisions follows parent links to the root, bounded by limit") {
  RevTree t = tree_of({{P(5, {"e", "d", "c", "b", "a"})}, {P(4, {"x", "c", "b", "a"})}});
  RevPath p = t.ancestry(R("5-e"), 1000);
  CHECK(p.start == 5);
  CHECK(p.ids == std::vector<std::string>{"e", "d", "c", "b", "a"});
  p = t.ancestry(R("5-e"), 2);
  CHECK(p.ids == std::vector<std::string>{"e", "d"});
  p = t.ancestry(R("4-x"), 1000);
  CHECK(p.start == 4);
  CHECK(p.ids == std::vector<std::string>{"x", "c", "b", "a"});
  // An internal rev's own history.
  CHECK(t.ancestry(R("3-c"), 1000).ids == std::vector<std::string>{"c", "b", "a"});
  CHECK(t.ancestry(R("3-c"), 1).ids == std::vector<std::string>{"c"});
  // Stops at a stemmed root.
  t.stem(2);
  CHECK(t.to_string() == "3: c → {d → e, x}");
  p = t.ancestry(R("5-e"), 1000);
  CHECK(p.start == 5);
  // 3 ids with revs_limit 2: c stays (1 edge from leaf x) and CouchDB keeps the tree connected,
  // which is why `_revisions` output is also truncated to revs_limit (spec §7).
  CHECK(p.ids == std::vector<std::string>{"e", "d", "c"});
  CHECK(t.ancestry(R("5-e"), 2).ids == std::vector<std::string>{"e", "d"});
  t.stem(1);
  CHECK(t.to_string() == "4: x | 5: e");
  CHECK(t.ancestry(R("5-e"), 1000).ids == std::vector<std::string>{"e"});
  // Unknown rev (a contract violation): no invented ids.
  CHECK(t.ancestry(R("9-q"), 1000).ids.empty());
}

TEST_CASE("_revs_info material: body and deleted flags along the winner's chain") {
  // 1-a (body held) → 2-b (deleted body held: a tombstone later extended) → 3-c.
  RevTree t = tree_of({{P(1, {"a"})}, {P(2, {"b", "a"}), true}, {P(3, {"c", "b", "a"})}});
  REQUIRE(t.to_string() == "1: a → b(D) → c");
  const RevPath chain = t.ancestry(t.winner().rev, 1000);
  std::vector<std::string> status;
  for (size_t k = 0; k < chain.ids.size(); ++k) {
    const RevTree::Node* n = t.find(RevId{chain.start - k, chain.ids[k]});
    REQUIRE(n);
    status.push_back(!n->has_body ? "missing" : n->deleted ? "deleted" : "available");
  }
  CHECK(status == std::vector<std::string>{"available", "deleted", "available"});
  CHECK(revs(t.drop_internal_bodies()) == "1-a,2-b");
  CHECK(t.to_string() == "1: a → b → c");
  CHECK_FALSE(t.find(R("2-b"))->has_body);
  CHECK_FALSE(t.find(R("2-b"))->deleted);
  CHECK(t.drop_internal_bodies().empty());
}

TEST_CASE("find / is_leaf / empty forest") {
  const RevTree t = forest_13_11();
  CHECK(t.find(R("1-a")) != nullptr);
  CHECK(t.find(R("1-a"))->parent == -1);
  CHECK(t.find(R("2-b"))->parent >= 0);
  CHECK(t.find(R("2-a")) == nullptr);
  CHECK(t.is_leaf(R("3-c")));
  CHECK(t.is_leaf(R("2-d")));
  CHECK_FALSE(t.is_leaf(R("2-b")));
  CHECK_FALSE(t.is_leaf(R("7-nope")));
  // Parents precede children in nodes().
  for (size_t i = 0; i < t.nodes().size(); ++i)
    CHECK(t.nodes()[i].parent < static_cast<int32_t>(i));

  const RevTree empty;
  CHECK(empty.empty());
  CHECK(empty.leaves().empty());
  CHECK(empty.to_string().empty());
  CHECK(empty.find(R("1-a")) == nullptr);
  CHECK(empty.revs_diff({R("1-a")}).missing.size() == 1);
}
