// Bidirectional replication ("bidirectional": true on POST /_replicate): two ordinary jobs,
// source→target and target→source, each with its own replication id, checkpoints and session
// (replication-protocol.md §7). Nothing ping-pongs: what one direction writes, the other's
// `_revs_diff` finds present.
//
//   one-shot    both run at once; the answer comes when both are done, with both summaries:
//               {"ok":true,"source_to_target":{…},"target_to_source":{…}}
//   continuous  both start; 202 {"ok":true,"_local_id":<forward id>,"_local_ids":[fwd, rev]}
//   cancel      stops both; 404 only when neither runs
//
// `create_target` creates the target before either direction starts (the reverse direction reads
// it from its first request). `since_seq` is a seq of the source: it applies to source→target only.
//
// A `_replicator` document with "bidirectional": true is the same two jobs, persistent
// (scheduler.cpp doc_jobs_for): one row in _scheduler/docs with both ids and each direction's
// info; a one-shot one records `completed` when both are done, with both directions' stats, or
// `failed` with the reason of the direction that failed. There the reverse job does not wait for
// `create_target`: until the forward job made the target it crashes and retries with backoff.
//
// Thread-safety: as Scheduler's.
#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>

#include "engine/write_policy.h"
#include "replicator/scheduler.h"
#include "replicator/spec.h"

namespace divan::replicator {

// The two one-way specs of a bidirectional `spec`: {source→target, target→source}. Pure.
std::pair<ReplicationSpec, ReplicationSpec> split_bidirectional(const ReplicationSpec& spec);

// POST /_replicate with "bidirectional": true (spec.bidirectional), as `writer`.
boost::asio::awaitable<Result<Scheduler::ReplicateAnswer>> replicate_both(Scheduler& scheduler,
                                                                         ReplicationSpec spec,
                                                                         engine::Writer writer);

}  // namespace divan::replicator
