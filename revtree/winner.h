// The winner rule, in one place (private to revtree).
//
// spec: revision-trees.md §4. Leaves sort descending by (!deleted, pos, id bytes); the first is the
// winner and the whole order is the "leaf order" used by _conflicts, _deleted_conflicts,
// _changes style=all_docs and _revs_diff possible_ancestors. Same key as CouchDB's couch_doc
// ("sort descending by {not deleted, rev}") and PouchDB's winningRev, so every peer picks the same
// winner from the same tree with no clocks or peer ids.
#pragma once

#include <vector>

#include "revtree/rev_tree.h"

namespace divan::revtree {

// True if `a` comes before `b` in leaf order (i.e. `a` would beat `b` for winner).
bool wins_over(const Leaf& a, const Leaf& b);

// Sorts `leaves` into leaf order (winner first).
void sort_leaf_order(std::vector<Leaf>& leaves);

}  // namespace divan::revtree
