// Engine-private: the writer's open transaction and the row steps shared by the group commit
// (writer.cpp) and compaction (compaction.cpp). Only code holding the writer connection inside
// BEGIN IMMEDIATE … COMMIT makes a WriteTxn (LiteCore's ExclusiveTransaction&).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/database_internal.h"
#include "engine/sqlite.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

// The rows of a document that did not exist before this group, waiting to be inserted together
// with the other new documents' rows (see WriteTxn::new_docs). Pointers are into the group's
// DocUpdates, which outlive the transaction.
struct NewDocRows {
  const std::string* id;
  int64_t seq;
  std::string winner;
  bool winner_deleted;
  std::string tree;
  std::optional<std::string> rev;  // the new revision's text, when its body is stored
  bool rev_deleted;
  const std::string* body;
  std::string atts;  // revs.atts ("" for NULL)
};

struct WriteTxn {
  sqlite::Connection& conn;
  DbState state;       // committed state plus this transaction's effects so far
  uint64_t start_seq;  // update_seq at BEGIN: a doc row with a higher seq was written in this txn
  bool counters_dirty = false;
  // New documents' rows not inserted yet, and their ids: flush_new_docs() writes them with
  // multi-row INSERTs before anything could read them and before COMMIT.
  std::vector<NewDocRows> new_docs = {};
  std::unordered_set<std::string_view> new_doc_ids = {};
  // Some body's reference count went down: sweep() before COMMIT.
  bool released = false;
};

struct StoredDoc {
  uint64_t seq = 0;
  bool deleted = false;
  revtree::RevTree tree;
};

void flush_new_docs(WriteTxn& txn);
// The doc row of `id` (flushing this group's new rows first if it is one of them).
std::optional<StoredDoc> load_doc(WriteTxn& txn, const std::string& id);
// The revs of `tree` that hold a body, sorted and unique.
std::vector<revtree::RevId> body_revs(const revtree::RevTree& tree);
// Deletes a revision's row and gives back its attachments' references and its bytes in
// stored_size (and in history_size when `was_history`: it was not a leaf).
void delete_body(WriteTxn& txn, const std::string& id, const revtree::RevId& rev,
                 bool was_history);
// Deletes the rows of the revs holding a body in `before` that no node of `after` holds (a rev may
// sit in two trees of a forest, so rows follow the set of revs, not a node list), except `keep`.
void delete_dropped_bodies(WriteTxn& txn, const std::string& id, const revtree::RevTree& before,
                           const revtree::RevTree& after, const revtree::RevId* keep = nullptr);
// spec §4: doc_count and doc_del_count after the doc's winner became `winner` (`old`: the doc
// before, nullopt when new).
void count_winner(WriteTxn& txn, const std::optional<StoredDoc>& old, const revtree::Leaf& winner);
// Whether some node of `tree` is `rev` holding a body.
bool holds_body(const revtree::RevTree& tree, const revtree::RevId& rev);
// Whether some copy of `rev` in `tree` is a leaf (a rev may sit in two trees of a forest): what
// "leaf" means for sizes.external and history_size.
bool is_leaf_rev(const revtree::RevTree& tree, const revtree::RevId& rev);
// history_size follows the leaf set from `before` to `after`: a held rev that stopped being a leaf
// joins the history, one that became a leaf again leaves it. `skip` (the rev a write is storing)
// is the caller's to count.
void account_leaf_changes(WriteTxn& txn, const std::string& id, const revtree::RevTree& before,
                          const revtree::RevTree& after, const revtree::RevId* skip = nullptr);
// Rewrites the tree of a stored doc whose winner did not change (compaction): seq unchanged.
void update_tree(WriteTxn& txn, const std::string& id, const revtree::RevTree& tree);

// ---- purge.cpp ----------------------------------------------------------------------------------

// Applies a PurgeDoc (write_ops.h): its outcome lists the leaves removed.
WriteOutcome purge_doc(WriteTxn& txn, const PurgeDoc& op);
// Whether `rev` of doc `id` is among the purges this database still records.
bool recorded_purge(sqlite::Connection& conn, std::string_view id, const revtree::RevId& rev);

}  // namespace divan::engine
