// The node's replications (replication-protocol.md §5.2, §8, §9): jobs made by POST /_replicate
// and by documents in `_replicator` databases, the runs that carry them out (job.h), their
// states, and when a job that crashed runs again.
//
//   state       when                                                  what happens next
//   pending     waiting for a run slot (max_jobs running)             runs when a slot frees
//   running     a run is going (possibly idle on a live feed)          ends: see below
//   crashing    its last run crashed                                  runs again after
//                                                                     job_backoff_delay(), or, when
//                                                                     its host gave no answer, as
//                                                                     soon as that host's probe does
//   completed   one-shot finished (terminal)                          its doc gets
//                                                                     `_replication_state: completed`
//   failed      bad doc, duplicate, unsupported filter, permanent     its doc gets `failed` + reason
//
// A host that gives no answer is probed by ONE probe (retry_policy.h host_probe_delay), however
// many jobs use it; every job waiting on it starts again, from its checkpoint, when it answers.
//
// `_replicator` documents: every database named `_replicator` or `<prefix>/_replicator` is
// followed through its changes (woken by the Notifier), so creating, changing or deleting a
// document starts, restarts or cancels its job, and jobs come back after a restart of the node.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "engine/write_policy.h"
#include "http/client/client.h"
#include "replicator/spec.h"
#include "replicator/tuning.h"

namespace divan::replicator {

struct SchedulerOptions {
  size_t max_jobs = tuning::kMaxJobs;  // runs at once; the others wait in `pending`
  std::chrono::milliseconds job_backoff_base = tuning::kJobBackoffBase;
  std::chrono::milliseconds job_backoff_cap = tuning::kJobBackoffCap;
  std::chrono::milliseconds host_probe_base = tuning::kHostProbeBase;
  std::chrono::milliseconds host_probe_cap = tuning::kHostProbeCap;
  std::string node_name = "divan@127.0.0.1";  // `node` in _scheduler answers
};

// A job's row in the scheduler's answers, by state (for `states=` filters and tests).
struct JobSummary {
  std::string id;     // full replication id ("" for a doc that has no job: failed)
  std::string state;  // state_name()
  std::optional<std::string> database;  // _replicator db, for doc jobs
  std::optional<std::string> doc_id;
};

class Scheduler {
 public:
  Scheduler(boost::asio::io_context& ioc, engine::Catalog& catalog, changes::Notifier& notifier,
            http::client::Client& client, SchedulerOptions options = {});
  ~Scheduler();  // stop(); REQUIRES: idle(), or the io_context is destroyed first
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts following the `_replicator` databases (and the jobs their documents describe).
  void start();
  // Stops every run (cancelling their requests), every follower and probe, and forgets every job.
  // Does not wait: the io_context must run until idle() for them to end (tools/divan.cpp). Later
  // calls do nothing.
  void stop();
  // No run, follower or probe is left (after stop(): everything has ended).
  bool idle() const;

  // POST /_replicate (§8), as `writer` (its user runs the local writes). Answers:
  //   one-shot: when the run ends, {"ok":true, …final checkpoint…} (or no_changes), or the
  //     error it crashed with (db_not_found, unauthorized, …);
  //   continuous: at once, {"ok":true,"_local_id":"<id>"} (an existing identical job is kept);
  //   cancel: {"ok":true,"_local_id":"<id>"}, or not_found.
  // The JSON answer and whether it is 202 (continuous) come back together.
  struct ReplicateAnswer {
    Json body;
    bool accepted = false;  // 202 rather than 200
  };
  boost::asio::awaitable<Result<ReplicateAnswer>> replicate(ReplicationSpec spec,
                                                            engine::Writer writer);

  // Creates the database `endpoint` names unless it exists, as create_target does (§3.2): with
  // `spec`'s tuning and create_target_params, local writes as `writer`. Errors: db_not_found for
  // a host that does not answer, else what the peer answered (unauthorized, forbidden, …).
  boost::asio::awaitable<Result<void>> create_database(const Endpoint& endpoint,
                                                       const ReplicationSpec& spec,
                                                       engine::Writer writer);

  // GET /_scheduler/jobs[/{id}] (§9.2), GET /_scheduler/docs[/{db}[/{docid}]] (§9.3): the JSON
  // answers. `states` empty: all.
  Json jobs(size_t limit, size_t skip) const;
  std::optional<Json> job(std::string_view id) const;
  Json docs(const std::optional<std::string>& db, size_t limit, size_t skip,
            const std::vector<std::string>& states) const;
  std::optional<Json> doc(std::string_view db, std::string_view doc_id) const;
  // GET /_active_tasks (http-api.md §3): one entry per running replication.
  std::vector<Json> active_tasks() const;
  // One job's state name, its `info` as _scheduler/jobs shows it (docs_written, changes_pending,
  // lag_seconds, …) and its last error ("" if none). nullopt: no such job.
  struct JobStatus {
    std::string state;
    Json info;
    std::string last_error;
  };
  std::optional<JobStatus> status(std::string_view id) const;

  // Every job and doc, briefly (tests, health).
  std::vector<JobSummary> summaries() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace divan::replicator
