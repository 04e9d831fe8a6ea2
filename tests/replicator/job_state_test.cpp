// spec: replication-protocol.md §5.2 (states, history events, consecutive crashes, health
// threshold), §9.2/§9.3 (how _scheduler shows them).
#include <doctest/doctest.h>

#include "replicator/job_state.h"
#include "replicator_test_util.h"

using namespace divan::replicator;
using std::chrono::seconds;
using Json = JobHistory::Json;

using divan::replicator::test::numbered;

namespace {

TimePoint at(int64_t s) { return TimePoint(seconds(s)); }

JobEvent crashed(int64_t t = 0) { return {JobEvent::Type::kCrashed, at(t), "boom"}; }
JobEvent started(int64_t t = 0) { return {JobEvent::Type::kStarted, at(t), {}}; }
JobEvent stopped(int64_t t = 0) { return {JobEvent::Type::kStopped, at(t), {}}; }
JobEvent added(int64_t t = 0) { return {JobEvent::Type::kAdded, at(t), {}}; }

// `newest_first` as CouchDB writes its tables: the first event is the newest.
JobHistory history(std::vector<JobEvent> newest_first) {
  JobHistory h;
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) h.add(*it);
  return h;
}

}  // namespace

TEST_CASE("job states: CouchDB's names, and which are terminal") {
  struct Row {
    JobState state;
    const char* name;
    bool terminal;
  };
  const Row rows[] = {
      {JobState::kInitializing, "initializing", false}, {JobState::kError, "error", false},
      {JobState::kPending, "pending", false},           {JobState::kRunning, "running", false},
      {JobState::kCrashing, "crashing", false},         {JobState::kCompleted, "completed", true},
      {JobState::kFailed, "failed", true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(std::string(state_name(r.state)) == r.name);
    CHECK(parse_state(r.name) == r.state);
    CHECK(is_terminal(r.state) == r.terminal);
  }
  CHECK_FALSE(parse_state("triggered").has_value());  // a 1.x/2.x doc state, not a job state
  CHECK_FALSE(parse_state("Running").has_value());
}

TEST_CASE("§5.2 consecutive crashes (CouchDB's table, health threshold 120 s)") {
  struct Row {
    unsigned expected;
    std::vector<JobEvent> newest_first;
  };
  const Row rows[] = {
      {0, {}},
      {0, {added()}},
      {0, {stopped()}},
      {0, {crashed()}},  // a crash with nothing before it does not count
      {1, {crashed(), added()}},
      {1, {crashed(), crashed()}},
      {1, {crashed(), stopped()}},
      {3, {crashed(), crashed(), crashed(), added()}},
      {2, {crashed(), crashed(), stopped()}},
      {1, {crashed(), started(), added()}},
      {2, {crashed(3), started(2), crashed(1), started(0)}},
      {0, {stopped(3), started(2), crashed(1), started(0)}},  // a clean run ends the streak
      {1, {crashed(3), started(2), stopped(1), started(0)}},
      {0, {crashed(999), started(0)}},  // ran healthily for longer than the threshold
      {1, {crashed(999), started(998), crashed(997), started(0)}},
      {1, {crashed(120), started(0)}},  // exactly the threshold still counts (strictly greater ends)
      {0, {crashed(121), started(0)}},
  };
  for (const auto& r : rows) {
    CAPTURE(r.newest_first.size());
    CHECK(history(r.newest_first).consecutive_crashes(seconds(120)) == r.expected);
  }
  // A non-default threshold.
  CHECK(history({crashed(11), started(0)}).consecutive_crashes(seconds(10)) == 0);
  CHECK(history({crashed(10), started(0)}).consecutive_crashes(seconds(10)) == 1);
}

TEST_CASE("§5.2 job history: newest first, at most 20 events") {
  JobHistory h;
  h.added(at(0));
  h.started(at(1));
  for (int i = 0; i < 30; ++i) h.crashed(at(2 + i), numbered("r", i));
  REQUIRE(h.events().size() == 20);
  CHECK(h.events().front().reason == "r29");
  CHECK(h.events().back().reason == "r10");
  CHECK(h.latest_crash() == at(31));
  REQUIRE(h.latest_crash_reason() != nullptr);
  CHECK(*h.latest_crash_reason() == "r29");
  CHECK_FALSE(h.last_started().has_value());  // dropped off the end
  CHECK(h.last_updated() == at(31));
  // 20 crashes in a row; the oldest has nothing before it in the history, so 19 count.
  CHECK(h.consecutive_crashes() == 19);

  JobHistory small(3);
  small.added(at(0));
  small.started(at(1));
  small.stopped(at(2));
  small.started(at(3));
  CHECK(small.events().size() == 3);
  CHECK(small.events().back().type == JobEvent::Type::kStarted);
  CHECK(small.last_started() == at(3));
  CHECK_FALSE(small.latest_crash().has_value());
  CHECK(small.latest_crash_reason() == nullptr);
}

TEST_CASE("§9.2 job history as _scheduler/jobs shows it") {
  JobHistory h;
  h.added(at(1491419895));
  h.started(at(1491419895));
  h.crashed(at(1491419900), "db_not_found: could not open http://h/missing/");
  const Json j = h.to_json();
  REQUIRE(j.size() == 3);
  CHECK(j[0] == Json{{"timestamp", "2017-04-05T19:18:20Z"},
                     {"type", "crashed"},
                     {"reason", "db_not_found: could not open http://h/missing/"}});
  CHECK(j[1] == Json{{"timestamp", "2017-04-05T19:18:15Z"}, {"type", "started"}});
  CHECK(j[2] == Json{{"timestamp", "2017-04-05T19:18:15Z"}, {"type", "added"}});
}

TEST_CASE("§9.3 scheduler state of a job that is neither completed nor failed") {
  CHECK(scheduler_state(true, history({crashed(1), started(0)})) == JobState::kRunning);
  CHECK(scheduler_state(false, history({crashed(1), started(0)})) == JobState::kCrashing);
  // Crashed long after starting: zero consecutive crashes, still shown as crashing.
  CHECK(scheduler_state(false, history({crashed(999), started(0)})) == JobState::kCrashing);
  CHECK(scheduler_state(false, history({stopped(1), started(0)})) == JobState::kPending);
  CHECK(scheduler_state(false, history({added(0)})) == JobState::kPending);
  CHECK(scheduler_state(false, JobHistory()) == JobState::kPending);
}

TEST_CASE("iso8601: _scheduler times") {
  CHECK(iso8601(at(1491419895)) == "2017-04-05T19:18:15Z");
  CHECK(iso8601(at(0)) == "1970-01-01T00:00:00Z");
  CHECK(iso8601(at(1491419895) + std::chrono::milliseconds(999)) == "2017-04-05T19:18:15Z");
  CHECK(std::string(event_name(JobEvent::Type::kAdded)) == "added");
  CHECK(std::string(event_name(JobEvent::Type::kStopped)) == "stopped");
}
