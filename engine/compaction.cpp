// Compaction (compaction.h): the thread that walks a database and the writer steps it hands out.
#include "engine/compaction.h"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/database_internal.h"
#include "engine/write_txn.h"

namespace divan::engine {
namespace {

using Clock = std::chrono::steady_clock;

// Ids read per snapshot: the scan's read transaction stays short, so it never pins the WAL long.
constexpr size_t kIdsPerScan = 512;
// Free pages given back per PRAGMA incremental_vacuum call (4 KiB each); a step makes calls until
// its budget is spent (256 pages at once took 8-14 ms).
constexpr int kPagesPerVacuumCall = 32;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What compacting `tree` would leave: stemmed to `limit`, bodies on leaves only.
revtree::RevTree compacted(revtree::RevTree tree, uint32_t limit) {
  tree.stem(limit);
  tree.drop_internal_bodies();
  return tree;
}

// Compacts docs ids[from…] until the step budget is spent; returns the index reached.
size_t compact_docs(WriteTxn& txn, const std::vector<std::string>& ids, size_t from,
                    uint64_t& docs_compacted) {
  const auto deadline = Clock::now() + kStepBudget;
  size_t i = from;
  while (i < ids.size()) {
    const std::string& id = ids[i++];
    std::optional<StoredDoc> old = load_doc(txn, id);
    if (!old) continue;  // purged meanwhile
    revtree::RevTree tree = compacted(old->tree, txn.state.revs_limit);
    if (tree == old->tree) continue;  // nothing to drop (written since the scan, maybe)
    delete_dropped_bodies(txn, id, old->tree, tree);
    update_tree(txn, id, tree);
    ++docs_compacted;
    if (Clock::now() >= deadline) break;
  }
  return i;
}

class CompactionRun {
 public:
  CompactionRun(DatabaseImpl& db, bool low_priority) : db_(db), low_priority_(low_priority) {}

  void run() {
    std::string error = copy_documents();
    if (error.empty() && !stopped()) error = shrink_file();
    if (error.empty() && !stopped()) error = step(MaintenanceStep{{}, /*checkpoint=*/true, {}});
    MutexLock lock(db_.mu);
    db_.compaction.running = false;
    db_.compaction.updated_on = unix_now();
    db_.compaction.error = stopped() && error.empty() ? "stopped" : error;
  }

 private:
  bool stopped() const { return db_.stop_compaction.load(); }

  // Hands `s` to the writer and waits for it. Returns its error ("" on success).
  std::string step(MaintenanceStep s) {
    auto promise = std::make_shared<std::promise<std::string>>();
    auto future = promise->get_future();
    s.done = [promise](const std::string& error) { promise->set_value(error); };
    auto started = Clock::now();
    if (!db_.submit_maintenance(std::move(s))) {
      db_.stop_compaction = true;
      return "";
    }
    std::string error = future.get();
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    {
      MutexLock lock(db_.mu);
      ++db_.compaction.steps;
      db_.compaction.updated_on = unix_now();
    }
    if (low_priority_) {
      // The policy's compactions take at most about half of the writer.
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(std::max(ms, 5.0)));
    }
    return error;
  }

  // The ids after `after` (all from the start when empty) whose tree compaction would change,
  // from one short snapshot; `scanned` gets how many rows were looked at, `last` the last id.
  Result<std::vector<std::string>> scan(const std::string& after, uint32_t limit, size_t& scanned,
                                        std::string& last) {
    auto snapshot = db_.snapshot();
    if (!snapshot) return tl::unexpected(snapshot.error());
    IdRange range;
    range.include_deleted = true;
    if (!after.empty()) range.start = after;
    std::vector<std::string> ids;
    scanned = 0;
    snapshot->scan_by_id(range, [&](const DocRow& row) {
      if (!after.empty() && row.id == after) return true;  // the range start is inclusive
      ++scanned;
      last = std::string(row.id);
      auto tree = revtree::RevTree::decode(row.tree_bytes);
      if (tree && !(compacted(*tree, limit) == *tree)) ids.push_back(last);
      return scanned < kIdsPerScan;
    });
    return ids;
  }

  std::string copy_documents() {
    std::string after;
    while (!stopped()) {
      size_t scanned = 0;
      std::string last;
      uint32_t limit = db_.state().revs_limit;
      auto ids = scan(after, limit, scanned, last);
      if (!ids) return ids.error().reason;
      // Shared with the steps, which may outlive this frame only if the database closes first.
      auto todo = std::make_shared<std::vector<std::string>>(std::move(*ids));
      auto reached = std::make_shared<size_t>(0);
      while (*reached < todo->size() && !stopped()) {
        auto compacted_docs = std::make_shared<uint64_t>(0);
        std::string error = step(MaintenanceStep{
            [todo, reached, compacted_docs](WriteTxn& txn) {
              *reached = compact_docs(txn, *todo, *reached, *compacted_docs);
            },
            false, {}});
        if (!error.empty()) return error;
        MutexLock lock(db_.mu);
        db_.compaction.docs_compacted += *compacted_docs;
      }
      {
        MutexLock lock(db_.mu);
        db_.compaction.changes_done += scanned;
        db_.compaction.total_changes =
            std::max(db_.compaction.total_changes, db_.compaction.changes_done);
      }
      if (scanned < kIdsPerScan) break;
      after = std::move(last);
    }
    return "";
  }

  // Gives the free pages back to the file system, a few at a time.
  std::string shrink_file() {
    if (!db_.state().incremental_vacuum) return "";
    {
      MutexLock lock(db_.mu);
      db_.compaction.phase = "file_shrink";
    }
    auto free_pages = std::make_shared<int64_t>(1);
    while (*free_pages > 0 && !stopped()) {
      std::string error = step(MaintenanceStep{
          [free_pages](WriteTxn& txn) {
            const auto deadline = Clock::now() + kStepBudget;
            do {
              sqlite::Use vacuum(txn.conn.prepare("PRAGMA incremental_vacuum(" +
                                                  std::to_string(kPagesPerVacuumCall) + ")"));
              while (vacuum->step()) {
              }
              sqlite::Use q(txn.conn.prepare("PRAGMA freelist_count"));
              *free_pages = q->step() ? q->column_int(0) : 0;
            } while (*free_pages > 0 && Clock::now() < deadline);
          },
          false, {}});
      if (!error.empty()) return error;
    }
    return "";
  }

  DatabaseImpl& db_;
  const bool low_priority_;
};

}  // namespace

void DatabaseImpl::start_compaction(bool low_priority) {
  std::thread finished;
  {
    MutexLock lock(mu);
    if (closed || compaction.running) return;  // CouchDB answers 202 either way
    DbState s = published;
    compaction = CompactionStatus{};
    compaction.running = true;
    compaction.phase = "document_copy";
    compaction.total_changes = s.doc_count + s.doc_del_count;
    compaction.started_on = compaction.updated_on = unix_now();
    compaction.low_priority = low_priority;
    stop_compaction = false;
    finished = std::move(compactor);  // a previous run's thread, already at its end
    compactor = std::thread([this, low_priority] { CompactionRun(*this, low_priority).run(); });
  }
  if (finished.joinable()) finished.join();
}

// ---- The automatic policy ------------------------------------------------------------------------

struct AutoCompactor::State {
  AutoCompaction policy;
  ListDatabases list;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;

  void run() {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, policy.check_interval, [this] { return stop; })) {
      lock.unlock();
      check();
      lock.lock();
    }
  }

  // At most one automatic compaction at a time: they share the disk with every writer.
  void check() {
    std::vector<std::shared_ptr<Database>> dbs = list();
    for (const auto& db : dbs) {
      if (db->compaction().running) return;
    }
    for (const auto& db : dbs) {
      DbInfo info = db->info();
      if (wants(policy, info.pages_size, info.reclaimable_size)) {
        db->compact(/*low_priority=*/true);
        return;
      }
    }
  }
};

AutoCompactor::AutoCompactor(AutoCompaction policy, ListDatabases list)
    : state_(std::make_shared<State>()) {
  state_->policy = policy;
  state_->list = std::move(list);
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

AutoCompactor::~AutoCompactor() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->thread.join();
}

bool AutoCompactor::wants(const AutoCompaction& policy, uint64_t pages_size,
                          uint64_t reclaimable_size) {
  if (pages_size < policy.min_file_size || reclaimable_size == 0) return false;
  uint64_t remaining = pages_size - std::min(reclaimable_size, pages_size);
  return static_cast<double>(pages_size) >= policy.ratio * static_cast<double>(remaining);
}

CompactionStatus DatabaseImpl::compaction_status() const {
  MutexLock lock(mu);
  return compaction;
}

}  // namespace divan::engine
