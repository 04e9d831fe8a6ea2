// changes::Notifier: wake-ups after commits (from writer threads), unsubscribe, database deletion,
// the cost of idle subscriptions, the _db_updates event log, and what it learns from the catalog.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

#include "changes/notifier.h"
#include "engine_test_util.h"

// Counting allocator for the memory test: bytes and blocks requested while `g_counting` is set.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_bytes{0};
std::atomic<size_t> g_blocks{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_bytes.fetch_add(n, std::memory_order_relaxed);
    g_blocks.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace divan::changes::test {
namespace {

using namespace divan::engine::test;
using engine::Catalog;
using namespace std::chrono_literals;

using Strings = std::vector<std::string>;

// "seq:db:type" of each event.
Strings names(const std::vector<DbEvent>& list) {
  Strings out;
  for (const auto& e : list) {
    const char* type = e.type == DbEventType::kCreated   ? "created"
                       : e.type == DbEventType::kDeleted ? "deleted"
                                                         : "updated";
    out.push_back(std::to_string(e.seq) + ":" + e.db_name + ":" + type);
  }
  return out;
}

// Counts wakes; waits for a count with a deadline so a missing wake fails instead of hanging.
struct WakeCounter {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;

  Notifier::Wake callback() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu);
      ++count;
      cv.notify_all();
    };
  }
  bool wait_for(int n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return count >= n; });
  }
  int value() {
    std::lock_guard<std::mutex> lock(mu);
    return count;
  }
};

TEST_CASE("notifier: a commit on another thread wakes the subscriber") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("wake");
  Notifier notifier(catalog);  // after the database opened: the catalog tells it of open ones too
  WakeCounter woken;
  auto sub = notifier.subscribe(db, woken.callback());
  CHECK(woken.value() == 0);

  std::thread writer([&] { write_one(*db, edit("a", "{}")); });
  CHECK(woken.wait_for(1));
  writer.join();

  // Writes that do not move update_seq (a _local doc, a known revision) wake nobody; the next
  // real commit does, exactly once.
  write_one(*db, local_put("_local/x", 0, "{}"));
  auto rev = doc_tree(*db, "a").winner().rev;
  write_one(*db, replicated("a", rev.pos, {rev.id}));
  write_one(*db, edit("b", "{}"));
  CHECK(woken.wait_for(2));
  CHECK(woken.value() == 2);

  // A database is watched once: another open or subscription registers no second observer.
  REQUIRE(catalog.open("wake").has_value());
  WakeCounter second;
  auto sub2 = notifier.subscribe(db, second.callback());
  write_one(*db, edit("c", "{}"));
  CHECK(second.wait_for(1));
  CHECK(woken.wait_for(3));
  std::this_thread::sleep_for(20ms);
  CHECK(woken.value() == 3);
  CHECK(second.value() == 1);
}

TEST_CASE("notifier: no wake after the subscription is dropped") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("drop");
  Notifier notifier(catalog);
  WakeCounter dropped, sentinel;
  auto sub = notifier.subscribe(db, dropped.callback());
  auto sentinel_sub = notifier.subscribe(db, sentinel.callback());
  sub.reset();
  write_one(*db, edit("a", "{}"));
  // One commit wakes every subscriber of it in one pass: once the sentinel woke, that pass is over.
  CHECK(sentinel.wait_for(1));
  CHECK(dropped.value() == 0);

  // Dropping concurrently with commits: once reset() returns, the callback never runs again.
  std::atomic<bool> dead{false};
  std::atomic<int> late{0};
  auto racing = notifier.subscribe(db, [&] {
    if (dead.load()) late.fetch_add(1);
  });
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) write_one(*db, edit(std::string("r").append(std::to_string(i)), "{}"));
  });
  std::this_thread::sleep_for(2ms);
  racing.reset();
  dead.store(true);
  writer.join();
  CHECK(late.load() == 0);
}

TEST_CASE("notifier: deleting a database wakes its feeds, also ones subscribing later") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("doomed");
  Notifier notifier(catalog);
  WakeCounter woken;
  auto sub = notifier.subscribe(db, woken.callback());
  REQUIRE(catalog.remove("doomed").has_value());  // the catalog tells the notifier
  CHECK(woken.value() == 1);                       // before remove() returned
  CHECK_FALSE(db->snapshot().has_value());  // what the feed finds when it looks

  WakeCounter late;
  auto late_sub = notifier.subscribe(db, late.callback());
  CHECK(late.value() == 1);  // at once, on this thread

  // A deleted database nobody subscribed to.
  auto other = *catalog.create("other");
  REQUIRE(catalog.remove("other").has_value());
  WakeCounter after;
  auto after_sub = notifier.subscribe(other, after.callback());
  CHECK(after.value() == 1);

  // A re-created database of the same name is a new object with its own feeds.
  auto again = *catalog.create("doomed");
  WakeCounter fresh;
  auto fresh_sub = notifier.subscribe(again, fresh.callback());
  CHECK(fresh.value() == 0);
  write_one(*again, edit("a", "{}"));
  CHECK(fresh.wait_for(1));
}

TEST_CASE("notifier: commits after the Notifier is gone are harmless") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("outlive");
  {
    Notifier notifier(catalog);
    WakeCounter woken;
    auto sub = notifier.subscribe(db, woken.callback());
    write_one(*db, edit("a", "{}"));
    CHECK(woken.wait_for(1));
  }
  write_one(*db, edit("b", "{}"));  // the observer finds its Notifier gone and does nothing
  CHECK(db->update_seq() == 2);
  // It unsubscribed from the catalog too.
  auto later = *catalog.create("later");
  write_one(*later, edit("a", "{}"));
  REQUIRE(catalog.remove("later").has_value());
}

TEST_CASE("notifier: may outlive the catalog") {
  TempDir dir;
  std::optional<Notifier> notifier;
  {
    Catalog catalog(options_for(dir));
    notifier.emplace(catalog);
    auto db = *catalog.create("gone");
    write_one(*db, edit("a", "{}"));
    for (int i = 0; i < 500 && notifier->last_db_event_seq() < 2; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    CHECK(notifier->last_db_event_seq() == 2);  // created, updated
  }
  CHECK(notifier->db_events_since(0, 10).size() == 2);
  notifier.reset();
}

TEST_CASE("notifier: thousands of idle subscriptions cost little memory, and one commit wakes all") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("many");
  Notifier notifier(catalog);
  constexpr int kSubs = 10000;
  std::atomic<int> woken{0};
  // A callback shaped like a feed's: it holds a weak reference to its session.
  auto session = std::make_shared<int>(0);
  std::vector<std::shared_ptr<Notifier::Subscription>> subs;
  subs.reserve(kSubs);

  g_bytes = 0;
  g_blocks = 0;
  g_counting = true;
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(notifier.subscribe(db, [weak = std::weak_ptr<int>(session), &woken] {
      if (weak.lock()) woken.fetch_add(1, std::memory_order_relaxed);
    }));
  }
  g_counting = false;
  // glibc malloc adds ~16 bytes of header per block; the subscriber list's growth is included.
  double per_sub = static_cast<double>(g_bytes + 16 * g_blocks) / kSubs;
  std::printf("notifier: %d idle subscriptions ~ %.0f bytes each (%.1f allocations each)\n", kSubs,
              per_sub, static_cast<double>(g_blocks) / kSubs);
  CHECK(per_sub < 400);

  auto start = std::chrono::steady_clock::now();
  write_one(*db, edit("a", "{}"));
  for (int i = 0; i < 500 && woken.load() < kSubs; ++i) std::this_thread::sleep_for(10ms);
  CHECK(woken.load() == kSubs);
  std::printf("notifier: one commit woke %d subscribers in %.1f ms\n", woken.load(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());

  // Dropped subscriptions are pruned: after they are gone a commit wakes no one.
  subs.clear();
  woken = 0;
  WakeCounter sentinel;
  auto sentinel_sub = notifier.subscribe(db, sentinel.callback());
  write_one(*db, edit("b", "{}"));
  CHECK(sentinel.wait_for(1));
  CHECK(woken.load() == 0);
}

TEST_CASE("notifier: _db_updates events, coalescing, since and limit") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  Notifier notifier(catalog);
  CHECK(notifier.last_db_event_seq() == 0);
  CHECK(notifier.db_events_since(0, 100).empty());

  WakeCounter events;
  auto events_sub = notifier.subscribe_db_events(events.callback());

  auto a = *catalog.create("a");  // seq 1, reported by the catalog before create() returns
  CHECK(events.value() == 1);
  write_one(*a, edit("x", "{}"));  // seq 2: a updated
  CHECK(events.wait_for(2));
  uint64_t seen = notifier.last_db_event_seq();
  CHECK(seen == 2);
  write_one(*a, edit("y", "{}"));  // seq 3 replaces seq 2
  write_one(*a, edit("z", "{}"));  // seq 4 replaces seq 3
  CHECK(events.wait_for(4));

  auto b = *catalog.create("b");   // seq 5
  write_one(*b, edit("x", "{}"));  // seq 6
  CHECK(events.wait_for(6));

  CHECK(names(notifier.db_events_since(0, 100)) ==
        Strings{"1:a:created", "4:a:updated", "5:b:created", "6:b:updated"});
  // A reader that had seen seq 2 still learns that `a` was updated again.
  CHECK(names(notifier.db_events_since(seen, 100)) ==
        Strings{"4:a:updated", "5:b:created", "6:b:updated"});
  CHECK(names(notifier.db_events_since(4, 2)) == Strings{"5:b:created", "6:b:updated"});
  CHECK(names(notifier.db_events_since(0, 1)) == Strings{"1:a:created"});
  CHECK(notifier.db_events_since(6, 100).empty());
  CHECK(notifier.last_db_event_seq() == 6);

  REQUIRE(catalog.remove("a").has_value());  // seq 7
  CHECK(events.value() == 7);
  CHECK(names(notifier.db_events_since(6, 100)) == Strings{"7:a:deleted"});

  events_sub.reset();
  int before = events.value();
  REQUIRE(catalog.create("quiet").has_value());
  CHECK(events.value() == before);
}

TEST_CASE("notifier: the _db_updates log is bounded, the oldest events go first") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  Notifier notifier(catalog, /*max_db_events=*/20);
  for (int i = 0; i < 25; ++i) REQUIRE(catalog.create("n" + std::to_string(i)).has_value());
  auto all = notifier.db_events_since(0, 100);
  REQUIRE(all.size() == 20);
  CHECK(all.back().seq == 25);
  CHECK(all.front().seq == 6);
  CHECK(all.front().db_name == "n5");
  CHECK(notifier.last_db_event_seq() == 25);
}

TEST_CASE("notifier: a database opened only through the catalog wakes its feeds and _db_updates") {
  TempDir dir;
  {
    Catalog earlier(options_for(dir));
    REQUIRE(earlier.create("cold").has_value());
    REQUIRE(earlier.create("never").has_value());
  }
  Catalog catalog(options_for(dir));
  Notifier notifier(catalog);
  WakeCounter events;
  auto events_sub = notifier.subscribe_db_events(events.callback());

  // Opened by someone other than an HTTP handler (the replicator, say), and never subscribed to:
  // its commits are still observed.
  auto db = *catalog.open("cold");
  CHECK(notifier.last_db_event_seq() == 0);  // opening is no _db_updates event
  write_one(*db, edit("a", "{}"));
  CHECK(events.wait_for(1));
  CHECK(names(notifier.db_events_since(0, 10)) == Strings{"1:cold:updated"});

  WakeCounter feed;
  auto feed_sub = notifier.subscribe(db, feed.callback());
  write_one(*db, edit("b", "{}"));
  CHECK(feed.wait_for(1));
  CHECK(events.wait_for(2));

  // Deleted without ever being opened: still an event (there is no Database to wake).
  REQUIRE(catalog.remove("never").has_value());
  CHECK(names(notifier.db_events_since(0, 10)) == Strings{"2:cold:updated", "3:never:deleted"});
  REQUIRE(catalog.remove("cold").has_value());
  CHECK(feed.value() == 2);  // the deletion woke the feed, so it can end
  CHECK(names(notifier.db_events_since(3, 10)) == Strings{"4:cold:deleted"});
}

}  // namespace
}  // namespace divan::changes::test
