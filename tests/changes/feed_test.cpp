// changes::read_page over a real engine: rows, seqs, since/limit/last_seq/pending, descending,
// styles, include_docs and filters (http-api.md §13, revision-trees.md §4, §9, §13.3, §13.4).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "changes/feed.h"
#include "engine_test_util.h"

namespace divan::changes::test {
namespace {

using namespace divan::engine::test;
using engine::Catalog;
using engine::Database;
using engine::WriteOp;
using Json = nlohmann::ordered_json;
using Strings = std::vector<std::string>;
using Seqs = std::vector<uint64_t>;

Page read(Database& db, const FeedOptions& options = {}, uint64_t max_rows = UINT64_MAX) {
  auto snap = db.snapshot();
  REQUIRE(snap.has_value());
  return read_page(*snap, options, max_rows);
}

Strings ids(const Page& page) {
  Strings out;
  for (const auto& row : page.rows) out.push_back(row.id);
  return out;
}

Seqs seqs(const Page& page) {
  Seqs out;
  for (const auto& row : page.rows) out.push_back(row.seq);
  return out;
}

// The listed revs, a deleted leaf marked "(D)".
Strings change_revs(const ChangeRow& row) {
  Strings out;
  for (const auto& leaf : row.changes) out.push_back(leaf.rev.str() + (leaf.deleted ? "(D)" : ""));
  return out;
}

// The include_docs doc of a row, parsed.
Json doc_of(const ChangeRow& row) {
  REQUIRE(row.doc.has_value());
  Json doc = Json::parse(*row.doc, nullptr, false);
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

FeedOptions since(uint64_t seq) {
  FeedOptions o;
  o.since = seq;
  return o;
}

Filter doc_ids_filter(const Strings& list) {
  auto f = Filter::doc_ids(Json(list));
  REQUIRE(f.has_value());
  return *f;
}

Filter selector_filter(const char* text) {
  auto f = Filter::selector(Json::parse(text));
  REQUIRE(f.has_value());
  return *f;
}

// n docs "d0".."d{n-1}" written one per commit: doc di gets seq i+1.
void write_docs(Database& db, int n, const std::string& prefix = "d") {
  for (int i = 0; i < n; ++i) write_one(db, edit(prefix + std::to_string(i), "{\"i\":" + std::to_string(i) + "}"));
}

TEST_CASE("rows: one per doc at its latest seq, winner rev, deleted flag only for a deleted winner") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("rows");
  auto a1 = write_one(*db, edit("a", R"({"v":1})")).rev;
  auto b1 = write_one(*db, edit("b", "{}")).rev;
  write_one(*db, edit("c", "{}"));
  auto a2 = write_one(*db, edit("a", R"({"v":2})", a1)).rev;
  auto b2 = write_one(*db, remove_doc("b", b1)).rev;
  write_one(*db, local_put("_local/x", 0, "{}"));  // no seq: not in the feed

  Page page = read(*db);
  CHECK(ids(page) == Strings{"c", "a", "b"});
  CHECK(seqs(page) == Seqs{3, 4, 5});
  const ChangeRow& a = page.rows[1];
  CHECK(a.seq == 4);
  CHECK(a.id == "a");
  REQUIRE(a.changes.size() == 1);
  CHECK(a.changes[0].rev == rev(a2));
  CHECK_FALSE(a.changes[0].deleted);
  CHECK_FALSE(a.deleted);
  CHECK_FALSE(a.doc.has_value());  // only with include_docs
  const ChangeRow& b = page.rows[2];
  CHECK(change_revs(b) == Strings{b2 + "(D)"});
  CHECK(b.deleted);
  CHECK_FALSE(page.rows[0].deleted);
  CHECK(page.last_seq == 5);
  CHECK(page.pending == 0);
}

TEST_CASE("since: exclusive; seqs round-trip; since=0 and beyond the end") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("since");
  write_docs(*db, 5);

  CHECK(seqs(read(*db, since(0))) == Seqs{1, 2, 3, 4, 5});
  CHECK(seqs(read(*db, since(3))) == Seqs{4, 5});
  Page at_end = read(*db, since(5));
  CHECK(at_end.rows.empty());
  CHECK(at_end.last_seq == 5);  // nothing newer: since
  CHECK(at_end.pending == 0);
  Page beyond = read(*db, since(99));
  CHECK(beyond.rows.empty());
  CHECK(beyond.last_seq == 99);
  Page huge = read(*db, since(UINT64_MAX));  // larger than SQLite's integers
  CHECK(huge.rows.empty());
  CHECK(huge.pending == 0);

  // A feed paging with since = last_seq sees every change exactly once.
  Seqs all;
  uint64_t at = 0;
  for (int guard = 0; guard < 20; ++guard) {
    Page p = read(*db, since(at), 2);
    for (auto s : seqs(p)) all.push_back(s);
    if (p.rows.empty()) break;
    CHECK(p.last_seq > at);
    at = p.last_seq;
  }
  CHECK(all == Seqs{1, 2, 3, 4, 5});

  // An empty database.
  auto empty = *catalog.create("empty");
  Page none = read(*empty);
  CHECK(none.rows.empty());
  CHECK(none.last_seq == 0);
  CHECK(none.pending == 0);
}

TEST_CASE("limit, pending and last_seq") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("limit");
  write_docs(*db, 10);

  SUBCASE("limit stops the scan: last_seq is the last row's, pending the rest") {
    FeedOptions o = since(2);
    o.limit = 3;
    Page p = read(*db, o);
    CHECK(seqs(p) == Seqs{3, 4, 5});
    CHECK(p.last_seq == 5);
    CHECK(p.pending == 5);
  }
  SUBCASE("max_rows caps like limit, but leaves pending uncounted (the feed reads on)") {
    Page p = read(*db, since(0), 4);
    CHECK(seqs(p) == Seqs{1, 2, 3, 4});
    CHECK(p.last_seq == 4);
    CHECK(p.pending == 0);
    FeedOptions o;
    o.limit = 4;
    Page at_limit = read(*db, o, 4);  // the limit is reached too: this page may end the feed
    CHECK(at_limit.last_seq == 4);
    CHECK(at_limit.pending == 6);
    o.limit = 2;
    CHECK(seqs(read(*db, o, 4)) == Seqs{1, 2});
  }
  SUBCASE("a limit reached on the last change leaves nothing pending") {
    FeedOptions o = since(7);
    o.limit = 3;
    Page p = read(*db, o);
    CHECK(p.last_seq == 10);
    CHECK(p.pending == 0);
  }
  SUBCASE("limit=0: no rows, last_seq = since, everything after it pending") {
    FeedOptions o = since(2);
    o.limit = 0;
    Page p = read(*db, o);
    CHECK(p.rows.empty());
    CHECK(p.last_seq == 2);
    CHECK(p.pending == 8);
  }
  SUBCASE("trailing changes filtered out: last_seq is still the update_seq") {
    write_one(*db, edit("_design/x", "{}"));  // seq 11
    write_docs(*db, 3, "e");                  // seqs 12..14
    FeedOptions o;
    o.filter = Filter::design();
    Page p = read(*db, o);
    CHECK(ids(p) == Strings{"_design/x"});
    CHECK(p.last_seq == 14);
    CHECK(p.pending == 0);
    o.since = 11;
    Page after = read(*db, o);
    CHECK(after.rows.empty());
    CHECK(after.last_seq == 14);
  }
  SUBCASE("a filtered page stopped by limit: pending counts every later change") {
    FeedOptions o;
    o.filter = doc_ids_filter({"d7", "d2"});
    o.limit = 1;
    Page p = read(*db, o);
    CHECK(ids(p) == Strings{"d2"});
    CHECK(p.last_seq == 3);
    CHECK(p.pending == 7);
  }
}

TEST_CASE("descending: newest first, since ignored, CouchDB's last_seq and pending") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("desc");
  write_docs(*db, 5);
  auto d1 = doc_tree(*db, "d1").winner().rev.str();
  write_one(*db, edit("d1", "{}", d1));  // d1 moves to seq 6

  FeedOptions o = since(4);  // ignored
  o.descending = true;
  Page all = read(*db, o);
  CHECK(ids(all) == Strings{"d1", "d4", "d3", "d2", "d0"});
  CHECK(seqs(all) == Seqs{6, 5, 4, 3, 1});
  CHECK(all.last_seq == 1);  // the oldest seq scanned
  CHECK(all.pending == 0);

  o.limit = 2;
  Page two = read(*db, o);
  CHECK(seqs(two) == Seqs{6, 5});
  CHECK(two.last_seq == 5);
  CHECK(two.pending == 3);  // older changes not listed

  o.limit = 0;
  Page zero = read(*db, o);
  CHECK(zero.rows.empty());
  CHECK(zero.last_seq == 6);
  CHECK(zero.pending == 5);

  auto empty = *catalog.create("empty");
  FeedOptions d;
  d.descending = true;
  Page none = read(*empty, d);
  CHECK(none.rows.empty());
  CHECK(none.last_seq == 0);
}

TEST_CASE("Deleted leaf loses to a shorter live leaf (revision-trees.md §13.3): all_docs order") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("leaves");
  write_one(*db, replicated("doc", 3, {"x", "b", "a"}, true));
  write_one(*db, replicated("doc", 2, {"y", "a"}));

  FeedOptions o;
  o.style = Style::kAllDocs;
  auto rows = read(*db, o).rows;
  REQUIRE(rows.size() == 1);
  CHECK(change_revs(rows[0]) == Strings{"2-y", "3-x(D)"});
  CHECK_FALSE(rows[0].deleted);
  CHECK(rows[0].seq == 2);

  auto main_only = read(*db).rows;
  CHECK(change_revs(main_only[0]) == Strings{"2-y"});
}

TEST_CASE("Tie at equal pos (revision-trees.md §13.4): all_docs order") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("tie");
  write_one(*db, replicated("t", 2, {"aaa", "a"}));
  write_one(*db, replicated("t", 2, {"zzz", "a"}, true));
  write_one(*db, replicated("t", 2, {"mmm", "a"}));
  // Three deleted-vs-live leaves 3-x(D), 2-y, 2-z: 2-z, 2-y, 3-x(D).
  write_one(*db, replicated("u", 3, {"x", "b", "a"}, true));
  write_one(*db, replicated("u", 2, {"y", "a"}));
  write_one(*db, replicated("u", 2, {"z", "a"}));

  FeedOptions o;
  o.style = Style::kAllDocs;
  auto rows = read(*db, o).rows;
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == "t");
  CHECK(change_revs(rows[0]) == Strings{"2-mmm", "2-aaa", "2-zzz(D)"});
  CHECK(change_revs(rows[1]) == Strings{"2-z", "2-y", "3-x(D)"});
  CHECK(rows[0].seq == 3);  // every new leaf moved the doc to a new seq
  CHECK(rows[1].seq == 6);
}

TEST_CASE("deleted: true only when the winner is deleted; all_docs lists deleted leaves too") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("del");
  write_one(*db, replicated("gone", 2, {"p", "a"}, true));
  write_one(*db, replicated("gone", 2, {"q", "a"}, true));
  FeedOptions o;
  o.style = Style::kAllDocs;
  auto rows = read(*db, o).rows;
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].deleted);
  CHECK(change_revs(rows[0]) == Strings{"2-q(D)", "2-p(D)"});
}

TEST_CASE("include_docs: the winning revision, deleted winners, conflicts") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("docs");
  auto live = write_one(*db, edit("live", R"({"k":"v","n":[1,2]})")).rev;
  auto gone1 = write_one(*db, edit("gone", R"({"x":1})")).rev;
  auto gone2 = write_one(*db, remove_doc("gone", gone1)).rev;
  write_one(*db, replicated("conf", 2, {"b", "a"}, false, R"({"side":"b"})"));
  write_one(*db, replicated("conf", 2, {"c", "a"}, false, R"({"side":"c"})"));
  write_one(*db, replicated("conf", 3, {"d", "x", "a"}, true));

  FeedOptions o;
  o.include_docs = true;
  auto rows = read(*db, o).rows;
  REQUIRE(rows.size() == 3);
  CHECK(doc_of(rows[0]) == Json::parse(R"({"_id":"live","_rev":")" + live + R"(","k":"v","n":[1,2]})"));
  CHECK(doc_of(rows[1]) == Json::parse(R"({"_id":"gone","_rev":")" + gone2 + R"(","_deleted":true})"));
  CHECK(rows[1].deleted);
  CHECK(doc_of(rows[2]) == Json::parse(R"({"_id":"conf","_rev":"2-c","side":"c"})"));
  // Compact, with _id and _rev first, as the HTTP layer splices it.
  CHECK(*rows[0].doc == R"({"_id":"live","_rev":")" + live + R"(","k":"v","n":[1,2]})");

  o.conflicts = true;
  auto with = read(*db, o).rows;
  CHECK(doc_of(with[2])["_conflicts"] == Json::parse(R"(["2-b"])"));
  CHECK_FALSE(doc_of(with[0]).contains("_conflicts"));

  o.style = Style::kAllDocs;
  auto all = read(*db, o).rows;
  CHECK(change_revs(all[2]) == Strings{"2-c", "2-b", "3-d(D)"});
  CHECK(doc_of(all[2])["_rev"] == "2-c");  // the winner, first in leaf order
  CHECK_FALSE(all[2].deleted);
}

TEST_CASE("filter=_doc_ids: by lookup (few ids) and by scan (many) give the same rows") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("ids");
  write_docs(*db, 20);
  auto d3 = doc_tree(*db, "d3").winner().rev.str();
  write_one(*db, edit("d3", "{}", d3));  // d3 -> seq 21

  Strings few = {"d3", "d9", "d1", "nope", "d9"};
  Strings many = few;
  for (int i = 0; i < 150; ++i) many.push_back("zz" + std::to_string(i));  // absent ids
  for (const auto& list : {few, many}) {
    CAPTURE(list.size());
    FeedOptions o;
    o.filter = doc_ids_filter(list);
    Page p = read(*db, o);
    CHECK(ids(p) == Strings{"d1", "d9", "d3"});
    CHECK(seqs(p) == Seqs{2, 10, 21});
    CHECK(p.last_seq == 21);
    o.since = 2;
    CHECK(ids(read(*db, o)) == Strings{"d9", "d3"});
    o.since = 0;
    o.limit = 2;
    Page limited = read(*db, o);
    CHECK(ids(limited) == Strings{"d1", "d9"});
    CHECK(limited.last_seq == 10);
    CHECK(limited.pending == 11);  // seqs 11..21 but d3's old one
    o.limit.reset();
    o.descending = true;
    CHECK(ids(read(*db, o)) == Strings{"d3", "d9", "d1"});
  }
  // The rows themselves are the same, whichever way they were read.
  for (bool include_docs : {false, true}) {
    CAPTURE(include_docs);
    FeedOptions o;
    o.include_docs = include_docs;
    o.style = Style::kAllDocs;
    o.filter = doc_ids_filter(few);
    Page by_lookup = read(*db, o);
    o.filter = doc_ids_filter(many);
    CHECK(read(*db, o).rows == by_lookup.rows);
  }

  auto not_list = Filter::doc_ids(Json::parse(R"({"a":1})"));
  REQUIRE_FALSE(not_list.has_value());
  CHECK(not_list.error().code == Code::kBadRequest);
  CHECK(not_list.error().reason == "`doc_ids` filter parameter is not a list of doc ids.");
  CHECK_FALSE(Filter::doc_ids(Json::parse(R"(["a",1])")).has_value());
  CHECK(ids(read(*db, [&] {
          FeedOptions o;
          o.filter = doc_ids_filter({});
          return o;
        }())).empty());
}

TEST_CASE("filter=_design: only design docs") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("design");
  write_one(*db, edit("a", "{}"));
  write_one(*db, edit("_design/app", R"({"views":{}})"));
  write_one(*db, edit("_designer", "{}"));
  FeedOptions o;
  o.filter = Filter::design();
  CHECK(ids(read(*db, o)) == Strings{"_design/app"});
  Filter f = Filter::design();
  CHECK(f.accepts_id("_design/x"));
  CHECK_FALSE(f.accepts_id("_design"));
  CHECK_FALSE(f.needs_body());
}

TEST_CASE("filter=_selector: matched against the winning doc; all_docs lists passing leaves") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("sel");
  write_one(*db, edit("a", R"({"type":"post","n":5})"));
  write_one(*db, edit("b", R"({"type":"comment","n":7})"));
  auto c1 = write_one(*db, edit("c", R"({"type":"post","n":1})")).rev;
  write_one(*db, remove_doc("c", c1));  // deleted: {"_id","_rev","_deleted":true} has no type
  // A conflicted doc: winner 2-y (post), loser 2-x (comment).
  write_one(*db, replicated("k", 2, {"x", "a"}, false, R"({"type":"comment"})"));
  write_one(*db, replicated("k", 2, {"y", "a"}, false, R"({"type":"post"})"));
  // Conflicted doc whose winner fails and loser passes.
  write_one(*db, replicated("m", 2, {"x", "a"}, false, R"({"type":"post"})"));
  write_one(*db, replicated("m", 2, {"y", "a"}, false, R"({"type":"note"})"));

  FeedOptions o;
  o.filter = selector_filter(R"({"type":"post"})");
  CHECK(o.filter.needs_body());
  CHECK(ids(read(*db, o)) == Strings{"a", "k"});

  o.filter = selector_filter(R"({"_id":{"$gt":"b"}, "n":{"$exists":false}})");
  CHECK(ids(read(*db, o)) == Strings{"c", "k", "m"});

  o.filter = selector_filter(R"({"_deleted":true})");
  CHECK(ids(read(*db, o)) == Strings{"c"});

  o.filter = selector_filter(R"({"type":"post"})");
  o.style = Style::kAllDocs;
  o.include_docs = true;
  auto rows = read(*db, o).rows;
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].id == "k");
  CHECK(change_revs(rows[1]) == Strings{"2-y"});
  CHECK(rows[2].id == "m");
  CHECK(change_revs(rows[2]) == Strings{"2-x"});
  CHECK(doc_of(rows[2])["_rev"] == "2-x");  // the first passing leaf, as CouchDB shows it

  auto bad = Filter::selector(Json::parse(R"({"a":{"$bogus":1}})"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Code::kBadRequest);
  CHECK_FALSE(Filter::selector(Json::parse("[1]")).has_value());
}

TEST_CASE("read_page_into: a reused Page reads the same rows as fresh pages") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("reuse");
  write_docs(*db, 6);
  auto d2 = doc_tree(*db, "d2").winner().rev.str();
  write_one(*db, remove_doc("d2", d2));
  write_one(*db, replicated("k", 2, {"x", "a"}, false, R"({"side":"x"})"));
  write_one(*db, replicated("k", 2, {"y", "a"}, true));
  write_one(*db, replicated("long-id-that-is-not-short-at-all", 1, {"0123456789abcdef0123456789abcdef"}));

  std::vector<FeedOptions> sequence;
  for (uint64_t max_rows : {3, 100}) {
    for (auto style : {Style::kMainOnly, Style::kAllDocs}) {
      for (bool include_docs : {false, true}) {
        FeedOptions o;
        o.style = style;
        o.include_docs = include_docs;
        o.limit = max_rows;
        sequence.push_back(o);
      }
    }
  }
  FeedOptions one = since(4);
  one.limit = 1;
  sequence.push_back(one);
  FeedOptions none;
  none.limit = 0;
  sequence.push_back(none);
  FeedOptions after_end = since(99);
  sequence.push_back(after_end);
  sequence.push_back(FeedOptions{});

  Page reused;
  for (size_t i = 0; i < sequence.size(); ++i) {
    CAPTURE(i);
    auto snap = db->snapshot();
    REQUIRE(snap.has_value());
    read_page_into(*snap, sequence[i], 100, reused);
    Page fresh = read(*db, sequence[i], 100);
    CHECK(reused.rows == fresh.rows);
    CHECK(reused.last_seq == fresh.last_seq);
    CHECK(reused.pending == fresh.pending);
  }
}

// Prints rows/s of the fast path and of include_docs over 100k docs (20k in unoptimised builds, to
// stay within seconds). Never fails on speed.
TEST_CASE("read_page throughput (printed, not asserted)") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("bench");
#ifdef NDEBUG
  constexpr int kDocs = 100000;
#else
  constexpr int kDocs = 20000;
#endif
  constexpr int kBatch = 5000;
  for (int i = 0; i < kDocs; i += kBatch) {
    std::vector<WriteOp> ops;
    for (int j = i; j < i + kBatch; ++j) {
      ops.push_back(replicated("doc" + std::to_string(j), 1, {"abcdef0123456789abcdef0123456789"},
                               false, R"({"name":"x","value":)" + std::to_string(j) + "}"));
    }
    REQUIRE(db->write(std::move(ops)).has_value());
  }
  // Wall time, and this thread's CPU time (the figure that holds on a loaded machine).
  auto cpu_seconds = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  auto measure = [&](const char* name, const FeedOptions& o) {
    auto start = std::chrono::steady_clock::now();
    double cpu_start = cpu_seconds();
    uint64_t rows = 0;
    uint64_t at = 0;
    Page p;  // reused, as the HTTP feed reads
    for (;;) {
      FeedOptions page_options = o;
      page_options.since = at;
      auto snap = db->snapshot();
      REQUIRE(snap.has_value());
      read_page_into(*snap, page_options, 2000, p);
      rows += p.rows.size();
      if (p.rows.empty()) break;
      at = p.last_seq;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double cpu = cpu_seconds() - cpu_start;
    CHECK(rows == kDocs);
    std::printf("read_page %-22s %llu rows in 2000-row pages: %8.0f rows/s wall, %8.0f rows/s CPU\n",
                name, static_cast<unsigned long long>(rows), rows / secs, rows / cpu);
  };
  measure("main_only (fast path)", FeedOptions{});
  FeedOptions docs;
  docs.include_docs = true;
  measure("include_docs", docs);
  FeedOptions all;
  all.style = Style::kAllDocs;
  measure("all_docs", all);
}

}  // namespace
}  // namespace divan::changes::test
