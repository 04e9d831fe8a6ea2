// Catalog: the databases of a data directory, the shared writer pool, the node's uuid, and the
// observers of databases coming and going.
//
// Locking: `CatalogImpl::mu` guards the open databases, the names being removed, the observer list
// and the queue of events not yet delivered. Events are queued under `mu` in the order of the
// changes and delivered with `mu` released by one thread at a time (`deliverer`), which drains the
// queue; each observer runs under its own small mutex, which its Subscription takes to drop it.
// Lock order: an observer's mutex, then `mu` (an observer may call back into the catalog); `mu` is
// never held while an observer runs.
#include "engine/catalog.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "base/thread_annotations.h"
#include "engine/database_internal.h"
#include "engine/names.h"
#include "engine/random.h"

namespace divan::engine {
namespace fs = std::filesystem;

namespace {

// Identity file of the node. Not a "*.sqlite3" name, so all_dbs() never lists it.
constexpr const char* kNodeFile = "_node.json";

// Where attachment uploads are spooled (Catalog::spool_dir()). Not a "*.sqlite3" name either.
constexpr const char* kSpoolDir = ".spool";

// Most file systems cap a file name at 255 bytes; escaping can triple a name's length.
constexpr size_t kMaxFileName = 255;

class AsioWriterPool final : public WriterPool {
 public:
  explicit AsioWriterPool(size_t threads) : pool_(std::max<size_t>(threads, 1)) {}
  ~AsioWriterPool() override { pool_.join(); }
  void post(std::function<void()> task) override { boost::asio::post(pool_, std::move(task)); }
  void join() { pool_.join(); }  // waits for posted work, then the threads exit

 private:
  boost::asio::thread_pool pool_;
};

void fsync_path(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + p.string());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::system_error(err, std::generic_category(), "fsync " + p.string());
}

// spec: http-api.md §3 `GET /` uuid: generated once, persisted, stable across restarts. Written to a
// temporary file, fsynced and renamed, so a crash leaves either no file or a complete one.
std::string load_or_create_uuid(const fs::path& dir) {
  fs::path file = dir / kNodeFile;
  if (fs::exists(file)) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    auto json = nlohmann::json::parse(text.str(), nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("uuid") ||
        !json["uuid"].is_string()) {
      throw std::runtime_error("unreadable node file " + file.string());
    }
    std::string uuid = json["uuid"].get<std::string>();
    if (uuid.size() != 32 || !is_lower_hex(uuid)) {
      throw std::runtime_error("bad uuid in node file " + file.string());
    }
    return uuid;
  }
  std::string uuid = random_uuid();
  fs::path tmp = dir / (std::string(kNodeFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json{{"uuid", uuid}}.dump() << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fsync_path(tmp, O_RDONLY);
  fs::rename(tmp, file);
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
  return uuid;
}

bool is_plain_name(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c == '(' || c == ')' || c == '+' || c == '-' || c == '/';
  });
}

void remove_if_exists(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw std::system_error(ec, "remove " + p.string());
  }
}

}  // namespace

namespace catalog_detail {

// One subscribed observer. The catalog holds it in its list; the Subscription clears it.
struct ObserverEntry {
  Mutex mu;
  CatalogObserver observer GUARDED_BY(mu);  // empty once the subscription is dropped
  std::atomic<bool> dropped{false};  // set before `observer` is cleared: pruned from the list

  void notify(const CatalogEvent& event) {
    MutexLock lock(mu);
    if (!observer) return;
    try {
      observer(event);
    } catch (...) {
      // A throwing observer must not fail the create/open/remove that reports to it.
    }
  }
};

using Observers = std::vector<std::shared_ptr<ObserverEntry>>;

}  // namespace catalog_detail

using catalog_detail::ObserverEntry;
using catalog_detail::Observers;

struct Catalog::Subscription {
  explicit Subscription(std::shared_ptr<ObserverEntry> e) : entry(std::move(e)) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  // Waits for a call running on another thread to return, so none runs after this.
  ~Subscription() {
    entry->dropped = true;
    CatalogObserver doomed;
    {
      MutexLock lock(entry->mu);
      doomed.swap(entry->observer);
    }
    // `doomed` (and what the observer captured) is destroyed here, outside the lock.
  }

  std::shared_ptr<ObserverEntry> entry;
};

struct CatalogImpl {
  CatalogOptions options;
  DatabaseOptions db_options;

  std::shared_ptr<const WritePolicy> policy_for(std::string_view name) const {
    return options.write_policies ? options.write_policies(name) : nullptr;
  }
  std::string uuid;
  fs::path spool_dir;
  std::unique_ptr<AsioWriterPool> pool;

  struct OpenDb {
    std::shared_ptr<Database> db;
    uint64_t event_seq = 0;  // its created/opened event: open() hands it out once that is delivered
  };

  // An event and the observers it goes to (those subscribed when it happened).
  struct QueuedEvent {
    uint64_t seq = 0;
    CatalogEvent event;
    std::shared_ptr<const Observers> to;
  };

  mutable Mutex mu;
  CondVar removed_cv;  // signalled when a remove finishes
  bool closed GUARDED_BY(mu) = false;
  std::map<std::string, OpenDb, std::less<>> open GUARDED_BY(mu);
  // Names whose files are being deleted: create/open/remove of them wait, so nothing opens a file
  // that is about to be unlinked.
  std::set<std::string, std::less<>> removing GUARDED_BY(mu);

  std::unique_ptr<AutoCompactor> auto_compactor;  // null when the policy is off

  // Copy-on-write, so a queued event keeps the list it was sent to.
  std::shared_ptr<const Observers> observers GUARDED_BY(mu) = std::make_shared<const Observers>();
  std::deque<QueuedEvent> events GUARDED_BY(mu);  // not yet delivered, oldest first
  uint64_t last_event_seq GUARDED_BY(mu) = 0;
  uint64_t delivered_seq GUARDED_BY(mu) = 0;  // every event up to it was delivered
  std::optional<std::thread::id> deliverer GUARDED_BY(mu);  // the thread delivering events now
  CondVar delivered_cv;  // signalled when delivered_seq moves

  DbFiles files_for(std::string_view name) const {
    return DbFiles{options.data_dir / (escape_db_name(name) + std::string(kDbFileSuffix))};
  }

  // `lock` holds mu.
  void wait_not_removing(MutexLock& lock, std::string_view name) REQUIRES(mu) {
    while (removing.find(name) != removing.end()) removed_cv.wait(lock);
  }

  // Queues an event for `to` (default: every observer); its seq, or 0 when nobody listens.
  uint64_t queue_event_locked(CatalogEventType type, std::string_view name,
                              std::shared_ptr<Database> db,
                              std::shared_ptr<const Observers> to = nullptr) REQUIRES(mu) {
    if (!to) to = observers;
    if (to->empty()) return 0;
    events.push_back(QueuedEvent{++last_event_seq, CatalogEvent{type, std::string(name), std::move(db)},
                                 std::move(to)});
    return last_event_seq;
  }

  // Returns once the event `seq` (0: none) was delivered, delivering the queue itself unless
  // another thread already is. Called from inside an observer (this thread is delivering), it
  // returns at once: the loop below delivers the nested event after the observer returns.
  // `lock` holds mu; returns with it held, having released it meanwhile.
  void deliver_through(MutexLock& lock, uint64_t seq) REQUIRES(mu) {
    const std::thread::id self = std::this_thread::get_id();
    while (delivered_seq < seq) {
      if (deliverer) {
        if (*deliverer == self) return;
        delivered_cv.wait(lock);
        continue;
      }
      // Drain everything, nested events included: the threads that queued those may not come back.
      deliverer = self;
      while (!events.empty()) {
        QueuedEvent next = std::move(events.front());
        events.pop_front();
        const uint64_t done = next.seq;
        {
          MutexUnlock unlocked(mu, lock);
          for (const auto& entry : *next.to) entry->notify(next.event);
          next = QueuedEvent{};  // drops its Database reference outside the lock
        }
        delivered_seq = done;
        delivered_cv.notify_all();
      }
      deliverer.reset();
    }
  }
};

namespace {

// Escaping can triple a name ('$' → "%24") and SQLite adds "-journal", "-wal" and "-shm": a name
// whose longest companion file exceeds the file system's limit cannot be stored.
bool fits_file_system(const DbFiles& files) {
  return files.db.filename().string().size() + std::string_view("-journal").size() <= kMaxFileName;
}

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace

Catalog::Catalog(CatalogOptions options) : impl_(std::make_unique<CatalogImpl>()) {
  impl_->options = std::move(options);
  const CatalogOptions& o = impl_->options;
  impl_->db_options = DatabaseOptions{std::max<size_t>(o.max_batch_ops, 1), o.max_batch_bytes,
                                      o.max_readers_per_db, o.fsync};
  fs::create_directories(o.data_dir);
  impl_->uuid = load_or_create_uuid(o.data_dir);
  impl_->spool_dir = o.data_dir / kSpoolDir;
  // Spool files are unlinked when created; only the mkstemp fallback can leave one behind (a crash
  // between its create and unlink), and no upload is in flight yet, so empty the directory.
  fs::remove_all(impl_->spool_dir);
  fs::create_directories(impl_->spool_dir);
  impl_->pool = std::make_unique<AsioWriterPool>(o.writer_threads);
  if (o.auto_compaction.enabled) {
    impl_->auto_compactor = std::make_unique<AutoCompactor>(
        o.auto_compaction, [this] { return open_databases(); });
  }
}

Catalog::~Catalog() { close_all(); }

Result<void> Catalog::validate_name(std::string_view name) {
  // spec: http-api.md §4.1.
  static constexpr std::array<std::string_view, 6> kSystem = {
      "_users", "_replicator", "_global_changes", "_dbs", "_nodes", "_metadata"};
  if (std::find(kSystem.begin(), kSystem.end(), name) != kSystem.end()) return {};
  if (is_plain_name(name)) return {};
  for (std::string_view suffix : {std::string_view("/_replicator"), std::string_view("/_users")}) {
    if (name.ends_with(suffix) && is_plain_name(name.substr(0, name.size() - suffix.size()))) {
      return {};
    }
  }
  return fail(Code::kIllegalDatabaseName,
              "Name: '" + std::string(name) +
                  "'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, "
                  "$, (, ), +, -, and / are allowed. Must begin with a letter.");
}

Result<std::shared_ptr<Database>> Catalog::create(std::string_view name) {
  if (auto valid = validate_name(name); !valid) return tl::unexpected(valid.error());
  CatalogImpl& c = *impl_;
  MutexLock lock(c.mu);
  c.wait_not_removing(lock, name);
  if (c.closed) return fail(Code::kNotFound, reason::kNoDatabase);
  if (c.open.find(name) != c.open.end()) {
    return fail(Code::kFileExists, "The database could not be created, the file already exists.");
  }
  DbFiles files = c.files_for(name);
  if (!fits_file_system(files)) {
    return fail(Code::kIllegalDatabaseName, "Name: '" + std::string(name) + "'. Name is too long.");
  }
  if (file_exists(files.db)) {
    return fail(Code::kFileExists, "The database could not be created, the file already exists.");
  }
  // Companions without their db file are leftovers of an interrupted delete; SQLite would replay
  // a stale WAL into the new file.
  remove_if_exists(files.wal());
  remove_if_exists(files.shm());
  remove_if_exists(files.journal());
  std::unique_ptr<DatabaseImpl> impl;
  try {
    impl = std::make_unique<DatabaseImpl>(std::string(name), files, c.db_options, c.pool.get(),
                                          /*create=*/true);
  } catch (...) {
    impl.reset();
    remove_if_exists(files.db);
    remove_if_exists(files.wal());
    remove_if_exists(files.shm());
    throw;
  }
  impl->policy = c.policy_for(name);
  std::shared_ptr<Database> db(new Database(std::move(impl)));
  uint64_t seq = c.queue_event_locked(CatalogEventType::kCreated, name, db);
  c.open.emplace(std::string(name), CatalogImpl::OpenDb{db, seq});
  c.deliver_through(lock, seq);
  return db;
}

Result<std::shared_ptr<Database>> Catalog::open(std::string_view name) {
  CatalogImpl& c = *impl_;
  MutexLock lock(c.mu);
  c.wait_not_removing(lock, name);
  if (c.closed) return fail(Code::kNotFound, reason::kNoDatabase);
  if (auto it = c.open.find(name); it != c.open.end()) {
    std::shared_ptr<Database> db = it->second.db;
    // Opened a moment ago by another thread: not before the observers know it (see subscribe()).
    c.deliver_through(lock, it->second.event_seq);
    return db;
  }
  // spec: http-api.md §4.1: an illegal name that does not exist is simply not found.
  if (!validate_name(name)) return fail(Code::kNotFound, reason::kNoDatabase);
  DbFiles files = c.files_for(name);
  if (!fits_file_system(files) || !file_exists(files.db)) return fail(Code::kNotFound, reason::kNoDatabase);
  auto impl = std::make_unique<DatabaseImpl>(std::string(name), files, c.db_options, c.pool.get(),
                                             /*create=*/false);
  impl->policy = c.policy_for(name);
  std::shared_ptr<Database> db(new Database(std::move(impl)));
  uint64_t seq = c.queue_event_locked(CatalogEventType::kOpened, name, db);
  c.open.emplace(std::string(name), CatalogImpl::OpenDb{db, seq});
  c.deliver_through(lock, seq);
  return db;
}

Result<void> Catalog::remove(std::string_view name) {
  CatalogImpl& c = *impl_;
  std::shared_ptr<Database> db;
  DbFiles files = c.files_for(name);
  {
    MutexLock lock(c.mu);
    c.wait_not_removing(lock, name);
    if (c.closed) return fail(Code::kNotFound, reason::kNoDatabase);
    if (auto it = c.open.find(name); it != c.open.end()) {
      db = std::move(it->second.db);
      c.open.erase(it);
    } else if (!validate_name(name) || !file_exists(files.db)) {
      return fail(Code::kNotFound, reason::kNoDatabase);
    }
    c.removing.emplace(name);
  }
  // Outside the catalog lock: waiting for this database's writer and readers must not stall the
  // other databases. New submits and snapshots on `db` already fail with not_found.
  std::exception_ptr error;
  try {
    if (db) db->impl_->close();
    // Only now that no connection is open: SQLite deletes "-wal" by path when a connection
    // closes, which would damage a re-created database of the same name.
    remove_if_exists(files.db);
    remove_if_exists(files.wal());
    remove_if_exists(files.shm());
    remove_if_exists(files.journal());
  } catch (...) {
    error = std::current_exception();
  }
  {
    MutexLock lock(c.mu);
    c.removing.erase(c.removing.find(name));
    c.removed_cv.notify_all();
    // Queued before anyone can create the name again, so observers hear of the two in order.
    // A failed delete (I/O) is no deletion: the database is closed, its files may remain.
    uint64_t seq = error ? 0 : c.queue_event_locked(CatalogEventType::kDeleted, name, db);
    c.deliver_through(lock, seq);
  }
  if (error) std::rethrow_exception(error);
  return {};
}

std::vector<std::string> Catalog::all_dbs() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(impl_->options.data_dir, ec)) {
    if (auto name = db_name_from_file(entry.path().filename().string())) {
      names.push_back(std::move(*name));
    }
  }
  std::sort(names.begin(), names.end());  // std::string compares like memcmp
  return names;
}

std::vector<std::shared_ptr<Database>> Catalog::open_databases() const {
  MutexLock lock(impl_->mu);
  std::vector<std::shared_ptr<Database>> dbs;
  for (const auto& [name, open] : impl_->open) dbs.push_back(open.db);
  return dbs;
}

const std::string& Catalog::server_uuid() const { return impl_->uuid; }

const std::filesystem::path& Catalog::spool_dir() const { return impl_->spool_dir; }

void Catalog::close_all() {
  CatalogImpl& c = *impl_;
  c.auto_compactor.reset();  // no new compaction starts; running ones stop with their database
  std::map<std::string, CatalogImpl::OpenDb, std::less<>> dbs;
  {
    MutexLock lock(c.mu);
    if (c.closed) return;
    c.closed = true;
    dbs.swap(c.open);
    while (!c.removing.empty()) c.removed_cv.wait(lock);
  }
  for (auto& [name, open] : dbs) open.db->impl_->close();  // drains each writer, closes each file
  c.pool->join();
}

std::shared_ptr<Catalog::Subscription> Catalog::subscribe(CatalogObserver observer) {
  CatalogImpl& c = *impl_;
  auto entry = std::make_shared<ObserverEntry>();
  {
    MutexLock entry_lock(entry->mu);
    entry->observer = std::move(observer);
  }
  auto subscription = std::make_shared<Subscription>(entry);
  auto only_this = std::make_shared<const Observers>(Observers{entry});
  MutexLock lock(c.mu);
  auto next = std::make_shared<Observers>();
  for (const auto& e : *c.observers) {
    if (!e->dropped) next->push_back(e);  // pruned here: the list changes only on subscribe
  }
  next->push_back(entry);
  c.observers = std::move(next);
  // The databases open now, told to this observer alone, queued behind any earlier event.
  uint64_t seq = 0;
  for (const auto& [name, open] : c.open) {
    seq = c.queue_event_locked(CatalogEventType::kOpened, name, open.db, only_this);
  }
  c.deliver_through(lock, seq);
  return subscription;
}

}  // namespace divan::engine
