// spec: replication-protocol.md §3.4 (checkpoint documents), §3.5 (compare logs, with its worked
// example), §3.10 (the next checkpoint; the 409 rule; the read-only source rule), §12 "Checkpoint
// compare" and "Checkpoint write".
#include <chrono>

#include <doctest/doctest.h>

#include "replicator/checkpoint.h"
#include "replicator_test_util.h"

using namespace divan::replicator;
using std::chrono::seconds;
using std::chrono::system_clock;

using divan::replicator::test::numbered;

namespace {

Json entry(const char* session, Json recorded_seq, uint64_t docs_written = 0) {
  return Json{{"session_id", session},
              {"recorded_seq", recorded_seq},
              {"docs_written", docs_written}};
}

ReplicationLog log_of(const char* session, std::vector<Json> history) {
  Json doc = {{"_id", "_local/x"}, {"_rev", "0-1"}, {"session_id", session}};
  doc["source_last_seq"] = history.empty() ? Json(0) : history_recorded_seq(history.front());
  doc["history"] = history;
  return parse_log(doc);
}

}  // namespace

TEST_CASE("§3.4 checkpoint document: CouchDB's shape is read verbatim") {
  const Json doc = Json::parse(R"({
    "_id": "_local/afa899a9e59589c3d4ce5668e3218aef",
    "_rev": "0-2",
    "session_id": "04bf15bf1d9fa8ac1abc67d0c3e04f07",
    "source_last_seq": "26-g1AAAAFTeJzLYWBg4MhgTmFQSEtKzi9KdUhJMtbLTS3KLElMT9VLzskvTUnNK9HLSy3JAapkSmRIsv___39WBnMiWy5QgN04NcUkxdAIm3o8JuWxAEmGBiD1HwiyMhiTGFQSGXOBYuxG5hZpqWaG2PRkAQA",
    "replication_id_version": 4,
    "history": [
      {"session_id": "04bf15bf1d9fa8ac1abc67d0c3e04f07",
       "start_time": "Thu, 07 Nov 2013 09:41:43 GMT", "end_time": "Thu, 07 Nov 2013 09:42:17 GMT",
       "start_last_seq": 0, "end_last_seq": "26-g1AAAA", "recorded_seq": "26-g1AAAA",
       "missing_checked": 6, "missing_found": 6, "docs_read": 6, "docs_written": 6,
       "doc_write_failures": 0, "bulk_get_docs": 6, "bulk_get_attempts": 6}
    ]
  })");
  const ReplicationLog log = parse_log(doc);
  CHECK(log.exists);
  CHECK(log.rev == "0-2");
  CHECK(log.session_id == "04bf15bf1d9fa8ac1abc67d0c3e04f07");
  // An opaque string seq, byte for byte.
  CHECK(log.source_last_seq.get<std::string>() == doc["source_last_seq"].get<std::string>());
  REQUIRE(log.history.size() == 1);
  CHECK(log.history[0] == doc["history"][0]);
  CHECK(history_recorded_seq(log.history[0]) == "26-g1AAAA");

  const ReplicationStats s = ReplicationStats::from_history(log.history);
  CHECK(s.missing_checked == 6);
  CHECK(s.missing_found == 6);
  CHECK(s.docs_read == 6);
  CHECK(s.docs_written == 6);
  CHECK(s.doc_write_failures == 0);
  CHECK(s.bulk_get_docs == 6);
  CHECK(s.bulk_get_attempts == 6);

  // The same document on both sides: resume at its source_last_seq.
  const StartPoint start = compare_logs(log, log);
  CHECK(start.matched);
  CHECK(start.seq == doc["source_last_seq"]);
  CHECK(start.history == log.history);
}

TEST_CASE("§3.4 checkpoint document: PouchDB's shape and broken documents are tolerated") {
  const ReplicationLog pouch = parse_log(Json::parse(R"({"_id":"_local/8a7eLq3ekdP0pM0L.Y1Hzg==",
      "_rev":"0-7","session_id":"s-new","last_seq":123,"replicator":"pouchdb","version":1,
      "history":[{"last_seq":123,"session_id":"s-new"},{"last_seq":100,"session_id":"s-old"}]})"));
  CHECK(pouch.source_last_seq == 123);
  CHECK(pouch.history.size() == 2);
  CHECK(history_recorded_seq(pouch.history[1]) == 100);
  CHECK(history_session_id(pouch.history[1]) == "s-old");

  const ReplicationLog junk = parse_log(Json("not an object"));
  CHECK(junk.exists);
  CHECK(junk.session_id.is_null());
  CHECK(junk.source_last_seq == 0);
  CHECK(junk.history.empty());

  const ReplicationLog odd = parse_log(Json{{"history", {1, "x", Json::object()}}});
  CHECK(odd.history.size() == 1);  // non-objects dropped
  CHECK(history_recorded_seq(odd.history[0]) == 0);
  CHECK(ReplicationStats::from_entry(Json{{"docs_read", "7"}, {"docs_written", -3}}) ==
        ReplicationStats{});

  const ReplicationLog none = missing_log();
  CHECK_FALSE(none.exists);
  CHECK(none.session_id.is_null());
  CHECK(none.source_last_seq == 0);
}

TEST_CASE("§3.5 compare logs: divergent sessions with common history start at 30") {
  // Source log {session_id: S3, history: [S3@50, S2@30, S1@10]}, target log {session_id: S9,
  // history: [S9@70, S2@30, S1@10]}: S3 ≠ S9; S3 is not in the target history; S9 is not in the
  // rest of the source's; advance: S2 is in the target's → start at 30.
  const ReplicationLog source = log_of("S3", {entry("S3", 50), entry("S2", 30), entry("S1", 10)});
  const ReplicationLog target = log_of("S9", {entry("S9", 70), entry("S2", 30), entry("S1", 10)});
  const StartPoint start = compare_logs(source, target);
  CHECK(start.seq == 30);
  CHECK_FALSE(start.matched);
  // The history extended from here: the source entries after the common one.
  REQUIRE(start.history.size() == 1);
  CHECK(history_session_id(start.history[0]) == "S1");
}

TEST_CASE("§12 checkpoint compare: the rules (table)") {
  const Json since = "5-since";
  struct Row {
    const char* name;
    ReplicationLog source;
    ReplicationLog target;
    std::optional<Json> since_seq;
    Json seq;
    size_t history;
    bool from_since;
  };
  const Row rows[] = {
      {"same session → source_last_seq", log_of("S2", {entry("S2", 20), entry("S1", 10)}),
       log_of("S2", {entry("S2", 20)}), std::nullopt, 20, 2, false},
      {"same session overrides since_seq", log_of("S2", {entry("S2", 20)}),
       log_of("S2", {entry("S2", 20)}), since, 20, 1, false},
      {"no overlap → 0", log_of("A", {entry("A", 9)}), log_of("B", {entry("B", 7)}), std::nullopt,
       0, 0, false},
      {"no overlap, since_seq → since_seq", log_of("A", {entry("A", 9)}),
       log_of("B", {entry("B", 7)}), since, since, 0, true},
      {"only the source has a log → 0", log_of("A", {entry("A", 9)}), missing_log(), std::nullopt,
       0, 0, false},
      {"only the target has a log → 0", missing_log(), log_of("A", {entry("A", 9)}), std::nullopt,
       0, 0, false},
      {"only one side, since_seq → since_seq", missing_log(), log_of("A", {entry("A", 9)}), since,
       since, 0, true},
      {"no log anywhere → 0 (both session ids absent: equal)", missing_log(), missing_log(),
       std::nullopt, 0, 0, false},
      {"no log anywhere, since_seq → since_seq", missing_log(), missing_log(), since, since, 0,
       true},
      {"source entry found in the target's rest", log_of("S5", {entry("S5", 50), entry("S4", 40)}),
       log_of("T1", {entry("T1", 90), entry("T0", 80), entry("S4", 40)}), std::nullopt, 40, 0,
       false},
      {"target entry found in the source's rest",
       log_of("S5", {entry("S5", 50), entry("X", 45), entry("T1", 30), entry("S0", 5)}),
       log_of("T2", {entry("T2", 60), entry("T1", 30), entry("T0", 20)}), std::nullopt, 30, 1,
       false},
      {"common ancestor at seq 0 with since_seq → since_seq",
       log_of("A", {entry("A", 5), entry("Z", 0)}), log_of("B", {entry("B", 6), entry("Z", 0)}),
       since, since, 0, true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    const StartPoint start = compare_logs(r.source, r.target, r.since_seq);
    CHECK(start.seq == r.seq);
    CHECK(start.history.size() == r.history);
    CHECK(start.from_since_seq == r.from_since);
  }
}

TEST_CASE("§3.5 compare logs: target entry found → the target's entries after it") {
  const ReplicationLog source = log_of("S5", {entry("S5", 50), entry("T1", 30)});
  const ReplicationLog target = log_of("T2", {entry("T2", 60), entry("T1", 30), entry("T0", 20)});
  // S5 is not in the target; T2 is not in the source's rest; advance: S=T1, which is in the
  // target's rest [T1, T0] → T1's seq, and the SOURCE entries after it (none).
  const StartPoint start = compare_logs(source, target);
  CHECK(start.seq == 30);
  CHECK(start.history.empty());

  // Here the target's entry is found first: S=A not in [T2, B, T1]; T=T2 is in the source rest.
  const ReplicationLog s2 = log_of("A", {entry("A", 9), entry("T2", 7), entry("Q", 1)});
  const ReplicationLog t2 = log_of("T2x", {entry("T2", 7), entry("P", 3), entry("R", 2)});
  const StartPoint b = compare_logs(s2, t2);
  CHECK(b.seq == 7);
  REQUIRE(b.history.size() == 2);
  CHECK(history_session_id(b.history[0]) == "P");
}

TEST_CASE("§3.10 step 5 read-only source: resume from the target log alone") {
  const ReplicationLog target = log_of("S7", {entry("S7", "70-x"), entry("S6", "60-x")});
  const StartPoint ro =
      compare_logs(missing_log(), target, std::nullopt, SourceCheckpoints::kReadOnly);
  CHECK(ro.seq == "70-x");
  CHECK(ro.history.size() == 2);
  CHECK(ro.matched);
  // CouchDB's rule when the source is writable: no common session → 0.
  CHECK(compare_logs(missing_log(), target).seq == 0);
  // A source log that exists is compared as usual even in read-only mode.
  const ReplicationLog source = log_of("S1", {entry("S1", "10-x")});
  CHECK(compare_logs(source, target, std::nullopt, SourceCheckpoints::kReadOnly).seq == 0);
  // No target log either: since_seq or 0.
  CHECK(compare_logs(missing_log(), missing_log(), Json(3), SourceCheckpoints::kReadOnly).seq == 3);
}

TEST_CASE("§12 checkpoint write: a resumed run that copies one doc") {
  // The previous session S1 recorded seq "26-x" with docs_written 6. A new session resumes there,
  // copies one document and checkpoints at "27-x".
  const ReplicationLog prev = log_of("S1", {entry("S1", "26-x", 6)});
  const StartPoint start = compare_logs(prev, prev);
  ReplicationStats stats = ReplicationStats::from_history(start.history);
  CHECK(stats.docs_written == 6);
  ReplicationStats run;
  run.docs_written = 1;
  run.docs_read = 1;
  stats += run;

  CheckpointRecord rec;
  rec.session_id = "S2";
  rec.start_time = rfc1123(system_clock::time_point(seconds(1383817303)));
  rec.end_time = rfc1123(system_clock::time_point(seconds(1383817337)));
  rec.start_last_seq = start.seq;
  rec.through_seq = "27-x";
  rec.stats = stats;
  const Json body = checkpoint_body(rec, start.history);

  CHECK(body["session_id"] == "S2");
  CHECK(body["source_last_seq"] == "27-x");
  CHECK(body["replication_id_version"] == 4);
  REQUIRE(body["history"].size() == 2);
  const Json& e = body["history"][0];  // newest first
  CHECK(e["session_id"] == "S2");
  CHECK(e["start_time"] == "Thu, 07 Nov 2013 09:41:43 GMT");
  CHECK(e["end_time"] == "Thu, 07 Nov 2013 09:42:17 GMT");
  CHECK(e["start_last_seq"] == "26-x");  // the previous recorded_seq
  CHECK(e["end_last_seq"] == "27-x");
  CHECK(e["recorded_seq"] == "27-x");
  CHECK(e["docs_written"] == 7);  // cumulative: previous + 1
  CHECK(e["docs_read"] == 1);
  CHECK(body["history"][1]["session_id"] == "S1");
  // CouchDB's key order, so the document reads like CouchDB's.
  std::vector<std::string> keys;
  for (auto it = e.begin(); it != e.end(); ++it) keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"session_id", "start_time", "end_time", "start_last_seq",
                                         "end_last_seq", "recorded_seq", "missing_checked",
                                         "missing_found", "docs_read", "docs_written",
                                         "doc_write_failures", "bulk_get_docs",
                                         "bulk_get_attempts"});
  std::vector<std::string> top;
  for (auto it = body.begin(); it != body.end(); ++it) top.push_back(it.key());
  CHECK(top == std::vector<std::string>{"session_id", "source_last_seq", "replication_id_version",
                                        "history"});

  // A second checkpoint of the same session replaces its entry instead of adding one.
  rec.through_seq = "28-x";
  const Json again = checkpoint_body(rec, start.history);
  CHECK(again["history"].size() == 2);
  CHECK(again["history"][0]["recorded_seq"] == "28-x");
}

TEST_CASE("§12 checkpoint write: history is at most 50 entries, newest first") {
  std::vector<Json> kept;
  for (int i = 60; i > 0; --i) kept.push_back(entry(numbered("S", i).c_str(), i));
  CheckpointRecord rec;
  rec.session_id = "NEW";
  rec.start_last_seq = 60;
  rec.through_seq = 61;
  const Json body = checkpoint_body(rec, kept);
  REQUIRE(body["history"].size() == 50);
  CHECK(body["history"][0]["session_id"] == "NEW");
  CHECK(body["history"][1]["session_id"] == "S60");
  CHECK(body["history"][49]["session_id"] == "S12");
  CHECK(checkpoint_body(rec, kept, 3)["history"].size() == 3);
}

TEST_CASE("ReplicationStats: max, +=, scheduler names") {
  ReplicationStats a;
  a.docs_read = 5;
  a.docs_written = 1;
  ReplicationStats b;
  b.docs_read = 2;
  b.docs_written = 9;
  b.bulk_get_attempts = 3;
  const ReplicationStats m = ReplicationStats::max(a, b);
  CHECK(m.docs_read == 5);
  CHECK(m.docs_written == 9);
  CHECK(m.bulk_get_attempts == 3);
  a += b;
  CHECK(a.docs_read == 7);
  CHECK(a.docs_written == 10);
  const Json j = m.scheduler_json();
  CHECK(j["revisions_checked"] == 0);
  CHECK(j["missing_revisions_found"] == 0);
  CHECK(j["docs_read"] == 5);
  CHECK(j["docs_written"] == 9);
  CHECK(j["doc_write_failures"] == 0);
  CHECK(j["bulk_get_docs"] == 0);
  CHECK(j["bulk_get_attempts"] == 3);
}

TEST_CASE("§3.10 step 5: a 409 whose stored body equals ours is our own earlier write") {
  const Json sent = {{"_id", "_local/x"}, {"_rev", "0-3"}, {"session_id", "S"},
                     {"source_last_seq", "9-x"}, {"history", Json::array()}};
  Json read = {{"history", Json::array()}, {"source_last_seq", "9-x"}, {"session_id", "S"},
               {"_id", "_local/x"}, {"_rev", "0-4"}};
  CHECK(same_checkpoint(sent, read));  // _rev and key order do not matter
  read["source_last_seq"] = "10-x";
  CHECK_FALSE(same_checkpoint(sent, read));
}

TEST_CASE("§3.10 step 2: instance_start_time changes") {
  CHECK_FALSE(instance_start_time_changed("1383817303000000", "1383817303000000"));
  CHECK(instance_start_time_changed("1383817303000000", "1383817399000000"));
  CHECK_FALSE(instance_start_time_changed("0", "1383817399000000"));
  CHECK_FALSE(instance_start_time_changed("1383817303000000", "0"));
  CHECK(instance_start_time_changed_reason(Side::kSource) ==
        "instance_start_time on source database has changed since last checkpoint.");
  CHECK(instance_start_time_changed_reason(Side::kTarget) ==
        "instance_start_time on target database has changed since last checkpoint.");
}

TEST_CASE("rfc1123: checkpoint times") {
  CHECK(rfc1123(system_clock::time_point(seconds(1383817303))) == "Thu, 07 Nov 2013 09:41:43 GMT");
  CHECK(rfc1123(system_clock::time_point(seconds(0))) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(rfc1123(system_clock::time_point(seconds(1491419895)) + std::chrono::milliseconds(999)) ==
        "Wed, 05 Apr 2017 19:18:15 GMT");
}
