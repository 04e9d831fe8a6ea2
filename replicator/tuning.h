// Every number the replicator runs by, each with its reason, in one place (like LiteCore's
// ReplicatorTuning.hh). spec: replication-protocol.md §3.6 (changes), §3.9 (writes), §3.10
// (checkpoints), §4 (per-replication options), §5 (retries, backoff, scheduler).
//
// Two kinds of knob live here:
//   - CouchDB's: the defaults of CouchDB 3's `[replicator]` section and couch_replicator code. We use
//     the same values because they are what operators and CouchDB peers expect (§5.2 "Our engine
//     SHOULD use the same numbers"). The per-replication ones (worker_processes, …) are only
//     defaults: a `_replicate` body or `_replicator` doc may override them (replicator/spec.h).
//   - Ours: where Divan decides something CouchDB does not have (a shared per-host probe, spacing of
//     checkpoints after batches) or decides it differently (the job backoff cap), marked "Ours".
//
// Constants only; thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace divan::replicator::tuning {

using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace std::chrono_literals;

// ---- Per replication (defaults of the options in spec §4) ----------------------------------------

// Workers that run revs_diff → bulk_get → bulk_docs on batches concurrently. CouchDB:
// worker_processes = 4. More workers hide per-request latency; each holds one batch in memory.
inline constexpr unsigned kWorkerProcesses = 4;

// Change rows per batch handed to a worker. CouchDB: worker_batch_size = 500. Large enough that the
// three requests per batch are amortised, small enough that a crash re-does little work.
inline constexpr unsigned kWorkerBatchSize = 500;

// Concurrent HTTP connections per endpoint. CouchDB: http_connections = 20 (workers plus the
// changes reader plus checkpoints, with room for per-doc fetches).
inline constexpr unsigned kHttpConnections = 20;

// Timeout of one HTTP request (connect, then inactivity). CouchDB: connection_timeout = 30000 ms.
inline constexpr milliseconds kConnectionTimeout = 30000ms;

// Retries of one failed request after its first attempt (5xx, 408, timeouts). CouchDB:
// retries_per_request = 5. With the doubling wait below that is 0.25+0.5+1+2+4 ≈ 8 s of waiting.
inline constexpr unsigned kRetriesPerRequest = 5;

// Time-driven checkpoints. CouchDB: checkpoint_interval = 30000 ms. Bounds how much work a crash
// can lose on a job whose batches rarely advance through_seq.
inline constexpr milliseconds kCheckpointInterval = 30000ms;

// Fetch with `_bulk_get` (one request per batch) rather than one GET per document. CouchDB:
// use_bulk_get = true.
inline constexpr bool kUseBulkGet = true;

// Write checkpoints at all. CouchDB: use_checkpoints = true (false: every run starts from
// since_seq or 0, §3.10 step 6).
inline constexpr bool kUseCheckpoints = true;

// ---- Checkpoint documents (§3.4, §3.10) -------------------------------------------------------

// History entries kept in a checkpoint doc, newest first. CouchDB trims to 50: enough common
// ancestry for compare_logs (§3.5) after many sessions on both sides, while the `_local` doc stays
// small (it is rewritten on every checkpoint).
inline constexpr size_t kCheckpointHistory = 50;

// `replication_id_version` written into checkpoint docs. CouchDB 3's current value; readers only
// require a number (§3.3).
inline constexpr int kReplicationIdVersion = 4;

// Ours: minimum spacing of the checkpoints taken after batches (§3.10 "Ours": after every batch that
// advances through_seq, at most one per 5 s, plus the final one). PouchDB checkpoints after every
// batch, which costs four requests per batch on a busy feed; CouchDB only every 30 s, which loses up
// to 30 s of work on a crash. 5 s is the middle: a crash re-does seconds, a busy feed pays little.
inline constexpr milliseconds kMinCheckpointSpacing = 5000ms;

// ---- Changes feed (§3.6, §6) -----------------------------------------------------------------

// Heartbeat asked of a live feed (`feed=longpoll&heartbeat=…`). CouchDB and PouchDB both use
// 10000 ms; a silent connection is known dead within kLiveSilenceFactor heartbeats.
inline constexpr milliseconds kChangesHeartbeat = 10000ms;

// A live feed silent for this many heartbeats is treated as a dead connection and reopened (§6).
inline constexpr unsigned kLiveSilenceFactor = 3;

// `timeout` of a changes request: max(1000, connection_timeout / 3) = 10000 ms by default (§3.6),
// so the server ends the response well before our own request timeout fires.
constexpr milliseconds changes_feed_timeout(milliseconds connection_timeout) {
  return connection_timeout / 3 > 1000ms ? connection_timeout / 3 : 1000ms;
}

// ---- Fetching and writing (§3.8, §3.9) ---------------------------------------------------------

// A `_bulk_docs` request is flushed once its JSON reaches 4 MiB (CouchDB), below the 4 GiB/64 MiB
// body limits of CouchDB and Divan, so one huge doc does not make a batch unwritable; 413 splits.
inline constexpr size_t kBulkDocsMaxBytes = size_t{4} << 20;

// A revision reported missing by the source (deleted or compacted meanwhile) is asked for once more
// after this delay, to cover a race with a write in flight (§3.8).
inline constexpr milliseconds kRevisionVanishedRetryDelay = 2000ms;

// URL budget of a per-document GET with `atts_since`: CouchDB starts at 7000 bytes and halves it on
// every 414, giving up below 200 (§3.8).
inline constexpr size_t kMaxUrlLength = 7000;
inline constexpr size_t kMinUrlLength = 200;

// Documents carrying at least this much attachment data are written one by one as
// multipart/related PUTs instead of inside _bulk_docs (§3.9). CouchDB's replicator sends every
// document with attachments that way; batching the small ones keeps many-small-attachment
// databases fast, while big ones travel raw instead of as base64 inside a JSON body.
inline constexpr uint64_t kMultipartAttachmentBytes = uint64_t{256} << 10;

// Per-document GETs one fetch() runs at once when _bulk_get is not there (§3.8): enough to hide
// the round trips, few enough not to take every pooled connection of the endpoint.
inline constexpr unsigned kMaxConcurrentDocFetches = 8;

// ---- Request retries (§5.1) -----------------------------------------------------------------

// Wait before the first retry of a request; doubles for each further retry. CouchDB: 250 ms.
inline constexpr milliseconds kRequestRetryBase = 250ms;
// The doubling stops here. CouchDB: ?MAX_WAIT = 5 min (only reached with large retries_per_request).
inline constexpr milliseconds kRequestRetryCap = 5min;

// ---- 429 rate limiting (§5.1; CouchDB couch_replicator_rate_limiter) ---------------------------

// The pacing interval of one (method, URL) grows ×1.2 per 429 from at least 20 ms, shrinks on
// success, and a job whose interval reaches 25 s crashes with `max_backoff` (a connection that
// sleeps longer than that starts hitting socket timeouts and occupies a job slot for nothing).
inline constexpr milliseconds kRateLimitBase = 20ms;
inline constexpr double kRateLimitFactor = 1.2;
inline constexpr milliseconds kRateLimitMax = 25000ms;
// Updates closer together than this are ignored, so a burst of answers to requests sent at the same
// time counts once (a crude low-pass filter).
inline constexpr milliseconds kRateLimitSensitivity = 80ms;
// After a pause longer than this, the interval decays by 2 ms per ms of silence: an idle endpoint
// is assumed to have recovered.
inline constexpr milliseconds kRateLimitDecayThreshold = 1000ms;
inline constexpr int kRateLimitDecayFactor = 2;

// A job restarted after crashing with `max_backoff` runs with at most these settings, so it asks
// less of a server that is shedding load (CouchDB maybe_optimize_job_for_rate_limiting).
inline constexpr milliseconds kRateLimitedCheckpointInterval = 5000ms;
inline constexpr unsigned kRateLimitedWorkerProcesses = 2;
inline constexpr unsigned kRateLimitedWorkerBatchSize = 100;
inline constexpr unsigned kRateLimitedHttpConnections = 5;

// ---- Hosts that do not answer (ours) --------------------------------------------------------

// Ours: when a peer's host gives no HTTP answer (refused, unreachable, DNS, TLS, reset), every job
// using that host waits on ONE shared probe of it instead of each crashing and backing off alone.
// The probe is retried with full jitter, uniform(0, min(cap, base·2^n)) after n failures: the jitter
// keeps many nodes from probing a recovering host in lockstep, and the 2 s cap means a host that
// comes back is noticed within about a second on average.
inline constexpr milliseconds kHostProbeBase = 100ms;
inline constexpr milliseconds kHostProbeCap = 2000ms;

// ---- Jobs and the scheduler (§5.2) --------------------------------------------------------------

// Events kept in a job's history (added, started, stopped, crashed), newest first. CouchDB:
// max_history = 20.
inline constexpr size_t kJobHistory = 20;

// A job that has run this long since its last start without crashing is healthy again: its
// consecutive crash count (and so its backoff) starts over. CouchDB: health_threshold = 120 s.
inline constexpr seconds kHealthThreshold = 120s;

// A failing request is not retried once this long has passed since its first error, whatever
// retries_per_request says (half the health threshold, as CouchDB): the job crashes and the
// scheduler's backoff takes over.
inline constexpr seconds kRequestGiveUpAfter = kHealthThreshold / 2;

// Backoff of a crashed job before it may run again: min(cap, base·2^(n−1))·uniform(0.5, 1) after n
// consecutive crashes (STYLE.md "Eight things to copy" #8).
// CouchDB: 30 s × 2^min(n−1, 10), no jitter, so 30 s, 60 s, … up to 512 min (≈ 8.5 h).
// Ours: the same 30 s base, but capped at 5 min and jittered. Divan syncs devices and small nodes
// whose peers come and go: after an hour-long outage a job should resume within minutes, not hours.
// Transport failures do not count here at all (they wait on the host probe above), so this backoff
// only paces jobs that reach their peer and are refused (401/403, missing database, persistent
// 5xx), where retrying every few minutes costs the peer one request.
inline constexpr milliseconds kJobBackoffBase = 30000ms;
inline constexpr milliseconds kJobBackoffCap = 5min;
// CouchDB's numbers, for reference and for tests that compare: base 30 s, exponent capped at 10.
inline constexpr milliseconds kCouchJobBackoffBase = 30000ms;
inline constexpr unsigned kCouchJobBackoffMaxExponent = 10;

// Jobs running at once (CouchDB: max_jobs = 500), how often the scheduler looks at them (interval =
// 60 s) and how many continuous jobs it may rotate out per pass when over capacity (max_churn = 20).
inline constexpr size_t kMaxJobs = 500;
inline constexpr seconds kSchedulerInterval = 60s;
inline constexpr size_t kMaxChurn = 20;

}  // namespace divan::replicator::tuning
