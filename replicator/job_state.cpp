// Job states and histories. spec: replication-protocol.md §5.2, §9.2, §9.3.
#include "replicator/job_state.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

namespace divan::replicator {
namespace {

constexpr std::array<std::pair<JobState, const char*>, 7> kStateNames{{
    {JobState::kInitializing, "initializing"},
    {JobState::kError, "error"},
    {JobState::kPending, "pending"},
    {JobState::kRunning, "running"},
    {JobState::kCrashing, "crashing"},
    {JobState::kCompleted, "completed"},
    {JobState::kFailed, "failed"},
}};

}  // namespace

const char* state_name(JobState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<JobState> parse_state(std::string_view name) {
  for (const auto& [s, n] : kStateNames) {
    if (name == n) return s;
  }
  return std::nullopt;
}

bool is_terminal(JobState state) {
  return state == JobState::kCompleted || state == JobState::kFailed;
}

const char* event_name(JobEvent::Type type) {
  switch (type) {
    case JobEvent::Type::kAdded:
      return "added";
    case JobEvent::Type::kStarted:
      return "started";
    case JobEvent::Type::kStopped:
      return "stopped";
    case JobEvent::Type::kCrashed:
      return "crashed";
  }
  return "unknown";
}

void JobHistory::add(JobEvent event) {
  events_.push_front(std::move(event));
  while (events_.size() > max_events_) events_.pop_back();
}

unsigned JobHistory::consecutive_crashes(std::chrono::seconds health_threshold) const {
  unsigned count = 0;
  for (size_t i = 0; i < events_.size(); ++i) {
    const JobEvent& e = events_[i];
    const bool has_prev = i + 1 < events_.size();
    if (e.type == JobEvent::Type::kCrashed && has_prev) {
      if (e.time - events_[i + 1].time > health_threshold) return count;  // healthy before it
      ++count;
      continue;
    }
    if (e.type == JobEvent::Type::kStopped && has_prev &&
        events_[i + 1].type == JobEvent::Type::kStarted) {
      return count;  // a clean run ended the streak
    }
  }
  return count;
}

std::optional<TimePoint> JobHistory::latest_crash() const {
  for (const auto& e : events_) {
    if (e.type == JobEvent::Type::kCrashed) return e.time;
  }
  return std::nullopt;
}

const std::string* JobHistory::latest_crash_reason() const {
  for (const auto& e : events_) {
    if (e.type == JobEvent::Type::kCrashed) return &e.reason;
  }
  return nullptr;
}

std::optional<TimePoint> JobHistory::last_started() const {
  for (const auto& e : events_) {
    if (e.type == JobEvent::Type::kStarted) return e.time;
  }
  return std::nullopt;
}

std::optional<TimePoint> JobHistory::last_updated() const {
  if (events_.empty()) return std::nullopt;
  return events_.front().time;
}

JobHistory::Json JobHistory::to_json() const {
  Json out = Json::array();
  for (const auto& e : events_) {
    Json j;
    j["timestamp"] = iso8601(e.time);
    j["type"] = event_name(e.type);
    if (e.type == JobEvent::Type::kCrashed) j["reason"] = e.reason;
    out.push_back(std::move(j));
  }
  return out;
}

JobState scheduler_state(bool running, const JobHistory& history) {
  if (running) return JobState::kRunning;
  const auto& events = history.events();
  if (!events.empty() && events.front().type == JobEvent::Type::kCrashed) {
    return JobState::kCrashing;
  }
  return JobState::kPending;
}

std::string iso8601(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // fits any int fields, so no truncation warning
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace divan::replicator
