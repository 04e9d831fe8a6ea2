// The raw SQLite baselines (see scenarios.h).
#include <sqlite3.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "docs.h"
#include "interrupt.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbHandle = std::unique_ptr<sqlite3, CloseDb>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

// A table shaped like a document store: text ids as the key, JSON text as the value.
class BaselineDb {
 public:
  explicit BaselineDb(const std::filesystem::path& file) {
    sqlite3* db = nullptr;
    ok_ = sqlite3_open(file.c_str(), &db) == SQLITE_OK;
    db_.reset(db);
    ok_ = ok_ && exec("PRAGMA journal_mode=WAL") && exec("PRAGMA synchronous=FULL") &&
          exec("CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    sqlite3_stmt* stmt = nullptr;
    ok_ = ok_ && sqlite3_prepare_v2(db_.get(), "INSERT INTO docs (id, body) VALUES (?1, ?2)", -1, &stmt,
                                    nullptr) == SQLITE_OK;
    insert_.reset(stmt);
  }

  bool ok() const { return ok_; }
  const char* error() const { return db_ ? sqlite3_errmsg(db_.get()) : "cannot allocate sqlite3"; }

  bool exec(const char* sql) { return sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  // Inserts the next document; outside BEGIN … COMMIT this is a whole fsync'd transaction.
  bool insert(const std::string& body) {
    char id[24];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(next_id_++));
    sqlite3_bind_text(insert_.get(), 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_.get(), 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    const bool done = sqlite3_step(insert_.get()) == SQLITE_DONE;
    sqlite3_reset(insert_.get());
    return done;
  }

 private:
  DbHandle db_;
  StmtHandle insert_;
  std::uint64_t next_id_ = 0;
  bool ok_ = false;
};

// The type of the filesystem holding `path` ("ext4", "tmpfs", …): fsync costs depend on it.
std::string filesystem_type(const std::filesystem::path& path) {
  std::error_code ec;
  const std::string target = std::filesystem::canonical(path, ec).string();
  std::ifstream mounts("/proc/self/mounts");
  std::string best_point, best_type;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string device, point, type;
    fields >> device >> point >> type;
    const bool contains = target == point || target.starts_with(point == "/" ? point : point + "/");
    if (contains && point.size() >= best_point.size()) {
      best_point = point;
      best_type = type;
    }
  }
  return best_type.empty() ? "?" : best_type;
}

// Runs `rows` inserts per transaction until the window closes; one latency sample per transaction.
// Returns how much of the measured window it covered.
Seconds run_transactions(BaselineDb& db, int rows, const std::string& body, Clock::duration warmup,
                         Clock::duration measure, std::uint64_t& committed, Latencies& latencies) {
  const Window window = Window::starting_now(warmup, measure);
  for (;;) {
    const Clock::time_point start = Clock::now();
    if (start >= window.end || interrupted()) return window.covered_at(start);
    bool ok = rows == 1 || db.exec("BEGIN IMMEDIATE");
    for (int i = 0; ok && i < rows; ++i) ok = db.insert(body);
    if (ok && rows > 1) ok = db.exec("COMMIT");
    if (!ok) {
      print_note("sqlite", std::string("error: ") + db.error());
      return window.covered_at(start);
    }
    const Clock::time_point stop = Clock::now();
    if (window.contains(stop)) {
      committed += static_cast<std::uint64_t>(rows);
      latencies.add(stop - start);
    }
  }
}

void report(const char* name, int rows, const std::string& body, const std::filesystem::path& file,
            Clock::duration warmup, Clock::duration measure) {
  BaselineDb db(file);
  if (!db.ok()) {
    print_note(name, std::string("error: ") + db.error());
    return;
  }
  std::uint64_t committed = 0;
  Latencies latencies;
  const Seconds covered = run_transactions(db, rows, body, warmup, measure, committed, latencies);
  const double rate = covered.count() > 0 ? static_cast<double>(committed) / covered.count() : 0;
  const std::string detail = latencies.summary() + (rows == 1 ? "  per commit" : "  per txn");
  print_figure(name, rate, rows == 1 ? "commits/s" : "rows/s", detail);
}

}  // namespace

void run_sqlite_baseline(const std::filesystem::path& dir, Clock::duration warmup, Clock::duration measure) {
  std::filesystem::create_directories(dir);
  const std::string body = make_doc(1).dump();
  print_note("sqlite", "WAL, synchronous=FULL, " + std::to_string(body.size()) + "-byte JSON rows, in " +
                           dir.string() + " (" + filesystem_type(dir) + ")  (SQLite " + sqlite3_libversion() + ")");
  report("sqlite-commit", 1, body, dir / "commit.db", warmup, measure);
  report("sqlite-txn1000", 1000, body, dir / "txn.db", warmup, measure);
}

}  // namespace divan::bench
