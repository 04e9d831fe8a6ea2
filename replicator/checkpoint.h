// Checkpoints: the `_local/<rep id>` documents on both sides that let a replication resume.
//
// spec: replication-protocol.md §3.4 (reading them; the document's shape), §3.5 (compare_logs:
// where to start, and which history to extend), §3.10 (what the next checkpoint records, the
// read-only source rule, the 409 rule), §12 ("Checkpoint compare" and "Checkpoint write").
//
// A checkpoint names a source seq through which everything has been written, and a history of
// sessions. The two sides must agree on a session (the same `session_id` at the top, or a session
// common to both histories) before its seq can be trusted: a target restored from a backup, or a
// source deleted and recreated, then no longer share the newest session, and the walk in
// compare_logs falls back to the newest one they do share — or to 0 (correct but slow).
//
// Seqs are opaque JSON values (CouchDB 3: strings like "26-g1AAAA…"; Divan and CouchDB 1: numbers;
// PouchDB's `last_seq`): kept and written back verbatim, never parsed, compared or incremented.
//
// Pure functions over JSON values; thread-safe. No clock is read: times come in as arguments.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "replicator/endpoint.h"
#include "replicator/tuning.h"

namespace divan::replicator {

// The counters of a replication (spec §3.10 step 3), as checkpoint history entries store them.
// Cumulative across sessions: a job starts from the newest kept history entry's counters
// (from_history) and adds this run's work.
struct ReplicationStats {
  uint64_t missing_checked = 0;     // revs asked about in _revs_diff (_scheduler: revisions_checked)
  uint64_t missing_found = 0;       // of those, missing on the target (missing_revisions_found)
  uint64_t docs_read = 0;           // revisions fetched from the source
  uint64_t docs_written = 0;        // revisions the target accepted
  uint64_t doc_write_failures = 0;  // revisions the target refused (forbidden, too large, …)
  uint64_t bulk_get_docs = 0;       // revisions fetched through _bulk_get
  uint64_t bulk_get_attempts = 0;   // revisions asked of _bulk_get (docs / attempts = its success)

  // The counters of a history entry (absent or non-numeric fields count as 0); zero for an
  // empty history.
  static ReplicationStats from_history(const std::vector<Json>& history);
  static ReplicationStats from_entry(const Json& entry);
  // Field by field maximum (CouchDB couch_replicator_stats:max_stats): a job restarted by the
  // scheduler keeps the larger of what it counted itself and what the checkpoint says.
  static ReplicationStats max(const ReplicationStats& a, const ReplicationStats& b);

  ReplicationStats& operator+=(const ReplicationStats& other);
  bool operator==(const ReplicationStats&) const = default;

  // The counters as `_scheduler/*` `info` and `_replicator` `_replication_stats` name them
  // (revisions_checked, missing_revisions_found, docs_read, docs_written, doc_write_failures,
  // bulk_get_docs, bulk_get_attempts).
  Json scheduler_json() const;
};

// One side's checkpoint document, read tolerantly: CouchDB's shape (§3.4), ours (the same),
// PouchDB's (`last_seq` instead of `source_last_seq`/`recorded_seq`), or nothing at all.
struct ReplicationLog {
  bool exists = false;            // false: the GET answered 404 (CouchDB uses `{}` then)
  std::string rev;                // `_rev`, for the next PUT; empty when absent
  Json session_id;                // null when absent (two absent session ids are equal)
  Json source_last_seq = 0;       // verbatim; 0 when absent
  std::vector<Json> history;      // the entries verbatim, newest first (non-objects dropped)
  Json body = Json::object();     // the document as read
};

// A document as `GET <db>/_local/<id>` returned it. Anything that is not an object yields an
// empty log with exists = true (a broken checkpoint is ignored, not fatal).
ReplicationLog parse_log(const Json& doc);
// The log of a side that answered 404.
ReplicationLog missing_log();

// Each history entry's session id and seq (recorded_seq; PouchDB: last_seq; absent: 0).
Json history_session_id(const Json& entry);
Json history_recorded_seq(const Json& entry);

// Whether this job can write checkpoints to its source (§3.10 step 5 "Ours").
enum class SourceCheckpoints {
  kWritable,  // both sides are checkpointed (CouchDB)
  kReadOnly,  // the source refused a `_local` write with 401/403: only the target is checkpointed
};

// Where a replication starts, and the history its next checkpoint extends.
struct StartPoint {
  Json seq = 0;               // the `since` of the first changes request (opaque)
  std::vector<Json> history;  // the history the next checkpoint prepends its entry to
  bool matched = false;       // both logs named the same newest session (CouchDB logs "records
                              // differ" otherwise); false also when a common ancestor was found
  bool from_since_seq = false;  // seq is the spec's since_seq (nothing better was found)
};

// compare_replication_logs (§3.5), exactly:
//   1. the same session_id at the top of both (including both absent) → the source's
//      source_last_seq (absent → 0) and the source's history;
//   2. else walk both histories newest first: the first source entry S whose session occurs in the
//      target's remaining entries → S's recorded_seq and the source entries after S; else the
//      first target entry T whose session occurs in the source entries after S → T's recorded_seq
//      and the target entries after T; either list exhausted → 0 and no history;
//   3. a result of 0 (the JSON number) with a `since_seq` → since_seq (a checkpoint found
//      overrides since_seq, which is part of the replication id anyway).
// With SourceCheckpoints::kReadOnly and no source log but a target log, the target alone is
// trusted: its source_last_seq and history (§3.10 step 5 "Ours"; PouchDB does the same). Risk
// accepted there: a source deleted and recreated under the same URL is not noticed.
StartPoint compare_logs(const ReplicationLog& source, const ReplicationLog& target,
                        const std::optional<Json>& since_seq = std::nullopt,
                        SourceCheckpoints source_checkpoints = SourceCheckpoints::kWritable);

// What the next checkpoint of a session records (§3.10 step 3).
struct CheckpointRecord {
  std::string session_id;  // this run's session (a fresh random 32-hex id per job start)
  std::string start_time;  // RFC 1123 (rfc1123()), when the session started
  std::string end_time;    // RFC 1123, now
  Json start_last_seq;     // StartPoint::seq: where this session started
  Json through_seq;        // SeqTracker::through_seq(): what is recorded now
  ReplicationStats stats;  // cumulative (starting from ReplicationStats::from_history)
};

// The body to PUT on both sides (§3.10 step 4), without `_id`/`_rev` (the caller adds them):
// {"session_id", "source_last_seq": through_seq, "replication_id_version": 4, "history": [the new
// entry, then `kept`…]} with at most `max_history` entries, newest first. `kept` is always
// StartPoint::history: every checkpoint of one session replaces that session's entry instead of
// piling up one entry per checkpoint (CouchDB prepends to the history found at start).
Json checkpoint_body(const CheckpointRecord& record, const std::vector<Json>& kept,
                     size_t max_history = tuning::kCheckpointHistory);

// §3.10 step 5: after a 409 on a checkpoint PUT, the document is re-read; if it equals what was
// sent (ignoring `_id` and `_rev`), an earlier attempt succeeded and its rev is taken.
bool same_checkpoint(const Json& sent, const Json& read);

// §3.10 step 2: the instance_start_time a side reports now differs from the one seen at job start
// (neither being "0", which CouchDB 2+ clusters always answer): the database was recreated, so the
// job must restart and compare the logs again.
bool instance_start_time_changed(const Json& at_start, const Json& now);
// CouchDB's crash reason for it.
std::string instance_start_time_changed_reason(Side side);

// RFC 1123 date in GMT, as checkpoint histories record times: "Thu, 07 Nov 2013 09:41:43 GMT".
std::string rfc1123(std::chrono::system_clock::time_point t);

}  // namespace divan::replicator
