// spec: revision-trees.md §6.1 (interactive edit table), examples §13.14 and §13.15.
#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

namespace {
bool conflict(const RevTree& t, const std::optional<RevId>& parent, bool deleted) {
  return t.plan_edit(parent, deleted).conflict;
}
std::optional<RevId> parent_of(const RevTree& t, const std::optional<RevId>& parent, bool deleted) {
  const EditPlan p = t.plan_edit(parent, deleted);
  REQUIRE_FALSE(p.conflict);
  return p.parent;
}
}  // namespace

TEST_CASE("plan_edit: every row of the §6.1 table") {
  const RevTree unknown;
  const RevTree live =
      tree_of({{P(2, {"b", "a"})}, {P(3, {"x", "c", "a"}), true}});  // leaves 2-b, 3-x(D)
  REQUIRE(live.to_string() == "1: a → {b, c → x(D)}");
  REQUIRE_FALSE(live.deleted());
  const RevTree dead =
      tree_of({{P(2, {"b", "a"}), true}, {P(3, {"y", "x", "a"}), true}});  // all deleted
  REQUIRE(dead.deleted());
  REQUIRE(dead.winner().rev == R("3-y"));

  SUBCASE("doc unknown, parent absent: create 1-<new>; creating a deleted doc is allowed") {
    CHECK(parent_of(unknown, std::nullopt, false) == std::nullopt);
    CHECK(parent_of(unknown, std::nullopt, true) == std::nullopt);
  }
  SUBCASE("doc unknown, parent present: 409") {
    CHECK(conflict(unknown, R("1-a"), false));
    CHECK(conflict(unknown, R("1-a"), true));
  }
  SUBCASE("live doc, parent absent: 409") {
    CHECK(conflict(live, std::nullopt, false));
    CHECK(conflict(live, std::nullopt, true));
  }
  SUBCASE("live doc, parent a current leaf (live or deleted): child of it") {
    CHECK(parent_of(live, R("2-b"), false) == R("2-b"));
    CHECK(parent_of(live, R("2-b"), true) == R("2-b"));
    CHECK(parent_of(live, R("3-x"), false) == R("3-x"));  // extending a deleted leaf revives it
  }
  SUBCASE("live doc, parent internal or unknown: 409") {
    CHECK(conflict(live, R("1-a"), false));
    CHECK(conflict(live, R("2-c"), false));
    CHECK(conflict(live, R("2-zz"), false));
    CHECK(conflict(live, R("4-x"), false));
  }
  SUBCASE("deleted doc, parent absent, not deleted: recreate under the deleted winner") {
    CHECK(parent_of(dead, std::nullopt, false) == R("3-y"));
  }
  SUBCASE("deleted doc, parent absent, deleted: 409") { CHECK(conflict(dead, std::nullopt, true)); }
  SUBCASE("deleted doc, parent present (even the winner's own rev): 409") {
    CHECK(conflict(dead, R("3-y"), false));
    CHECK(conflict(dead, R("3-y"), true));
    CHECK(conflict(dead, R("2-b"), false));
    CHECK(conflict(dead, R("1-a"), false));
  }
}

TEST_CASE("13.14 Interactive sequence (status codes)") {
  RevTree t;
  // 1. PUT {} → 201 1-h1
  const auto h1 = interactive(t, std::nullopt, false, "{}");
  REQUIRE(h1);
  CHECK(h1->pos == 1);
  CHECK(h1->id == new_rev_id(false, 0, "", "{}"));
  // 2. PUT {"_rev":"1-h1","v":1} → 201 2-h2
  const auto h2 = interactive(t, h1, false, R"({"v":1})");
  REQUIRE(h2);
  CHECK(h2->pos == 2);
  // 3. PUT {"_rev":"1-h1","v":2} → 409 (1-h1 is no longer a leaf)
  CHECK_FALSE(interactive(t, h1, false, R"({"v":2})"));
  // 4. PUT {"v":3} → 409 (live doc, no rev)
  CHECK_FALSE(interactive(t, std::nullopt, false, R"({"v":3})"));
  // 5. DELETE ?rev=2-h2 → 200 3-h3 (deleted)
  const auto h3 = interactive(t, h2, true, "{}");
  REQUIRE(h3);
  CHECK(h3->pos == 3);
  // 6. GET → 404 deleted; GET ?rev=3-h3 → the tombstone
  CHECK(t.deleted());
  CHECK(t.winner().rev == *h3);
  REQUIRE(t.find(*h3));
  CHECK(t.find(*h3)->has_body);
  CHECK(t.find(*h3)->deleted);
  // 7. PUT {"_rev":"3-h3","v":4} → 409
  CHECK_FALSE(interactive(t, h3, false, R"({"v":4})"));
  // 8. PUT {"v":5} → 201 4-h4, a child of 3-h3, hashed with 3-h3 as parent
  const auto h4 = interactive(t, std::nullopt, false, R"({"v":5})");
  REQUIRE(h4);
  CHECK(h4->pos == 4);
  CHECK(h4->id == new_rev_id(false, 3, h3->id, R"({"v":5})"));
  CHECK_FALSE(t.deleted());
  const RevPath revisions = t.ancestry(*h4, 1000);
  CHECK(revisions.start == 4);
  CHECK(revisions.ids == std::vector<std::string>{h4->id, h3->id, h2->id, h1->id});
  // 9. DELETE ?rev=4-h4 → ok; DELETE ?rev=5-… → refused (the HTTP layer answers 404 deleted)
  const auto h5 = interactive(t, h4, true, "{}");
  REQUIRE(h5);
  CHECK(h5->pos == 5);
  CHECK_FALSE(interactive(t, h5, true, "{}"));
  CHECK(t.nodes().size() == 5);
  CHECK(t.leaves().size() == 1);
}

TEST_CASE("13.15 Extending the losing leaf of a conflicted doc, then resolving") {
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(2, {"c", "a"})}});
  REQUIRE(t.winner().rev == R("2-c"));
  // 1. PUT {"_rev":"2-b","v":1} → 3-e extends the losing leaf and becomes the winner.
  REQUIRE(interactive(t, R("2-b"), false, R"({"v":1})", "e") == R("3-e"));
  CHECK(leaves(t.leaves()) == "3-e,2-c");
  CHECK(t.winner().rev == R("3-e"));
  // 2. DELETE ?rev=2-c → 3-f(D).
  REQUIRE(interactive(t, R("2-c"), true, "{}", "f") == R("3-f"));
  CHECK(leaves(t.leaves()) == "3-e,3-f(D)");
  CHECK(t.conflicts().empty());
  CHECK(revs(t.deleted_conflicts()) == "3-f");
  CHECK(t.to_string() == "1: a → {b → e, c → f(D)}");
}

TEST_CASE("interactive: reviving a deleted leaf of a live doc") {
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(3, {"x", "c", "a"}), true}});
  REQUIRE(t.winner().rev == R("2-b"));
  const auto rev = interactive(t, R("3-x"), false, R"({"back":true})");
  REQUIRE(rev);
  CHECK(rev->pos == 4);
  CHECK(t.winner().rev == *rev);  // the revived branch is longer: it now wins
  CHECK(revs(t.conflicts()) == "2-b");
  CHECK(t.deleted_conflicts().empty());
}

TEST_CASE("interactive: creating a deleted doc, then recreating it") {
  RevTree t;
  const auto d1 = interactive(t, std::nullopt, true, "{}");
  REQUIRE(d1);
  CHECK(d1->pos == 1);
  CHECK(t.deleted());
  // A second delete without rev: 409. A plain PUT recreates under the tombstone: 2-….
  CHECK_FALSE(interactive(t, std::nullopt, true, "{}"));
  const auto r2 = interactive(t, std::nullopt, false, "{}");
  REQUIRE(r2);
  CHECK(r2->pos == 2);
  CHECK(t.to_string() == "1: " + d1->id + " → " + r2->id);
}

TEST_CASE("interactive: recreate grows under the deleted winner of a multi-leaf deleted doc") {
  RevTree t = tree_of({{P(3, {"z", "b", "a"}), true}, {P(2, {"c", "a"}), true}});
  REQUIRE(t.deleted());
  const auto r = interactive(t, std::nullopt, false, "{}", "n");
  REQUIRE(r);
  CHECK(*r == R("4-n"));
  CHECK(t.to_string() == "1: a → {b → z → n, c(D)}");  // z's tombstone body was internal: dropped
  CHECK(leaves(t.leaves()) == "4-n,2-c(D)");
}

TEST_CASE("interactive: same-id docs in one bulk request are applied in order") {
  // Each sees the previous one's result: the second edit of the same parent conflicts; an edit of
  // the first one's result succeeds.
  RevTree t;
  const auto a = interactive(t, std::nullopt, false, R"({"n":1})");
  REQUIRE(a);
  CHECK_FALSE(interactive(t, std::nullopt, false, R"({"n":2})"));
  const auto b = interactive(t, a, false, R"({"n":3})");
  REQUIRE(b);
  CHECK_FALSE(interactive(t, a, false, R"({"n":4})"));
  CHECK(t.winner().rev == *b);
}

TEST_CASE("interactive: identical edits on two peers produce the same rev (no conflict)") {
  // spec §12 case 10. The engine hashes canonical_json(body), so key order does not matter.
  const auto canon = [](const char* text) {
    return canonical_json(nlohmann::ordered_json::parse(text));
  };
  RevTree peer1, peer2;
  const auto base = interactive(peer1, std::nullopt, false, canon(R"({"x":1})"));
  REQUIRE(base);
  CHECK(peer2.merge(peer1.ancestry(*base, 1000), false) == MergeResult::kNewLeaf);
  const auto e1 = interactive(peer1, base, false, canon(R"({"y":2,"x":1})"));
  const auto e2 = interactive(peer2, base, false, canon(R"({"x":1,"y":2})"));
  REQUIRE(e1);
  REQUIRE(e2);
  CHECK(*e1 == *e2);
  // Replicating one into the other is a no-op: one leaf, no conflict.
  CHECK(peer1.merge(peer2.ancestry(*e2, 1000), false) == MergeResult::kInternalNode);
  CHECK(peer1.leaves().size() == 1);
  CHECK(peer1 == peer2);
}
