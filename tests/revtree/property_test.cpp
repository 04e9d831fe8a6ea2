// Properties of merge and stem (after CouchDB's couch_key_tree_prop_tests), checked against an
// independent model of the forest:
//   - any arrival order and batching of the same paths gives the same forest, winner and conflicts;
//   - re-merging known paths changes nothing and reports internal_node;
//   - stemming keeps every leaf and keeps exactly the last `limit` revs of each leaf's history
//   (§7).
// Replay a failure with DIVAN_SEED=<seed> (printed by CAPTURE on failure).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "test_util.h"

using namespace divan::revtree;
using namespace divan::revtree::test;

namespace {

uint64_t test_seed() {
  if (const char* env = std::getenv("DIVAN_SEED")) return std::strtoull(env, nullptr, 10);
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// The model: a consistent history. Every rev has one true parent (or none: a tree root whose
// ancestors are unknown), and leaves carry the deleted flag.
struct Model {
  struct Rev {
    uint64_t pos;
    std::string id;
    int parent;  // index, -1 for a root
    bool deleted = false;
  };
  std::vector<Rev> revs;
  std::vector<std::vector<int>> children;

  bool is_leaf(int i) const { return children[static_cast<size_t>(i)].empty(); }

  // Root-first chain of revs from the tree root to i.
  std::vector<int> chain_to(int i) const {
    std::vector<int> out;
    for (int k = i; k >= 0; k = revs[static_cast<size_t>(k)].parent) out.push_back(k);
    std::reverse(out.begin(), out.end());
    return out;
  }

  // The `_revisions` form of chain[from..] (newest first).
  RevPath path(const std::vector<int>& chain, size_t from = 0) const {
    RevPath p;
    p.start = revs[static_cast<size_t>(chain.back())].pos;
    for (size_t k = chain.size(); k-- > from;)
      p.ids.push_back(revs[static_cast<size_t>(chain[k])].id);
    return p;
  }
};

Model random_model(std::mt19937_64& rng) {
  Model m;
  std::set<std::pair<uint64_t, std::string>> used;
  const int n = 1 + static_cast<int>(rng() % 30);
  const int roots = 1 + (rng() % 4 == 0 ? static_cast<int>(rng() % 3) : 0);
  for (int i = 0; i < n; ++i) {
    Model::Rev r;
    if (i < roots) {
      r.parent = -1;
      r.pos = i == 0 ? 1 : 1 + rng() % 4;  // extra roots: stemmed trees or unknown parents
    } else {
      // Bias towards recent nodes so histories get deep as well as bushy.
      const int span = std::min(i, 6);
      r.parent = rng() % 3 == 0 ? static_cast<int>(rng() % static_cast<uint64_t>(i))
                                : i - 1 - static_cast<int>(rng() % static_cast<uint64_t>(span));
      r.pos = m.revs[static_cast<size_t>(r.parent)].pos + 1;
    }
    // Short ids from a tiny alphabet: lots of equal-pos siblings, shared prefixes, 'B' < 'a'.
    do {
      r.id.assign(1 + rng() % 2, ' ');
      for (char& c : r.id) c = "aBbz"[rng() % 4];
    } while (!used.emplace(r.pos, r.id).second);
    m.revs.push_back(r);
  }
  m.children.assign(m.revs.size(), {});
  for (size_t i = 0; i < m.revs.size(); ++i) {
    if (m.revs[i].parent >= 0)
      m.children[static_cast<size_t>(m.revs[i].parent)].push_back(static_cast<int>(i));
  }
  for (size_t i = 0; i < m.revs.size(); ++i) {
    if (m.is_leaf(static_cast<int>(i))) m.revs[i].deleted = rng() % 3 == 0;
  }
  return m;
}

// Renders a forest given as nodes with parent links in the spec's notation, independently of
// RevTree::to_string (recursive, sorting as it goes).
struct Shape {
  struct N {
    RevId rev;
    int parent;
    bool body;
    bool deleted;
  };
  std::vector<N> nodes;

  std::string render() const {
    std::vector<std::vector<int>> kids(nodes.size());
    std::vector<int> roots;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].parent < 0) {
        roots.push_back(static_cast<int>(i));
      } else {
        kids[static_cast<size_t>(nodes[i].parent)].push_back(static_cast<int>(i));
      }
    }
    auto by_rev = [&](int a, int b) {
      return nodes[static_cast<size_t>(a)].rev < nodes[static_cast<size_t>(b)].rev;
    };
    std::sort(roots.begin(), roots.end(), by_rev);
    for (auto& k : kids) std::sort(k.begin(), k.end(), by_rev);
    std::string out;
    std::function<void(int)> node = [&](int i) {
      const N& nd = nodes[static_cast<size_t>(i)];
      out += nd.rev.id;
      if (nd.body && nd.deleted) out += "(D)";
      const auto& k = kids[static_cast<size_t>(i)];
      if (k.empty()) return;
      out += k.size() == 1 ? " → " : " → {";
      for (size_t c = 0; c < k.size(); ++c) {
        if (c > 0) out += ", ";
        node(k[c]);
      }
      if (k.size() > 1) out += "}";
    };
    for (size_t r = 0; r < roots.size(); ++r) {
      if (r > 0) out += " | ";
      out += std::to_string(nodes[static_cast<size_t>(roots[r])].rev.pos) + ": ";
      node(roots[r]);
    }
    return out;
  }
};

// The forest that merging `paths` must produce: the union of every parent link the paths state
// (a consistent history, so links never disagree); bodies exactly on each path's newest rev.
Shape union_of(const Model& m, const std::vector<std::pair<RevPath, bool>>& paths) {
  std::map<RevId, size_t> at;
  Shape s;
  auto node = [&](const RevId& r) {
    auto [it, fresh] = at.emplace(r, s.nodes.size());
    if (fresh) s.nodes.push_back({r, -1, false, false});
    return it->second;
  };
  for (const auto& [p, deleted] : paths) {
    for (size_t k = 0; k < p.ids.size(); ++k) {
      const size_t i = node(RevId{p.start - k, p.ids[k]});
      if (k == 0) {
        s.nodes[i].body = true;
        s.nodes[i].deleted = deleted;
      }
      if (k + 1 < p.ids.size()) {
        s.nodes[i].parent = static_cast<int>(node(RevId{p.start - k - 1, p.ids[k + 1]}));
      }
    }
  }
  (void)m;
  return s;
}

// Stemming the model's full forest to `limit` (spec §7, second formulation): keep the last `limit`
// revs of every leaf's root path; links between kept revs stay.
Shape stemmed_model(const Model& m, uint32_t limit) {
  std::set<int> keep;
  for (size_t i = 0; i < m.revs.size(); ++i) {
    if (!m.is_leaf(static_cast<int>(i))) continue;
    const std::vector<int> chain = m.chain_to(static_cast<int>(i));
    for (size_t k = chain.size() > limit ? chain.size() - limit : 0; k < chain.size(); ++k)
      keep.insert(chain[k]);
  }
  Shape s;
  std::map<int, int> index;
  for (int i : keep) index[i] = static_cast<int>(index.size());
  s.nodes.resize(keep.size());
  for (int i : keep) {
    const Model::Rev& r = m.revs[static_cast<size_t>(i)];
    const auto p = index.find(r.parent);
    const bool leaf = m.is_leaf(i);
    s.nodes[static_cast<size_t>(index[i])] = {RevId{r.pos, r.id}, p == index.end() ? -1 : p->second,
                                              leaf, leaf && r.deleted};
  }
  return s;
}

std::vector<Leaf> model_leaves(const Model& m) {
  std::vector<Leaf> out;
  for (size_t i = 0; i < m.revs.size(); ++i) {
    if (m.is_leaf(static_cast<int>(i)))
      out.push_back(Leaf{RevId{m.revs[i].pos, m.revs[i].id}, m.revs[i].deleted});
  }
  std::sort(out.begin(), out.end(), [](const Leaf& a, const Leaf& b) {
    return std::make_tuple(!a.deleted, a.rev) > std::make_tuple(!b.deleted, b.rev);
  });
  return out;
}

// Merges `paths` in a random order and random batches; each batch is sorted and merged one path
// after another (multi-merge, spec §5), sometimes with a path sent twice.
RevTree merge_shuffled(std::vector<std::pair<RevPath, bool>> paths, std::mt19937_64& rng) {
  std::shuffle(paths.begin(), paths.end(), rng);
  RevTree t;
  size_t at = 0;
  while (at < paths.size()) {
    const size_t len = 1 + rng() % std::max<size_t>(1, paths.size() - at);
    std::vector<std::pair<RevPath, bool>> batch(
        paths.begin() + static_cast<std::ptrdiff_t>(at),
        paths.begin() + static_cast<std::ptrdiff_t>(at + len));
    if (rng() % 4 == 0) batch.push_back(batch[rng() % batch.size()]);  // a re-sent doc
    std::sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.start, a.first.ids) < std::tie(b.first.start, b.first.ids);
    });
    for (const auto& [p, deleted] : batch) t.merge(p, deleted);
    at += len;
  }
  return t;
}

void check_same_answers(const RevTree& a, const RevTree& b) {
  CHECK(a == b);
  CHECK(a.to_string() == b.to_string());
  CHECK(a.winner() == b.winner());
  CHECK(a.conflicts() == b.conflicts());
  CHECK(a.deleted_conflicts() == b.deleted_conflicts());
  CHECK(a.encode() == b.encode());
}

}  // namespace

TEST_CASE("property: root-to-leaf paths in any order and batching give the same forest") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int forest = 0; forest < 150; ++forest) {
    CAPTURE(forest);
    const Model m = random_model(rng);
    std::vector<std::pair<RevPath, bool>> paths;
    for (size_t i = 0; i < m.revs.size(); ++i) {
      if (m.is_leaf(static_cast<int>(i)))
        paths.emplace_back(m.path(m.chain_to(static_cast<int>(i))), m.revs[i].deleted);
    }
    const std::string expected = union_of(m, paths).render();
    const std::vector<Leaf> expected_leaves = model_leaves(m);
    const uint32_t limit = 1 + static_cast<uint32_t>(rng() % 6);
    const std::string expected_stemmed = stemmed_model(m, limit).render();
    CAPTURE(expected);
    CAPTURE(limit);

    const RevTree reference = merge_shuffled(paths, rng);
    REQUIRE(reference.to_string() == expected);
    CHECK(reference.leaves() == expected_leaves);
    CHECK(reference.winner() == expected_leaves.front());
    RevTree reference_stemmed = reference;
    reference_stemmed.stem(limit);
    REQUIRE(reference_stemmed.to_string() == expected_stemmed);

    for (int order = 0; order < 20; ++order) {
      RevTree t = merge_shuffled(paths, rng);
      check_same_answers(t, reference);

      // Re-merging known paths changes nothing.
      const RevTree before = t;
      for (const auto& [p, deleted] : paths)
        CHECK(t.merge(p, deleted) == MergeResult::kInternalNode);
      CHECK(t == before);

      // Stemming keeps every leaf, and gives the same forest whatever the merge order.
      const std::vector<Leaf> leaves_before = t.leaves();
      t.stem(limit);
      CHECK(t.leaves() == leaves_before);
      check_same_answers(t, reference_stemmed);

      // The stemmed histories are known paths too.
      const RevTree stemmed = t;
      for (const Leaf& l : stemmed.leaves()) {
        CHECK(t.merge(stemmed.ancestry(l.rev, 1000), l.deleted) == MergeResult::kInternalNode);
      }
      CHECK(t == stemmed);

      const auto decoded = RevTree::decode(t.encode());
      REQUIRE(decoded);
      CHECK(*decoded == t);
    }
  }
}

TEST_CASE("property: stemmed partial paths in any order converge to the union of their links") {
  // What replication from peers with different revs_limit delivers: each leaf's history cut at a
  // random depth, some sent twice with different cuts, and some internal revs sent on their own.
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int forest = 0; forest < 150; ++forest) {
    CAPTURE(forest);
    const Model m = random_model(rng);
    std::vector<std::pair<RevPath, bool>> paths;
    for (size_t i = 0; i < m.revs.size(); ++i) {
      const bool leaf = m.is_leaf(static_cast<int>(i));
      if (!leaf && rng() % 4 != 0) continue;
      const std::vector<int> chain = m.chain_to(static_cast<int>(i));
      for (int copies = 1 + static_cast<int>(rng() % 2); copies > 0; --copies) {
        paths.emplace_back(m.path(chain, rng() % chain.size()), leaf && m.revs[i].deleted);
      }
    }
    const std::string expected = union_of(m, paths).render();
    CAPTURE(expected);
    const RevTree reference = merge_shuffled(paths, rng);
    REQUIRE(reference.to_string() == expected);
    const uint32_t limit = 1 + static_cast<uint32_t>(rng() % 6);
    RevTree reference_stemmed = reference;
    reference_stemmed.stem(limit);
    for (int order = 0; order < 20; ++order) {
      RevTree t = merge_shuffled(paths, rng);
      check_same_answers(t, reference);
      const std::vector<Leaf> leaves_before = t.leaves();
      t.stem(limit);
      CHECK(t.leaves() == leaves_before);
      check_same_answers(t, reference_stemmed);
    }
  }
}
