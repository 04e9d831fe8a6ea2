// Reads: snapshot isolation, id-ordered scans, offsets, the read pool.
#include <doctest/doctest.h>

#include <thread>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

std::vector<std::string> scan(Snapshot& snap, const IdRange& range, size_t max = SIZE_MAX) {
  std::vector<std::string> ids;
  snap.scan_by_id(range, [&](const DocRow& row) {
    ids.emplace_back(row.id);
    return ids.size() < max;
  });
  return ids;
}

using Ids = std::vector<std::string>;

TEST_CASE("snapshot isolation: a snapshot does not see later commits") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("iso");
  auto ra = write_one(*db, edit("a", R"({"v":1})")).rev;

  auto snap = db->snapshot();
  REQUIRE(snap.has_value());
  // Committed after the snapshot was taken, before its first query.
  write_one(*db, edit("b", "{}"));
  auto ra2 = write_one(*db, edit("a", R"({"v":2})", ra)).rev;

  CHECK(snap->doc("b").error().code == Code::kNotFound);
  CHECK(scan(*snap, {}) == Ids{"a"});
  auto a = snap->doc("a");
  REQUIRE(a.has_value());
  CHECK(a->seq == 1);
  CHECK(a->tree.winner().rev.str() == ra);
  CHECK(snap->body("a", rev(ra)) == std::optional<std::string>(R"({"v":1})"));
  CHECK_FALSE(snap->body("a", rev(ra2)).has_value());
  size_t n = 0;
  snap->scan_by_seq(0, false, [&](const DocRow&) { return ++n, true; });
  CHECK(n == 1);

  auto fresh = db->snapshot();
  REQUIRE(fresh.has_value());
  CHECK(scan(*fresh, {}) == Ids{"a", "b"});
  CHECK(fresh->doc("a")->tree.winner().rev.str() == ra2);
  CHECK(fresh->body("a", rev(ra)).has_value());  // internal now: kept until compaction
  CHECK(db->update_seq() == 3);
}

TEST_CASE("scan_by_id: ranges, direction, inclusive_end, deleted docs, byte order") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("scan");
  for (std::string id : {"e", "c", "a", "d", "b"}) write_one(*db, edit(id, "{}"));
  write_one(*db, remove_doc("d", doc_tree(*db, "d").winner().rev.str()));
  auto snap_r = db->snapshot();
  REQUIRE(snap_r.has_value());
  Snapshot& snap = *snap_r;

  IdRange r;
  CHECK(scan(snap, r) == Ids{"a", "b", "c", "e"});
  r.include_deleted = true;
  CHECK(scan(snap, r) == Ids{"a", "b", "c", "d", "e"});
  r = {};
  r.start = "b";
  CHECK(scan(snap, r) == Ids{"b", "c", "e"});
  r.end = "c";
  CHECK(scan(snap, r) == Ids{"b", "c"});
  r.inclusive_end = false;
  CHECK(scan(snap, r) == Ids{"b"});
  r = {};
  r.start = "bb";
  r.end = "cc";
  CHECK(scan(snap, r) == Ids{"c"});
  r = {};
  r.descending = true;
  CHECK(scan(snap, r) == Ids{"e", "c", "b", "a"});
  r.start = "c";
  CHECK(scan(snap, r) == Ids{"c", "b", "a"});
  r.end = "a";
  r.inclusive_end = false;
  CHECK(scan(snap, r) == Ids{"c", "b"});
  r = {};
  r.descending = true;
  r.include_deleted = true;
  r.start = "e";
  r.end = "c";
  CHECK(scan(snap, r) == Ids{"e", "d", "c"});
  CHECK(scan(snap, {}, 2) == Ids{"a", "b"});  // the visitor stops the scan

  snap.scan_by_id({}, [&](const DocRow& row) {
    auto rec = snap.doc(row.id);
    REQUIRE(rec.has_value());
    CHECK(row.winner == rec->tree.winner().rev.str());
    CHECK(row.seq == rec->seq);
    CHECK_FALSE(row.deleted);
    return true;
  });

  CHECK(snap.count_before("a", false) == 0);
  CHECK(snap.count_before("c", false) == 2);
  CHECK(snap.count_before("d", false) == 3);
  CHECK(snap.count_before("e", false) == 3);
  CHECK(snap.count_before("zzz", false) == 4);
  CHECK(snap.count_before("c", true) == 1);
  CHECK(snap.count_before("a", true) == 3);
  CHECK(snap.count_before("", true) == 4);

  // memcmp order on raw UTF-8 bytes, upper case before lower case, '_' between them.
  auto db2 = *catalog.create("bytes");
  for (std::string id : {"\xc3\xa9t\xc3\xa9", "a", "_design/x", "Z", "a\x7f", "ab"}) {
    write_one(*db2, edit(id, "{}"));
  }
  auto snap2 = db2->snapshot();
  CHECK(scan(*snap2, {}) == Ids{"Z", "_design/x", "a", "ab", "a\x7f", "\xc3\xa9t\xc3\xa9"});
}

TEST_CASE("read pool: more snapshots than pooled connections never block") {
  TempDir dir;
  CatalogOptions o = options_for(dir);
  o.max_readers_per_db = 2;
  Catalog catalog(o);
  auto db = *catalog.create("pool");
  write_one(*db, edit("a", "{}"));
  for (int round = 0; round < 3; ++round) {
    std::vector<Snapshot> held;
    for (int i = 0; i < 6; ++i) {
      auto s = db->snapshot();
      REQUIRE(s.has_value());
      CHECK(s->doc("a").has_value());
      held.push_back(std::move(*s));
    }
  }
  // Moved-to snapshots keep working; moved-from ones are just destroyed.
  auto s1 = db->snapshot();
  Snapshot s2 = std::move(*s1);
  CHECK(s2.doc("a").has_value());
}

TEST_CASE("readers run while the writer commits") {
  TempDir dir;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.create("rw");
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!stop) {
        auto snap = db->snapshot();
        if (!snap) {
          CHECK(snap.has_value());
          return;
        }
        // Within one snapshot, the listing and the seq scan agree.
        size_t by_id = 0;
        uint64_t max_seq = 0;
        snap->scan_by_id({}, [&](const DocRow& row) {
          ++by_id;
          max_seq = std::max(max_seq, row.seq);
          return true;
        });
        size_t by_seq = 0;
        snap->scan_by_seq(0, false, [&](const DocRow&) { return ++by_seq, true; });
        CHECK(by_id == by_seq);
        CHECK(max_seq >= last);  // snapshots never go back in time
        last = max_seq;
      }
    });
  }
  for (int i = 0; i < 100; ++i) write_one(*db, edit("d" + std::to_string(i), "{}"));
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(all_doc_ids(*db).size() == 100);
}

}  // namespace
}  // namespace divan::engine::test
