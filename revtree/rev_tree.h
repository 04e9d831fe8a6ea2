// A document's revision history: a forest of rooted trees of revisions.
//
// Why a forest and not a tree: stemming (revs_limit) and replication of stemmed histories routinely
// leave several roots (spec: revision-trees.md §3, §12 case 5). Each node knows its rev id, its parent,
// and whether we hold its body (and whether that body is a deletion). Leaves always hold a body.
//
// Reference behaviour is CouchDB's couch_key_tree: merge/stem/leaf queries here give the same
// forests, winners and conflict lists as CouchDB for the same inputs, whatever order they came in.
//
// Pure in-memory value type, no I/O. Not thread-safe for concurrent mutation; copies are independent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revtree/rev_id.h"

namespace divan::revtree {

// An ancestry path in `_revisions` form: ids[k] has position start - k (newest first).
struct RevPath {
  uint64_t start = 0;
  std::vector<std::string> ids;

  RevId newest() const { return {start, ids.front()}; }  // REQUIRES: !ids.empty()
};

// What merging a path did (couch_key_tree:merge/2). Interactive writes accept only kNewLeaf.
enum class MergeResult {
  kNewLeaf,       // extended an existing leaf (or planted the first tree)
  kNewBranch,     // forked below an inner node, or started a new tree beside others
  kInternalNode,  // every rev of the path was already known: nothing changed
};

struct Leaf {
  RevId rev;
  bool deleted = false;
  friend bool operator==(const Leaf&, const Leaf&) = default;
};

// What `_revs_diff` reports for one document (spec §10).
struct RevsDiff {
  std::vector<RevId> missing;             // requested revs not in the forest, deduplicated
  std::vector<RevId> possible_ancestors;  // leaves (leaf order) with pos < max missing pos
};

// Which stored revisions a read of several revisions sends (open_revs, _bulk_get; spec §8).
struct OpenRevs {
  std::vector<Leaf> found;     // to send, each once, in the order first named
  std::vector<RevId> missing;  // named revs we cannot send: unknown, or known without a body
};

// Where an interactive edit attaches (spec §6.1).
struct EditPlan {
  bool conflict = false;          // true: answer 409, write nothing
  std::optional<RevId> parent;    // the rev to extend; nullopt: a first revision (pos 1)
};

class RevTree {
 public:
  struct Node {
    RevId rev;
    int32_t parent = -1;  // index into nodes(); -1 for a root
    bool has_body = false;
    bool deleted = false;  // meaningful only with has_body
  };

  RevTree() = default;

  bool empty() const { return nodes_.empty(); }
  // All nodes; order is an implementation detail but parents always precede their children.
  const std::vector<Node>& nodes() const { return nodes_; }

  // Merges `path` (spec §5). The newest rev of the path gets a body with the given deleted flag
  // (a body already held is kept: "a BODY beats MISSING; if both, the existing one is kept");
  // its ancestors are body-less unless already known with a body. Does not stem.
  // REQUIRES: !path.ids.empty(), path.start >= path.ids.size().
  MergeResult merge(const RevPath& path, bool deleted);

  // Drops nodes further than limit-1 edges from every leaf below them (spec §7); trees split where
  // a parent is dropped. Returns the revs removed that held a body (so storage can delete them).
  // REQUIRES: limit >= 1.
  std::vector<RevId> stem(uint32_t limit);

  // Clears the body flag of every non-leaf node; returns the revs that lost it.
  std::vector<RevId> drop_internal_bodies();

  // Purge (couch_key_tree:remove_leafs): removes the named revs that are leaves, then every node
  // that is no longer an ancestor of a remaining leaf. Names that are not leaves are ignored.
  // Returns the leaves removed, in the order named, each once.
  std::vector<RevId> remove_leaves(const std::vector<RevId>& revs);

  // Leaves in leaf order: descending (!deleted, pos, id). The first is the winner (spec §4).
  std::vector<Leaf> leaves() const;
  Leaf winner() const;  // REQUIRES: !empty()
  bool deleted() const { return winner().deleted; }
  std::vector<RevId> conflicts() const;          // live leaves after the winner
  std::vector<RevId> deleted_conflicts() const;  // deleted leaves after the winner

  const Node* find(const RevId& rev) const;  // any node, with or without body; nullptr if absent
  bool is_leaf(const RevId& rev) const;

  // `_revisions` of `rev`: it and its ancestors up to the root, at most `limit` ids.
  // REQUIRES: find(rev) != nullptr.
  RevPath ancestry(const RevId& rev, size_t limit) const;

  // Every leaf in the subtree of `rev` (itself if a leaf), in leaf order; empty if unknown (§8).
  std::vector<Leaf> leaves_under(const RevId& rev) const;

  RevsDiff revs_diff(const std::vector<RevId>& revs) const;

  // The open_revs rule (couch_db:open_doc_revs), shared by GET ?open_revs= and _bulk_get:
  // `requested` nullopt means every leaf ("all", or a _bulk_get entry without `rev`). A named rev
  // resolves, with `latest`, to the leaves under it, else to itself when we hold its body;
  // anything else is missing. A revision reachable from several named revs is sent once.
  OpenRevs open_revs(const std::optional<std::vector<RevId>>& requested, bool latest) const;

  // Interactive edit rule table (spec §6.1) for a write with optional parent rev.
  EditPlan plan_edit(const std::optional<RevId>& requested_parent, bool deleted) const;

  // Compact binary form for storage; decode(encode(t)) == t. decode returns nullopt on garbage.
  std::string encode() const;
  static std::optional<RevTree> decode(std::string_view bytes);

  // Readable form for tests and logs, e.g. "1: a → {b → x(D), y}" with trees separated by " | ".
  std::string to_string() const;

  // Same forest: same nodes, links, body flags and deleted flags (node order ignored).
  friend bool operator==(const RevTree& a, const RevTree& b);

 private:
  std::vector<Node> nodes_;
};

}  // namespace divan::revtree
