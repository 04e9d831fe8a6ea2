// spec: revision-trees.md §5 (merge) and the worked examples §13.1, §13.2, §13.6, §13.7, §13.9,
// §13.10, §13.13. Forest shapes are asserted with to_string() in the spec's own notation.
#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

TEST_CASE("13.1 Linear history") {
  SUBCASE("replicated") {
    RevTree t;
    CHECK(t.merge(P(1, {"a"}), false) == MergeResult::kNewLeaf);
    CHECK(t.merge(P(2, {"b", "a"}), false) == MergeResult::kNewLeaf);
    CHECK(t.merge(P(3, {"c", "b"}), false) == MergeResult::kNewLeaf);
    CHECK(t.to_string() == "1: a → b → c");
    CHECK(leaves(t.leaves()) == "3-c");
    CHECK(t.winner().rev == R("3-c"));
    const RevPath anc = t.ancestry(R("3-c"), 1000);
    CHECK(anc.start == 3);
    CHECK(anc.ids == std::vector<std::string>{"c", "b", "a"});
  }
  SUBCASE("interactive") {
    RevTree t;
    REQUIRE(interactive(t, std::nullopt, false, "{}", "a"));
    REQUIRE(interactive(t, R("1-a"), false, "{}", "b"));
    REQUIRE(interactive(t, R("2-b"), false, "{}", "c"));
    CHECK(t.to_string() == "1: a → b → c");
    CHECK(t.winner().rev == R("3-c"));
    CHECK(bodies(t) == "3-c");  // internal bodies dropped after each write
    CHECK(t.ancestry(R("3-c"), 1000).ids == std::vector<std::string>{"c", "b", "a"});
  }
}

TEST_CASE("13.2 Merge result codes") {
  const RevTree start = tree_of({{P(2, {"b", "a"})}});
  REQUIRE(start.to_string() == "1: a → b");
  REQUIRE(leaves(start.leaves()) == "2-b");

  SUBCASE("fork below an inner node: new_branch") {
    RevTree t = start;
    CHECK(t.merge(P(2, {"c", "a"}), false) == MergeResult::kNewBranch);
    CHECK(t.to_string() == "1: a → {b, c}");
    CHECK(leaves(t.leaves()) == "2-c,2-b");
    CHECK(t.winner().rev == R("2-c"));
    CHECK(revs(t.conflicts()) == "2-b");
    CHECK(t.deleted_conflicts().empty());
  }
  SUBCASE("extend a leaf: new_leaf; then known paths: internal_node") {
    RevTree t = start;
    CHECK(t.merge(P(3, {"d", "b", "a"}), false) == MergeResult::kNewLeaf);
    CHECK(t.to_string() == "1: a → b → d");
    CHECK(leaves(t.leaves()) == "3-d");

    const RevTree before = t;
    CHECK(t.merge(P(2, {"b", "a"}), false) == MergeResult::kInternalNode);
    CHECK(t == before);
    CHECK(t.merge(P(3, {"d", "b", "a"}), false) == MergeResult::kInternalNode);
    CHECK(t == before);
    CHECK(t.to_string() == "1: a → b → d");
  }
}

TEST_CASE("13.6 Merging into a stemmed tree") {
  RevTree stemmed = tree_of({{P(5, {"e", "d", "c", "b", "a"})}});
  stemmed.stem(3);
  REQUIRE(stemmed.to_string() == "3: c → d → e");

  SUBCASE("path from inside the tree") {
    RevTree t = stemmed;
    CHECK(t.merge(P(6, {"f", "e", "d"}), false) == MergeResult::kNewLeaf);
    CHECK(t.to_string() == "3: c → d → e → f");
    t.stem(3);
    CHECK(t.to_string() == "4: d → e → f");
  }
  SUBCASE("path reaching above the stemmed root re-roots the tree") {
    RevTree t = stemmed;
    CHECK(t.merge(P(6, {"f", "e", "d", "c", "b", "a"}), false) == MergeResult::kNewLeaf);
    CHECK(t.to_string() == "1: a → b → c → d → e → f");
    CHECK(bodies(t) == "5-e,6-f");  // the re-rooted ancestors are body-less
    t.stem(3);
    CHECK(t.to_string() == "4: d → e → f");
  }
  SUBCASE("old path whose leaf is now internal") {
    RevTree t = stemmed;
    CHECK(t.merge(P(3, {"c", "b", "a"}), false) == MergeResult::kInternalNode);
    CHECK(t.to_string() == "1: a → b → c → d → e");
    // c was body-less (only the leaf e holds one); the incoming body fills it in (BODY beats
    // MISSING). The engine stores nothing for a rev that did not become a new leaf, and
    // drop_internal_bodies() clears the flag again after the write.
    CHECK(bodies(t) == "3-c,5-e");
    CHECK_FALSE(t.is_leaf(R("3-c")));
    t.stem(3);
    CHECK(t.to_string() == "3: c → d → e");
    CHECK(t.leaves().size() == 1);
  }
}

TEST_CASE("13.7 Disjoint and resurrected paths (tricky case 5)") {
  RevTree stemmed = tree_of({{P(5, {"e", "d", "c", "b", "a"})}});
  stemmed.stem(3);
  REQUIRE(stemmed.to_string() == "3: c → d → e");

  SUBCASE("a path that starts below every node of the tree") {
    RevTree t = stemmed;
    CHECK(t.merge(P(9, {"i", "h", "g"}), false) == MergeResult::kNewBranch);
    CHECK(t.to_string() == "3: c → d → e | 7: g → h → i");
    CHECK(leaves(t.leaves()) == "9-i,5-e");
    CHECK(t.winner().rev == R("9-i"));
  }
  SUBCASE("a forgotten old branch comes back as a separate tree") {
    RevTree t = stemmed;
    CHECK(t.merge(P(2, {"b", "a"}), false) == MergeResult::kNewBranch);
    CHECK(t.to_string() == "1: a → b | 3: c → d → e");
    CHECK(leaves(t.leaves()) == "5-e,2-b");
    CHECK(t.winner().rev == R("5-e"));
    CHECK(revs(t.conflicts()) == "2-b");
    t.stem(3);
    CHECK(t.to_string() == "1: a → b | 3: c → d → e");
  }
  SUBCASE("_revs_diff on the stemmed tree") {
    const RevsDiff d = stemmed.revs_diff({R("1-a"), R("3-c"), R("5-e")});
    CHECK(revs(d.missing) == "1-a");
    CHECK(d.possible_ancestors.empty());
  }
}

TEST_CASE("13.9 Replicated tombstone onto a conflict") {
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(2, {"c", "a"})}});
  REQUIRE(t.to_string() == "1: a → {b, c}");
  CHECK(t.merge(P(3, {"d", "b", "a"}), true) == MergeResult::kNewLeaf);
  CHECK(t.to_string() == "1: a → {b → d(D), c}");
  CHECK(leaves(t.leaves()) == "2-c,3-d(D)");
  CHECK(t.winner().rev == R("2-c"));
  CHECK_FALSE(t.deleted());
  CHECK(t.conflicts().empty());
  CHECK(revs(t.deleted_conflicts()) == "3-d");
}

TEST_CASE("13.10 Unknown parent") {
  RevTree t = tree_of({{P(2, {"b", "a"})}});
  CHECK(t.merge(P(3, {"c", "q"}), false) == MergeResult::kNewBranch);
  CHECK(t.to_string() == "1: a → b | 2: q → c");
  const RevTree::Node* q = t.find(R("2-q"));
  REQUIRE(q);
  CHECK_FALSE(q->has_body);
  CHECK(q->parent == -1);
  CHECK(leaves(t.leaves()) == "3-c,2-b");
  CHECK(t.winner().rev == R("3-c"));
  const RevsDiff d = t.revs_diff({R("2-q"), R("3-c"), R("1-a"), R("4-n")});
  CHECK(revs(d.missing) == "4-n");
  CHECK(revs(d.possible_ancestors) == "3-c,2-b");
}

TEST_CASE("13.13 Duplicates in one replicated batch") {
  // Multi-merge: sort the batch, merge one after another; identical paths are idempotent.
  std::vector<RevPath> batch = {P(2, {"b", "a"}), P(2, {"b", "a"}), P(1, {"a"})};
  std::sort(batch.begin(), batch.end(), [](const RevPath& x, const RevPath& y) {
    return std::tie(x.start, x.ids) < std::tie(y.start, y.ids);
  });
  RevTree t;
  std::vector<MergeResult> results;
  int writes = 0;  // what the engine would store: the newest rev became a leaf it wasn't before
  for (const RevPath& p : batch) {
    const bool was_leaf = t.is_leaf(p.newest());
    results.push_back(t.merge(p, false));
    if (t.is_leaf(p.newest()) && !was_leaf) ++writes;
  }
  CHECK(t.to_string() == "1: a → b");
  CHECK(t.winner().rev == R("2-b"));
  CHECK(writes == 2);  // 1-a then 2-b; the duplicate is a no-op
  CHECK(results == std::vector<MergeResult>{MergeResult::kNewLeaf, MergeResult::kNewLeaf,
                                            MergeResult::kInternalNode});
  // Re-sending the whole batch changes nothing.
  const RevTree before = t;
  for (const RevPath& p : batch) CHECK(t.merge(p, false) == MergeResult::kInternalNode);
  CHECK(t == before);
}

TEST_CASE("merge: values on matched nodes (BODY beats MISSING, existing body kept)") {
  // 2-q arrives first as a body-less ancestor, later with its own body: the body fills it in.
  RevTree t = tree_of({{P(3, {"c", "q"})}});
  CHECK_FALSE(t.find(R("2-q"))->has_body);
  CHECK(t.merge(P(2, {"q"}), true) == MergeResult::kInternalNode);
  CHECK(t.find(R("2-q"))->has_body);
  CHECK(t.find(R("2-q"))->deleted);
  // A second body for a rev we hold is ignored (the existing one is kept).
  CHECK(t.merge(P(3, {"c", "q"}), true) == MergeResult::kInternalNode);
  CHECK_FALSE(t.find(R("3-c"))->deleted);
  // Ancestors named in a path never gain a body from it.
  CHECK(t.merge(P(4, {"d", "c", "q"}), false) == MergeResult::kNewLeaf);
  CHECK(bodies(t) == "2-q(D),3-c,4-d");
}

TEST_CASE("merge: new trees are kept sorted by (start, root id)") {
  RevTree t;
  CHECK(t.merge(P(3, {"z"}), false) == MergeResult::kNewLeaf);
  CHECK(t.merge(P(2, {"m"}), false) == MergeResult::kNewBranch);
  CHECK(t.merge(P(3, {"b"}), false) == MergeResult::kNewBranch);
  CHECK(t.merge(P(1, {"y"}), false) == MergeResult::kNewBranch);
  CHECK(t.to_string() == "1: y | 2: m | 3: b | 3: z");
  // Children too: inserted in id order whatever the arrival order.
  CHECK(t.merge(P(2, {"q", "y"}), false) == MergeResult::kNewLeaf);
  CHECK(t.merge(P(2, {"c", "y"}), false) == MergeResult::kNewBranch);
  CHECK(t.merge(P(2, {"x", "y"}), false) == MergeResult::kNewBranch);
  CHECK(t.to_string() == "1: y → {c, q, x} | 2: m | 3: b | 3: z");
}

TEST_CASE("merge: aligning a stemmed path searches the whole tree depth-first") {
  RevTree t = tree_of({{P(3, {"c", "b", "a"})}, {P(3, {"y", "x", "a"})}});
  REQUIRE(t.to_string() == "1: a → {b → c, x → y}");
  CHECK(t.merge(P(4, {"z", "y", "x"}), false) == MergeResult::kNewLeaf);
  CHECK(t.merge(P(4, {"w", "y"}), false) == MergeResult::kNewBranch);
  CHECK(t.to_string() == "1: a → {b → c, x → y → {w, z}}");
}

TEST_CASE("regress: a path linking two trees does not duplicate revs") {
  // CouchDB merges such a path into the first tree only and leaves the second tree's revs
  // duplicated until stem/2 repairs the forest; we repair at once. Every arrival order converges.
  const std::vector<RevPath> paths = {P(2, {"b", "a"}), P(4, {"d", "c"}),
                                      P(4, {"d", "c", "b", "a"})};
  const std::vector<std::vector<int>> orders = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                                {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (const auto& order : orders) {
    RevTree t;
    for (int k : order) t.merge(paths[static_cast<size_t>(k)], false);
    CAPTURE(order[0]);
    CAPTURE(order[1]);
    CHECK(t.to_string() == "1: a → b → c → d");
    CHECK(t.nodes().size() == 4);
    CHECK(leaves(t.leaves()) == "4-d");
    CHECK(bodies(t) == "2-b,4-d");
  }
  // Linking through a middle segment, with a branch on the first tree.
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(2, {"x", "a"})}, {P(5, {"e", "d"})}});
  REQUIRE(t.to_string() == "1: a → {b, x} | 4: d → e");
  CHECK(t.merge(P(4, {"d", "c", "b"}), false) == MergeResult::kNewLeaf);
  CHECK(t.to_string() == "1: a → {b → c → d → e, x}");
  CHECK(leaves(t.leaves()) == "5-e,2-x");
}

TEST_CASE("regress: inconsistent histories (one rev under two parents) stay usable") {
  // Only a misbehaving peer can claim 2-b under both 1-a and 1-z; nothing may crash, and queries
  // use the first occurrence.
  RevTree t = tree_of({{P(2, {"b", "a"})}, {P(2, {"b", "z"})}});
  CHECK(t.to_string() == "1: a → b | 1: z → b");
  CHECK(t.is_leaf(R("2-b")));
  CHECK(t.merge(P(3, {"c", "b", "z"}), false) == MergeResult::kNewLeaf);
  CHECK(t.to_string() == "1: a → b | 1: z → b → c");
  t.stem(1);
  CHECK(t.to_string() == "2: b | 3: c");
  const auto decoded = RevTree::decode(t.encode());
  REQUIRE(decoded);
  CHECK(*decoded == t);
}

TEST_CASE("merge: contract violations throw instead of corrupting the forest") {
  RevTree t;
  CHECK_THROWS_AS(t.merge(RevPath{1, {}}, false), std::invalid_argument);
  CHECK_THROWS_AS(t.merge(P(2, {"c", "b", "a"}), false), std::invalid_argument);  // root at pos 0
  CHECK_THROWS_AS(t.merge(P(2, {"b", ""}), false), std::invalid_argument);
  CHECK(t.empty());
}
