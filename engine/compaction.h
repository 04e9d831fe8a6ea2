// Compaction: how a database gives back the space of its history.
//
// Every revision body written to a database stays readable (GET ?rev=, open_revs, revs_info) until
// compaction, as in CouchDB. Compaction then drops the bodies of non-leaf revisions, releases the
// attachment bodies no remaining revision names, stems trees to revs_limit, and returns the freed
// pages to the file system (PRAGMA incremental_vacuum; files created before schema version 4 are
// not incremental and only reuse their free pages).
//
// It never blocks readers, and never holds the writer long: a background thread per running
// compaction scans ids from short snapshots and hands the writer small steps, each its own
// transaction taken between group commits and ended once it has worked kStepBudget (plus its
// commit). Writes go on meanwhile; a step rereads each doc, so it never undoes one.
//
// The automatic policy (AutoCompaction, like CouchDB's smoosh "ratio_dbs" channel) looks at the
// open databases every `check_interval` and compacts, at low priority (a pause after each step as
// long as the step), one whose pages (WAL excluded) are at least `min_file_size` bytes and at least
// `ratio` times what would remain after compaction (DbInfo::reclaimable_size).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace divan::engine {

// Work per writer step before it commits: the bound on how long compaction holds the writer,
// commit (one fsync) not included.
inline constexpr std::chrono::milliseconds kStepBudget{4};

struct CompactionStatus {
  bool running = false;
  std::string phase;            // "document_copy" (docs), then "file_shrink" (vacuum)
  uint64_t changes_done = 0;    // docs looked at
  uint64_t total_changes = 0;   // docs when it started
  int64_t started_on = 0;       // unix seconds
  int64_t updated_on = 0;
  uint64_t docs_compacted = 0;  // docs whose tree or bodies changed
  double longest_step_ms = 0;   // longest writer step, commit included (wall clock)
  // The same step's CPU time on the writer thread: the wall figure also counts the time the thread
  // waited for a core or for the disk.
  double longest_step_cpu_ms = 0;
  uint64_t steps = 0;
  bool low_priority = false;
  std::string error;            // why the last run stopped early ("" when it did not)
};

struct AutoCompaction {
  bool enabled = true;
  double ratio = 2.0;                        // file size / active size at least this
  uint64_t min_file_size = 16u << 20;        // and the file at least this many bytes
  std::chrono::milliseconds check_interval{60'000};
};

class Database;

// The automatic policy's thread. Stops (and joins) on destruction.
class AutoCompactor {
 public:
  using ListDatabases = std::function<std::vector<std::shared_ptr<Database>>()>;
  AutoCompactor(AutoCompaction policy, ListDatabases list);
  ~AutoCompactor();
  AutoCompactor(const AutoCompactor&) = delete;
  AutoCompactor& operator=(const AutoCompactor&) = delete;

  // Whether the policy would compact a database with these sizes (DbInfo) now.
  static bool wants(const AutoCompaction& policy, uint64_t pages_size, uint64_t reclaimable_size);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace divan::engine
