// The set of databases in a data directory, and the node's persistent identity.
//
// One SQLite file per database, named from the database name by an escaping that keeps every name
// inside the data directory (names may contain '/', '$', '(', ')', '+', '-'). Databases open lazily
// and stay open; delete waits for in-flight work on that database, closes it, then removes its files.
// Observers (subscribe()) hear of every database created, opened and deleted, so the node's commit
// notifier and the replicator watch a database whoever opened it.
//
// Thread-safety: every method may be called from any thread. Observers are called with no catalog
// lock held, one event at a time, in the order of the changes (see subscribe()).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.h"
#include "engine/error.h"
#include "engine/write_policy.h"

namespace divan::engine {

struct CatalogOptions {
  std::filesystem::path data_dir = "data";
  // Group-commit caps: a drain takes at most this much, so one huge queue cannot starve a caller.
  size_t max_batch_ops = 1000;
  size_t max_batch_bytes = 1 << 20;
  size_t writer_threads = 2;     // shared by all databases; each database drains on one at a time
  size_t max_readers_per_db = 8; // read-only connections kept per database
  bool fsync = true;             // synchronous=FULL; false only for benchmarks of the CPU path
  // The write rules of system databases (write_policy.h), asked once per database as it opens.
  WritePolicies write_policies;
  AutoCompaction auto_compaction;  // compaction.h
};

// What happened to a database (Catalog::subscribe).
enum class CatalogEventType {
  kCreated,  // create() made it (it is open)
  kOpened,   // open() opened its file: the first open since start, or since close_all()
  kDeleted,  // remove() deleted it
};

struct CatalogEvent {
  CatalogEventType type = CatalogEventType::kOpened;
  std::string name;
  // The database created or opened. kDeleted: the one that was open when it was deleted (it now
  // refuses work with not_found), or null when it was not open.
  std::shared_ptr<Database> db;
};

using CatalogObserver = std::function<void(const CatalogEvent& event)>;

struct CatalogImpl;

class Catalog {
 public:
  explicit Catalog(CatalogOptions options);
  ~Catalog();  // close_all()

  // CouchDB's name rule (http-api.md §4.1): illegal_database_name with CouchDB's exact reason.
  static Result<void> validate_name(std::string_view name);

  Result<std::shared_ptr<Database>> create(std::string_view name);  // file_exists, illegal name
  Result<std::shared_ptr<Database>> open(std::string_view name);    // not_found if absent
  Result<void> remove(std::string_view name);                       // not_found if absent
  std::vector<std::string> all_dbs() const;                         // sorted by bytes
  // The databases open now (opened since start and not deleted), sorted by name.
  std::vector<std::shared_ptr<Database>> open_databases() const;

  // 32 lowercase hex chars, created on first start and kept in the data directory.
  const std::string& server_uuid() const;

  // Where AttachmentSpool puts the temporary files of uploads being streamed in: `<data>/.spool`,
  // created at open. Spool files are unlinked at creation, so a crash leaves nothing behind.
  const std::filesystem::path& spool_dir() const;

  // Drains every writer and closes every file. Later calls fail with not_found. No events.
  void close_all();

  // Dropping it unsubscribes.
  struct Subscription;

  // Calls `observer` once for each database created, opened or deleted from now on, and first,
  // before subscribe() returns, once (as kOpened) for each database open now. So an observer that
  // watches commits misses none: open() and create() hand a database out only after every observer
  // was told of it (a concurrent open() of the same name waits for that).
  //
  // Calls come one at a time, in the order of the changes, with no catalog lock held, on the
  // thread of the create()/open()/remove() that made the change, or on a thread already busy
  // telling observers of an earlier one; that call returns once its event was delivered. An
  // observer must be quick and must not block; what it throws is swallowed. It may call back into
  // the catalog: what such a nested call changes is reported after the observer returns (the
  // nested call does not wait for that). Dropping the Subscription waits for a call of it running
  // on another thread, and none follows; never drop it inside its own observer. It may outlive
  // the Catalog (it then hears nothing more).
  [[nodiscard]] std::shared_ptr<Subscription> subscribe(CatalogObserver observer);

 private:
  std::unique_ptr<CatalogImpl> impl_;
};

}  // namespace divan::engine
