// Waking feeds the moment a write commits, without polling.
//
// The node owns one Notifier and hands it to whatever serves or follows feeds (the HTTP server, the
// replicator). It observes the engine::Catalog, so every database created or opened, by anyone, is
// watched: the engine calls its commit observers on a writer thread after every commit, and the
// Notifier fans that out to the feeds subscribed to that database. It keeps subscribers as
// weak_ptrs, copies them under its lock and calls them outside it (Beast's chat-multi pattern), so
// an idle feed costs one small entry and no thread. It also keeps the node's recent database events
// (created / updated / deleted, as the catalog and the commits report them) for GET /_db_updates.
//
// Thread-safety: every method may be called from any thread. Wake callbacks run on whatever thread
// committed (or created or deleted the database) and must only hand off (post to the feed's strand):
// never block or call back into the Notifier or the Catalog from them, and never drop their own
// Subscription inside them.
// Dropping a Subscription waits for a wake of it running on another thread, then guarantees no
// further wake: once the last reference is gone the callback (and what it captured) is destroyed
// on the dropping thread. An idle subscription costs ~250 bytes and no thread or timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/catalog.h"
#include "engine/database.h"

namespace divan::changes {

enum class DbEventType { kCreated, kUpdated, kDeleted };

struct DbEvent {
  uint64_t seq = 0;  // node-wide event counter, starts at 1 on each start of the node
  std::string db_name;
  DbEventType type = DbEventType::kUpdated;
};

class Notifier {
 public:
  using Wake = std::function<void()>;
  static constexpr size_t kDefaultMaxDbEvents = 10000;
  // Dropping the subscription unsubscribes.
  struct Subscription;

  // Subscribes to `catalog`'s events (engine/catalog.h): each database open now or created or
  // opened later is watched for commits; creations and deletions are recorded for _db_updates, and
  // a deletion wakes the database's feeds so they can end. Construct it before anything commits
  // to a database it should report. It may outlive the catalog (it then hears of nothing new).
  // The _db_updates log keeps the last `max_db_events` events: readers further behind miss some
  // (CouchDB's own _db_updates is likewise best-effort). Each is ~100 bytes, so ~1 MB by default.
  explicit Notifier(engine::Catalog& catalog, size_t max_db_events = kDefaultMaxDbEvents);
  ~Notifier();

  // `wake` runs after every commit of `db` that moved its update_seq, and once when it is deleted
  // (at once, on the calling thread, when it was deleted already). Subscribe before reading, so a
  // commit between the read and the wait is not missed.
  std::shared_ptr<Subscription> subscribe(const std::shared_ptr<engine::Database>& db, Wake wake);

  // _db_updates: events with seq > since (oldest first, at most `limit`), and subscription to new ones.
  // The log holds the last max_db_events events; a database has at most one "updated" event in it,
  // its latest (a newer commit replaces it under a new seq, so a reader past the old one still sees
  // it).
  std::vector<DbEvent> db_events_since(uint64_t since, size_t limit) const;
  uint64_t last_db_event_seq() const;
  std::shared_ptr<Subscription> subscribe_db_events(Wake wake);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  // Declared after impl_, so it is dropped first: no catalog event runs once ~Notifier goes on.
  std::shared_ptr<engine::Catalog::Subscription> catalog_events_;
};

}  // namespace divan::changes
