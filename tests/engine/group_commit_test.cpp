// Group commit: batching, caps, completions, observers, shared fate of a failed group.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

// Counts commits (one observer call per commit that moved update_seq) and waits for completions.
struct Counter {
  std::mutex mu;
  std::condition_variable cv;
  int commits = 0;
  int done = 0;
  int failed = 0;
  std::vector<uint64_t> seqs;

  void observe(Database& db) {
    db.add_commit_observer([this](uint64_t seq) {
      std::lock_guard<std::mutex> lock(mu);
      ++commits;
      seqs.push_back(seq);
      cv.notify_all();
    });
  }
  WriteDone completion() {
    return [this](Result<std::vector<WriteOutcome>> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (!r || (*r)[0].error) ++failed;
      cv.notify_all();
    };
  }
  void wait_done(int n) {
    std::unique_lock<std::mutex> lock(mu);
    CHECK(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done >= n; }));
  }
  // Observers run after the completions of their commit: wait for them too.
  void wait_seq(uint64_t seq) {
    std::unique_lock<std::mutex> lock(mu);
    CHECK(cv.wait_for(lock, std::chrono::seconds(60),
                      [&] { return !seqs.empty() && seqs.back() >= seq; }));
  }
};

// Blocks the writer inside the first group's completion until released, so everything submitted
// meanwhile is queued when the next drain starts: batching becomes deterministic.
struct Gate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
  std::promise<void> entered;
};

void submit_gated_first(Database& db, Gate& gate) {
  db.submit({edit("first", "{}")}, [&gate](Result<std::vector<WriteOutcome>> r) {
    CHECK(r.has_value());
    gate.entered.set_value();
    gate.opened.wait();
  });
  gate.entered.get_future().wait();
}

TEST_CASE("group commit: writes queued behind a commit share the next one") {
  TempDir dir;
  Counter counter;
  Gate gate;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.create("gc");
  counter.observe(*db);
  submit_gated_first(*db, gate);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        db->submit({edit("t" + std::to_string(t) + "-" + std::to_string(i), "{}")},
                   counter.completion());
      }
    });
  }
  for (auto& t : threads) t.join();
  gate.open.set_value();
  counter.wait_done(kThreads * kPerThread);
  counter.wait_seq(1 + kThreads * kPerThread);
  CHECK(counter.failed == 0);
  CHECK(db->update_seq() == 1 + kThreads * kPerThread);
  std::lock_guard<std::mutex> lock(counter.mu);
  CHECK(counter.commits == 2);  // the gated one, then all 200 together
  CHECK(counter.seqs == std::vector<uint64_t>{1, 1 + kThreads * kPerThread});
}

TEST_CASE("group commit: max_batch_ops and max_batch_bytes cap a group") {
  TempDir dir;
  CatalogOptions o = options_for(dir);
  SUBCASE("ops") {
    o.max_batch_ops = 10;
    Counter counter;
    Gate gate;
    Catalog catalog(o);
    auto db = *catalog.create("caps");
    counter.observe(*db);
    submit_gated_first(*db, gate);
    for (int i = 0; i < 95; ++i) db->submit({edit("d" + std::to_string(i), "{}")}, counter.completion());
    // A batch is never split: a 15-op batch is a group of its own.
    std::vector<WriteOp> big;
    for (int i = 0; i < 15; ++i) big.push_back(edit("big" + std::to_string(i), "{}"));
    db->submit(std::move(big), counter.completion());
    gate.open.set_value();
    counter.wait_done(96);
    counter.wait_seq(1 + 95 + 15);
    std::lock_guard<std::mutex> lock(counter.mu);
    CHECK(counter.commits == 1 + 10 + 1);
    CHECK(counter.failed == 0);
  }
  SUBCASE("bytes") {
    o.max_batch_bytes = 100;
    Counter counter;
    Gate gate;
    Catalog catalog(o);
    auto db = *catalog.create("caps");
    counter.observe(*db);
    submit_gated_first(*db, gate);
    std::string body = R"({"pad":")" + std::string(50, 'x') + R"("})";
    for (int i = 0; i < 10; ++i) db->submit({edit("d" + std::to_string(i), body)}, counter.completion());
    gate.open.set_value();
    counter.wait_done(10);
    counter.wait_seq(11);
    std::lock_guard<std::mutex> lock(counter.mu);
    CHECK(counter.commits == 1 + 10);  // each batch is over half the cap
  }
}

TEST_CASE("group commit: many threads submitting at once need fewer commits than writes") {
  TempDir dir;
  Counter counter;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.create("many");
  counter.observe(*db);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        db->submit({edit("t" + std::to_string(t) + "-" + std::to_string(i), "{}")},
                   counter.completion());
      }
    });
  }
  for (auto& t : threads) t.join();
  counter.wait_done(kThreads * kPerThread);
  counter.wait_seq(kThreads * kPerThread);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> lock(counter.mu);
  CHECK(counter.failed == 0);
  CHECK(counter.commits < kThreads * kPerThread);
  MESSAGE((kThreads * kPerThread) << " fsynced writes in " << counter.commits << " commits, " << ms
                                << " ms");
  // Observers see update_seq strictly increasing, ending at the final value.
  for (size_t i = 1; i < counter.seqs.size(); ++i) CHECK(counter.seqs[i] > counter.seqs[i - 1]);
  CHECK(counter.seqs.back() == db->update_seq());
  CHECK(all_doc_ids(*db).size() == kThreads * kPerThread);
}

TEST_CASE("blocking write() from many threads: each sees its own outcome") {
  TempDir dir;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.create("blocking");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string id = "doc" + std::to_string(t);
      std::optional<std::string> parent;
      for (int i = 0; i < 20; ++i) {
        auto r = db->write({edit(id, R"({"i":)" + std::to_string(i) + "}", parent)});
        if (!r || (*r)[0].error) {
          CHECK(false);
          return;
        }
        CHECK((*r)[0].rev.starts_with(std::to_string(i + 1) + "-"));
        parent = (*r)[0].rev;
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 160);
  CHECK(db->update_seq() == 160);
  CHECK(db->info().doc_count == 8);
}

TEST_CASE("completion runs before the observer, both after the commit") {
  TempDir dir;
  std::mutex mu;
  std::vector<std::string> events;
  std::promise<void> observed;
  std::promise<void> done;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("order");
  db->add_commit_observer([&](uint64_t seq) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("observer " + std::to_string(seq));
    observed.set_value();
  });
  db->submit({edit("a", "{}")}, [&](Result<std::vector<WriteOutcome>>) {
    std::lock_guard<std::mutex> lock(mu);
    // Published before completions run: the caller can read its own write.
    events.push_back("done " + std::to_string(db->update_seq()));
  });
  observed.get_future().wait();
  // A _local write does not move update_seq: no observer call for it (a second call would throw
  // promise_already_satisfied inside the observer, which the writer swallows, and add an event).
  db->submit({local_put("_local/x", 0, "{}")}, [&](Result<std::vector<WriteOutcome>>) {
    done.set_value();
  });
  done.get_future().wait();
  catalog.close_all();
  std::lock_guard<std::mutex> lock(mu);
  CHECK(events == std::vector<std::string>{"done 1", "observer 1"});
}

TEST_CASE("a throwing completion or observer does not wedge the writer") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("throw");
  db->add_commit_observer([](uint64_t) { throw std::runtime_error("observer"); });
  db->submit({edit("a", "{}")}, [](Result<std::vector<WriteOutcome>>) {
    throw std::runtime_error("completion");
  });
  CHECK(write_one(*db, edit("b", "{}")).written);
  CHECK(db->update_seq() == 2);
}

TEST_CASE("several databases share one writer thread") {
  TempDir dir;
  CatalogOptions o = options_for(dir);
  o.writer_threads = 1;
  Counter counter;
  Catalog catalog(o);
  std::vector<std::shared_ptr<Database>> dbs;
  for (int i = 0; i < 4; ++i) dbs.push_back(*catalog.create("db" + std::to_string(i)));
  for (int n = 0; n < 50; ++n) {
    for (auto& db : dbs) db->submit({edit("d" + std::to_string(n), "{}")}, counter.completion());
  }
  counter.wait_done(200);
  CHECK(counter.failed == 0);
  for (auto& db : dbs) CHECK(db->update_seq() == 50);
}

TEST_CASE("an error while applying fails the whole group and writes nothing") {
  TempDir dir;
  Gate gate;
  std::promise<Result<std::vector<WriteOutcome>>> p1, p2;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("fate");
  auto ra = write_one(*db, edit("a", "{}")).rev;
  {
    // Corrupt a's tree behind the engine's back (a second connection; WAL lets it in).
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open((dir.path() / "fate.sqlite3").c_str(), &raw) == SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    CHECK(sqlite3_exec(raw, "UPDATE docs SET tree = x'ff' WHERE doc_id = 'a'", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  submit_gated_first(*db, gate);
  db->submit({edit("b", "{}")}, [&](auto r) { p1.set_value(std::move(r)); });
  db->submit({edit("a", R"({"v":1})", ra)}, [&](auto r) { p2.set_value(std::move(r)); });
  gate.open.set_value();
  auto r1 = p1.get_future().get();
  auto r2 = p2.get_future().get();
  REQUIRE_FALSE(r1.has_value());
  REQUIRE_FALSE(r2.has_value());
  CHECK(r1.error().code == Code::kInternal);
  CHECK(r2.error().code == Code::kInternal);
  CHECK(db->update_seq() == 2);  // "a" and "first"
  auto snap = db->snapshot();
  CHECK(snap->doc("b").error().code == Code::kNotFound);
  // Rolled back, not poisoned: the next group commits.
  CHECK(write_one(*db, edit("b", "{}")).written);
  CHECK(db->update_seq() == 3);
}

}  // namespace
}  // namespace divan::engine::test
