// spec: revision-trees.md §4 (winner, conflicts, leaf ordering).
#include "revtree/winner.h"

#include <algorithm>

namespace divan::revtree {

bool wins_over(const Leaf& a, const Leaf& b) {
  // Any live leaf beats every deleted one, then the longer branch (pos), then the byte-wise greater
  // id. RevId's <=> is (pos, id bytes).
  if (a.deleted != b.deleted) return !a.deleted;
  return a.rev > b.rev;
}

void sort_leaf_order(std::vector<Leaf>& leaves) {
  // A strict weak order whose only ties are identical revs (possible only in a corrupt forest with
  // a duplicated rev), so plain sort is deterministic for every real tree.
  std::sort(leaves.begin(), leaves.end(), wins_over);
}

}  // namespace divan::revtree
