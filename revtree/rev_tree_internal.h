// Helpers shared by the revtree .cpp files; not part of the public API.
#pragma once

#include <cstddef>
#include <vector>

#include "revtree/rev_tree.h"

namespace divan::revtree::internal {

// Canonical layout, kept by every RevTree after every mutation so that equality, encoding and
// to_string() depend only on the forest, never on the order things arrived in:
//   - trees sorted by (root pos, root id) — spec §3 "kept sorted by (start_pos, root id)";
//   - each tree contiguous, in preorder, siblings sorted by id — spec §3 "children sorted by rev
//   id".
// Ties (only possible with a duplicated rev, i.e. inconsistent input) are broken by comparing whole
// subtrees, so the layout is still a function of the forest alone.
// Consequences relied on elsewhere: parents precede children; node i has children iff
// nodes[i+1].parent == i; the subtree of i is i plus the following nodes whose parent is >= i.
//
// Rearranges `nodes` into that layout. REQUIRES: parent links form a forest (any index order).
void canonicalize(std::vector<RevTree::Node>& nodes);

// REQUIRES: canonical layout, i < nodes.size().
inline bool is_leaf_at(const std::vector<RevTree::Node>& nodes, size_t i) {
  return i + 1 == nodes.size() || nodes[i + 1].parent != static_cast<int32_t>(i);
}

}  // namespace divan::revtree::internal
