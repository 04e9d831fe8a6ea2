// Checkpoint logs. spec: replication-protocol.md §3.4, §3.5, §3.10. CouchDB reference:
// couch_replicator_scheduler_job:compare_replication_logs/2, compare_rep_history/2, do_checkpoint.
#include "replicator/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace divan::replicator {
namespace {

uint64_t counter(const Json& entry, const char* key) {
  if (!entry.is_object()) return 0;
  auto it = entry.find(key);
  if (it == entry.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return it->get<int64_t>() < 0 ? 0 : it->get<uint64_t>();
  return 0;
}

// Does any entry of [first, last) belong to `session`?
bool has_session(const Json& session, std::vector<Json>::const_iterator first,
                 std::vector<Json>::const_iterator last) {
  return std::any_of(first, last, [&](const Json& e) { return history_session_id(e) == session; });
}

bool is_zero(const Json& seq) { return seq.is_number() && seq == 0; }

}  // namespace

ReplicationStats ReplicationStats::from_entry(const Json& entry) {
  ReplicationStats s;
  s.missing_checked = counter(entry, "missing_checked");
  s.missing_found = counter(entry, "missing_found");
  s.docs_read = counter(entry, "docs_read");
  s.docs_written = counter(entry, "docs_written");
  s.doc_write_failures = counter(entry, "doc_write_failures");
  s.bulk_get_docs = counter(entry, "bulk_get_docs");
  s.bulk_get_attempts = counter(entry, "bulk_get_attempts");
  return s;
}

ReplicationStats ReplicationStats::from_history(const std::vector<Json>& history) {
  return history.empty() ? ReplicationStats{} : from_entry(history.front());
}

ReplicationStats ReplicationStats::max(const ReplicationStats& a, const ReplicationStats& b) {
  ReplicationStats m;
  m.missing_checked = std::max(a.missing_checked, b.missing_checked);
  m.missing_found = std::max(a.missing_found, b.missing_found);
  m.docs_read = std::max(a.docs_read, b.docs_read);
  m.docs_written = std::max(a.docs_written, b.docs_written);
  m.doc_write_failures = std::max(a.doc_write_failures, b.doc_write_failures);
  m.bulk_get_docs = std::max(a.bulk_get_docs, b.bulk_get_docs);
  m.bulk_get_attempts = std::max(a.bulk_get_attempts, b.bulk_get_attempts);
  return m;
}

ReplicationStats& ReplicationStats::operator+=(const ReplicationStats& o) {
  missing_checked += o.missing_checked;
  missing_found += o.missing_found;
  docs_read += o.docs_read;
  docs_written += o.docs_written;
  doc_write_failures += o.doc_write_failures;
  bulk_get_docs += o.bulk_get_docs;
  bulk_get_attempts += o.bulk_get_attempts;
  return *this;
}

Json ReplicationStats::scheduler_json() const {
  Json j;
  j["revisions_checked"] = missing_checked;
  j["missing_revisions_found"] = missing_found;
  j["docs_read"] = docs_read;
  j["docs_written"] = docs_written;
  j["doc_write_failures"] = doc_write_failures;
  j["bulk_get_docs"] = bulk_get_docs;
  j["bulk_get_attempts"] = bulk_get_attempts;
  return j;
}

Json history_session_id(const Json& entry) {
  if (!entry.is_object()) return nullptr;
  auto it = entry.find("session_id");
  return it == entry.end() ? Json(nullptr) : *it;
}

Json history_recorded_seq(const Json& entry) {
  if (!entry.is_object()) return 0;
  if (auto it = entry.find("recorded_seq"); it != entry.end()) return *it;
  if (auto it = entry.find("last_seq"); it != entry.end()) return *it;  // PouchDB
  return 0;
}

ReplicationLog parse_log(const Json& doc) {
  ReplicationLog log;
  log.exists = true;
  if (!doc.is_object()) return log;
  log.body = doc;
  if (auto it = doc.find("_rev"); it != doc.end() && it->is_string()) log.rev = *it;
  if (auto it = doc.find("session_id"); it != doc.end()) log.session_id = *it;
  if (auto it = doc.find("source_last_seq"); it != doc.end()) {
    log.source_last_seq = *it;
  } else if (auto last = doc.find("last_seq"); last != doc.end()) {
    log.source_last_seq = *last;  // PouchDB
  }
  if (auto it = doc.find("history"); it != doc.end() && it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object()) log.history.push_back(entry);
    }
  }
  return log;
}

ReplicationLog missing_log() { return ReplicationLog{}; }

StartPoint compare_logs(const ReplicationLog& source, const ReplicationLog& target,
                        const std::optional<Json>& since_seq,
                        SourceCheckpoints source_checkpoints) {
  StartPoint start;
  if (source_checkpoints == SourceCheckpoints::kReadOnly && !source.exists && target.exists) {
    // §3.10 step 5 "Ours": the source cannot hold a log, so the target's is the only one.
    start.seq = target.source_last_seq;
    start.history = target.history;
    start.matched = true;
  } else if (source.session_id == target.session_id) {
    start.seq = source.source_last_seq;
    start.history = source.history;
    start.matched = true;
  } else {
    // compare_rep_history: walk both histories newest first.
    const auto& s = source.history;
    const auto& t = target.history;
    auto si = s.begin();
    auto ti = t.begin();
    for (; si != s.end() && ti != t.end(); ++si, ++ti) {
      if (has_session(history_session_id(*si), ti, t.end())) {
        start.seq = history_recorded_seq(*si);
        start.history.assign(si + 1, s.end());
        break;
      }
      if (has_session(history_session_id(*ti), si + 1, s.end())) {
        start.seq = history_recorded_seq(*ti);
        start.history.assign(ti + 1, t.end());
        break;
      }
    }
    // Either list exhausted: no common ancestry, a full replication from 0 (start's defaults).
  }
  if (since_seq && is_zero(start.seq)) {
    start.seq = *since_seq;
    start.from_since_seq = true;
  }
  return start;
}

Json checkpoint_body(const CheckpointRecord& record, const std::vector<Json>& kept,
                     size_t max_history) {
  Json entry;
  entry["session_id"] = record.session_id;
  entry["start_time"] = record.start_time;
  entry["end_time"] = record.end_time;
  entry["start_last_seq"] = record.start_last_seq;
  entry["end_last_seq"] = record.through_seq;
  entry["recorded_seq"] = record.through_seq;
  entry["missing_checked"] = record.stats.missing_checked;
  entry["missing_found"] = record.stats.missing_found;
  entry["docs_read"] = record.stats.docs_read;
  entry["docs_written"] = record.stats.docs_written;
  entry["doc_write_failures"] = record.stats.doc_write_failures;
  entry["bulk_get_docs"] = record.stats.bulk_get_docs;
  entry["bulk_get_attempts"] = record.stats.bulk_get_attempts;

  Json history = Json::array();
  if (max_history > 0) history.push_back(std::move(entry));
  for (const auto& old : kept) {
    if (history.size() >= max_history) break;
    history.push_back(old);
  }

  Json body;
  body["session_id"] = record.session_id;
  body["source_last_seq"] = record.through_seq;
  body["replication_id_version"] = tuning::kReplicationIdVersion;
  body["history"] = std::move(history);
  return body;
}

bool same_checkpoint(const Json& sent, const Json& read) {
  if (!sent.is_object() || !read.is_object()) return sent == read;
  auto strip = [](const Json& doc) {
    Json out = doc;
    out.erase("_id");
    out.erase("_rev");
    return out;
  };
  // Key order is not meaningful in JSON; compare as unordered objects.
  return nlohmann::json(strip(sent)) == nlohmann::json(strip(read));
}

bool instance_start_time_changed(const Json& at_start, const Json& now) {
  auto is_zero_text = [](const Json& v) { return v.is_string() && v == "0"; };
  if (is_zero_text(at_start) || is_zero_text(now)) return false;
  return at_start != now;
}

std::string instance_start_time_changed_reason(Side side) {
  return std::string("instance_start_time on ") + side_name(side) +
         " database has changed since last checkpoint.";
}

std::string rfc1123(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // Fixed English names: strftime's %a/%b would follow the process locale.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[80];  // fits any int fields, so no truncation warning
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

}  // namespace divan::replicator
