// Catalog: names, files, create/open/remove, all_dbs, node uuid, close and reopen, observers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "engine/names.h"
#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

const std::string kBadNameTail =
    "'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, "
    "-, and / are allowed. Must begin with a letter.";

TEST_CASE("validate_name: CouchDB's rule and exact reason") {
  for (std::string_view ok : {"a", "abc", "a1", "a_$()+-/", "db/with/slashes", "_users",
                              "_replicator", "_global_changes", "_dbs", "_nodes", "_metadata",
                              "foo/_replicator", "foo/_users", "a-b/c+d/_users",
                              "foo/_dbs"}) {
    CAPTURE(ok);
    CHECK(Catalog::validate_name(ok).has_value());
  }
  for (std::string_view bad : {"", "A", "aB", "1abc", "_abc", "-a", "a.b", "a b", "a*", "a\\b",
                               "/_replicator", "Foo/_users", "_users/_replicator", "_foo/_users",
                               "caf\xc3\xa9"}) {
    CAPTURE(bad);
    auto r = Catalog::validate_name(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Code::kIllegalDatabaseName);
    CHECK(r.error().reason == "Name: '" + std::string(bad) + kBadNameTail);
  }
}

TEST_CASE("db file names: escaping keeps every name inside the data dir") {
  CHECK(escape_db_name("abc-1_x") == "abc-1_x");
  CHECK(escape_db_name("a/b") == "a%2fb");
  CHECK(escape_db_name("a$()+/") == "a%24%28%29%2b%2f");
  CHECK(escape_db_name("../x") == "%2e%2e%2fx");
  for (std::string name : {"a", "a/b", "x$(y)+z-w_v/_replicator", "_users", "%", "a%2fb"}) {
    CAPTURE(name);
    auto back = db_name_from_file(escape_db_name(name) + ".sqlite3");
    REQUIRE(back.has_value());
    CHECK(*back == name);
  }
  CHECK_FALSE(db_name_from_file("a.sqlite3-wal").has_value());
  CHECK_FALSE(db_name_from_file("a.sqlite3-shm").has_value());
  CHECK_FALSE(db_name_from_file("_node.json").has_value());
  CHECK_FALSE(db_name_from_file(".sqlite3").has_value());
  CHECK_FALSE(db_name_from_file("a%2.sqlite3").has_value());
  CHECK_FALSE(db_name_from_file("a%2F.sqlite3").has_value());  // uppercase: not canonical
  CHECK_FALSE(db_name_from_file("a%61.sqlite3").has_value());  // 'a' is never escaped
  CHECK_FALSE(db_name_from_file("A.sqlite3").has_value());
}

TEST_CASE("create, open, remove, all_dbs") {
  TempDir dir;
  Catalog catalog(options_for(dir));

  CHECK(catalog.all_dbs().empty());
  auto a = catalog.create("b/one");
  REQUIRE(a.has_value());
  CHECK((*a)->name() == "b/one");
  REQUIRE(catalog.create("a$(x)+y-z").has_value());
  REQUIRE(catalog.create("_users").has_value());
  REQUIRE(catalog.create("b/_replicator").has_value());

  // Everything is a plain file directly in the data dir, beside the (empty) upload spool dir.
  CHECK(fs::is_directory(catalog.spool_dir()));
  CHECK(catalog.spool_dir() == dir.path() / ".spool");
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    if (entry.path() == catalog.spool_dir()) continue;
    CHECK(entry.is_regular_file());
    CHECK(entry.path().parent_path() == dir.path());
  }
  CHECK(fs::exists(dir.path() / "b%2fone.sqlite3"));
  CHECK(fs::exists(dir.path() / "a%24%28x%29%2by-z.sqlite3"));

  CHECK(catalog.all_dbs() ==
        std::vector<std::string>{"_users", "a$(x)+y-z", "b/_replicator", "b/one"});

  auto again = catalog.create("b/one");
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == Code::kFileExists);
  CHECK(again.error().reason == "The database could not be created, the file already exists.");

  auto bad = catalog.create("Bad");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Code::kIllegalDatabaseName);

  auto opened = catalog.open("b/one");
  REQUIRE(opened.has_value());
  CHECK(opened->get() == a->get());  // databases stay open: one object per name

  for (std::string_view missing : {"nope", "Bad", "", "../etc"}) {
    auto o = catalog.open(missing);
    REQUIRE_FALSE(o.has_value());
    CHECK(o.error().code == Code::kNotFound);
    CHECK(o.error().reason == "Database does not exist.");
    auto r = catalog.remove(missing);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Code::kNotFound);
    CHECK(r.error().reason == "Database does not exist.");
  }

  REQUIRE(catalog.remove("b/one").has_value());
  CHECK_FALSE(fs::exists(dir.path() / "b%2fone.sqlite3"));
  CHECK_FALSE(fs::exists(dir.path() / "b%2fone.sqlite3-wal"));
  CHECK_FALSE(fs::exists(dir.path() / "b%2fone.sqlite3-shm"));
  CHECK(catalog.all_dbs() == std::vector<std::string>{"_users", "a$(x)+y-z", "b/_replicator"});
  CHECK(catalog.open("b/one").error().code == Code::kNotFound);
  CHECK(catalog.remove("b/one").error().code == Code::kNotFound);

  // The old handle is dead: writes and snapshots say the database does not exist.
  auto w = (*a)->write({edit("x", "{}")});
  REQUIRE_FALSE(w.has_value());
  CHECK(w.error().code == Code::kNotFound);
  CHECK(w.error().reason == "Database does not exist.");
  CHECK((*a)->snapshot().error().code == Code::kNotFound);

  // Re-created under the same name: a fresh, empty database.
  auto b = catalog.create("b/one");
  REQUIRE(b.has_value());
  CHECK((*b)->info().update_seq == 0);
  CHECK(all_doc_ids(**b).empty());
}

TEST_CASE("too long a name is refused, not a file-system error") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  std::string name = "a" + std::string(100, '/');  // 301 bytes once escaped
  auto r = catalog.create(name);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Code::kIllegalDatabaseName);
  CHECK(catalog.create("a" + std::string(60, '/')).has_value());  // 181 + suffix fits
}

TEST_CASE("server uuid: 32 lowercase hex, persisted, not a database") {
  TempDir dir;
  std::string first;
  {
    Catalog catalog(options_for(dir));
    first = catalog.server_uuid();
    CHECK(first.size() == 32);
    CHECK(first.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(catalog.all_dbs().empty());
  }
  {
    Catalog catalog(options_for(dir));
    CHECK(catalog.server_uuid() == first);
  }
  TempDir other;
  Catalog catalog(options_for(other));
  CHECK(catalog.server_uuid() != first);
}

TEST_CASE("reopen after close keeps data and settings") {
  TempDir dir;
  std::string rev1;
  {
    Catalog catalog(options_for(dir, /*fsync=*/true));
    auto db = catalog.create("keep");
    REQUIRE(db.has_value());
    rev1 = write_one(**db, edit("doc", R"({"v":1})")).rev;
    std::string gone = write_one(**db, edit("gone", "{}")).rev;
    write_one(**db, remove_doc("gone", gone));
    write_one(**db, edit("other", "{}"));
    write_one(**db, local_put("_local/cp", 0, R"({"seq":7})"));
    write_one(**db, SetRevsLimit{7});
    write_one(**db, SetSecurity{R"({"admins":{"names":["bob"]}})"});
  }
  Catalog catalog(options_for(dir));
  auto db = catalog.open("keep");
  REQUIRE(db.has_value());
  DbInfo info = (*db)->info();
  CHECK(info.update_seq == 4);
  CHECK(info.doc_count == 2);
  CHECK(info.doc_del_count == 1);
  CHECK(info.file_size > 0);
  CHECK(info.external_size > 0);
  CHECK((*db)->update_seq() == 4);
  CHECK((*db)->revs_limit() == 7);
  CHECK((*db)->security() == R"({"admins":{"names":["bob"]}})");
  auto snap = (*db)->snapshot();
  REQUIRE(snap.has_value());
  auto rec = snap->doc("doc");
  REQUIRE(rec.has_value());
  CHECK(rec->tree.winner().rev.str() == rev1);
  CHECK(snap->body("doc", rev(rev1)) == std::optional<std::string>(R"({"v":1})"));
  auto local = snap->local("_local/cp");
  REQUIRE(local.has_value());
  CHECK(local->rev_counter == 1);
  CHECK(local->body == R"({"seq":7})");
}

TEST_CASE("new database defaults") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = catalog.create("fresh");
  REQUIRE(db.has_value());
  CHECK((*db)->revs_limit() == 1000);
  CHECK((*db)->security() == R"({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}})");
  DbInfo info = (*db)->info();
  CHECK(info.update_seq == 0);
  CHECK(info.doc_count == 0);
  CHECK(info.doc_del_count == 0);
  CHECK(info.external_size == 0);
}

TEST_CASE("close_all: later calls fail with not_found, handles refuse work") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = catalog.create("x");
  REQUIRE(db.has_value());
  write_one(**db, edit("a", "{}"));
  catalog.close_all();
  CHECK(catalog.open("x").error().code == Code::kNotFound);
  CHECK(catalog.create("y").error().code == Code::kNotFound);
  CHECK(catalog.remove("x").error().code == Code::kNotFound);
  CHECK((*db)->write({edit("b", "{}")}).error().code == Code::kNotFound);
  CHECK((*db)->snapshot().error().code == Code::kNotFound);
  catalog.close_all();  // idempotent
  // Clean shutdown: the WAL was checkpointed and removed by the last close.
  CHECK(fs::exists(dir.path() / "x.sqlite3"));
  CHECK_FALSE(fs::exists(dir.path() / "x.sqlite3-wal"));
}

TEST_CASE("close_all drains queued writes before closing (clean shutdown)") {
  TempDir dir;
  std::atomic<int> ok{0};
  {
    Catalog catalog(options_for(dir, /*fsync=*/true));
    auto db = *catalog.create("drain");
    for (int i = 0; i < 200; ++i) {
      db->submit({edit("d" + std::to_string(i), "{}")}, [&](Result<std::vector<WriteOutcome>> r) {
        if (r && !(*r)[0].error) ++ok;
      });
    }
  }  // ~Catalog: close_all
  CHECK(ok == 200);
  Catalog catalog(options_for(dir));
  auto db = *catalog.open("drain");
  CHECK(db->info().doc_count == 200);
  CHECK(db->update_seq() == 200);
}

TEST_CASE("stale WAL beside a missing db file is not replayed into a new database") {
  TempDir dir;
  {
    Catalog catalog(options_for(dir));
    auto db = catalog.create("w");
    REQUIRE(db.has_value());
    write_one(**db, edit("old", "{}"));
    // Keep a copy of a WAL holding "old" while the database is open.
    fs::copy_file(dir.path() / "w.sqlite3-wal", dir.path() / "saved-wal");
  }
  {
    Catalog catalog(options_for(dir));
    REQUIRE(catalog.remove("w").has_value());
  }
  fs::rename(dir.path() / "saved-wal", dir.path() / "w.sqlite3-wal");  // an interrupted delete
  Catalog catalog(options_for(dir));
  CHECK(catalog.all_dbs().empty());
  auto db = catalog.create("w");
  REQUIRE(db.has_value());
  CHECK(all_doc_ids(**db, true).empty());
}

TEST_CASE("remove while readers and writers are active") {
  TempDir dir;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto created = catalog.create("busy");
  REQUIRE(created.has_value());
  std::shared_ptr<Database> db = *created;

  std::atomic<bool> stop{false};
  std::atomic<int> ok_writes{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        auto r = db->write({edit("t" + std::to_string(t) + "-" + std::to_string(i), "{}")});
        if (r) {
          ++ok_writes;
        } else {
          CHECK(r.error().code == Code::kNotFound);
          ++refused;
          return;
        }
      }
    });
  }
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        auto snap = db->snapshot();
        if (!snap) {
          CHECK(snap.error().code == Code::kNotFound);
          return;
        }
        size_t n = 0;
        snap->scan_by_id({}, [&](const DocRow&) { return ++n < 50; });
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  // A snapshot held across the remove: remove must wait for it.
  auto held = db->snapshot();
  REQUIRE(held.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    CHECK(catalog.remove("busy").has_value());
    removed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(removed.load());  // still waiting for `held`
  CHECK(fs::exists(dir.path() / "busy.sqlite3"));
  { Snapshot release = std::move(*held); }
  remover.join();
  CHECK(removed.load());
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(ok_writes > 0);
  CHECK_FALSE(fs::exists(dir.path() / "busy.sqlite3"));
  CHECK_FALSE(fs::exists(dir.path() / "busy.sqlite3-wal"));
  CHECK(catalog.all_dbs().empty());
  CHECK(catalog.open("busy").error().code == Code::kNotFound);
}

TEST_CASE("concurrent create of one name: exactly one wins") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  std::atomic<int> created{0};
  std::atomic<int> exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto r = catalog.create("race");
      if (r) ++created;
      else if (r.error().code == Code::kFileExists) ++exists;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(created == 1);
  CHECK(exists == 7);
}

// ---- Observers ----------------------------------------------------------------------------------

// Records what an observer hears as "type:name" (plus which Database it got), thread-safely.
struct EventLog {
  std::mutex mu;
  std::vector<std::string> events;
  std::vector<const Database*> dbs;

  CatalogObserver observer() {
    return [this](const CatalogEvent& e) { record(e); };
  }
  void record(const CatalogEvent& e) {
    const char* type = e.type == CatalogEventType::kCreated  ? "created"
                       : e.type == CatalogEventType::kOpened ? "opened"
                                                             : "deleted";
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::string(type) + ":" + e.name);
    dbs.push_back(e.db.get());
  }
  // What was recorded since the last take().
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    out.swap(events);
    return out;
  }
  const Database* last_db() {
    std::lock_guard<std::mutex> lock(mu);
    return dbs.empty() ? nullptr : dbs.back();
  }
};

using Strings = std::vector<std::string>;

TEST_CASE("observers: created, opened and deleted, each reported once, before the call returns") {
  TempDir dir;
  {
    Catalog earlier(options_for(dir));
    REQUIRE(earlier.create("old").has_value());
    REQUIRE(earlier.create("cold").has_value());
  }
  Catalog catalog(options_for(dir));
  auto pre = *catalog.create("pre");

  EventLog log;
  auto sub = catalog.subscribe(log.observer());
  // Databases open already are reported once, as opened, before subscribe() returns.
  CHECK(log.take() == Strings{"opened:pre"});
  CHECK(log.last_db() == pre.get());

  auto a = *catalog.create("a");
  CHECK(log.take() == Strings{"created:a"});
  CHECK(log.last_db() == a.get());
  REQUIRE(catalog.open("a").has_value());  // open already: no event
  REQUIRE(catalog.open("pre").has_value());
  CHECK(log.take().empty());

  auto old = *catalog.open("old");
  CHECK(log.take() == Strings{"opened:old"});
  CHECK(log.last_db() == old.get());
  REQUIRE(catalog.open("old").has_value());
  CHECK(log.take().empty());

  // Failures report nothing.
  CHECK_FALSE(catalog.create("a").has_value());
  CHECK_FALSE(catalog.create("Bad").has_value());
  CHECK_FALSE(catalog.open("missing").has_value());
  CHECK_FALSE(catalog.remove("missing").has_value());
  CHECK(log.take().empty());

  REQUIRE(catalog.remove("a").has_value());
  CHECK(log.take() == Strings{"deleted:a"});
  CHECK(log.last_db() == a.get());  // the handle that was open, now refusing work
  REQUIRE(catalog.remove("cold").has_value());  // never opened: no Database to report
  CHECK(log.take() == Strings{"deleted:cold"});
  CHECK(log.last_db() == nullptr);

  auto again = *catalog.create("a");
  CHECK(log.take() == Strings{"created:a"});
  CHECK(log.last_db() == again.get());

  // Two observers both hear it; a dropped one hears nothing more.
  EventLog second;
  auto sub2 = catalog.subscribe(second.observer());
  CHECK(second.take() == Strings{"opened:a", "opened:old", "opened:pre"});
  REQUIRE(catalog.create("b").has_value());
  CHECK(log.take() == Strings{"created:b"});
  CHECK(second.take() == Strings{"created:b"});
  sub2.reset();
  REQUIRE(catalog.remove("b").has_value());
  CHECK(log.take() == Strings{"deleted:b"});
  CHECK(second.take().empty());

  catalog.close_all();  // closing is not deleting: no events
  CHECK(log.take().empty());
}

TEST_CASE("observers: called outside the catalog's locks; what they change is reported after them") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto pre = *catalog.create("pre");
  EventLog log;
  bool acted = false;  // only the observer's thread touches it
  std::shared_ptr<Database> reopened;
  Strings seen_dbs;
  bool other_thread_done = false;
  auto sub = catalog.subscribe([&](const CatalogEvent& e) {
    log.record(e);
    if (e.type != CatalogEventType::kCreated || e.name != "a" || acted) return;
    acted = true;
    // Each of these would deadlock if the catalog's lock were held here.
    if (auto db = catalog.open("a")) reopened = *db;  // the database being reported
    seen_dbs = catalog.all_dbs();
    REQUIRE(catalog.create("b").has_value());  // nested: reported once this observer returns
    REQUIRE(catalog.remove("b").has_value());
    // Another thread is not blocked meanwhile either (bounded, so a regression fails, not hangs).
    auto other = std::async(std::launch::async, [&] {
      return catalog.open("pre").has_value() && !catalog.all_dbs().empty();
    });
    other_thread_done = other.wait_for(std::chrono::seconds(5)) == std::future_status::ready &&
                        other.get();
  });
  CHECK(log.take() == Strings{"opened:pre"});

  auto a = *catalog.create("a");
  CHECK(reopened == a);
  CHECK(seen_dbs == Strings{"a", "pre"});
  CHECK(other_thread_done);
  // create("a") returned after the nested events too: the delivering thread drains the queue.
  CHECK(log.take() == Strings{"created:a", "created:b", "deleted:b"});
}

TEST_CASE("observers: open() of a database whose opening is being reported waits for the report") {
  TempDir dir;
  {
    Catalog earlier(options_for(dir));
    REQUIRE(earlier.create("x").has_value());
  }
  Catalog catalog(options_for(dir));
  std::mutex mu;
  std::condition_variable cv;
  bool in_observer = false, release = false, observer_done = false;
  auto sub = catalog.subscribe([&](const CatalogEvent& e) {
    if (e.type != CatalogEventType::kOpened) return;
    std::unique_lock<std::mutex> lock(mu);
    in_observer = true;
    cv.notify_all();
    // A slow observer (bounded: a regression must fail, not hang).
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return release; });
    observer_done = true;
  });

  auto first = std::async(std::launch::async, [&] { return catalog.open("x").value(); });
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return in_observer; }));
  }
  // A second open finds "x" open, but must not hand it out before the observers know it: a commit
  // through it could otherwise come before the notifier watches the database.
  auto second = std::async(std::launch::async, [&] {
    auto db = catalog.open("x").value();
    std::lock_guard<std::mutex> lock(mu);
    return std::make_pair(db, observer_done);
  });
  CHECK(second.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
  auto db = first.get();
  auto [db2, done_before] = second.get();
  CHECK(db2 == db);
  CHECK(done_before);
}

TEST_CASE("observers: dropping waits for a running call, none follows; may outlive the catalog") {
  TempDir dir;
  std::shared_ptr<Catalog::Subscription> outliving;
  std::atomic<int> calls{0};
  {
    Catalog catalog(options_for(dir));
    std::atomic<bool> entered{false}, finished{false};
    auto sub = catalog.subscribe([&](const CatalogEvent&) {
      entered = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      finished = true;
    });
    bool created = false;
    std::thread creator([&] { created = catalog.create("slow").has_value(); });
    for (int i = 0; i < 500 && !entered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(entered.load());
    sub.reset();  // the call is running on `creator`: reset() returns once it did
    CHECK(finished.load());
    creator.join();
    CHECK(created);

    outliving = catalog.subscribe([&](const CatalogEvent&) { ++calls; });
    CHECK(calls == 1);  // "slow", open now
  }
  outliving.reset();  // after the catalog: harmless
  CHECK(calls == 1);
}

TEST_CASE("observers: concurrent creates and removes of one name are reported in order") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  std::mutex mu;
  std::map<std::string, Strings> by_name;
  auto sub = catalog.subscribe([&](const CatalogEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    by_name[e.name].push_back(e.type == CatalogEventType::kCreated ? "created" : "deleted");
  });
  std::atomic<int> created{0}, removed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        std::string name = (i + t) % 2 ? "odd" : "even";
        if (catalog.create(name)) ++created;
        if (catalog.remove(name)) ++removed;
      }
    });
  }
  for (auto& t : threads) t.join();
  int reported = 0;
  for (const auto& [name, types] : by_name) {
    CAPTURE(name);
    for (size_t i = 0; i < types.size(); ++i) {
      CHECK(types[i] == (i % 2 == 0 ? "created" : "deleted"));  // never two creations in a row
    }
    reported += static_cast<int>(types.size());
  }
  CHECK(reported == created + removed);
}

}  // namespace
}  // namespace divan::engine::test
