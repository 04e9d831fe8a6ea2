// spec: revision-trees.md §4 (winner, conflicts, leaf order), examples §13.3 and §13.4.
#include <cstdlib>
#include <random>
#include <tuple>

#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

TEST_CASE("13.3 Deleted leaf loses to a shorter live leaf") {
  const RevTree t = tree_of({{P(3, {"x", "b", "a"}), true}, {P(2, {"y", "a"})}});
  CHECK(t.to_string() == "1: a → {b → x(D), y}");
  CHECK(leaves(t.leaves()) == "2-y,3-x(D)");
  CHECK(t.winner().rev == R("2-y"));
  CHECK_FALSE(t.winner().deleted);
  CHECK_FALSE(t.deleted());
  CHECK(t.conflicts().empty());  // `_conflicts` absent
  CHECK(revs(t.deleted_conflicts()) == "3-x");
}

TEST_CASE("13.4 Tie at equal pos") {
  const RevTree t =
      tree_of({{P(2, {"aaa", "a"})}, {P(2, {"mmm", "a"})}, {P(2, {"zzz", "a"}), true}});
  CHECK(leaves(t.leaves()) == "2-mmm,2-aaa,2-zzz(D)");
  CHECK(t.winner().rev == R("2-mmm"));
  CHECK(revs(t.conflicts()) == "2-aaa");
  CHECK(revs(t.deleted_conflicts()) == "2-zzz");

  const RevTree u =
      tree_of({{P(3, {"x", "q", "a"}), true}, {P(2, {"y", "a"})}, {P(2, {"z", "a"})}});
  CHECK(leaves(u.leaves()) == "2-z,2-y,3-x(D)");
}

TEST_CASE("winner: longer branch, then greater id bytes; all deleted → deleted doc") {
  const RevTree t = tree_of({{P(3, {"a", "b", "r"})}, {P(2, {"z", "r"})}});
  CHECK(t.winner().rev == R("3-a"));  // pos beats id
  CHECK(revs(t.conflicts()) == "2-z");

  const RevTree d = tree_of({{P(3, {"a", "b", "r"}), true}, {P(2, {"z", "r"}), true}});
  CHECK(d.deleted());
  CHECK(d.winner().rev == R("3-a"));
  CHECK(d.conflicts().empty());
  CHECK(revs(d.deleted_conflicts()) == "2-z");

  // Byte order of ids: 'B' < 'a', and a prefix sorts first.
  const RevTree b = tree_of({{P(2, {"B", "r"})}, {P(2, {"a", "r"})}, {P(2, {"ab", "r"})}});
  CHECK(leaves(b.leaves()) == "2-ab,2-a,2-B");

  // A single-leaf doc has no conflicts of either kind.
  const RevTree one = tree_of({{P(1, {"a"})}});
  CHECK(one.conflicts().empty());
  CHECK(one.deleted_conflicts().empty());
}

TEST_CASE("winner: random forests against a reference sort") {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("DIVAN_SEED")) seed = std::strtoull(env, nullptr, 10);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int iter = 0; iter < 300; ++iter) {
    RevTree t;
    struct Ref {
      uint64_t pos;
      std::string id;
      bool deleted;
    };
    std::vector<Ref> ref;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      // Independent single-rev trees at random positions with ids from a small alphabet, so ties
      // on pos and id prefixes are common.
      const uint64_t pos = 1 + rng() % 4;
      std::string id(1 + rng() % 3, 'a');
      for (char& c : id) c = static_cast<char>("aAbz"[rng() % 4]);
      const bool del = rng() % 3 == 0;
      if (t.find(RevId{pos, id})) continue;
      t.merge(RevPath{pos, {id}}, del);
      ref.push_back({pos, id, del});
    }
    std::sort(ref.begin(), ref.end(), [](const Ref& a, const Ref& b) {
      // spec §4: descending (is_live, pos, id bytes).
      return std::make_tuple(!a.deleted, a.pos, a.id) > std::make_tuple(!b.deleted, b.pos, b.id);
    });
    const std::vector<Leaf> got = t.leaves();
    REQUIRE(got.size() == ref.size());
    std::vector<RevId> conf, del_conf;
    for (size_t i = 0; i < ref.size(); ++i) {
      CHECK(got[i].rev == RevId{ref[i].pos, ref[i].id});
      CHECK(got[i].deleted == ref[i].deleted);
      if (i > 0) (ref[i].deleted ? del_conf : conf).push_back(RevId{ref[i].pos, ref[i].id});
    }
    CHECK(t.winner() == got.front());
    CHECK(t.deleted() == ref.front().deleted);
    CHECK(t.conflicts() == conf);
    CHECK(t.deleted_conflicts() == del_conf);
  }
}
