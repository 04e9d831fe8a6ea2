// Job states and job histories, as the scheduler keeps them and `_scheduler/*` reports them.
//
// spec: replication-protocol.md §5.2 (states, history events, consecutive crashes, health
// threshold), §9.2/§9.3 (how they are shown). CouchDB reference: couch_replicator_scheduler
// (update_history, consecutive_crashes, job_summary, job_ejson).
//
// A job's history is its last 20 events, newest first: `added` (the scheduler learnt of it),
// `started`, `stopped` (by the scheduler, cleanly), `crashed` (with the reason). The number of
// consecutive crashes, read off the history, drives the backoff (retry_policy.h) and is what
// `_scheduler/docs` shows as `error_count`; a job that runs longer than the health threshold
// without crashing starts a fresh streak.
//
// Value types; not thread-safe (owned by the scheduler's strand). No clock is read: every event
// carries the time the caller gives it.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "replicator/tuning.h"

namespace divan::replicator {

using TimePoint = std::chrono::system_clock::time_point;

// Named as CouchDB spells them in `_scheduler/docs` `state` (§5.2 table).
enum class JobState {
  kInitializing,  // doc seen, job being built
  kError,         // could not build the job (e.g. filter fetch failed); retried with backoff
  kPending,       // valid, waiting for a run slot
  kRunning,       // running (possibly idle on a live feed)
  kCrashing,      // last run crashed; waiting out its backoff
  kCompleted,     // one-shot finished (terminal)
  kFailed,        // invalid doc, duplicate replication, or unrecoverable (terminal)
};

// "initializing", "error", "pending", "running", "crashing", "completed", "failed".
const char* state_name(JobState state);
std::optional<JobState> parse_state(std::string_view name);
// completed and failed: the job never runs again (its `_replicator` doc records the state).
bool is_terminal(JobState state);

struct JobEvent {
  enum class Type { kAdded, kStarted, kStopped, kCrashed };
  Type type = Type::kAdded;
  TimePoint time;
  std::string reason;  // kCrashed: why (the crash reasons of retry_policy.h)
};

// "added", "started", "stopped", "crashed".
const char* event_name(JobEvent::Type type);

class JobHistory {
 public:
  using Json = nlohmann::ordered_json;

  explicit JobHistory(size_t max_events = tuning::kJobHistory) : max_events_(max_events) {}

  // Records `event` as the newest; the oldest events beyond max_events are dropped.
  void add(JobEvent event);
  void added(TimePoint t) { add({JobEvent::Type::kAdded, t, {}}); }
  void started(TimePoint t) { add({JobEvent::Type::kStarted, t, {}}); }
  void stopped(TimePoint t) { add({JobEvent::Type::kStopped, t, {}}); }
  void crashed(TimePoint t, std::string reason) {
    add({JobEvent::Type::kCrashed, t, std::move(reason)});
  }

  // Newest first.
  const std::deque<JobEvent>& events() const { return events_; }

  // Crashes in a row (§5.2): walking from the newest event, each `crashed` counts while it
  // happened within `health_threshold` of the event before it; a crash after a longer healthy
  // stretch ends the streak, as does a clean `stopped` right after a `started`. A crash with no
  // event before it does not count (CouchDB's table: [crashed] → 0).
  unsigned consecutive_crashes(std::chrono::seconds health_threshold = tuning::kHealthThreshold) const;

  // The newest crash's time / reason, if any crash is in the history.
  std::optional<TimePoint> latest_crash() const;
  const std::string* latest_crash_reason() const;
  // The newest `started`, if any.
  std::optional<TimePoint> last_started() const;
  // When anything last happened to the job (`_scheduler/docs` last_updated).
  std::optional<TimePoint> last_updated() const;

  // `_scheduler/jobs` `history`: [{"timestamp": iso8601, "type": …, "reason": … (crashes)}, …].
  Json to_json() const;

 private:
  size_t max_events_;
  std::deque<JobEvent> events_;
};

// The state `_scheduler` shows for a job that is neither completed nor failed (CouchDB
// job_summary): running → running; not running and the newest event is a crash → crashing;
// otherwise pending.
JobState scheduler_state(bool running, const JobHistory& history);

// "2017-04-05T19:18:15Z", as `_scheduler/*` and `_replication_state_time` write times (UTC,
// whole seconds).
std::string iso8601(TimePoint t);

}  // namespace divan::replicator
