// Revision forests: layout, merge, stem and the read-side queries.
//
// spec: revision-trees.md §3 (model), §5 (merge), §7 (stem), §8 (reads), §10 (revs_diff), §6.1
// (edit table). Reference: CouchDB couch_key_tree.erl.
//
// Cost model: a document is usually 1–3 nodes but can be a 1000-deep chain (revs_limit default),
// and an interactive write runs plan_edit + merge + stem + drop_internal_bodies on it. Every
// operation here is one or two linear passes over the node vector (no per-node walks to the root),
// so a doc edited thousands of times stays O(revs_limit) per write.
#include "revtree/rev_tree.h"

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <utility>

#include "revtree/rev_tree_internal.h"
#include "revtree/winner.h"

namespace divan::revtree {
namespace {

using Node = RevTree::Node;
using internal::canonicalize;
using internal::is_leaf_at;

constexpr size_t kNone = std::numeric_limits<size_t>::max();

// One node of a path being merged, root-most first. `id` points into the caller's storage.
struct PathNode {
  const std::string* id = nullptr;
  bool has_body = false;
  bool deleted = false;
};

// couch_key_tree value_pref: a BODY beats MISSING; if both are bodies the existing one is kept.
// spec §5 "Values on matched nodes".
void take_value(Node& node, const PathNode& incoming) {
  if (incoming.has_body && !node.has_body) {
    node.has_body = true;
    node.deleted = incoming.deleted;
  }
}

Node make_node(uint64_t pos, const PathNode& p, size_t parent) {
  Node n;
  n.rev = RevId{pos, *p.id};
  n.parent = parent == kNone ? -1 : static_cast<int32_t>(parent);
  n.has_body = p.has_body;
  n.deleted = p.has_body && p.deleted;  // the flag means nothing without a body; keep it canonical
  return n;
}

// end[i] = one past the last node of i's subtree (canonical layout: subtrees are contiguous).
std::vector<size_t> subtree_ends(const std::vector<Node>& nodes) {
  std::vector<size_t> end(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) end[i] = i + 1;
  for (size_t i = nodes.size(); i-- > 0;) {
    const int32_t p = nodes[i].parent;
    if (p >= 0) end[static_cast<size_t>(p)] = std::max(end[static_cast<size_t>(p)], end[i]);
  }
  return end;
}

// Inserts `block` at index q, shifting later indices. Parents inside `block` are already final
// indices (< q, or q + offset for links within the block).
void insert_nodes(std::vector<Node>& nodes, size_t q, std::vector<Node> block) {
  const auto k = static_cast<int32_t>(block.size());
  if (q < nodes.size()) {
    for (Node& nd : nodes) {
      if (nd.parent >= static_cast<int32_t>(q)) nd.parent += k;
    }
  }
  nodes.insert(nodes.begin() + static_cast<std::ptrdiff_t>(q),
               std::make_move_iterator(block.begin()), std::make_move_iterator(block.end()));
}

// True if an existing node repeats a rev that this merge is about to create (path indices below
// `new_below` and from `new_from` on are new). Path revs have one id per pos, so one pass suffices.
bool creates_duplicate(const std::vector<Node>& nodes, uint64_t root_pos,
                       const std::vector<PathNode>& path, size_t new_below, size_t new_from) {
  for (const Node& nd : nodes) {
    if (nd.rev.pos < root_pos || nd.rev.pos - root_pos >= path.size()) continue;
    const size_t idx = nd.rev.pos - root_pos;
    if ((idx < new_below || idx >= new_from) && nd.rev.id == *path[idx].id) return true;
  }
  return false;
}

struct MergeOutcome {
  MergeResult result = MergeResult::kInternalNode;
  bool duplicated = false;  // the forest now holds some rev twice (see repair())
};

// couch_key_tree:merge/2 for one linear path whose first node has position `root_pos`.
// REQUIRES: canonical layout; !path.empty(). Leaves the layout canonical.
MergeOutcome merge_path(std::vector<Node>& nodes, uint64_t root_pos,
                        const std::vector<PathNode>& path) {
  const size_t m = path.size();
  const size_t n = nodes.size();

  // 1. The first tree (in forest order) that accepts the path. spec §5 step 1, "Align".
  size_t tree_root = kNone;
  size_t aligned = kNone;  // node of the tree matched to path[j]
  size_t j = 0;
  size_t skip = 0;  // path nodes above the tree's root: they re-root the tree
  for (size_t r = 0; r < n && aligned == kNone;) {
    size_t tree_end = r + 1;
    while (tree_end < n && nodes[tree_end].parent >= 0) ++tree_end;
    const uint64_t t_start = nodes[r].rev.pos;
    if (t_start > root_pos) {
      // The tree was stemmed above where the path starts: drop the path's extra root-side nodes.
      const uint64_t d = t_start - root_pos;
      if (d < m && nodes[r].rev.id == *path[d].id) {
        tree_root = r;
        aligned = r;
        j = skip = static_cast<size_t>(d);
      }
    } else if (t_start < root_pos) {
      // The path was stemmed: find its first rev inside the tree, depth-first, children in order
      // (the canonical layout is exactly that order).
      for (size_t i = r; i < tree_end; ++i) {
        if (nodes[i].rev.pos == root_pos && nodes[i].rev.id == *path[0].id) {
          tree_root = r;
          aligned = i;
          break;
        }
      }
    } else if (nodes[r].rev.id == *path[0].id) {
      tree_root = r;
      aligned = r;
    }
    r = tree_end;
  }

  MergeOutcome out;
  if (aligned == kNone) {
    // 2. No tree accepts: the path becomes a tree of its own, in sorted position.
    const RevId root_rev{root_pos, *path[0].id};
    size_t q = n;
    for (size_t r = 0; r < n; ++r) {
      if (nodes[r].parent < 0 && root_rev < nodes[r].rev) {
        q = r;
        break;
      }
    }
    out.duplicated = creates_duplicate(nodes, root_pos, path, m, m);
    std::vector<Node> block;
    block.reserve(m);
    for (size_t k = 0; k < m; ++k)
      block.push_back(make_node(root_pos + k, path[k], k == 0 ? kNone : q + k - 1));
    insert_nodes(nodes, q, std::move(block));
    out.result = n == 0 ? MergeResult::kNewLeaf : MergeResult::kNewBranch;
    return out;
  }

  // "Extend": walk down while the next path id is a child of the current node.
  const std::vector<size_t> end = subtree_ends(nodes);
  size_t cur = aligned;
  take_value(nodes[cur], path[j]);
  size_t insert_at = kNone;
  bool had_children = false;
  while (j + 1 < m) {
    const std::string& want = *path[j + 1].id;
    size_t found = kNone;
    size_t q = end[cur];  // sorted insert position among cur's children
    for (size_t c = cur + 1; c < end[cur]; c = end[c]) {
      const int cmp = nodes[c].rev.id.compare(want);
      if (cmp == 0) {
        found = c;
        break;
      }
      if (cmp > 0) {
        q = c;
        break;
      }
    }
    if (found == kNone) {
      had_children = end[cur] > cur + 1;
      insert_at = q;
      break;
    }
    cur = found;
    ++j;
    take_value(nodes[cur], path[j]);
  }

  const size_t new_from = insert_at == kNone ? m : j + 1;
  out.duplicated = creates_duplicate(nodes, root_pos, path, skip, new_from);

  if (insert_at != kNone) {
    // new_leaf if we extended a leaf, new_branch if we forked below a node that had children.
    out.result = had_children ? MergeResult::kNewBranch : MergeResult::kNewLeaf;
    std::vector<Node> block;
    block.reserve(m - new_from);
    for (size_t k = new_from; k < m; ++k) {
      const size_t parent = k == new_from ? cur : insert_at + (k - new_from) - 1;
      block.push_back(make_node(root_pos + k, path[k], parent));
    }
    // insert_at > cur >= tree_root, so tree_root's index is unaffected.
    insert_nodes(nodes, insert_at, std::move(block));
  }  // else: the path ended on existing nodes: internal_node.

  if (skip > 0) {
    // Re-rooting: the path started earlier than the tree, so its extra ancestors become the tree's
    // new root side (spec §5; stemming trims them again). The tree's start changes, so its place in
    // the forest may too: rebuild the layout.
    const size_t base = nodes.size();
    for (size_t k = 0; k < skip; ++k)
      nodes.push_back(make_node(root_pos + k, path[k], k == 0 ? kNone : base + k - 1));
    nodes[tree_root].parent = static_cast<int32_t>(base + skip - 1);
    canonicalize(nodes);
  }
  return out;
}

// A merge can plant a rev that another tree already holds: a path that links two trees is merged
// into the first that accepts it and the forest is not re-joined (spec §5 note). CouchDB then finds
// the duplicate keys in stem/2 and rebuilds the forest from its root-to-leaf paths (repair_tree:
// sort, merge one by one). We do that rebuild right away, without CouchDB's truncation to the
// limit, so that (a) a {pos,id} occurs once per forest (spec §3) between merge and stem too, and
// (b) the result does not depend on the order paths arrived in; stem() then applies §7 as usual.
// For consistent histories the rebuilt forest is the union of all known parent links.
// Inconsistent input (one rev claimed under two different parents) can still leave duplicates;
// every query then uses the first occurrence in layout order.
void repair(std::vector<Node>& nodes) {
  const std::vector<Node> old = std::move(nodes);
  nodes.clear();
  struct LeafPath {
    uint64_t root_pos = 0;
    std::vector<PathNode> path;  // root first
  };
  std::vector<LeafPath> paths;
  for (size_t i = 0; i < old.size(); ++i) {
    if (!is_leaf_at(old, i)) continue;
    LeafPath lp;
    for (int32_t k = static_cast<int32_t>(i); k >= 0; k = old[static_cast<size_t>(k)].parent) {
      const Node& nd = old[static_cast<size_t>(k)];
      lp.path.push_back(PathNode{&nd.rev.id, nd.has_body, nd.deleted});
      lp.root_pos = nd.rev.pos;
    }
    std::reverse(lp.path.begin(), lp.path.end());
    paths.push_back(std::move(lp));
  }
  std::sort(paths.begin(), paths.end(), [](const LeafPath& a, const LeafPath& b) {
    if (a.root_pos != b.root_pos) return a.root_pos < b.root_pos;
    return std::lexicographical_compare(
        a.path.begin(), a.path.end(), b.path.begin(), b.path.end(),
        [](const PathNode& x, const PathNode& y) { return *x.id < *y.id; });
  });
  for (const LeafPath& lp : paths) merge_path(nodes, lp.root_pos, lp.path);
}

size_t find_index(const std::vector<Node>& nodes, const RevId& rev) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].rev.pos == rev.pos && nodes[i].rev.id == rev.id) return i;
  }
  return kNone;
}

Leaf leaf_of(const Node& n) { return Leaf{n.rev, n.has_body && n.deleted}; }

// True if the layout is still canonical after stem() compacted it: trees contiguous and roots in
// order. (Within a tree, compaction keeps preorder and sibling order.) Avoids a rebuild in the
// common case where stemming only trims the root side of each tree.
bool compacted_layout_is_canonical(const std::vector<Node>& nodes) {
  size_t last_root = kNone;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const int32_t p = nodes[i].parent;
    if (p < 0) {
      if (last_root != kNone && !(nodes[last_root].rev < nodes[i].rev)) return false;
      last_root = i;
    } else if (static_cast<size_t>(p) < last_root) {
      return false;
    }
  }
  return true;
}

}  // namespace

MergeResult RevTree::merge(const RevPath& path, bool deleted) {
  // Contract violations would corrupt the forest (a root at pos <= 0, an empty id that storage
  // can't round-trip); the HTTP layer validates `_revisions` first, so reaching these is a bug.
  if (path.ids.empty()) throw std::invalid_argument("RevTree::merge: empty path");
  if (path.start < path.ids.size())
    throw std::invalid_argument("RevTree::merge: path starts below pos 1");
  const size_t m = path.ids.size();
  std::vector<PathNode> root_first(m);
  for (size_t k = 0; k < m; ++k) {
    const std::string& id = path.ids[m - 1 - k];
    if (id.empty()) throw std::invalid_argument("RevTree::merge: empty rev id");
    const bool newest = k == m - 1;
    // Only the newest rev carries content; the ancestors named in `_revisions` are MISSING.
    root_first[k] = PathNode{&id, newest, newest && deleted};
  }
  const MergeOutcome out = merge_path(nodes_, path.start - m + 1, root_first);
  if (out.duplicated) repair(nodes_);
  // Two trees rooted at the same rev (a rev claimed under two parents, then stemmed) are ordered by
  // their subtrees, which this merge may just have changed: restore the canonical layout so the next
  // "first tree that accepts" is the same in memory and after a storage round trip.
  if (!compacted_layout_is_canonical(nodes_)) canonicalize(nodes_);
  return out.result;
}

std::vector<RevId> RevTree::stem(uint32_t limit) {
  // revs_limit is validated >= 1 upstream; 0 would mean "forget every leaf", which no reading of
  // spec §7 allows, so treat it as 1.
  if (limit == 0) limit = 1;
  const size_t n = nodes_.size();
  // dist[i] = fewest edges from i down to a leaf of its subtree. Children follow parents in the
  // layout, so one reverse pass sees every child before its parent.
  constexpr uint32_t kUnset = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> dist(n, kUnset);
  bool any_dropped = false;
  for (size_t i = n; i-- > 0;) {
    if (dist[i] == kUnset) dist[i] = 0;  // no child seen: a leaf
    const int32_t p = nodes_[i].parent;
    if (p >= 0) dist[static_cast<size_t>(p)] = std::min(dist[static_cast<size_t>(p)], dist[i] + 1);
    // spec §7: keep a node iff some leaf below it is at most limit-1 edges away.
    if (dist[i] >= limit) any_dropped = true;
  }
  if (!any_dropped) return {};

  // Compact in place, keeping order. dist[i] is dead once node i is visited, so it is reused to
  // hold i's new index (kUnset: dropped); parents precede children, so a parent's entry is ready.
  std::vector<RevId> removed;
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (dist[i] >= limit) {
      dist[i] = kUnset;
      if (nodes_[i].has_body) removed.push_back(std::move(nodes_[i].rev));
      continue;
    }
    // A kept node whose parent was dropped roots a new tree starting at its own pos.
    const int32_t p = nodes_[i].parent;
    const int32_t new_parent = p >= 0 && dist[static_cast<size_t>(p)] != kUnset
                                   ? static_cast<int32_t>(dist[static_cast<size_t>(p)])
                                   : -1;
    dist[i] = static_cast<uint32_t>(w);
    if (w != i) nodes_[w] = std::move(nodes_[i]);
    nodes_[w].parent = new_parent;
    ++w;
  }
  nodes_.resize(w);
  if (!compacted_layout_is_canonical(nodes_)) canonicalize(nodes_);
  return removed;
}

std::vector<RevId> RevTree::drop_internal_bodies() {
  std::vector<RevId> dropped;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& nd = nodes_[i];
    if (nd.has_body && !is_leaf_at(nodes_, i)) {
      nd.has_body = false;
      nd.deleted = false;
      dropped.push_back(nd.rev);
    }
  }
  return dropped;
}

std::vector<RevId> RevTree::remove_leaves(const std::vector<RevId>& revs) {
  const size_t n = nodes_.size();
  std::vector<bool> purged(n, false);
  std::vector<RevId> removed;
  for (const auto& rev : revs) {
    for (size_t i = 0; i < n; ++i) {
      if (!purged[i] && nodes_[i].rev == rev && is_leaf_at(nodes_, i)) {
        purged[i] = true;
        removed.push_back(rev);
      }
    }
  }
  if (removed.empty()) return removed;
  // keep[i]: i is a remaining leaf or an ancestor of one. Children follow parents, so one reverse
  // pass sees every child before its parent.
  std::vector<bool> keep(n, false);
  for (size_t i = n; i-- > 0;) {
    if (is_leaf_at(nodes_, i)) keep[i] = !purged[i];
    const int32_t p = nodes_[i].parent;
    if (keep[i] && p >= 0) keep[static_cast<size_t>(p)] = true;
  }
  // Compact in place, keeping order (a subset of a canonical layout whose dropped nodes are whole
  // subtrees' tails stays canonical: no parent is dropped while a child stays).
  std::vector<int32_t> new_index(n, -1);
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    const int32_t p = nodes_[i].parent;
    new_index[i] = static_cast<int32_t>(w);
    if (w != i) nodes_[w] = std::move(nodes_[i]);
    nodes_[w].parent = p >= 0 ? new_index[static_cast<size_t>(p)] : -1;
    ++w;
  }
  nodes_.resize(w);
  return removed;
}

std::vector<Leaf> RevTree::leaves() const {
  std::vector<Leaf> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (is_leaf_at(nodes_, i)) out.push_back(leaf_of(nodes_[i]));
  }
  sort_leaf_order(out);
  return out;
}

Leaf RevTree::winner() const {
  // One pass, no allocation: plan_edit runs this on every interactive write.
  Leaf best;
  bool have = false;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!is_leaf_at(nodes_, i)) continue;
    Leaf l = leaf_of(nodes_[i]);
    if (!have || wins_over(l, best)) {
      best = std::move(l);
      have = true;
    }
  }
  return best;  // a default Leaf for an empty forest (contract: REQUIRES !empty())
}

std::vector<RevId> RevTree::conflicts() const {
  std::vector<RevId> out;
  const std::vector<Leaf> ls = leaves();
  for (size_t i = 1; i < ls.size(); ++i) {
    if (!ls[i].deleted) out.push_back(ls[i].rev);
  }
  return out;
}

std::vector<RevId> RevTree::deleted_conflicts() const {
  std::vector<RevId> out;
  const std::vector<Leaf> ls = leaves();
  for (size_t i = 1; i < ls.size(); ++i) {
    if (ls[i].deleted) out.push_back(ls[i].rev);
  }
  return out;
}

const RevTree::Node* RevTree::find(const RevId& rev) const {
  const size_t i = find_index(nodes_, rev);
  return i == kNone ? nullptr : &nodes_[i];
}

bool RevTree::is_leaf(const RevId& rev) const {
  const size_t i = find_index(nodes_, rev);
  return i != kNone && is_leaf_at(nodes_, i);
}

RevPath RevTree::ancestry(const RevId& rev, size_t limit) const {
  RevPath out;
  out.start = rev.pos;
  const size_t i = find_index(nodes_, rev);
  if (i == kNone) return out;  // contract violation: no ids rather than invented ones
  // spec §8: follow parent links up to the tree root (MISSING ancestors included), at most `limit`.
  for (int32_t k = static_cast<int32_t>(i); k >= 0 && out.ids.size() < limit;
       k = nodes_[static_cast<size_t>(k)].parent) {
    out.ids.push_back(nodes_[static_cast<size_t>(k)].rev.id);
  }
  return out;
}

std::vector<Leaf> RevTree::leaves_under(const RevId& rev) const {
  // spec §8 latest=true. Normally one node matches; with a duplicated rev (inconsistent input) the
  // leaves under every occurrence are returned once each.
  std::vector<size_t> leaf_idx;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].rev.pos != rev.pos || nodes_[i].rev.id != rev.id) continue;
    // The subtree of i: i plus the following nodes whose parent lies inside it.
    for (size_t k = i; k < nodes_.size(); ++k) {
      if (k > i && nodes_[k].parent < static_cast<int32_t>(i)) break;
      if (is_leaf_at(nodes_, k)) leaf_idx.push_back(k);
    }
  }
  std::sort(leaf_idx.begin(), leaf_idx.end());
  leaf_idx.erase(std::unique(leaf_idx.begin(), leaf_idx.end()), leaf_idx.end());
  std::vector<Leaf> out;
  out.reserve(leaf_idx.size());
  for (size_t k : leaf_idx) out.push_back(leaf_of(nodes_[k]));
  sort_leaf_order(out);
  return out;
}

OpenRevs RevTree::open_revs(const std::optional<std::vector<RevId>>& requested,
                            bool latest) const {
  OpenRevs out;
  auto add = [&out](const Leaf& leaf) {
    for (const auto& seen : out.found) {
      if (seen.rev == leaf.rev) return;
    }
    out.found.push_back(leaf);
  };
  if (!requested) {
    for (const auto& leaf : leaves()) add(leaf);
    return out;
  }
  for (const auto& rev : *requested) {
    const Node* node = find(rev);
    if (node && latest) {
      for (const auto& leaf : leaves_under(rev)) add(leaf);
    } else if (node && node->has_body) {
      add({rev, node->deleted});
    } else {
      out.missing.push_back(rev);
    }
  }
  return out;
}

RevsDiff RevTree::revs_diff(const std::vector<RevId>& revs) const {
  RevsDiff diff;
  // spec §10: present = the {pos,id} is any node of the forest (body-less ancestors and deleted
  // leaves included). A replicator asks about many revs of a deep doc at once, so above a small
  // size look them up in a sorted index instead of scanning the forest per rev.
  std::vector<const RevId*> index;
  const bool use_index = revs.size() > 4 && nodes_.size() > 16;
  if (use_index) {
    index.reserve(nodes_.size());
    for (const Node& nd : nodes_) index.push_back(&nd.rev);
    std::sort(index.begin(), index.end(), [](const RevId* a, const RevId* b) { return *a < *b; });
  }
  std::set<RevId> seen_missing;
  uint64_t max_missing_pos = 0;
  for (const RevId& r : revs) {
    const bool present =
        use_index ? std::binary_search(index.begin(), index.end(), &r,
                                       [](const RevId* a, const RevId* b) { return *a < *b; })
                  : find_index(nodes_, r) != kNone;
    if (present || !seen_missing.insert(r).second) continue;  // duplicates reported once
    diff.missing.push_back(r);
    max_missing_pos = std::max(max_missing_pos, r.pos);
  }
  if (diff.missing.empty()) return diff;
  // Leaves (live and deleted, in leaf order) strictly below the highest missing pos.
  for (Leaf& l : leaves()) {
    if (l.rev.pos < max_missing_pos) diff.possible_ancestors.push_back(std::move(l.rev));
  }
  return diff;
}

EditPlan RevTree::plan_edit(const std::optional<RevId>& requested_parent, bool deleted) const {
  // spec §6.1, row by row.
  if (empty()) {
    // Unknown doc: a first revision (deleted allowed); naming a parent is a conflict.
    if (requested_parent) return EditPlan{true, std::nullopt};
    return EditPlan{false, std::nullopt};
  }
  const Leaf w = winner();
  if (!w.deleted) {
    // Live doc: the parent must be a current leaf, live or deleted (extending a deleted leaf
    // revives that branch). Absent, internal or unknown → 409.
    if (requested_parent && is_leaf(*requested_parent)) return EditPlan{false, *requested_parent};
    return EditPlan{true, std::nullopt};
  }
  // Deleted doc (all leaves deleted): only a plain recreate is allowed, and it grows under the
  // deleted winner — (W.pos+1)-…, hashed with W as parent — not a new 1-… (spec §6.1, §12 case 3).
  if (requested_parent || deleted) return EditPlan{true, std::nullopt};
  return EditPlan{false, w.rev};
}

std::string RevTree::to_string() const {
  // "1: a → {b → x(D), y}", trees joined by " | ". Iterative: trees may be thousands deep.
  std::vector<uint32_t> child_count(nodes_.size(), 0);
  for (const Node& nd : nodes_) {
    if (nd.parent >= 0) ++child_count[static_cast<size_t>(nd.parent)];
  }
  struct Open {
    size_t node;
    uint32_t emitted = 0;  // children written so far
  };
  std::string out;
  std::vector<Open> stack;
  auto close_until = [&](int32_t parent) {
    while (!stack.empty() && static_cast<int32_t>(stack.back().node) != parent) {
      if (child_count[stack.back().node] > 1) out += '}';
      stack.pop_back();
    }
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& nd = nodes_[i];
    close_until(nd.parent);
    if (nd.parent < 0) {
      if (i > 0) out += " | ";
      out += std::to_string(nd.rev.pos);
      out += ": ";
    } else {
      Open& p = stack.back();
      if (child_count[p.node] == 1) {
        out += " → ";
      } else {
        out += p.emitted == 0 ? " → {" : ", ";
      }
      ++p.emitted;
    }
    out += nd.rev.id;
    if (nd.has_body && nd.deleted) out += "(D)";
    stack.push_back(Open{i});
  }
  close_until(-2);  // matches nothing: closes everything
  return out;
}

bool operator==(const RevTree& a, const RevTree& b) {
  // The layout is canonical, so the same forest means the same node sequence.
  if (a.nodes_.size() != b.nodes_.size()) return false;
  for (size_t i = 0; i < a.nodes_.size(); ++i) {
    const RevTree::Node& x = a.nodes_[i];
    const RevTree::Node& y = b.nodes_[i];
    if (x.rev != y.rev || x.parent != y.parent || x.has_body != y.has_body ||
        x.deleted != y.deleted) {
      return false;
    }
  }
  return true;
}

}  // namespace divan::revtree
