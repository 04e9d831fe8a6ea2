// The commit notifier: per-database subscriber lists fed by engine commit observers, and the node's
// recent database events for _db_updates, fed by the catalog's events and the commits. See
// notifier.h for the contract.
//
// Locking: one mutex (`Impl::mu`) guards the database entries, the event log and every subscriber
// list; it is held only to copy or edit them, never while a wake runs. Each subscriber has its own
// small mutex, held while its wake runs and while its subscription is dropped, so a dropped
// subscription is never woken afterwards. Lock order: the catalog observer's mutex (catalog events
// run under it), then Impl::mu, then a database's engine lock (add_commit_observer); a subscriber's
// mutex is never held with Impl::mu.
#include "changes/notifier.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "base/thread_annotations.h"

namespace divan::changes {

namespace notifier_detail {

// What a subscription points the notifier at. The notifier holds only weak_ptrs to it.
struct Waiter {
  explicit Waiter(Notifier::Wake w) : wake(std::move(w)) {}
  Mutex mu;
  Notifier::Wake wake GUARDED_BY(mu);  // cleared when the subscription is dropped
};

void wake(const std::shared_ptr<Waiter>& waiter) {
  MutexLock lock(waiter->mu);
  if (!waiter->wake) return;
  try {
    waiter->wake();
  } catch (...) {
    // A throwing callback must not fail the commit that is notifying (we run on a writer thread).
  }
}

void wake_all(const std::vector<std::shared_ptr<Waiter>>& waiters) {
  for (const auto& waiter : waiters) wake(waiter);
}

// Subscribers as weak_ptrs: dropping a subscription costs nothing here; expired entries are pruned
// when the list is walked for a wake, or when it has doubled since the last prune (so a database
// that never commits cannot collect dead entries from feeds that came and went).
class WaiterList {
 public:
  void add(std::weak_ptr<Waiter> waiter) {
    if (list_.size() >= prune_at_) prune();
    list_.push_back(std::move(waiter));
  }

  // Appends the live waiters to `out`, dropping the expired ones.
  void collect(std::vector<std::shared_ptr<Waiter>>& out) {
    size_t kept = 0;
    for (auto& weak : list_) {
      if (auto waiter = weak.lock()) {
        out.push_back(std::move(waiter));
        if (&list_[kept] != &weak) list_[kept] = std::move(weak);
        ++kept;
      }
    }
    shrink(kept);
  }

  bool has_live() const {
    return std::any_of(list_.begin(), list_.end(), [](const auto& w) { return !w.expired(); });
  }

 private:
  // Below this many entries a list is never pruned on add: pruning is then cheaper to skip.
  static constexpr size_t kMinPruneAt = 16;

  void prune() {
    list_.erase(std::remove_if(list_.begin(), list_.end(), [](const auto& w) { return w.expired(); }),
                list_.end());
    shrink(list_.size());
  }

  void shrink(size_t live) {
    list_.resize(live);
    prune_at_ = std::max(kMinPruneAt, 2 * live);
    if (list_.capacity() > 4 * std::max(kMinPruneAt, live)) list_.shrink_to_fit();
  }

  std::vector<std::weak_ptr<Waiter>> list_;
  size_t prune_at_ = kMinPruneAt;
};

}  // namespace notifier_detail

using notifier_detail::Waiter;
using notifier_detail::WaiterList;

struct Notifier::Subscription {
  explicit Subscription(std::shared_ptr<Waiter> w) : waiter(std::move(w)) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  // Waits for a wake running on another thread to return, so none runs after this.
  ~Subscription() {
    Wake doomed;
    {
      MutexLock lock(waiter->mu);
      doomed.swap(waiter->wake);
    }
    // `doomed` (and what the callback captured) is destroyed here, outside the lock.
  }

  std::shared_ptr<Waiter> waiter;
};

namespace {

// Below this many database entries the map is never swept for databases that are gone.
constexpr size_t kMinSweepAt = 64;

}  // namespace

struct Notifier::Impl : std::enable_shared_from_this<Notifier::Impl> {
  struct DbEntry {
    std::weak_ptr<engine::Database> db;  // to tell a freed database from a new one at its address
    std::string name;
    bool deleted = false;  // the catalog deleted it: later subscribers are woken at once
    WaiterList waiters;
  };

  explicit Impl(size_t max_db_events) : max_events(std::max<size_t>(max_db_events, 1)) {}

  const size_t max_events;  // the _db_updates log's length
  mutable Mutex mu;
  // Keyed by address: the commit observer of a database knows only which one it belongs to.
  std::unordered_map<const engine::Database*, DbEntry> dbs GUARDED_BY(mu);
  size_t sweep_at GUARDED_BY(mu) = kMinSweepAt;

  std::map<uint64_t, DbEvent> events GUARDED_BY(mu);  // by seq
  std::unordered_map<std::string, uint64_t> updated GUARDED_BY(mu);  // db -> its "updated" event
  uint64_t last_event_seq GUARDED_BY(mu) = 0;
  WaiterList event_waiters GUARDED_BY(mu);

  // The entry of `db`, registering the commit observer the first time this Database is seen.
  // Waiters of a stale entry (a freed database whose address `db` reuses) go to `stale`.
  DbEntry& watch_locked(const std::shared_ptr<engine::Database>& db,
                        std::vector<std::shared_ptr<Waiter>>& stale) REQUIRES(mu) {
    if (dbs.size() >= sweep_at) sweep_locked();
    DbEntry& entry = dbs[db.get()];
    if (entry.db.lock() == db) return entry;
    entry.waiters.collect(stale);
    entry = DbEntry{};
    entry.db = db;
    entry.name = db->name();
    // Observers cannot be removed, and the Notifier may go first: hold it weakly. The Database
    // calls its observers only while alive, so `key` names it for as long as the call lasts.
    db->add_commit_observer([weak = weak_from_this(), key = db.get()](uint64_t) {
      if (auto impl = weak.lock()) impl->on_commit(key);
    });
    return entry;
  }

  // Drops entries of freed databases that nobody waits on.
  void sweep_locked() REQUIRES(mu) {
    for (auto it = dbs.begin(); it != dbs.end();) {
      if (it->second.db.expired() && !it->second.waiters.has_live()) {
        it = dbs.erase(it);
      } else {
        ++it;
      }
    }
    sweep_at = std::max(kMinSweepAt, 2 * dbs.size());
  }

  // Makes sure commits of `db` are observed (idempotent).
  void watch(const std::shared_ptr<engine::Database>& db) {
    std::vector<std::shared_ptr<Waiter>> stale;
    {
      MutexLock lock(mu);
      watch_locked(db, stale);
    }
    notifier_detail::wake_all(stale);
  }

  // Runs on the thread that created, opened or deleted a database (engine/catalog.h).
  void on_catalog_event(const engine::CatalogEvent& event) {
    switch (event.type) {
      case engine::CatalogEventType::kCreated:
        watch(event.db);
        database_created(event.name);
        break;
      case engine::CatalogEventType::kOpened:
        watch(event.db);
        break;
      case engine::CatalogEventType::kDeleted:
        database_deleted(event.name, event.db);
        break;
    }
  }

  void database_created(const std::string& name) {
    std::vector<std::shared_ptr<Waiter>> to_wake;
    {
      MutexLock lock(mu);
      add_event_locked(name, DbEventType::kCreated, to_wake);
    }
    notifier_detail::wake_all(to_wake);
  }

  // Wakes the feeds of `db` (null: it was not open, so nobody holds it) so they can end, and
  // records the event.
  void database_deleted(const std::string& name, const std::shared_ptr<engine::Database>& db) {
    std::vector<std::shared_ptr<Waiter>> to_wake;
    {
      MutexLock lock(mu);
      if (db) {
        auto it = dbs.find(db.get());
        if (it != dbs.end() && it->second.db.lock() == db) {
          it->second.deleted = true;
          it->second.waiters.collect(to_wake);
        } else {
          // Never watched: remember the deletion for feeds that subscribe to this object later.
          if (it != dbs.end()) it->second.waiters.collect(to_wake);  // stale entry
          DbEntry entry;
          entry.db = db;
          entry.name = name;
          entry.deleted = true;
          dbs.insert_or_assign(db.get(), std::move(entry));
        }
      }
      add_event_locked(name, DbEventType::kDeleted, to_wake);
    }
    notifier_detail::wake_all(to_wake);
  }

  // Runs on the writer thread after a commit of the database at `key`.
  void on_commit(const engine::Database* key) {
    std::vector<std::shared_ptr<Waiter>> to_wake;
    {
      MutexLock lock(mu);
      auto it = dbs.find(key);
      if (it == dbs.end()) return;
      it->second.waiters.collect(to_wake);
      add_event_locked(it->second.name, DbEventType::kUpdated, to_wake);
    }
    notifier_detail::wake_all(to_wake);
  }

  // Appends an event and collects the _db_updates waiters. A database has at most one "updated"
  // event in the log, its latest: a new one replaces the old (under a new seq, so a reader already
  // past the old one still sees it). That bounds a hot database to one entry without hiding an
  // update from anyone.
  void add_event_locked(const std::string& name, DbEventType type,
                        std::vector<std::shared_ptr<Waiter>>& to_wake) REQUIRES(mu) {
    uint64_t seq = ++last_event_seq;
    if (type == DbEventType::kUpdated) {
      auto [it, inserted] = updated.try_emplace(name, seq);
      if (!inserted) {
        events.erase(it->second);
        it->second = seq;
      }
    }
    events.emplace(seq, DbEvent{seq, name, type});
    while (events.size() > max_events) {
      auto oldest = events.begin();
      if (oldest->second.type == DbEventType::kUpdated) updated.erase(oldest->second.db_name);
      events.erase(oldest);
    }
    event_waiters.collect(to_wake);
  }
};

Notifier::Notifier(engine::Catalog& catalog, size_t max_db_events)
    : impl_(std::make_shared<Impl>(max_db_events)) {
  // Weakly, as the commit observers: safe whatever the order in which the members go.
  catalog_events_ = catalog.subscribe([weak = std::weak_ptr<Impl>(impl_)](const engine::CatalogEvent& event) {
    if (auto impl = weak.lock()) impl->on_catalog_event(event);
  });
}

Notifier::~Notifier() = default;

std::shared_ptr<Notifier::Subscription> Notifier::subscribe(
    const std::shared_ptr<engine::Database>& db, Wake wake) {
  auto waiter = std::make_shared<Waiter>(std::move(wake));
  auto subscription = std::make_shared<Subscription>(waiter);
  std::vector<std::shared_ptr<Waiter>> to_wake;
  {
    MutexLock lock(impl_->mu);
    Impl::DbEntry& entry = impl_->watch_locked(db, to_wake);
    entry.waiters.add(waiter);
    if (entry.deleted) to_wake.push_back(waiter);  // deleted already: the feed should end now
  }
  notifier_detail::wake_all(to_wake);
  return subscription;
}

std::vector<DbEvent> Notifier::db_events_since(uint64_t since, size_t limit) const {
  MutexLock lock(impl_->mu);
  std::vector<DbEvent> out;
  for (auto it = impl_->events.upper_bound(since); it != impl_->events.end() && out.size() < limit;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

uint64_t Notifier::last_db_event_seq() const {
  MutexLock lock(impl_->mu);
  return impl_->last_event_seq;
}

std::shared_ptr<Notifier::Subscription> Notifier::subscribe_db_events(Wake wake) {
  auto waiter = std::make_shared<Waiter>(std::move(wake));
  auto subscription = std::make_shared<Subscription>(waiter);
  MutexLock lock(impl_->mu);
  impl_->event_waiters.add(waiter);
  return subscription;
}

}  // namespace divan::changes
