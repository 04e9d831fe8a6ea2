// A Divan database: one SQLite file holding documents with their revision trees, `_local` docs and
// per-database settings.
//
// Writes: one writer per database. submit() queues a batch; a drain on the engine's writer pool takes
// everything queued (capped), applies it in one BEGIN IMMEDIATE … COMMIT with synchronous=FULL (group
// commit: one fsync for many callers), then completes every caller. A completion runs on a writer
// thread and must only hand the result off (post to its own strand): never block there.
// Per-document outcomes (conflict, …) are values inside the result; only I/O or a closed database
// fails a whole batch. A batch carrying spooled attachment bodies is staged first (its bodies
// copied into the file in short transactions of their own, so other batches commit meanwhile) and
// joins a later group: batches may commit in another order than submitted; the ops of one batch
// always apply in order.
//
// Reads: snapshot() leases one of the database's read-only WAL connections and opens a read
// transaction, so several reads see one consistent state and never wait for the writer. Release the
// snapshot before writing to a socket: an open read transaction pins the WAL.
//
// Thread-safety: every public method may be called from any thread. Snapshots are single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/attachments.h"
#include "engine/compaction.h"
#include "engine/write_ops.h"
#include "engine/write_policy.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

class Catalog;
struct DatabaseImpl;
struct ReadLease;

// ---- Writes -------------------------------------------------------------------------------------

struct WriteOutcome {
  std::optional<Error> error;  // per-op failure (conflict, not_found…); nullopt on success
  std::string rev;             // new rev ("<pos>-<id>", "0-N" for local docs); "" if none
  bool written = false;        // false for a replicated write of already-known revisions
  std::vector<revtree::RevId> purged;  // PurgeDoc: the leaves it removed (maybe none)
};

using WriteDone = std::function<void(Result<std::vector<WriteOutcome>>)>;

// ---- Reads --------------------------------------------------------------------------------------

struct DocRecord {
  std::string id;
  uint64_t seq = 0;  // the doc's latest update seq
  revtree::RevTree tree;
};

// A document with the stored body of its winning revision (Database::doc_with_winner_body).
struct DocWithBody {
  DocRecord doc;
  // Compact JSON text as Snapshot::body() gives it (stubs included); nullopt if we do not hold it.
  std::optional<std::string> winner_body;
};

// A stored revision's content, parts apart (Snapshot::revision()).
struct StoredRevision {
  std::string body;  // compact JSON object text of the user fields (no `_` members)
  std::string atts;  // compact JSON object of attachment stubs (§7.1 stub form); "" when none
};

// The winning revision's attachment stubs (Snapshot::winner_attachments()).
struct WinnerAttachments {
  bool deleted = false;             // the winner is deleted
  std::optional<std::string> atts;  // as StoredRevision::atts; nullopt when we hold no body
};

// One row of an id-ordered or seq-ordered scan. `winner` is "<pos>-<id>".
struct DocRow {
  std::string_view id;
  uint64_t seq = 0;
  std::string_view winner;
  bool deleted = false;              // winner deleted
  std::string_view tree_bytes;       // revtree::RevTree::decode() when leaves are needed
};

struct IdRange {
  std::optional<std::string> start;  // first id (in scan direction), inclusive
  std::optional<std::string> end;    // last id (in scan direction)
  bool inclusive_end = true;
  bool descending = false;
  bool include_deleted = false;      // _all_docs lists live winners only
};

struct LocalDoc {
  std::string id;
  uint64_t rev_counter = 0;
  std::string body;
};

struct DbInfo {
  uint64_t update_seq = 0;
  uint64_t doc_count = 0;
  uint64_t doc_del_count = 0;
  uint64_t purge_seq = 0;
  uint64_t file_size = 0;      // sizes.file: bytes of the db file and its WAL
  // sizes.external: bytes of the leaf revisions' bodies and their attachments (an attachment
  // counts once per revision listing it, as CouchDB's does).
  uint64_t external_size = 0;
  // sizes.active: bytes of the file in use (pages not on the free list) less the share of them
  // old revisions' bodies take (what compaction would drop): an estimate, by their share of the
  // stored bytes. file / active is the garbage ratio compaction acts on.
  uint64_t active_size = 0;
  // What the automatic policy weighs (compaction.h): the bytes of the database's pages (its WAL
  // excluded), and how many of them compaction would give back (old revisions' bodies, and free
  // pages when the file can shrink).
  uint64_t pages_size = 0;
  uint64_t reclaimable_size = 0;
  bool compact_running = false;
};

// A consistent read view. Holds a read-only connection and an open read transaction.
// A scan's visitor may call doc()/body()/local()/count_before() on the same snapshot, but must not
// start another scan on it.
class Snapshot {
 public:
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;
  ~Snapshot();

  // not_found "missing" if the id was never written (a deleted doc is found).
  Result<DocRecord> doc(std::string_view id);
  // The stored body of `rev` of doc `id`: compact JSON text; nullopt if we do not hold it. When the
  // revision has attachments, their stubs are its last member, `"_attachments":{…}` (§7.1), so
  // every plain reader shows them without knowing about attachments; with `encoding_info`
  // (att_encoding_info) a gzip-stored one's stub shows its encoding too.
  std::optional<std::string> body(std::string_view id, const revtree::RevId& rev,
                                  bool encoding_info = false);
  // The same revision with body and attachment stubs apart: for reads that inline attachment data.
  std::optional<StoredRevision> revision(std::string_view id, const revtree::RevId& rev);
  // The winner of doc `id` and its attachment stubs, in one statement (no tree decoded): for
  // attachment reads without a rev. not_found "missing" if the id was never written.
  Result<WinnerAttachments> winner_attachments(std::string_view id);
  // Whether the stubs of `update` resolve against this snapshot's state, by the very rule the
  // writer applies (revision-trees.md §6.3): missing_stub error, or nullopt when they do (or the
  // update has none). For handlers that must refuse a whole request before writing any of it
  // (_bulk_docs answers 412 for the request). The writer still checks at commit time.
  std::optional<Error> check_stubs(const DocUpdate& update);
  // Up to `max` bytes of the attachment body with `digest`, from `offset` (empty past the end);
  // nullopt when this database holds no such body.
  std::optional<std::string> read_attachment(std::string_view digest, uint64_t offset, size_t max);
  // Visits docs in id (memcmp) order; stop by returning false. Row views die after the call.
  void scan_by_id(const IdRange& range, const std::function<bool(const DocRow&)>& visit);
  // Number of rows (live winners only) that sort before `id` in the given direction.
  uint64_t count_before(std::string_view id, bool descending);
  // Visits docs with seq > since in seq order (descending: newest first, `since` ignored).
  void scan_by_seq(uint64_t since, bool descending, const std::function<bool(const DocRow&)>& visit);
  // The highest seq this snapshot sees (0 for a database never written). Unlike
  // Database::update_seq() it belongs to this read transaction, so it agrees with scan_by_seq().
  uint64_t update_seq();
  // Number of docs whose latest seq is > `seq` (the changes a feed at `seq` has not listed yet).
  uint64_t count_after_seq(uint64_t seq);
  // `_revs_diff` for one document (revision-trees.md §10): a rev this database purged (and still
  // records, see PurgeDoc) is not missing, so replication does not bring it back.
  revtree::RevsDiff revs_diff(std::string_view id, const std::vector<revtree::RevId>& revs);

  std::optional<LocalDoc> local(std::string_view id);
  void scan_local(const IdRange& range, const std::function<bool(const LocalDoc&)>& visit);

 private:
  friend struct DatabaseImpl;
  explicit Snapshot(std::unique_ptr<ReadLease> lease);
  std::unique_ptr<ReadLease> lease_;
};

using CommitObserver = std::function<void(uint64_t update_seq)>;

class Database {
 public:
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& name() const;

  // Queues ops for the writer; `done` runs once on a writer thread (see the header comment).
  // Ops apply in order, so two updates of one id in a batch see each other. `writer` is who
  // writes: the write rules (write_policy.h) run here, on the calling thread, before queueing
  // (design docs need a database admin; the database's policy prepares each doc) and in the
  // writer (the policy validates against the current doc); a refused op fails alone.
  // If the database is already closed/deleted (not_found) or unusable after a failed commit
  // (internal), `done` runs at once on the calling thread instead.
  void submit(std::vector<WriteOp> ops, WriteDone done, Writer writer = Writer::node());
  // submit() and wait: for tests, tools and rare admin calls. Never call from an io thread.
  Result<std::vector<WriteOutcome>> write(std::vector<WriteOp> ops,
                                          Writer writer = Writer::node());

  // not_found "Database does not exist." once the database was deleted or closed.
  Result<Snapshot> snapshot();

  // The plain document read (GET without rev=): the doc and its winner's body in one statement,
  // which is its own read transaction, so no snapshot is needed for it to be consistent. Errors:
  // not_found "missing" as Snapshot::doc(), or "Database does not exist." as snapshot().
  // `encoding_info` as Snapshot::body().
  Result<DocWithBody> doc_with_winner_body(std::string_view id, bool encoding_info = false);
  // Snapshot::read_attachment() in its own short read transaction: a large body is sent to a
  // socket in slices, and no read transaction may stay open while the socket drains.
  // not_found "Database does not exist." as snapshot(); nullopt inside when no such body.
  Result<std::optional<std::string>> read_attachment(std::string_view digest, uint64_t offset,
                                                     size_t max);

  // Starts compacting in the background (compaction.h) unless it already is: either way the
  // caller may answer 202, as CouchDB does. `low_priority`: the automatic policy's pace.
  void compact(bool low_priority = false);
  // The running compaction's progress, or the last one's outcome (running false).
  CompactionStatus compaction() const;

  // Reads the file's page counts (a read-only connection, no transaction).
  DbInfo info() const;
  uint64_t purged_infos_limit() const;
  uint64_t update_seq() const;
  uint32_t revs_limit() const;
  std::string security() const;  // compact JSON text of `_security`

  // Called after every commit that changed update_seq, on the writer thread, with no engine lock
  // held. Must be quick and must not call back into this Database's write path.
  void add_commit_observer(CommitObserver observer);

 private:
  friend class Catalog;
  explicit Database(std::unique_ptr<DatabaseImpl> impl);
  std::unique_ptr<DatabaseImpl> impl_;
};

}  // namespace divan::engine
