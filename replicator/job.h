// One run of a replication (replication-protocol.md §2), as a coroutine on its own strand: read
// both checkpoints and pick the start seq (§3.4–3.5), then overlap the stages — one reader of the
// source's changes feed hands batches to up to `worker_processes` workers, each doing
// revs_diff → fetch → write for its batch (§3.6–3.9) — and checkpoint what is done (§3.10):
// after batches (at most every tuning::kMinCheckpointSpacing), and at the end.
//
// A one-shot run ends when the feed is exhausted and every batch is written (completed). A
// continuous run reads a live feed until it is stopped. A run that cannot go on crashes: its
// reason (CouchDB's texts, retry_policy.h) goes to the scheduler, which starts a new run later
// (from the checkpoints). The retry decisions themselves are all retry_policy.h's.
//
// Thread-safety: run() executes on the strand it is spawned on; request_stop(), stop() and
// progress() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "http/client/client.h"
#include "http/client/stop_token.h"
#include "replicator/checkpoint.h"
#include "replicator/peer.h"
#include "replicator/rep_id.h"
#include "replicator/spec.h"

namespace divan::replicator {

// What a run shows while it works (_scheduler/jobs `info`, _active_tasks).
struct JobProgress {
  ReplicationStats stats;         // cumulative, as the checkpoint history counts
  Json source_seq = 0;            // the newest seq read from the feed
  Json through_seq = 0;           // every change up to here is on the target
  Json checkpointed_source_seq = 0;
  std::optional<uint64_t> changes_pending;  // changes the source has beyond what was read
  // When the target last held everything the source had (caught up); lag = now − this while
  // changes are pending or in flight, else 0.
  std::chrono::system_clock::time_point caught_up_at;
  bool caught_up = false;
  std::chrono::system_clock::time_point started_at;
  std::chrono::system_clock::time_point updated_at;
  bool source_read_only = false;  // the source refused our checkpoint (§3.10 step 5 "Ours")
};

struct RunOutcome {
  enum class Kind {
    kCompleted,  // one-shot: everything written and checkpointed
    kStopped,    // request_stop()/stop(): checkpointed what was done
    kCrashed,    // retry later (job backoff), `reason` says why
    kHostDown,   // no answer from `host`: retry once the host answers again
    kFailed,     // never retry: `reason` says why
  };
  Kind kind = Kind::kCrashed;
  std::string reason;
  std::optional<http::client::Origin> host;  // kHostDown
  // kCompleted: what POST /_replicate answers (§8): the final checkpoint body, or the previous log
  // with "no_changes": true when nothing was processed.
  Json result;
};

// Makes the two peers of a run; every request they send carries `stop` (stop() cancels them).
using PeerMaker = std::function<std::unique_ptr<Peer>(std::shared_ptr<http::client::StopToken> stop)>;

class JobRun {
 public:
  JobRun(ReplicationSpec spec, ReplicationId id, PeerMaker make_source, PeerMaker make_target);
  ~JobRun();
  JobRun(const JobRun&) = delete;
  JobRun& operator=(const JobRun&) = delete;

  // The run. Never throws; call once.
  boost::asio::awaitable<RunOutcome> run();

  // Ends the run gracefully: no new batches, batches in flight finish, a last checkpoint.
  void request_stop();
  // Ends it now: every request in flight is cancelled (then a last checkpoint is attempted).
  void stop();

  JobProgress progress() const;
  const ReplicationSpec& spec() const { return spec_; }
  const ReplicationId& id() const { return id_; }
  const std::string& session_id() const { return session_id_; }

 private:
  struct Impl;
  ReplicationSpec spec_;
  ReplicationId id_;
  std::string session_id_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace divan::replicator
