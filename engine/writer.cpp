// The single writer of a database: group commit and the document edit rules.
//
// spec: revision-trees.md §6 (edit rules), §7 (stemming), §9 (update seq), §11 (_local docs);
// http-api.md §7.3 (attachment stubs).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>

#include "engine/attachment_store.h"
#include "engine/database_internal.h"
#include "engine/doc_json.h"
#include "engine/schema.h"
#include "engine/write_plan.h"
#include "engine/write_txn.h"
#include "revtree/rev_hash.h"

namespace divan::engine {
namespace {

// revs.atts: NULL when the revision has no attachments.
void bind_atts(sqlite::Stmt& q, int index, const std::string& atts) {
  if (atts.empty()) q.bind_null(index);
  else q.bind_text(index, atts);
}

// Largest number of rows per multi-row INSERT. Each statement execution has a fixed cost (VDBE
// start, cursor setup, halt: ~5k instructions, about as much as a row's b-tree work), which one
// INSERT of many rows pays once: callgrind put the writer's share of a 1000-doc _bulk_docs ~20%
// lower than with one INSERT per row.
constexpr size_t kMaxRowsPerInsert = 64;

// "<head> (?,?,…),(?,?,…)…" with `rows` groups of `columns` parameters.
std::string multi_row_sql(std::string_view head, int columns, size_t rows) {
  std::string one = "(";
  for (int c = 0; c < columns; ++c) one += c == 0 ? "?" : ",?";
  one += ")";
  std::string sql(head);
  sql += " VALUES";
  for (size_t r = 0; r < rows; ++r) {
    if (r > 0) sql += ',';
    sql += one;
  }
  return sql;
}

// Inserts `rows.size()` rows with few statements: chunks of kMaxRowsPerInsert, then of halving
// sizes, so only a handful of statement texts per table is ever prepared. `bind(stmt, first, row)`
// binds one row's `columns` parameters starting at index `first`.
template <typename Row, typename Bind>
void insert_rows(WriteTxn& txn, std::string_view head, int columns,
                 const std::vector<const Row*>& rows, Bind bind) {
  size_t done = 0;
  while (done < rows.size()) {
    size_t chunk = kMaxRowsPerInsert;
    while (chunk > rows.size() - done) chunk /= 2;
    // The statement text is rebuilt per chunk (cheap next to 2^n rows of b-tree work) and prepared
    // only once per connection: Connection::prepare caches by text.
    sqlite::Use q(txn.conn.prepare(multi_row_sql(head, columns, chunk)));
    for (size_t r = 0; r < chunk; ++r) bind(*q, static_cast<int>(r) * columns + 1, *rows[done + r]);
    q->run();
    done += chunk;
  }
}

}  // namespace

void flush_new_docs(WriteTxn& txn) {
  if (txn.new_docs.empty()) return;
  std::vector<const NewDocRows*> all;
  std::vector<const NewDocRows*> with_body;
  all.reserve(txn.new_docs.size());
  with_body.reserve(txn.new_docs.size());
  for (const auto& doc : txn.new_docs) {
    all.push_back(&doc);
    if (doc.rev) with_body.push_back(&doc);
  }
  insert_rows(txn, "INSERT INTO revs(doc_id, rev, deleted, body, atts)", 5, with_body,
              [](sqlite::Stmt& q, int i, const NewDocRows& d) {
                q.bind_text(i, *d.id);
                q.bind_text(i + 1, *d.rev);
                q.bind_int(i + 2, d.rev_deleted ? 1 : 0);
                q.bind_text(i + 3, *d.body);
                bind_atts(q, i + 4, d.atts);
              });
  insert_rows(txn, "INSERT INTO docs(doc_id, seq, winner, deleted, tree)", 5, all,
              [](sqlite::Stmt& q, int i, const NewDocRows& d) {
                q.bind_text(i, *d.id);
                q.bind_int(i + 1, d.seq);
                q.bind_text(i + 2, d.winner);
                q.bind_int(i + 3, d.winner_deleted ? 1 : 0);
                q.bind_blob(i + 4, d.tree);
              });
  txn.new_docs.clear();
  txn.new_doc_ids.clear();
}

std::optional<StoredDoc> load_doc(WriteTxn& txn, const std::string& id) {
  // Written earlier in this group and not inserted yet: insert it, so the SELECT sees it.
  if (txn.new_doc_ids.count(id) != 0) flush_new_docs(txn);
  sqlite::Use q(txn.conn.prepare("SELECT seq, deleted, tree FROM docs WHERE doc_id = ?1"));
  q->bind_text(1, id);
  if (!q->step()) return std::nullopt;
  StoredDoc doc;
  doc.seq = static_cast<uint64_t>(q->column_int(0));
  doc.deleted = q->column_int(1) != 0;
  auto tree = revtree::RevTree::decode(q->column_blob(2));
  // Corruption: nobody can handle it on the spot, so it fails the whole group.
  if (!tree) throw std::runtime_error("corrupt revision tree for doc " + id);
  doc.tree = std::move(*tree);
  return doc;
}

void delete_body(WriteTxn& txn, const std::string& id, const revtree::RevId& rev,
                 bool was_history) {
  std::vector<AttachmentInfo> atts;
  {
    sqlite::Use q(txn.conn.prepare(
        "DELETE FROM revs WHERE doc_id = ?1 AND rev = ?2 RETURNING length(body), atts"));
    std::string rev_text = rev.str();
    q->bind_text(1, id);
    q->bind_text(2, rev_text);
    if (!q->step()) return;
    atts = parse_stored_attachments(q->column_text(1));
    uint64_t body = static_cast<uint64_t>(q->column_int(0));
    uint64_t n = body + attachment_store::total_length(atts);
    txn.state.stored_size -= std::min(n, txn.state.stored_size);
    if (was_history) {
      txn.state.history_size -= std::min(n, txn.state.history_size);
      txn.state.history_body_size -= std::min(body, txn.state.history_body_size);
    }
    txn.counters_dirty = true;
    q->run();
  }
  for (const auto& a : atts) attachment_store::release(txn.conn, a.digest);
  if (!atts.empty()) txn.released = true;
}

std::vector<revtree::RevId> body_revs(const revtree::RevTree& tree) {
  std::vector<revtree::RevId> revs;
  for (const auto& node : tree.nodes()) {
    if (node.has_body) revs.push_back(node.rev);
  }
  std::sort(revs.begin(), revs.end());
  revs.erase(std::unique(revs.begin(), revs.end()), revs.end());
  return revs;
}

void delete_dropped_bodies(WriteTxn& txn, const std::string& id, const revtree::RevTree& before,
                           const revtree::RevTree& after, const revtree::RevId* keep) {
  std::vector<revtree::RevId> held = body_revs(after);
  std::vector<revtree::Leaf> old_leaves = before.leaves();
  for (const auto& rev : body_revs(before)) {
    if ((keep && rev == *keep) || std::binary_search(held.begin(), held.end(), rev)) continue;
    bool was_leaf = std::any_of(old_leaves.begin(), old_leaves.end(),
                                [&](const revtree::Leaf& l) { return l.rev == rev; });
    delete_body(txn, id, rev, /*was_history=*/!was_leaf);
  }
}

void update_tree(WriteTxn& txn, const std::string& id, const revtree::RevTree& tree) {
  sqlite::Use q(txn.conn.prepare("UPDATE docs SET tree = ?2 WHERE doc_id = ?1"));
  std::string bytes = tree.encode();
  q->bind_text(1, id);
  q->bind_blob(2, bytes);
  q->run();
}

namespace {

// What a stored revision counts in stored_size: its body and its attachments' lengths.
struct RevBytes {
  uint64_t body = 0;
  uint64_t atts = 0;
};

RevBytes stored_bytes(WriteTxn& txn, const std::string& id, const revtree::RevId& rev) {
  sqlite::Use q(txn.conn.prepare(
      "SELECT length(body), atts FROM revs WHERE doc_id = ?1 AND rev = ?2"));
  std::string rev_text = rev.str();
  q->bind_text(1, id);
  q->bind_text(2, rev_text);
  RevBytes n;
  if (!q->step()) return n;
  n.body = static_cast<uint64_t>(q->column_int(0));
  if (!q->column_is_null(1)) {
    n.atts = attachment_store::total_length(parse_stored_attachments(q->column_text(1)));
  }
  return n;
}

// history_size counts a non-leaf revision's body and attachments (sizes.external leaves them
// out); history_body_size its body alone, which compaction surely frees (an attachment body may
// still be a leaf's).
void add_history(WriteTxn& txn, RevBytes n) {
  txn.state.history_size += n.body + n.atts;
  txn.state.history_body_size += n.body;
  txn.counters_dirty = true;
}

void remove_history(WriteTxn& txn, RevBytes n) {
  txn.state.history_size -= std::min(n.body + n.atts, txn.state.history_size);
  txn.state.history_body_size -= std::min(n.body, txn.state.history_body_size);
  txn.counters_dirty = true;
}

void insert_body(WriteTxn& txn, const std::string& id, const std::string& rev, bool deleted,
                 const std::string& body, const std::string& atts) {
  sqlite::Use q(txn.conn.prepare(
      "INSERT OR REPLACE INTO revs(doc_id, rev, deleted, body, atts) VALUES(?1, ?2, ?3, ?4, ?5)"));
  q->bind_text(1, id);
  q->bind_text(2, rev);
  q->bind_int(3, deleted ? 1 : 0);
  q->bind_text(4, body);
  bind_atts(*q, 5, atts);
  q->run();
}

// ---- Attachments of the revision being written (http-api.md §7.3) -------------------------------

// A new body whose MD5 digest names a stored row holding other bytes (a crafted MD5 collision):
// refused rather than shared, or the upload would read back as someone else's bytes. bad_request
// (400), not conflict: a 409 tells CouchDB clients and replicators to fetch the latest rev and
// retry, which would collide again forever; the same bytes can never be stored here, so the
// refusal must be final.
// Records in atts.unstored which new bodies no row holds yet.
std::optional<Error> digest_collision(WriteTxn& txn, ResolvedAttachments& atts) {
  atts.unstored.assign(atts.infos.size(), false);
  for (size_t i = 0; i < atts.infos.size(); ++i) {
    const AttachmentBody* body = atts.bodies[i];
    if (body == nullptr) continue;
    auto row = attachment_store::find(txn.conn, body->digest());
    if (row && !attachment_store::same_bytes(*row, *body)) {
      return Error{Code::kBadRequest, "attachment digest collision: " + atts.infos[i].name};
    }
    atts.unstored[i] = !row;
  }
  return std::nullopt;
}

// Resolves the stubs (write_plan.h) and refuses a digest collision, before anything of the op is
// written.
Result<ResolvedAttachments> attachments_for(WriteTxn& txn, const DocUpdate& update,
                                            const WritePlan& plan) {
  if (update.attachments().empty()) return ResolvedAttachments{};
  auto atts = resolve_attachments(txn.conn, update, plan);
  if (!atts) return atts;
  if (auto collision = digest_collision(txn, *atts)) return tl::unexpected(std::move(*collision));
  return atts;
}

// What the rev hash covers of each attachment (revision-trees.md §2.2).
std::vector<revtree::AttachmentDigest> hash_input(const ResolvedAttachments& atts) {
  std::vector<revtree::AttachmentDigest> out;
  out.reserve(atts.infos.size());
  for (const auto& a : atts.infos) out.push_back({a.name, a.content_type, a.digest});
  return out;
}

// One reference per entry of the revs row about to be written (its new bytes stored if unknown),
// and the row's stub JSON.
std::string reference_attachments(WriteTxn& txn, const ResolvedAttachments& atts) {
  for (size_t i = 0; i < atts.infos.size(); ++i) {
    const AttachmentInfo& info = atts.infos[i];
    // Nothing of this op was written between the collision check and here, so a body no row held
    // then is still unstored, unless an earlier entry of this op carried the same bytes.
    bool unstored = i < atts.unstored.size() && atts.unstored[i] && atts.bodies[i] != nullptr;
    for (size_t j = 0; unstored && j < i; ++j) unstored = atts.infos[j].digest != info.digest;
    if (unstored) {
      attachment_store::insert(txn.conn, info, *atts.bodies[i]);
    } else {
      attachment_store::add_ref(txn.conn, info, atts.bodies[i]);
    }
  }
  return attachment_store::stubs_json(atts.infos);
}

}  // namespace

// spec §4: doc_count counts live winners, doc_del_count deleted ones.
void count_winner(WriteTxn& txn, const std::optional<StoredDoc>& old, const revtree::Leaf& winner) {
  if (old && old->deleted == winner.deleted) return;
  if (old) {
    if (old->deleted) --txn.state.doc_del_count;
    else --txn.state.doc_count;
  }
  if (winner.deleted) ++txn.state.doc_del_count;
  else ++txn.state.doc_count;
  txn.counters_dirty = true;
}

bool holds_body(const revtree::RevTree& tree, const revtree::RevId& rev) {
  for (const auto& node : tree.nodes()) {
    if (node.has_body && node.rev == rev) return true;
  }
  return false;
}

namespace {

// The leaves' revs, sorted and unique (a rev may sit in two trees of a forest).
std::vector<revtree::RevId> leaf_revs(const revtree::RevTree& tree) {
  std::vector<revtree::RevId> revs;
  for (auto& leaf : tree.leaves()) revs.push_back(std::move(leaf.rev));
  std::sort(revs.begin(), revs.end());
  revs.erase(std::unique(revs.begin(), revs.end()), revs.end());
  return revs;
}

}  // namespace

void account_leaf_changes(WriteTxn& txn, const std::string& id, const revtree::RevTree& before,
                          const revtree::RevTree& after, const revtree::RevId* skip) {
  std::vector<revtree::RevId> was = leaf_revs(before);
  std::vector<revtree::RevId> now = leaf_revs(after);
  auto moved = [&](const revtree::RevId& rev) { return !skip || rev != *skip; };
  for (const auto& rev : was) {
    if (std::binary_search(now.begin(), now.end(), rev) || !moved(rev)) continue;
    if (!holds_body(after, rev)) continue;  // its row went (stemmed, purged)
    add_history(txn, stored_bytes(txn, id, rev));
  }
  for (const auto& rev : now) {
    if (std::binary_search(was.begin(), was.end(), rev) || !moved(rev)) continue;
    if (!holds_body(before, rev)) continue;  // a new row, counted by its writer
    remove_history(txn, stored_bytes(txn, id, rev));
  }
}

bool is_leaf_rev(const revtree::RevTree& tree, const revtree::RevId& rev) {
  for (const auto& leaf : tree.leaves()) {
    if (leaf.rev == rev) return true;
  }
  return false;
}

namespace {

// Stems and writes the doc row, the new rev's body and the counters (a new doc's rows are queued
// for flush_new_docs()). `tree` is the merged forest; `new_rev` the revision this write added.
void store_doc(WriteTxn& txn, const DocUpdate& update, const std::optional<StoredDoc>& old,
               revtree::RevTree& tree, const revtree::RevId& new_rev,
               const ResolvedAttachments& atts) {
  // spec §7: stem after every write. Every body written here is kept, leaf or not, until
  // compaction (compaction.h): GET ?rev= of an older revision answers as CouchDB does, and stubs
  // resolve against the nearest ancestor we hold.
  bool stemmed = !tree.stem(txn.state.revs_limit).empty();
  // Merging never clears a body, so only stemming can have dropped one. Body rows follow the set
  // of revs holding a body (delete_dropped_bodies); new_rev's row is written below. The new rev is
  // not always a leaf afterwards (it may have joined a copy of itself that has children).
  if (old && stemmed) delete_dropped_bodies(txn, update.id(), old->tree, tree, &new_rev);
  if (old) account_leaf_changes(txn, update.id(), old->tree, tree, &new_rev);
  bool new_has_body = holds_body(tree, new_rev);

  // spec §9: one seq per changed doc. A doc already written in this transaction keeps the seq it
  // got then, so duplicates inside one group commit consume one seq (CouchDB: one per doc per batch).
  uint64_t seq = (old && old->seq > txn.start_seq) ? old->seq : ++txn.state.update_seq;

  revtree::Leaf winner = tree.winner();
  std::string winner_text = winner.rev.str();
  std::string tree_bytes = tree.encode();
  // stored_size counts attachment bytes too, once per revision listing them (CouchDB's
  // sizes.external does), although each body is stored once.
  std::string atts_json;
  if (new_has_body) {
    // A row for new_rev already there (it was known with a body) is replaced: give its bytes back.
    if (old && holds_body(old->tree, new_rev)) {
      delete_body(txn, update.id(), new_rev, !is_leaf_rev(old->tree, new_rev));
    }
    atts_json = reference_attachments(txn, atts);
    RevBytes n{update.body().size(), attachment_store::total_length(atts.infos)};
    txn.state.stored_size += n.body + n.atts;
    if (!is_leaf_rev(tree, new_rev)) add_history(txn, n);
    txn.counters_dirty = true;
  }
  if (!old) {
    // No rows yet for this id, in either table: queue them for the group's multi-row INSERTs.
    txn.new_docs.push_back(NewDocRows{&update.id(), static_cast<int64_t>(seq), std::move(winner_text),
                                      winner.deleted, std::move(tree_bytes),
                                      new_has_body ? std::optional(new_rev.str()) : std::nullopt,
                                      update.deleted(), &update.body(), std::move(atts_json)});
    txn.new_doc_ids.insert(update.id());
    count_winner(txn, old, winner);
    return;
  }
  if (new_has_body) {
    insert_body(txn, update.id(), new_rev.str(), update.deleted(), update.body(), atts_json);
  }
  {
    sqlite::Use q(txn.conn.prepare(
        "INSERT INTO docs(doc_id, seq, winner, deleted, tree) VALUES(?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(doc_id) DO UPDATE SET seq = excluded.seq, winner = excluded.winner, "
        "deleted = excluded.deleted, tree = excluded.tree"));
    q->bind_text(1, update.id());
    q->bind_int(2, static_cast<int64_t>(seq));
    q->bind_text(3, winner_text);
    q->bind_int(4, winner.deleted ? 1 : 0);
    q->bind_blob(5, tree_bytes);
    q->run();
  }

  count_winner(txn, old, winner);
}

// The outcome of an op refused before it was queued: its error, and for a replicated write the
// rev it carried (a _bulk_docs new_edits=false error item names it).
WriteOutcome refused_outcome(const WriteOp& op, Error error) {
  WriteOutcome out;
  out.error = std::move(error);
  const auto* update = std::get_if<DocUpdate>(&op);
  if (update && update->revisions() && !update->revisions()->ids.empty()) {
    out.rev = update->revisions()->newest().str();
  }
  return out;
}

// What the write rules of a batch need (write_policy.h): the database's policy and the writer.
struct WriteRules {
  const WritePolicy* policy = nullptr;
  const Writer* writer = nullptr;
};

// The stored body of a document's winner, for the policy's validation: nullopt when the document
// is new or its winner deleted.
std::optional<std::string> winner_body(WriteTxn& txn, const std::string& id,
                                       const std::optional<StoredDoc>& doc) {
  if (!doc || doc->tree.empty()) return std::nullopt;
  revtree::Leaf winner = doc->tree.winner();
  if (winner.deleted) return std::nullopt;
  sqlite::Use q(txn.conn.prepare("SELECT body FROM revs WHERE doc_id = ?1 AND rev = ?2"));
  std::string rev_text = winner.rev.str();
  q->bind_text(1, id);
  q->bind_text(2, rev_text);
  if (!q->step()) return std::nullopt;
  return std::string(q->column_text(0));
}

WriteOutcome apply(WriteTxn& txn, const DocUpdate& update, const WriteRules& rules) {
  WriteOutcome out;
  std::optional<StoredDoc> old = load_doc(txn, update.id());
  WritePlan plan = plan_write(old ? old->tree : revtree::RevTree(), update);
  if (plan.error) {
    out.error = std::move(plan.error);
    return out;
  }
  if (update.replicated()) out.rev = plan.newest.str();
  // After the edit rules, as CouchDB validates only a write whose revision is acceptable. A
  // replicated write of known revisions stores nothing and is not validated either.
  if (rules.policy && (plan.store || !update.replicated())) {
    if (auto refused = rules.policy->validate(update, winner_body(txn, update.id(), old),
                                              *rules.writer)) {
      out.error = std::move(refused);
      return out;
    }
  }
  if (update.revisions()) {
    out.rev = plan.newest.str();
    // Already known: success, nothing written, and its stubs need not resolve. So is a revision
    // this database purged: replication must not bring it back (write_ops.h PurgeDoc).
    if (!plan.store) return out;
    if (txn.state.purge_seq > 0 && recorded_purge(txn.conn, update.id(), plan.newest)) return out;
    auto atts = attachments_for(txn, update, plan);
    if (!atts) {
      out.error = std::move(atts.error());
      return out;
    }
    store_doc(txn, update, old, plan.tree, plan.newest, *atts);
    out.written = true;
    return out;
  }

  // spec §6.1: interactive edit.
  auto atts = attachments_for(txn, update, plan);
  if (!atts) {
    out.error = std::move(atts.error());
    return out;
  }
  const std::optional<revtree::RevId>& parent = plan.parent;
  // A caller-computed id hashed the same attachment set (callers compute it only without stubs).
  std::string new_id = !update.new_rev_id().empty() && parent == update.parent()
                           ? update.new_rev_id()
                           : revtree::new_rev_id(update.deleted(), parent ? parent->pos : 0,
                                                 parent ? std::string_view(parent->id) : "",
                                                 update.canonical_body(), hash_input(*atts));
  revtree::RevPath path = parent ? revtree::RevPath{parent->pos + 1, {new_id, parent->id}}
                                 : revtree::RevPath{1, {new_id}};
  revtree::RevTree& tree = plan.tree;
  if (tree.merge(path, update.deleted()) != revtree::MergeResult::kNewLeaf) {
    // Only reachable when the new id already sits in the forest (e.g. an identical edit arrived
    // by replication into a stemmed tree); `tree` is a local copy, so nothing is stored.
    out.error = Error{Code::kConflict, reason::kConflict};
    return out;
  }
  revtree::RevId new_rev{path.start, new_id};
  store_doc(txn, update, old, tree, new_rev, *atts);
  out.rev = new_rev.str();
  out.written = true;
  return out;
}

// spec §11 / http-api.md §8: no tree, no MVCC, rev "0-N", excluded from seqs and counts.
WriteOutcome apply(WriteTxn& txn, const LocalUpdate& update, const WriteRules&) {
  WriteOutcome out;
  if (update.deleted) {
    sqlite::Use q(txn.conn.prepare("DELETE FROM local_docs WHERE id = ?1"));
    q->bind_text(1, update.id);
    q->run();
    if (txn.conn.changes() == 0) {
      out.error = Error{Code::kNotFound, reason::kMissing};
      return out;
    }
    out.rev = "0-0";
    out.written = true;
    return out;
  }
  uint64_t rev = update.rev_counter + 1;
  sqlite::Use q(txn.conn.prepare(
      "INSERT INTO local_docs(id, rev, body) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(id) DO UPDATE SET rev = excluded.rev, body = excluded.body"));
  q->bind_text(1, update.id);
  q->bind_int(2, static_cast<int64_t>(rev));
  q->bind_text(3, update.body);
  q->run();
  out.rev = "0-" + std::to_string(rev);
  out.written = true;
  return out;
}

WriteOutcome apply(WriteTxn& txn, const SetRevsLimit& op, const WriteRules&) {
  WriteOutcome out;
  if (op.limit == 0) {
    out.error = Error{Code::kBadRequest, "revs_limit must be positive"};
    return out;
  }
  sqlite::Use q(txn.conn.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('revs_limit', ?1)"));
  q->bind_int(1, op.limit);
  q->run();
  txn.state.revs_limit = op.limit;  // later ops of this group stem with the new limit
  out.written = true;
  return out;
}

WriteOutcome apply(WriteTxn& txn, const SetSecurity& op, const WriteRules&) {
  sqlite::Use q(txn.conn.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('security', ?1)"));
  q->bind_text(1, op.json);
  q->run();
  txn.state.security = op.json;
  WriteOutcome out;
  out.written = true;
  return out;
}

WriteOutcome apply(WriteTxn& txn, const PurgeDoc& op, const WriteRules&) {
  return purge_doc(txn, op);
}

WriteOutcome apply(WriteTxn& txn, const SetPurgedInfosLimit& op, const WriteRules&) {
  WriteOutcome out;
  sqlite::Use q(txn.conn.prepare(
      "INSERT OR REPLACE INTO meta(key, value) VALUES('purged_infos_limit', ?1)"));
  q->bind_int(1, static_cast<int64_t>(op.limit));
  q->run();
  txn.state.purged_infos_limit = op.limit;
  out.written = true;
  return out;
}

size_t op_bytes(const WriteOp& op) {
  return std::visit(
      [](const auto& o) -> size_t {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, DocUpdate>) {
          size_t n = o.id().size() + o.body().size() + o.canonical_body().size();
          if (o.revisions()) {
            for (const auto& id : o.revisions()->ids) n += id.size();
          }
          // In-memory attachment bytes count, so the group cap bounds memory; a spooled body
          // costs the writer a file read, not memory, so only its entry counts.
          for (const auto& a : o.attachments()) {
            n += a.name.size() + a.content_type.size() + 64;
            if (a.body && a.body->memory()) n += a.body->length();
          }
          return n;
        } else if constexpr (std::is_same_v<T, LocalUpdate>) {
          return o.id.size() + o.body.size();
        } else if constexpr (std::is_same_v<T, SetSecurity>) {
          return o.json.size();
        } else if constexpr (std::is_same_v<T, PurgeDoc>) {
          return o.id.size() + o.revs.size() * 40;
        } else {
          return sizeof(o);
        }
      },
      op);
}

// CPU time of the calling thread, in milliseconds.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Bytes of spooled attachment bodies copied per staging transaction: long enough that the commit
// (an fsync) is small next to the copy, short enough that a write queued behind a large upload
// waits well under a second.
constexpr uint64_t kStageBytesPerTxn = 8u << 20;

// Ends the writer's open transaction, if any, after a failure. False when ROLLBACK itself failed:
// the connection's state is then unknown and the database must not be written again.
bool rollback_quietly(sqlite::Connection& writer) {
  if (!writer.in_transaction()) return true;
  try {
    writer.exec("ROLLBACK");
    return true;
  } catch (...) {
    return false;
  }
}

// Runs `f`, swallowing what it throws: a throwing completion or observer must not wedge the
// writer (the drain would never end, and close() would wait forever).
template <typename F>
void call_quietly(F&& f) {
  try {
    f();
  } catch (...) {
  }
}

// The write rules that need no stored state, on the submitting thread (write_policy.h): a design
// document needs a database admin, and the database's policy prepares each document. An error
// refuses that op alone: it is kept in `refused` and becomes its outcome.
void check_before_queueing(std::vector<WriteOp>& ops, const WritePolicy* policy,
                           const Writer& writer, std::vector<std::optional<Error>>& refused) {
  for (size_t i = 0; i < ops.size(); ++i) {
    auto* update = std::get_if<DocUpdate>(&ops[i]);
    if (!update) continue;
    std::optional<Error> error;
    if (update->id().starts_with(kDesignPrefix) && !writer.db_admin) {
      error = not_db_admin_error(writer);
    } else if (policy) {
      if (auto ok = policy->prepare(*update, writer); !ok) error = std::move(ok.error());
    }
    if (!error) continue;
    if (refused.empty()) refused.resize(ops.size());
    refused[i] = std::move(error);
  }
}

}  // namespace

void DatabaseImpl::submit(std::vector<WriteOp> ops, WriteDone done, Writer writer) {
  PendingBatch batch;
  check_before_queueing(ops, policy.get(), writer, batch.refused);
  batch.writer = std::move(writer);
  for (const auto& op : ops) {
    batch.bytes += op_bytes(op);
    if (const auto* update = std::get_if<DocUpdate>(&op)) {
      for (const auto& a : update->attachments()) {
        if (!a.body || a.body->memory()) continue;
        if (std::find(batch.spooled.begin(), batch.spooled.end(), a.body.get()) ==
            batch.spooled.end()) {
          batch.spooled.push_back(a.body.get());
        }
      }
    }
  }
  batch.ops = std::move(ops);
  batch.done = std::move(done);
  bool was_closed;
  {
    MutexLock lock(mu);
    if (!closed && !poisoned) {
      queue.push_back(std::move(batch));
      if (!drain_scheduled) {
        drain_scheduled = true;
        pool->post([this] { drain(); });
      }
      return;
    }
    was_closed = closed;
  }
  // No drain will run for this batch (the pool may even be gone), so answer on the caller's thread.
  if (was_closed) {
    batch.done(fail(Code::kNotFound, reason::kNoDatabase));
  } else {
    batch.done(fail(Code::kInternal, "database is unusable after a failed commit; reopen it"));
  }
}

void DatabaseImpl::drain() {
  // Take a group: the staged batches, then from the queue always the first batch, then more while
  // under both caps (LevelDB BuildBatchGroup), so one huge queue cannot make a small write wait for
  // megabytes of others. A batch carrying spooled bodies is set aside for staging instead: copying
  // hundreds of megabytes inside the group would hold every other write of the database behind it
  // (and fail them all with it). Order between batches is free (they come from independent
  // requests); the ops of one batch keep theirs.
  std::vector<PendingBatch> group;
  bool was_poisoned;
  {
    MutexLock lock(mu);
    was_poisoned = poisoned;
    size_t ops = 0;
    size_t bytes = 0;
    for (auto& batch : staged) {
      ops += batch.ops.size();
      bytes += batch.bytes;
      group.push_back(std::move(batch));
    }
    staged.clear();
    if (was_poisoned) {  // they fail with the group
      for (auto& s : staging) group.push_back(std::move(s.batch));
      staging.clear();
    }
    while (!queue.empty()) {
      PendingBatch& next = queue.front();
      if (!next.spooled.empty() && !was_poisoned) {
        staging.push_back(StagingBatch{std::move(next)});
        queue.pop_front();
        continue;
      }
      if (!group.empty() && (ops + next.ops.size() > options.max_batch_ops ||
                             bytes + next.bytes > options.max_batch_bytes)) {
        break;
      }
      ops += next.ops.size();
      bytes += next.bytes;
      group.push_back(std::move(next));
      queue.pop_front();
    }
  }

  if (!group.empty()) commit_group(group, was_poisoned);
  // One staging transaction per drain, after the group: a small write queued behind a large
  // upload waits for at most one of them. Compaction steps likewise.
  if (!staging.empty()) stage_step();
  std::optional<MaintenanceStep> step;
  {
    MutexLock lock(mu);
    if (!maintenance.empty()) {
      step = std::move(maintenance.front());
      maintenance.pop_front();
    }
  }
  if (step) maintenance_step(*step);

  MutexLock lock(mu);
  if (!queue.empty() || !staging.empty() || !staged.empty() || !maintenance.empty()) {
    pool->post([this] { drain(); });  // yield the thread between groups: other databases run too
  } else {
    drain_scheduled = false;
    idle_cv.notify_all();
  }
  // Nothing may touch `this` after the lock is released: close() may be about to destroy it.
}

std::unordered_set<int64_t> DatabaseImpl::pinned_rows() const {
  std::unordered_set<int64_t> rows;
  for (const auto& s : staging) {
    rows.insert(s.batch.pins.begin(), s.batch.pins.end());
    if (s.row != 0) rows.insert(s.row);
  }
  for (const auto& batch : staged) rows.insert(batch.pins.begin(), batch.pins.end());
  return rows;
}

void DatabaseImpl::commit_group(std::vector<PendingBatch>& group, bool was_poisoned) {
  std::vector<Result<std::vector<WriteOutcome>>> results;
  results.reserve(group.size());
  bool poison = false;
  uint64_t seq_before = committed.update_seq;
  WriteTxn txn{*writer, committed, committed.update_seq};
  bool committing = false;
  // Rows staged for this group's batches are referenced (or, for a failed op, left at 0) by it:
  // their pins end here, so its sweep also drops what a failed op staged.
  bool had_pins = std::any_of(group.begin(), group.end(),
                              [](const PendingBatch& b) { return !b.pins.empty(); });
  try {
    if (was_poisoned) throw std::runtime_error("database is unusable after a failed commit");
    sqlite::Use(writer->prepare("BEGIN IMMEDIATE"))->run();
    for (auto& batch : group) {
      std::vector<WriteOutcome> outcomes;
      outcomes.reserve(batch.ops.size());
      const WriteRules rules{policy.get(), &batch.writer};
      for (size_t i = 0; i < batch.ops.size(); ++i) {
        if (!batch.refused.empty() && batch.refused[i]) {
          outcomes.push_back(refused_outcome(batch.ops[i], std::move(*batch.refused[i])));
          continue;
        }
        outcomes.push_back(std::visit([&](const auto& o) { return apply(txn, o, rules); },
                                      batch.ops[i]));
      }
      results.emplace_back(std::move(outcomes));
    }
    flush_new_docs(txn);
    if (txn.released || had_pins || sweep_pending) {
      attachment_store::sweep(*writer, pinned_rows());
    }
    if (txn.counters_dirty) schema::store_counters(*writer, txn.state);
    committing = true;
    sqlite::Use(writer->prepare("COMMIT"))->run();
    committed = std::move(txn.state);
    sweep_pending = false;
  } catch (const std::exception& e) {
    // The whole group shares one fate. After a failed COMMIT we cannot know what is on disk
    // (LevelDB: the log is "indeterminate"), so refuse further writes until the file is reopened.
    bool rolled_back = rollback_quietly(*writer);
    poison = committing || !rolled_back;
    if (had_pins) sweep_pending = true;  // their staged rows are unpinned now
    results.clear();
    std::string why = std::string("write failed: ") + e.what();
    for (size_t i = 0; i < group.size(); ++i) results.push_back(fail(Code::kInternal, why));
  }

  std::shared_ptr<const std::vector<CommitObserver>> to_notify;
  uint64_t seq_after = committed.update_seq;
  {
    MutexLock lock(mu);
    published = committed;
    update_seq.store(seq_after, std::memory_order_release);
    if (poison) poisoned = true;
    if (seq_after != seq_before) to_notify = observers;
  }

  for (size_t i = 0; i < group.size(); ++i) {
    call_quietly([&] { group[i].done(std::move(results[i])); });
  }
  group.clear();  // destroy the completions (and what they captured) before this drain ends
  if (to_notify) {
    for (const auto& observer : *to_notify) call_quietly([&] { observer(seq_after); });
  }
}

bool DatabaseImpl::submit_maintenance(MaintenanceStep step) {
  MutexLock lock(mu);
  if (closed) return false;
  maintenance.push_back(std::move(step));
  if (!drain_scheduled) {
    drain_scheduled = true;
    pool->post([this] { drain(); });
  }
  return true;
}

void DatabaseImpl::maintenance_step(MaintenanceStep& step) {
  {
    MutexLock lock(mu);
    if (poisoned) {
      call_quietly([&] { step.done("database is unusable after a failed commit"); });
      return;
    }
  }
  if (step.checkpoint) {
    // TRUNCATE: the WAL file goes back to 0 bytes (else it stays at its largest size up to
    // journal_size_limit, and sizes.file with it). It waits for readers still using the WAL:
    // 10 ms at most here, so the writer is never held long; a busy checkpoint changes nothing.
    std::string error;
    try {
      writer->exec("PRAGMA busy_timeout = 10");
      sqlite::Use(writer->prepare("PRAGMA wal_checkpoint(TRUNCATE)"))->step();
      writer->exec(kBusyTimeout);
    } catch (const std::exception& e) {
      error = e.what();
      try {
        writer->exec(kBusyTimeout);
      } catch (...) {
      }
    }
    call_quietly([&] { step.done(error); });
    return;
  }
  WriteTxn txn{*writer, committed, committed.update_seq};
  std::string error;
  const auto began = std::chrono::steady_clock::now();
  const double began_cpu_ms = thread_cpu_ms();
  try {
    sqlite::Use(writer->prepare("BEGIN IMMEDIATE"))->run();
    step.run(txn);
    if (txn.released || sweep_pending) attachment_store::sweep(*writer, pinned_rows());
    if (txn.counters_dirty) schema::store_counters(*writer, txn.state);
    sqlite::Use(writer->prepare("COMMIT"))->run();
    committed = std::move(txn.state);
    sweep_pending = false;
  } catch (const std::exception& e) {
    error = e.what();
    if (!rollback_quietly(*writer)) {
      MutexLock lock(mu);
      poisoned = true;
    }
  }
  // How long the step held the writer, commit included: what compaction promises to bound.
  double held_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             began).count();
  double held_cpu_ms = thread_cpu_ms() - began_cpu_ms;
  {
    MutexLock lock(mu);
    published = committed;
    compaction.longest_step_ms = std::max(compaction.longest_step_ms, held_ms);
    compaction.longest_step_cpu_ms = std::max(compaction.longest_step_cpu_ms, held_cpu_ms);
  }
  call_quietly([&] { step.done(error); });
}

void DatabaseImpl::stage_step() {
  StagingBatch& s = staging.front();
  try {
    sqlite::Use(writer->prepare("BEGIN IMMEDIATE"))->run();
    uint64_t budget = kStageBytesPerTxn;
    while (budget > 0 && s.next < s.batch.spooled.size()) {
      const AttachmentBody& body = *s.batch.spooled[s.next];
      if (s.row == 0) {
        // Already stored (by an earlier write, or another body of this batch): pinned as it is.
        // A collision is refused by the op itself, in its group.
        if (auto row = attachment_store::find(*writer, body.digest())) {
          s.batch.pins.push_back(row->id);
          ++s.next;
          continue;
        }
        s.row = attachment_store::stage_begin(*writer, body);
        s.offset = 0;
      }
      uint64_t before = s.offset;
      s.offset = attachment_store::stage_chunks(*writer, s.row, body, s.offset, budget);
      budget -= std::min(budget, std::max<uint64_t>(s.offset - before, 1));
      if (s.offset == body.length()) {
        s.batch.pins.push_back(attachment_store::stage_publish(*writer, s.row, body));
        s.row = 0;
        ++s.next;
      }
    }
    sqlite::Use(writer->prepare("COMMIT"))->run();
  } catch (const std::exception& e) {
    // This batch alone fails; what it staged (committed earlier steps) stays at refs 0 until a
    // sweep. A failed ROLLBACK leaves the connection unusable: poison as a failed group does.
    bool rolled_back = rollback_quietly(*writer);
    PendingBatch batch = std::move(s.batch);
    staging.pop_front();
    sweep_pending = true;
    if (!rolled_back) {
      MutexLock lock(mu);
      poisoned = true;
    }
    std::string why = std::string("write failed: ") + e.what();
    call_quietly([&] { batch.done(fail(Code::kInternal, why)); });
    return;
  }
  if (s.next == s.batch.spooled.size()) {
    staged.push_back(std::move(s.batch));
    staging.pop_front();
  }
}

}  // namespace divan::engine
