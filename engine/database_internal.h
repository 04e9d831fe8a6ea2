// Engine-private: what a Database is made of (its writer queue, writer connection and read pool).
//
// Locking: one mutex per database (`mu`) guards the queue, the drain flag, the read pool bookkeeping,
// the published counters and the observer list. The writer connection and TxnState are touched only
// by the drain, and at most one drain per database runs at a time (`drain_scheduled`), so they need
// no lock. SQLite work never happens under `mu`, except opening a connection at database open.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/thread_annotations.h"
#include "engine/compaction.h"
#include "engine/database.h"
#include "engine/write_policy.h"
#include "engine/sqlite.h"

namespace divan::engine {

// How long a connection waits for a lock before SQLITE_BUSY. Within one process the writer never
// contends with itself and WAL readers never block it; this only covers WAL recovery after a crash
// and an outside process (e.g. the sqlite3 CLI) holding the file.
inline constexpr const char* kBusyTimeout = "PRAGMA busy_timeout = 5000";

// The Catalog's shared writer threads. Implemented over an asio::thread_pool in catalog.cpp.
class WriterPool {
 public:
  virtual ~WriterPool() = default;
  virtual void post(std::function<void()> task) = 0;
};

struct DatabaseOptions {
  size_t max_batch_ops = 1000;
  size_t max_batch_bytes = 1 << 20;
  size_t max_readers = 8;
  bool fsync = true;
};

// The db file and the two files SQLite keeps beside it in WAL mode.
struct DbFiles {
  std::filesystem::path db;
  std::filesystem::path wal() const { return db.string() + "-wal"; }
  std::filesystem::path shm() const { return db.string() + "-shm"; }
  std::filesystem::path journal() const { return db.string() + "-journal"; }
};

// Committed, in-memory view of the database's counters and settings (published after each commit).
struct DbState {
  uint64_t update_seq = 0;
  uint64_t doc_count = 0;
  uint64_t doc_del_count = 0;
  // Bytes of every stored revision's body plus its attachments' lengths (meta "external_size",
  // its name from when only leaves were stored), and the part of it held by non-leaf revisions
  // (what compaction drops). sizes.external is their difference.
  uint64_t stored_size = 0;
  uint64_t history_size = 0;
  uint64_t history_body_size = 0;  // the bodies alone: attachments may be shared with leaves
  uint64_t purge_seq = 0;
  uint64_t purged_infos_limit = 1000;
  uint32_t revs_limit = 1000;
  bool incremental_vacuum = false;  // the file's auto_vacuum is INCREMENTAL
  std::string security;
};

struct PendingBatch {
  std::vector<WriteOp> ops;
  WriteDone done;
  Writer writer;  // who submitted it: the write rules depend on it (write_policy.h)
  // Per op, an error it was refused with before it was queued (empty: none was).
  std::vector<std::optional<Error>> refused;
  size_t bytes = 0;
  // The distinct spooled (on-disk) attachment bodies its ops carry: staged into the file before
  // the batch joins a group (writer.cpp).
  std::vector<const AttachmentBody*> spooled;
  // Body rows staged (or found already stored) for those: kept out of sweep() until its group.
  std::vector<int64_t> pins;
};

// A batch set aside while its spooled bodies are copied in, a short transaction at a time.
struct StagingBatch {
  PendingBatch batch;
  size_t next = 0;      // index in batch.spooled of the body being copied
  int64_t row = 0;      // its unpublished row (0: not started)
  uint64_t offset = 0;  // bytes of it copied so far
};

struct WriteTxn;  // write_txn.h

// A compaction step (compaction.cpp): its own short write transaction, taken by a drain after its
// group (one per drain, as staging), so writes interleave with compaction.
struct MaintenanceStep {
  // Runs inside BEGIN IMMEDIATE … COMMIT; throws on I/O errors (the step then rolls back).
  std::function<void(WriteTxn&)> run;
  // Instead of `run`: PRAGMA wal_checkpoint(TRUNCATE), outside any transaction.
  bool checkpoint = false;
  // Called on the writer thread with the error, or "" on success.
  std::function<void(const std::string& error)> done;
};

// A read-only connection leased to one Snapshot, with its read transaction open.
struct ReadLease {
  DatabaseImpl* db = nullptr;
  std::unique_ptr<sqlite::Connection> conn;
  ~ReadLease();  // ends the read transaction and hands the connection back to the pool
};

struct DatabaseImpl {
  // Opens (or, with `create`, creates) the file, sets the WAL pragmas, creates the schema if needed
  // and loads the counters. Throws sqlite::Error / std::runtime_error.
  DatabaseImpl(std::string name, DbFiles files, const DatabaseOptions& options, WriterPool* pool,
               bool create);
  ~DatabaseImpl();  // close()

  // Refuses new writes and snapshots, waits for the queue to drain and for every leased read
  // connection to come back, then closes all connections. Idempotent. Afterwards no connection of
  // this database is open, so its files may be deleted.
  // REQUIRES: not called from a writer thread or while holding a Snapshot of this database.
  void close();

  void submit(std::vector<WriteOp> ops, WriteDone done, Writer writer);
  // Queues a step for the writer; false (and `done` never called) once the database is closed.
  bool submit_maintenance(MaintenanceStep step);
  // Starts the compaction thread (compaction.cpp) unless one runs or the database is closed.
  void start_compaction(bool low_priority);
  CompactionStatus compaction_status() const;
  // A read-only connection from the pool (or a new one beyond it), with no transaction open.
  Result<std::unique_ptr<ReadLease>> lease_reader();
  Result<Snapshot> snapshot();
  DbState state() const;

  // The drain: runs on a writer thread, at most one at a time per database.
  void drain();
  void return_reader(std::unique_ptr<sqlite::Connection> conn);

  const std::string name;
  const DbFiles files;
  const DatabaseOptions options;
  WriterPool* const pool;
  // The database's write rules (write_policy.h); null: none beyond the built-in ones. Set by the
  // catalog before the database is handed out, never changed afterwards.
  std::shared_ptr<const WritePolicy> policy;

  mutable Mutex mu;
  CondVar idle_cv;  // signalled when a drain ends or a lease comes back
  bool closed GUARDED_BY(mu) = false;
  bool poisoned GUARDED_BY(mu) = false;  // a COMMIT failed; writes refused until reopen
  bool drain_scheduled GUARDED_BY(mu) = false;  // a drain is posted or running
  std::deque<PendingBatch> queue GUARDED_BY(mu);
  size_t leased GUARDED_BY(mu) = 0;  // connections out with snapshots (or opening)
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers GUARDED_BY(mu);
  DbState published GUARDED_BY(mu);
  std::atomic<uint64_t> update_seq{0};  // mirror of published.update_seq for lock-free reads
  // Copy-on-write so the drain can call observers without holding mu.
  std::shared_ptr<const std::vector<CommitObserver>> observers GUARDED_BY(mu);
  std::deque<MaintenanceStep> maintenance GUARDED_BY(mu);
  // The compaction thread (joined by the next start_compaction() or by close()), its stop flag
  // and what it reports.
  std::thread compactor GUARDED_BY(mu);
  std::atomic<bool> stop_compaction{false};
  CompactionStatus compaction GUARDED_BY(mu);

  // Drain-only state (see the locking note at the top).
  std::unique_ptr<sqlite::Connection> writer;
  DbState committed;  // what the writer knows is on disk; `published` copies it after each commit
  // Staging (writer.cpp): batches whose spooled bodies are being copied in, in arrival order, and
  // those fully copied, waiting for the next group. A drain stays scheduled while either is
  // non-empty, so close() waits for them like for the queue.
  std::deque<StagingBatch> staging;
  std::vector<PendingBatch> staged;
  // A group or staging step failed after rows were staged: the next group sweeps even when it
  // releases nothing.
  bool sweep_pending = false;

  // Writer steps of drain(): one group transaction (completes its batches), and one staging
  // transaction for the first staging batch.
  void commit_group(std::vector<PendingBatch>& group, bool was_poisoned);
  void stage_step();
  void maintenance_step(MaintenanceStep& step);
  // Row ids the sweep must keep: those pinned by batches not yet committed.
  std::unordered_set<int64_t> pinned_rows() const;
};

}  // namespace divan::engine
