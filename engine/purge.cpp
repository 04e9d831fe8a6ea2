// Purge: leaf revisions removed for good, and the record that keeps them from coming back.
//
// CouchDB 3's rules (couch_db_updater purge_docs): the named leaves go, with every revision no
// remaining leaf descends from; a document with no leaf left is removed from the id and seq
// indexes (no tombstone); a document that keeps leaves gets a new seq. Each purged document is
// one purge info {uuid, id, revs} with its own purge_seq; the newest purged_infos_limit are kept.
#include <algorithm>
#include <string>

#include "engine/attachment_store.h"
#include "engine/doc_render.h"
#include "engine/write_txn.h"

namespace divan::engine {
namespace {

std::string rev_array_json(const std::vector<revtree::RevId>& revs) {
  std::string out = "[";
  for (size_t i = 0; i < revs.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, revs[i].str());
  }
  out.push_back(']');
  return out;
}

void record_purge(WriteTxn& txn, const PurgeDoc& op, const std::vector<revtree::RevId>& removed) {
  uint64_t purge_seq = ++txn.state.purge_seq;
  {
    sqlite::Use q(txn.conn.prepare(
        "INSERT INTO purges(purge_seq, uuid, doc_id, revs) VALUES(?1, ?2, ?3, ?4)"));
    std::string revs = rev_array_json(removed);
    q->bind_int(1, static_cast<int64_t>(purge_seq));
    q->bind_text(2, op.uuid);
    q->bind_text(3, op.id);
    q->bind_text(4, revs);
    q->run();
  }
  if (purge_seq > txn.state.purged_infos_limit) {
    sqlite::Use q(txn.conn.prepare("DELETE FROM purges WHERE purge_seq <= ?1"));
    q->bind_int(1, static_cast<int64_t>(purge_seq - txn.state.purged_infos_limit));
    q->run();
  }
}

void remove_doc_row(WriteTxn& txn, const std::string& id, bool was_deleted) {
  {
    sqlite::Use q(txn.conn.prepare("DELETE FROM docs WHERE doc_id = ?1"));
    q->bind_text(1, id);
    q->run();
  }
  // max(seq) no longer names the seq this purge consumed: keep it, so update_seq never goes back.
  sqlite::Use q(txn.conn.prepare(
      "INSERT OR REPLACE INTO meta(key, value) VALUES('update_seq_floor', ?1)"));
  q->bind_int(1, static_cast<int64_t>(txn.state.update_seq));
  q->run();
  if (was_deleted) --txn.state.doc_del_count;
  else --txn.state.doc_count;
}

void write_doc_row(WriteTxn& txn, const std::string& id, const revtree::RevTree& tree,
                   uint64_t seq, const StoredDoc& old) {
  revtree::Leaf winner = tree.winner();
  sqlite::Use q(txn.conn.prepare(
      "UPDATE docs SET seq = ?2, winner = ?3, deleted = ?4, tree = ?5 WHERE doc_id = ?1"));
  std::string winner_text = winner.rev.str();
  std::string bytes = tree.encode();
  q->bind_text(1, id);
  q->bind_int(2, static_cast<int64_t>(seq));
  q->bind_text(3, winner_text);
  q->bind_int(4, winner.deleted ? 1 : 0);
  q->bind_blob(5, bytes);
  q->run();
  count_winner(txn, old, winner);
}

}  // namespace

WriteOutcome purge_doc(WriteTxn& txn, const PurgeDoc& op) {
  WriteOutcome out;
  std::optional<StoredDoc> old = load_doc(txn, op.id);
  if (!old) return out;
  revtree::RevTree tree = old->tree;
  out.purged = tree.remove_leaves(op.revs);
  if (out.purged.empty()) return out;

  delete_dropped_bodies(txn, op.id, old->tree, tree);
  account_leaf_changes(txn, op.id, old->tree, tree);
  uint64_t seq = old->seq > txn.start_seq ? old->seq : ++txn.state.update_seq;
  if (tree.empty()) {
    remove_doc_row(txn, op.id, old->deleted);
  } else {
    write_doc_row(txn, op.id, tree, seq, *old);
  }
  record_purge(txn, op, out.purged);
  txn.counters_dirty = true;
  out.written = true;
  return out;
}

bool recorded_purge(sqlite::Connection& conn, std::string_view id, const revtree::RevId& rev) {
  sqlite::Use q(conn.prepare("SELECT revs FROM purges WHERE doc_id = ?1"));
  q->bind_text(1, id);
  // revs is a JSON array of rev strings: a quoted match is an exact one.
  std::string quoted = "\"" + rev.str() + "\"";
  while (q->step()) {
    if (q->column_text(0).find(quoted) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace divan::engine
