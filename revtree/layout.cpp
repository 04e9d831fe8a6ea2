// The canonical node layout of a RevTree (see rev_tree_internal.h for what it guarantees).
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "revtree/rev_tree_internal.h"

namespace divan::revtree::internal {
namespace {

using Node = RevTree::Node;

// Children of every node as one flat array (CSR): kids[first[i] .. first[i+1]).
struct Children {
  std::vector<uint32_t> first;
  std::vector<uint32_t> kids;

  size_t count(uint32_t i) const { return first[i + 1] - first[i]; }
};

// Three-way order of two subtrees: rev, body flags, number of children, then the children pairwise
// (already sorted). Equal revs only occur for a duplicated rev, so the deep part almost never runs;
// it is iterative because such subtrees may be deep.
int compare_subtrees(const std::vector<Node>& nodes, const Children& ch, uint32_t a, uint32_t b) {
  std::vector<std::pair<uint32_t, uint32_t>> todo{{a, b}};
  while (!todo.empty()) {
    const auto [x, y] = todo.back();
    todo.pop_back();
    const Node& nx = nodes[x];
    const Node& ny = nodes[y];
    if (const auto c = nx.rev <=> ny.rev; c != 0) return c < 0 ? -1 : 1;
    if (nx.has_body != ny.has_body) return nx.has_body ? 1 : -1;
    if (nx.deleted != ny.deleted) return nx.deleted ? 1 : -1;
    if (ch.count(x) != ch.count(y)) return ch.count(x) < ch.count(y) ? -1 : 1;
    // Push in reverse so the first children are compared first (preorder).
    for (size_t k = ch.count(x); k-- > 0;) {
      todo.emplace_back(ch.kids[ch.first[x] + k], ch.kids[ch.first[y] + k]);
    }
  }
  return 0;
}

}  // namespace

void canonicalize(std::vector<Node>& nodes) {
  const size_t n = nodes.size();
  if (n == 0) return;
  if (n > static_cast<size_t>(INT32_MAX)) throw std::length_error("revtree: too many nodes");

  Children ch;
  ch.first.assign(n + 1, 0);
  std::vector<uint32_t> roots;
  for (size_t i = 0; i < n; ++i) {
    const int32_t p = nodes[i].parent;
    if (p < 0) {
      roots.push_back(static_cast<uint32_t>(i));
    } else {
      ++ch.first[static_cast<size_t>(p) + 1];
    }
  }
  for (size_t i = 0; i < n; ++i) ch.first[i + 1] += ch.first[i];
  ch.kids.resize(ch.first[n]);
  {
    std::vector<uint32_t> fill(ch.first.begin(), ch.first.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      const int32_t p = nodes[i].parent;
      if (p >= 0) ch.kids[fill[static_cast<size_t>(p)]++] = static_cast<uint32_t>(i);
    }
  }

  // Breadth-first order from the roots: works whatever the input index order (merge's re-rooting
  // appends new ancestors after their descendants). Reversed, it visits children before parents, so
  // each sibling list is sorted after everything below it (the tie-break compares sorted subtrees).
  std::vector<uint32_t> bfs(roots);
  bfs.reserve(n);
  for (size_t k = 0; k < bfs.size(); ++k) {
    const uint32_t u = bfs[k];
    bfs.insert(bfs.end(), ch.kids.begin() + ch.first[u], ch.kids.begin() + ch.first[u + 1]);
  }
  if (bfs.size() != n) throw std::logic_error("revtree: parent links do not form a forest");

  const auto less = [&](uint32_t a, uint32_t b) {
    // Fast path on rev alone; the subtree comparison only breaks ties between equal revs.
    if (const auto c = nodes[a].rev <=> nodes[b].rev; c != 0) return c < 0;
    return compare_subtrees(nodes, ch, a, b) < 0;
  };
  for (size_t k = n; k-- > 0;) {
    const uint32_t u = bfs[k];
    if (ch.count(u) > 1)
      std::sort(ch.kids.begin() + ch.first[u], ch.kids.begin() + ch.first[u + 1], less);
  }
  std::sort(roots.begin(), roots.end(), less);

  // Preorder: each tree in turn, children in sorted order.
  std::vector<uint32_t> order;
  order.reserve(n);
  std::vector<uint32_t> stack;
  for (auto r = roots.rbegin(); r != roots.rend(); ++r) stack.push_back(*r);
  while (!stack.empty()) {
    const uint32_t u = stack.back();
    stack.pop_back();
    order.push_back(u);
    for (size_t k = ch.count(u); k-- > 0;) stack.push_back(ch.kids[ch.first[u] + k]);
  }

  std::vector<int32_t> new_index(n);
  for (size_t k = 0; k < n; ++k) new_index[order[k]] = static_cast<int32_t>(k);
  std::vector<Node> out;
  out.reserve(n);
  for (const uint32_t u : order) {
    Node nd = std::move(nodes[u]);
    nd.parent = nd.parent < 0 ? -1 : new_index[static_cast<size_t>(nd.parent)];
    out.push_back(std::move(nd));
  }
  nodes = std::move(out);
}

}  // namespace divan::revtree::internal
