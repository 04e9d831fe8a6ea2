// Compaction under load (engine/compaction.h): a database with several revisions per document is
// compacted while writers and readers run. No write fails, no read sees a wrong body, the writer is
// never held long, the file shrinks, and the file is sound afterwards.
// DIVAN_COMPACTION_DOCS=<n> sets the size (default 200000 docs × 5 revisions);
// DIVAN_COMPACTION_LOAD=0 compacts with no writer or reader running (the bare writer pause).
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRevisions = 5;
constexpr int kWriters = 8;
constexpr int kReaders = 8;

std::string doc_name(size_t i) { return "doc" + std::to_string(1000000 + i); }
std::string body_of(size_t i, uint64_t pos) {
  return R"({"i":)" + std::to_string(i) + R"(,"v":)" + std::to_string(pos) +
         R"(,"pad":"the same twenty bytes"})";
}

uint64_t file_bytes(const fs::path& db) {
  std::error_code ec;
  uint64_t n = fs::file_size(db, ec);
  uint64_t w = fs::file_size(fs::path(db.string() + "-wal"), ec);
  return n + (ec ? 0 : w);
}

// Writes kRevisions revisions of `docs` docs, 1000 ops per batch; returns each doc's revs.
std::vector<std::vector<std::string>> build(Database& db, size_t docs) {
  std::vector<std::vector<std::string>> revs(docs);
  for (int r = 0; r < kRevisions; ++r) {
    for (size_t from = 0; from < docs; from += 1000) {
      std::vector<WriteOp> ops;
      size_t to = std::min(docs, from + 1000);
      for (size_t i = from; i < to; ++i) {
        std::optional<std::string> parent;
        if (r > 0) parent = revs[i].back();
        ops.push_back(edit(doc_name(i), body_of(i, static_cast<uint64_t>(r + 1)), parent));
      }
      auto out = db.write(std::move(ops));
      REQUIRE(out.has_value());
      for (size_t i = from; i < to; ++i) {
        REQUIRE_FALSE((*out)[i - from].error.has_value());
        revs[i].push_back((*out)[i - from].rev);
      }
    }
  }
  return revs;
}

std::string integrity_check(const fs::path& file) {
  sqlite3* conn = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(conn, "PRAGMA integrity_check", -1, &q, nullptr) == SQLITE_OK);
  std::string result;
  if (sqlite3_step(q) == SQLITE_ROW) result = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(conn);
  return result;
}

TEST_CASE("compaction under load: 8 writers and 8 readers, bounded writer steps, file shrinks") {
  const char* env = std::getenv("DIVAN_COMPACTION_DOCS");
  const size_t docs = env ? std::strtoul(env, nullptr, 10) : 200000;
  TempDir dir;
  const fs::path file = dir.path() / "load.sqlite3";
  auto catalog = std::make_unique<Catalog>(options_for(dir));
  std::shared_ptr<Database> db = *catalog->create("load");

  auto t0 = Clock::now();
  auto revs = build(*db, docs);
  // Readers use only the second revisions (never changed); each doc's list grows only in the
  // writer owning it.
  std::vector<std::string> second(docs);
  for (size_t i = 0; i < docs; ++i) second[i] = revs[i][1];
  double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const uint64_t before = file_bytes(file);
  const uint64_t external = db->info().external_size;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0}, write_failures{0}, reads{0}, wrong_reads{0};
  uint64_t writes_seen = 0, reads_seen = 0;
  std::atomic<int64_t> worst_write_us{0};
  std::mutex acked_mu;
  std::vector<std::pair<size_t, std::string>> acked;  // (doc, rev) of every acknowledged write

  const char* load_env = std::getenv("DIVAN_COMPACTION_LOAD");
  const bool load = !load_env || std::string(load_env) != "0";
  std::vector<std::thread> threads;
  for (int w = 0; load && w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<uint64_t>(w) + 1);
      // Each writer owns the docs i % kWriters == w, so its edits never conflict.
      std::vector<std::pair<size_t, std::string>> mine;
      while (!stop) {
        size_t i = static_cast<size_t>(rng() % (docs / kWriters)) * kWriters + static_cast<size_t>(w);
        if (i >= docs) continue;
        std::string parent = revs[i].back();
        uint64_t pos = revtree::parse_rev(parent)->pos + 1;
        auto started = Clock::now();
        auto out = db->write({edit(doc_name(i), body_of(i, pos), parent)});
        int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
        int64_t seen = worst_write_us.load();
        while (us > seen && !worst_write_us.compare_exchange_weak(seen, us)) {
        }
        if (!out || (*out)[0].error) {
          ++write_failures;
          continue;
        }
        revs[i].push_back((*out)[0].rev);
        mine.emplace_back(i, (*out)[0].rev);
        ++writes;
      }
      std::lock_guard lock(acked_mu);
      acked.insert(acked.end(), mine.begin(), mine.end());
    });
  }
  for (int r = 0; load && r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(static_cast<uint64_t>(r) + 100);
      while (!stop) {
        size_t i = static_cast<size_t>(rng() % docs);
        auto doc = db->doc_with_winner_body(doc_name(i));
        if (!doc || !doc->winner_body) {
          ++wrong_reads;
          continue;
        }
        uint64_t pos = doc->doc.tree.winner().rev.pos;
        if (*doc->winner_body != body_of(i, pos)) ++wrong_reads;
        // An older revision: its own body until compaction reaches it, then none; never another.
        auto snap = db->snapshot();
        if (!snap) {
          ++wrong_reads;
          continue;
        }
        auto old = snap->body(doc_name(i), rev(second[i]));
        if (old && *old != body_of(i, 2)) ++wrong_reads;
        ++reads;
      }
    });
  }

  if (load) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // load first
  auto c0 = Clock::now();
  db->compact();
  for (int i = 0; i < 600000 && db->compaction().running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double compact_s = std::chrono::duration<double>(Clock::now() - c0).count();
  stop = true;
  for (auto& t : threads) t.join();
  CompactionStatus status = db->compaction();
  REQUIRE_FALSE(status.running);
  CHECK(status.error == "");
  CHECK(write_failures == 0);
  CHECK(wrong_reads == 0);
  writes_seen = writes;
  reads_seen = reads;
  CHECK((writes_seen > 0 || !load));
  CHECK((reads_seen > 0 || !load));
  // The bound chosen is kStepBudget (4 ms) of work plus the commit. On CPU time, loosely (an
  // auto-checkpoint inside a commit copies ~4 MB); the wall clock also counts this test's 17
  // threads taking the writer's core away (2 cores here), so it gets a bound for hangs only.
  CHECK(status.longest_step_cpu_ms < 60);
  CHECK(status.longest_step_ms < 2000);
  CHECK(db->info().external_size >= external);
  // Before the last checkpoint the file can still be its old size: measured again once closed.
  const uint64_t after = file_bytes(file);
  MESSAGE("compaction of " << docs << " docs x " << kRevisions << " revs (built in " << build_s
          << " s): " << compact_s << " s, " << status.steps << " writer steps, longest "
          << status.longest_step_ms << " ms; file " << before / 1024 << " KiB -> " << after / 1024
          << " KiB; meanwhile " << writes_seen << " writes (worst "
          << static_cast<double>(worst_write_us.load()) / 1000.0 << " ms), " << reads_seen
          << " reads; longest step on CPU " << status.longest_step_cpu_ms << " ms");

  // Every acknowledged write is there and the file is sound.
  db.reset();
  catalog.reset();
  CHECK(integrity_check(file) == "ok");
  // The file gives space back. Measured closed: the last connection's checkpoint is what cuts the
  // file to the pages compaction left; while 8 readers hold snapshots, checkpoints may stop short
  // and leave it at any size up to its old one (a loaded 2-core machine once showed 221 MB
  // against 198 MB before).
  const uint64_t closed_size = file_bytes(file);
  CHECK(closed_size < before);
  MESSAGE("file closed: " << closed_size / 1024 << " KiB");
  catalog = std::make_unique<Catalog>(options_for(dir));
  db = *catalog->open("load");
  auto snap = db->snapshot();
  REQUIRE(snap.has_value());
  size_t missing = 0;
  for (const auto& [i, r] : acked) {
    auto doc = snap->doc(doc_name(i));
    if (!doc || doc->tree.find(rev(r)) == nullptr) ++missing;
  }
  CHECK(missing == 0);
  for (size_t i = 0; i < docs; i += std::max<size_t>(1, docs / 1000)) {
    auto doc = snap->doc(doc_name(i));
    REQUIRE(doc.has_value());
    CHECK(doc->tree.winner().rev.str() == revs[i].back());
    CHECK(snap->body(doc_name(i), rev(revs[i].back())) ==
          std::optional<std::string>(body_of(i, rev(revs[i].back()).pos)));
  }
}

TEST_CASE("automatic policy: pages at least min size and ratio times what compaction leaves") {
  AutoCompaction policy;
  policy.ratio = 2.0;
  policy.min_file_size = 1000;
  CHECK(AutoCompactor::wants(policy, 10000, 5000));       // 10000 >= 2 × 5000 left
  CHECK_FALSE(AutoCompactor::wants(policy, 10000, 4999));  // 10000 < 2 × 5001
  CHECK_FALSE(AutoCompactor::wants(policy, 999, 999));     // too small to bother
  CHECK_FALSE(AutoCompactor::wants(policy, 10000, 0));     // nothing to gain
  CHECK(AutoCompactor::wants(policy, 10000, 20000));       // estimates may overshoot
}

TEST_CASE("compaction: history sizes, a second compaction with nothing to do, close while running") {
  TempDir dir;
  auto catalog = std::make_unique<Catalog>(options_for(dir));
  std::shared_ptr<Database> db = *catalog->create("sizes");
  auto revs = build(*db, 2000);
  DbInfo before = db->info();
  CHECK(before.reclaimable_size > 0);
  compact_and_wait(*db);
  DbInfo after = db->info();
  CHECK(after.external_size == before.external_size);
  CHECK(db->compaction().docs_compacted == 2000);
  CHECK(after.reclaimable_size < before.reclaimable_size);
  compact_and_wait(*db);
  CHECK(db->compaction().docs_compacted == 0);
  // History again, then close the database in the middle of a compaction: it stops, nothing lost.
  for (size_t i = 0; i < 2000; i += 1000) {
    std::vector<WriteOp> ops;
    for (size_t k = i; k < i + 1000; ++k) ops.push_back(edit(doc_name(k), body_of(k, 6), revs[k].back()));
    REQUIRE(db->write(std::move(ops)).has_value());
  }
  db->compact();
  db.reset();
  catalog.reset();
  catalog = std::make_unique<Catalog>(options_for(dir));
  db = *catalog->open("sizes");
  CHECK_FALSE(db->compaction().running);
  CHECK(doc_tree(*db, doc_name(1999)).winner().rev.pos == 6);
}

}  // namespace
}  // namespace divan::engine::test
