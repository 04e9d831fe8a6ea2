// The writer: revision-trees.md §6 edit rules through SQLite, stemming, seqs, counts, _local docs.
#include <doctest/doctest.h>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

struct Fixture {
  TempDir dir;
  Catalog catalog{options_for(dir)};
  std::shared_ptr<Database> db = *catalog.create("db");

  WriteOutcome put(WriteOp op) { return write_one(*db, std::move(op)); }
  revtree::RevTree tree(const std::string& id) { return doc_tree(*db, id); }
  uint64_t seq_of(const std::string& id) {
    auto snap = db->snapshot();
    REQUIRE(snap.has_value());
    auto rec = snap->doc(id);
    REQUIRE(rec.has_value());
    return rec->seq;
  }
  std::optional<std::string> body(const std::string& id, const std::string& r) {
    auto snap = db->snapshot();
    REQUIRE(snap.has_value());
    return snap->body(id, rev(r));
  }
};

void check_conflict(const WriteOutcome& out) {
  REQUIRE(out.error.has_value());
  CHECK(out.error->code == Code::kConflict);
  CHECK(out.error->reason == "Document update conflict.");
  CHECK(out.rev.empty());
  CHECK_FALSE(out.written);
}

TEST_CASE_FIXTURE(Fixture, "§6.1 interactive edit table, every row") {
  SUBCASE("doc unknown, parent absent: create 1-<hash>") {
    auto out = put(edit("d", R"({"v":1})"));
    CHECK_FALSE(out.error.has_value());
    CHECK(out.written);
    CHECK(out.rev == "1-" + hash_for(false, {}, R"({"v":1})"));
    CHECK(body("d", out.rev) == std::optional<std::string>(R"({"v":1})"));
    CHECK(db->info().doc_count == 1);
  }
  SUBCASE("doc unknown, parent absent, deleted: a deleted doc is created") {
    auto out = put(edit("d", "{}", {}, true));
    CHECK_FALSE(out.error.has_value());
    CHECK(out.rev == "1-" + hash_for(true, {}, "{}"));
    CHECK(tree("d").deleted());
    CHECK(db->info().doc_count == 0);
    CHECK(db->info().doc_del_count == 1);
    CHECK(all_doc_ids(*db).empty());
    CHECK(all_doc_ids(*db, true) == std::vector<std::string>{"d"});
  }
  SUBCASE("doc unknown, parent present: conflict") {
    check_conflict(put(edit("d", "{}", "1-abc")));
    auto snap = db->snapshot();
    CHECK(snap->doc("d").error().code == Code::kNotFound);
    CHECK(db->update_seq() == 0);
  }
  SUBCASE("live doc, parent absent: conflict") {
    put(edit("d", "{}"));
    check_conflict(put(edit("d", R"({"v":3})")));
  }
  SUBCASE("live doc, parent = a live leaf: child at pos+1") {
    auto r1 = put(edit("d", "{}")).rev;
    auto r2 = put(edit("d", R"({"v":1})", r1));
    CHECK_FALSE(r2.error.has_value());
    CHECK(r2.rev == "2-" + hash_for(false, rev(r1), R"({"v":1})"));
  }
  SUBCASE("live doc, parent = a deleted leaf: revives that branch") {
    put(replicated("d", 2, {"b", "a"}));
    put(replicated("d", 2, {"c", "a"}, true));
    auto out = put(edit("d", R"({"v":2})", "2-c"));
    CHECK_FALSE(out.error.has_value());
    CHECK(out.rev == "3-" + hash_for(false, rev("2-c"), R"({"v":2})"));
    CHECK(leaf_strings(tree("d")) == std::vector<std::string>{out.rev, "2-b"});
  }
  SUBCASE("live doc, parent = internal node or unknown rev: conflict") {
    auto r1 = put(edit("d", "{}")).rev;
    put(edit("d", R"({"v":1})", r1));
    check_conflict(put(edit("d", R"({"v":2})", r1)));
    check_conflict(put(edit("d", R"({"v":2})", "2-unknown")));
    check_conflict(put(edit("d", R"({"v":2})", "9-zzz")));
  }
  SUBCASE("deleted doc, parent absent: recreate under the deleted winner") {
    auto r1 = put(edit("d", "{}")).rev;
    auto r2 = put(remove_doc("d", r1)).rev;
    CHECK(r2 == "2-" + hash_for(true, rev(r1), "{}"));
    auto r3 = put(edit("d", R"({"v":5})"));
    CHECK_FALSE(r3.error.has_value());
    CHECK(r3.rev == "3-" + hash_for(false, rev(r2), R"({"v":5})"));
    CHECK_FALSE(tree("d").deleted());
  }
  SUBCASE("deleted doc, parent absent, deleted: conflict") {
    auto r1 = put(edit("d", "{}")).rev;
    put(remove_doc("d", r1));
    check_conflict(put(edit("d", "{}", {}, true)));
  }
  SUBCASE("deleted doc, parent present (even the winner's rev): conflict") {
    auto r1 = put(edit("d", "{}")).rev;
    auto r2 = put(remove_doc("d", r1)).rev;
    check_conflict(put(edit("d", R"({"v":4})", r2)));
    check_conflict(put(edit("d", R"({"v":4})", r1)));
    check_conflict(put(remove_doc("d", r2)));
  }
}

TEST_CASE_FIXTURE(Fixture, "§13.14 interactive sequence") {
  std::string h1 = "1-" + hash_for(false, {}, "{}");
  CHECK(put(edit("x", "{}")).rev == h1);
  std::string h2 = "2-" + hash_for(false, rev(h1), R"({"v":1})");
  CHECK(put(edit("x", R"({"v":1})", h1)).rev == h2);
  check_conflict(put(edit("x", R"({"v":2})", h1)));
  check_conflict(put(edit("x", R"({"v":3})")));
  std::string h3 = "3-" + hash_for(true, rev(h2), "{}");
  auto del = put(remove_doc("x", h2));
  CHECK(del.rev == h3);
  CHECK(tree("x").deleted());
  CHECK(body("x", h3) == std::optional<std::string>("{}"));
  check_conflict(put(edit("x", R"({"v":4})", h3)));
  std::string h4 = "4-" + hash_for(false, rev(h3), R"({"v":5})");
  CHECK(put(edit("x", R"({"v":5})")).rev == h4);
  auto path = tree("x").ancestry(rev(h4), 1000);
  CHECK(path.start == 4);
  CHECK(path.ids == std::vector<std::string>{rev(h4).id, rev(h3).id, rev(h2).id, rev(h1).id});
  auto h5 = put(remove_doc("x", h4)).rev;
  CHECK(h5.starts_with("5-"));
  check_conflict(put(remove_doc("x", h5)));  // HTTP answers this one 404 deleted
  // Every revision keeps its body until compaction; then only leaves do.
  CHECK(body("x", h1).has_value());
  CHECK(body("x", h4).has_value());
  compact_and_wait(*db);
  CHECK_FALSE(body("x", h1).has_value());
  CHECK_FALSE(body("x", h4).has_value());
  CHECK(body("x", h5).has_value());
}

TEST_CASE_FIXTURE(Fixture, "§13.15 extend the losing leaf, then resolve") {
  put(replicated("d", 2, {"b", "a"}));
  put(replicated("d", 2, {"c", "a"}));
  CHECK(tree("d").winner().rev.str() == "2-c");
  auto e = put(edit("d", R"({"v":1})", "2-b")).rev;
  CHECK(leaf_strings(tree("d")) == std::vector<std::string>{e, "2-c"});
  auto f = put(remove_doc("d", "2-c")).rev;
  auto t = tree("d");
  CHECK(leaf_strings(t) == std::vector<std::string>{e, f + "(D)"});
  CHECK(t.conflicts().empty());
  CHECK(rev_strings(t.deleted_conflicts()) == std::vector<std::string>{f});
  CHECK(db->info().doc_count == 1);
  CHECK(db->info().doc_del_count == 0);
}

TEST_CASE_FIXTURE(Fixture, "same id twice in one batch: the second sees the first") {
  std::string r1 = "1-" + hash_for(false, {}, "{}");
  auto result = db->write({edit("d", "{}"), edit("d", R"({"v":1})", r1), edit("d", R"({"v":2})")});
  REQUIRE(result.has_value());
  REQUIRE(result->size() == 3);
  CHECK((*result)[0].rev == r1);
  CHECK_FALSE((*result)[1].error.has_value());
  CHECK((*result)[1].rev == "2-" + hash_for(false, rev(r1), R"({"v":1})"));
  check_conflict((*result)[2]);
  // One doc changed by one group commit: one seq.
  CHECK(db->update_seq() == 1);
  CHECK(seq_of("d") == 1);
  CHECK(body("d", r1).has_value());  // history, until compaction
}

TEST_CASE_FIXTURE(Fixture, "many new docs in one group, some written twice, read back exactly") {
  // New docs' rows are inserted together (multi-row INSERTs in chunks of up to 64) at the end of
  // the group, or earlier when a later op of the group reads one of them.
  std::vector<WriteOp> ops;
  for (int i = 0; i < 150; ++i) {
    ops.push_back(edit("n" + std::to_string(i), R"({"i":)" + std::to_string(i) + "}"));
  }
  std::string r7 = "1-" + hash_for(false, {}, R"({"i":7})");
  ops.push_back(edit("n7", R"({"i":"seven"})", r7));                 // update of a queued new doc
  ops.push_back(
      replicated("n100", 2, {"x", hash_for(false, {}, R"({"i":100})")}, false, R"({"r":1})"));
  ops.push_back(edit("n149", "{}"));                                  // conflict with a queued doc
  ops.push_back(remove_doc("n3", "1-" + hash_for(false, {}, R"({"i":3})")));
  for (int i = 150; i < 200; ++i) ops.push_back(edit("n" + std::to_string(i), "{}"));
  auto result = db->write(ops);
  REQUIRE(result.has_value());
  REQUIRE(result->size() == ops.size());
  for (size_t i = 0; i < result->size(); ++i) {
    CAPTURE(i);
    if (i == 152) {
      check_conflict((*result)[i]);
    } else {
      CHECK_FALSE((*result)[i].error.has_value());
      CHECK((*result)[i].written);
    }
  }
  // One seq per doc, in order of each doc's first write in the group.
  CHECK(db->update_seq() == 200);
  CHECK(seq_of("n0") == 1);
  CHECK(seq_of("n7") == 8);
  CHECK(seq_of("n199") == 200);
  CHECK(db->info().doc_count == 199);
  CHECK(db->info().doc_del_count == 1);
  std::string r7b = "2-" + hash_for(false, rev(r7), R"({"i":"seven"})");
  CHECK(leaf_strings(tree("n7")) == std::vector<std::string>{r7b});
  CHECK(body("n7", r7b) == R"({"i":"seven"})");
  CHECK(body("n7", r7).has_value());  // history, until compaction
  CHECK(leaf_strings(tree("n100")) == std::vector<std::string>{"2-x"});
  CHECK(body("n100", "2-x") == R"({"r":1})");
  CHECK(tree("n3").winner().deleted);
  CHECK(body("n42", "1-" + hash_for(false, {}, R"({"i":42})")) == R"({"i":42})");
  CHECK(body("n180", "1-" + hash_for(false, {}, "{}")) == "{}");
  CHECK(all_doc_ids(*db).size() == 199);
  // The bodies counted in external_size are exactly the stored ones.
  uint64_t stored = 0;
  auto snap = db->snapshot();
  IdRange all;
  all.include_deleted = true;
  snap->scan_by_id(all, [&](const DocRow& row) {
    auto t = revtree::RevTree::decode(row.tree_bytes);
    for (const auto& leaf : t->leaves()) {
      if (auto b = snap->body(row.id, leaf.rev)) stored += b->size();
    }
    return true;
  });
  CHECK(db->info().external_size == stored);
}

TEST_CASE_FIXTURE(Fixture, "a precomputed new_rev_id is used only for the parent it was made for") {
  // Made for "no parent": right for a new doc...
  DocUpdate first = edit("d", R"({"v":1})");
  CHECK(first.new_rev_id() == hash_for(false, {}, R"({"v":1})"));
  std::string r1 = put(first).rev;
  CHECK(r1 == "1-" + first.new_rev_id());
  std::string r2 = put(remove_doc("d", r1)).rev;
  // ...but recreating the deleted doc extends its deleted winner: the writer hashes that itself.
  DocUpdate again = edit("d", R"({"v":1})");
  CHECK(again.new_rev_id() == hash_for(false, {}, R"({"v":1})"));
  auto out = put(again);
  CHECK_FALSE(out.error.has_value());
  CHECK(out.rev == "3-" + hash_for(false, rev(r2), R"({"v":1})"));
}

TEST_CASE_FIXTURE(Fixture, "§13.13 duplicates in one replicated batch, then the batch re-sent") {
  std::vector<WriteOp> batch = {replicated("d", 2, {"b", "a"}), replicated("d", 2, {"b", "a"}),
                                replicated("d", 1, {"a"})};
  auto first = db->write(batch);
  REQUIRE(first.has_value());
  REQUIRE(first->size() == 3);
  for (const auto& out : *first) CHECK_FALSE(out.error.has_value());
  CHECK((*first)[0].written);
  CHECK_FALSE((*first)[1].written);
  CHECK_FALSE((*first)[2].written);
  CHECK(leaf_strings(tree("d")) == std::vector<std::string>{"2-b"});
  CHECK(tree("d").find(rev("1-a")) != nullptr);
  CHECK(db->update_seq() == 1);
  CHECK_FALSE(body("d", "1-a").has_value());

  auto again = db->write(batch);
  REQUIRE(again.has_value());
  for (const auto& out : *again) {
    CHECK_FALSE(out.error.has_value());
    CHECK_FALSE(out.written);
  }
  CHECK(db->update_seq() == 1);
  CHECK(seq_of("d") == 1);
}

TEST_CASE_FIXTURE(Fixture, "replicated: internal-node arrival is ignored, body not stored") {
  CHECK(put(replicated("d", 3, {"d", "b", "a"}, false, R"({"v":3})")).written);
  auto late = put(replicated("d", 2, {"b", "a"}, false, R"({"v":2})"));
  CHECK_FALSE(late.error.has_value());
  CHECK_FALSE(late.written);
  CHECK(late.rev == "2-b");
  CHECK_FALSE(body("d", "2-b").has_value());
  CHECK(db->update_seq() == 1);
  // An already-known leaf is a no-op too, and keeps its first body.
  CHECK_FALSE(put(replicated("d", 3, {"d", "b", "a"}, false, R"({"v":99})")).written);
  CHECK(body("d", "3-d") == std::optional<std::string>(R"({"v":3})"));
}

TEST_CASE_FIXTURE(Fixture, "§13.9 replicated tombstone onto a conflict") {
  put(replicated("d", 2, {"b", "a"}));
  put(replicated("d", 2, {"c", "a"}));
  CHECK(put(replicated("d", 3, {"d", "b", "a"}, true)).written);
  auto t = tree("d");
  CHECK(leaf_strings(t) == std::vector<std::string>{"2-c", "3-d(D)"});
  CHECK_FALSE(t.deleted());
  CHECK(rev_strings(t.deleted_conflicts()) == std::vector<std::string>{"3-d"});
  CHECK(db->info().doc_count == 1);
  CHECK(db->info().doc_del_count == 0);
  CHECK(body("d", "2-b").has_value());  // now internal: kept until compaction
  compact_and_wait(*db);
  CHECK_FALSE(body("d", "2-b").has_value());
}

TEST_CASE_FIXTURE(Fixture, "§13.10 unknown parent starts a second tree") {
  put(replicated("d", 2, {"b", "a"}));
  CHECK(put(replicated("d", 3, {"c", "q"})).written);
  auto t = tree("d");
  CHECK(leaf_strings(t) == std::vector<std::string>{"3-c", "2-b"});
  const auto* q = t.find(rev("2-q"));
  REQUIRE(q != nullptr);
  CHECK_FALSE(q->has_body);
  CHECK(body("d", "2-b").has_value());
  CHECK(body("d", "3-c").has_value());
}

TEST_CASE_FIXTURE(Fixture, "§13.16 stemming on write with a small limit") {
  put(SetRevsLimit{2});
  CHECK(db->revs_limit() == 2);
  CHECK(put(replicated("d", 5, {"e", "d", "c", "b", "a"})).written);
  auto t = tree("d");
  CHECK(t.nodes().size() == 2);
  auto path = t.ancestry(rev("5-e"), 1000);
  CHECK(path.start == 5);
  CHECK(path.ids == std::vector<std::string>{"e", "d"});
  CHECK(t.find(rev("3-c")) == nullptr);
}

TEST_CASE_FIXTURE(Fixture, "revs_limit: interactive writes stem, a lower limit applies on the next write") {
  std::string r = put(edit("d", R"({"n":0})")).rev;
  for (int i = 1; i < 10; ++i) r = put(edit("d", R"({"n":)" + std::to_string(i) + "}", r)).rev;
  CHECK(tree("d").nodes().size() == 10);
  put(SetRevsLimit{3});
  CHECK(tree("d").nodes().size() == 10);  // stemming happens on write only
  r = put(edit("d", R"({"n":10})", r)).rev;
  auto t = tree("d");
  CHECK(t.nodes().size() == 3);
  CHECK(t.ancestry(rev(r), 1000).ids.size() == 3);
  CHECK(body("d", r).has_value());
  // Ops after SetRevsLimit in the same batch already use the new limit.
  auto result = db->write({SetRevsLimit{1}, edit("d", R"({"n":11})", r)});
  REQUIRE(result.has_value());
  CHECK(tree("d").nodes().size() == 1);
  CHECK(db->revs_limit() == 1);
  auto bad = put(SetRevsLimit{0});
  REQUIRE(bad.error.has_value());
  CHECK(bad.error->code == Code::kBadRequest);
  CHECK(db->revs_limit() == 1);
}

TEST_CASE_FIXTURE(Fixture, "§9 seq bookkeeping: one row per doc at its latest seq") {
  auto ra = put(edit("a", "{}")).rev;
  put(edit("b", "{}"));
  put(edit("c", "{}"));
  put(edit("a", R"({"v":1})", ra));
  CHECK(db->update_seq() == 4);

  auto rows = [&](uint64_t since, bool descending) {
    std::vector<std::pair<std::string, uint64_t>> out;
    auto snap = db->snapshot();
    REQUIRE(snap.has_value());
    snap->scan_by_seq(since, descending, [&](const DocRow& row) {
      out.emplace_back(std::string(row.id), row.seq);
      return true;
    });
    return out;
  };
  using Rows = std::vector<std::pair<std::string, uint64_t>>;
  CHECK(rows(0, false) == Rows{{"b", 2}, {"c", 3}, {"a", 4}});
  CHECK(rows(2, false) == Rows{{"c", 3}, {"a", 4}});
  CHECK(rows(4, false).empty());
  CHECK(rows(0, true) == Rows{{"a", 4}, {"c", 3}, {"b", 2}});

  // No-op writes assign nothing: conflicts, known revisions, _local docs, settings.
  check_conflict(put(edit("b", "{}")));
  put(replicated("r", 2, {"y", "x"}));
  CHECK(db->update_seq() == 5);
  put(replicated("r", 1, {"x"}));
  put(replicated("r", 2, {"y", "x"}));
  put(local_put("_local/l", 0, "{}"));
  put(SetSecurity{"{}"});
  put(SetRevsLimit{10});
  CHECK(db->update_seq() == 5);
  CHECK(rows(0, false) == Rows{{"b", 2}, {"c", 3}, {"a", 4}, {"r", 5}});

  // The winner and deleted flag of each row.
  auto snap = db->snapshot();
  snap->scan_by_seq(4, false, [&](const DocRow& row) {
    CHECK(row.winner == "2-y");
    CHECK_FALSE(row.deleted);
    auto decoded = revtree::RevTree::decode(row.tree_bytes);
    REQUIRE(decoded.has_value());
    CHECK(decoded->winner().rev.str() == "2-y");
    return true;
  });
}

TEST_CASE_FIXTURE(Fixture, "doc_count / doc_del_count follow the winner") {
  auto a = put(edit("a", "{}")).rev;
  auto b = put(edit("b", "{}")).rev;
  put(edit("c", "{}", {}, true));
  CHECK(db->info().doc_count == 2);
  CHECK(db->info().doc_del_count == 1);
  auto a2 = put(remove_doc("a", a)).rev;
  CHECK(db->info().doc_count == 1);
  CHECK(db->info().doc_del_count == 2);
  put(edit("a", "{}"));  // recreate
  CHECK(db->info().doc_count == 2);
  CHECK(db->info().doc_del_count == 1);
  // A live conflict keeps the doc live when the winner is deleted.
  put(replicated("b", 2, {"zz", rev(b).id}));
  put(replicated("b", 2, {"yy", rev(b).id}));
  put(remove_doc("b", "2-zz"));
  CHECK_FALSE(tree("b").deleted());
  CHECK(tree("b").winner().rev.str() == "2-yy");
  CHECK(db->info().doc_count == 2);
  CHECK(db->info().doc_del_count == 1);
  (void)a2;
  DbInfo info = db->info();
  CHECK(info.update_seq == 8);
  CHECK(info.external_size > 0);
}

TEST_CASE_FIXTURE(Fixture, "_local docs: rev 0-N, no seq, no tree, delete -> 0-0") {
  auto p1 = put(local_put("_local/x", 0, R"({"a":1})"));
  CHECK(p1.rev == "0-1");
  CHECK(p1.written);
  CHECK(put(local_put("_local/x", 5, R"({"a":2})")).rev == "0-6");
  CHECK(put(local_put("_local/x", 0, R"({"a":3})")).rev == "0-1");  // no conflict check
  put(local_put("_local/a", 0, "{}"));
  put(local_put("_local/b", 0, "{}"));
  {
    auto snap = db->snapshot();
    auto x = snap->local("_local/x");
    REQUIRE(x.has_value());
    CHECK(x->rev_counter == 1);
    CHECK(x->body == R"({"a":3})");
    CHECK_FALSE(snap->local("_local/none").has_value());
    std::vector<std::string> ids;
    snap->scan_local({}, [&](const LocalDoc& d) {
      ids.push_back(d.id);
      return true;
    });
    CHECK(ids == std::vector<std::string>{"_local/a", "_local/b", "_local/x"});
    IdRange range;
    range.descending = true;
    range.start = "_local/b";
    ids.clear();
    snap->scan_local(range, [&](const LocalDoc& d) {
      ids.push_back(d.id);
      return true;
    });
    CHECK(ids == std::vector<std::string>{"_local/b", "_local/a"});
  }
  auto del = put(local_delete("_local/x"));
  CHECK_FALSE(del.error.has_value());
  CHECK(del.rev == "0-0");
  auto missing = put(local_delete("_local/x"));
  REQUIRE(missing.error.has_value());
  CHECK(missing.error->code == Code::kNotFound);
  CHECK(missing.error->reason == "missing");
  CHECK(db->update_seq() == 0);
  CHECK(db->info().doc_count == 0);
  CHECK(all_doc_ids(*db, true).empty());
}

TEST_CASE_FIXTURE(Fixture, "security is stored verbatim") {
  CHECK(put(SetSecurity{R"({"admins":{"names":["a"],"roles":[]}})"}).written);
  CHECK(db->security() == R"({"admins":{"names":["a"],"roles":[]}})");
}

TEST_CASE_FIXTURE(Fixture, "malformed replicated paths fail per op, not per batch") {
  auto result = db->write({replicated("d", 1, {"b", "a"}), edit("ok", "{}")});
  REQUIRE(result.has_value());
  REQUIRE((*result)[0].error.has_value());
  CHECK((*result)[0].error->code == Code::kBadRequest);
  CHECK_FALSE((*result)[1].error.has_value());
  CHECK(db->update_seq() == 1);
}

TEST_CASE_FIXTURE(Fixture, "an empty batch completes") {
  auto result = db->write({});
  REQUIRE(result.has_value());
  CHECK(result->empty());
}

}  // namespace
}  // namespace divan::engine::test
