// Waking feeds the moment a write commits, without polling.
//
// The engine calls each database's commit observers on a writer thread after every commit; the
// Notifier fans that out to the feeds subscribed to that database. It keeps subscribers as
// weak_ptrs, copies them under its lock and calls them outside it (Beast's chat-multi pattern), so an
// idle feed costs one small entry and no thread. It also keeps the node's recent database events
// (created / updated / deleted) for GET /_db_updates.
//
// Thread-safety: every method may be called from any thread. Wake callbacks run on whatever thread
// committed (or deleted) and must only hand off (post to the feed's strand): never block or call
// back into the Notifier from them, and never drop their own Subscription inside them.
// Dropping a Subscription waits for a wake of it running on another thread, then guarantees no
// further wake: once the last reference is gone the callback (and what it captured) is destroyed
// on the dropping thread. An idle subscription costs ~250 bytes and no thread or timer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // Dropping the subscription unsubscribes.
  struct Subscription;

  Notifier();
  ~Notifier();

  // Makes sure commits of `db` are observed (idempotent; call whenever a handler opens a database).
  void watch(const std::shared_ptr<engine::Database>& db);

  // `wake` runs after every commit of `db` that moved its update_seq, and once when it is deleted
  // (at once, on the calling thread, when database_deleted(db) was already called). Subscribe
  // before reading, so a commit between the read and the wait is not missed.
  std::shared_ptr<Subscription> subscribe(const std::shared_ptr<engine::Database>& db, Wake wake);

  // Database lifecycle, reported by the HTTP layer: wakes the database's feeds (so they can end)
  // and records the event for _db_updates.
  void database_created(std::string_view name);
  void database_deleted(const std::shared_ptr<engine::Database>& db);

  // _db_updates: events with seq > since (oldest first, at most `limit`), and subscription to new ones.
  // The log holds the last 10,000 events; a database has at most one "updated" event in it, its
  // latest (a newer commit replaces it under a new seq, so a reader past the old one still sees it).
  std::vector<DbEvent> db_events_since(uint64_t since, size_t limit) const;
  uint64_t last_db_event_seq() const;
  std::shared_ptr<Subscription> subscribe_db_events(Wake wake);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace divan::changes
