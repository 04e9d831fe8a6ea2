// spec: revision-trees.md §10 (_revs_diff), example §13.11.
#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

TEST_CASE("13.11 _revs_diff and possible_ancestors") {
  const RevTree t = tree_of({{P(3, {"c", "b", "a"})}, {P(2, {"d", "a"}), true}});
  REQUIRE(t.to_string() == "1: a → {b → c, d(D)}");

  RevsDiff d = t.revs_diff({R("1-a"), R("2-b"), R("2-d"), R("3-c"), R("3-z"), R("4-q"), R("1-zz")});
  CHECK(revs(d.missing) == "3-z,4-q,1-zz");        // request order; the spec accepts any order
  CHECK(revs(d.possible_ancestors) == "3-c,2-d");  // deleted leaf included, leaf order

  d = t.revs_diff({R("2-z")});
  CHECK(revs(d.missing) == "2-z");
  CHECK(d.possible_ancestors.empty());  // no leaf has pos < 2

  d = t.revs_diff({R("4-q")});
  CHECK(revs(d.missing) == "4-q");
  CHECK(revs(d.possible_ancestors) == "3-c,2-d");

  d = t.revs_diff({R("2-b"), R("3-c")});
  CHECK(d.missing.empty());  // the doc is omitted from the response
  CHECK(d.possible_ancestors.empty());
}

TEST_CASE("revs_diff: body-less ancestors and deleted leaves count as present; unknown doc") {
  const RevTree t = tree_of({{P(3, {"c", "q"})}, {P(2, {"x", "w"}), true}});
  REQUIRE(t.to_string() == "1: w → x(D) | 2: q → c");
  CHECK(t.revs_diff({R("2-q"), R("1-w"), R("2-x"), R("3-c")}).missing.empty());

  const RevTree unknown;
  const RevsDiff d = unknown.revs_diff({R("1-a"), R("2-b")});
  CHECK(revs(d.missing) == "1-a,2-b");
  CHECK(d.possible_ancestors.empty());
}

TEST_CASE("revs_diff: possible_ancestors strictly below the highest missing pos") {
  const RevTree t =
      tree_of({{P(3, {"c", "b", "a"})}, {P(2, {"d", "a"})}, {P(4, {"e", "x", "y", "a"})}});
  RevsDiff d = t.revs_diff({R("3-n")});
  CHECK(revs(d.possible_ancestors) == "2-d");  // 3-c has pos == 3: not strictly below
  d = t.revs_diff({R("2-n"), R("5-n")});
  CHECK(revs(d.possible_ancestors) == "4-e,3-c,2-d");
}

TEST_CASE("revs_diff: duplicates reported once; 32-hex case folded by parsing") {
  const std::string hex = "0123456789abcdef0123456789abcdef";
  const RevTree t = tree_of({{RevPath{1, {hex}}}});
  CHECK(t.revs_diff({R("1-0123456789ABCDEF0123456789ABCDEF")}).missing.empty());
  const RevsDiff d = t.revs_diff({R("2-x"), R("2-x"), R("1-" + hex), R("2-x")});
  CHECK(revs(d.missing) == "2-x");
  CHECK(revs(d.possible_ancestors) == "1-" + hex);
}

namespace {
std::string rid(int i) {
  std::string s = "r";
  s += std::to_string(
      i);  // not `"r" + std::to_string(i)`: GCC 12 -Wrestrict false positive (PR105329)
  return s;
}
}  // namespace

TEST_CASE("revs_diff: many revs against a deep tree (indexed lookup path)") {
  RevTree t;
  RevPath p{300, {}};
  for (int i = 300; i >= 1; --i) p.ids.push_back(rid(i));
  t.merge(p, false);
  std::vector<RevId> ask;
  for (int i = 1; i <= 300; i += 7) ask.push_back(RevId{static_cast<uint64_t>(i), rid(i)});
  ask.push_back(R("150-zz"));
  ask.push_back(R("301-r301"));
  ask.push_back(R("150-zz"));
  const RevsDiff d = t.revs_diff(ask);
  CHECK(revs(d.missing) == "150-zz,301-r301");
  CHECK(revs(d.possible_ancestors) == "300-r300");
}
