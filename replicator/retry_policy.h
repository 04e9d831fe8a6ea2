// THE retry policy of the replicator: every decision about a failed peer call, and every delay,
// is made here and nowhere else.
//
// spec: replication-protocol.md §5.1 (per request), §5.2 (per job), §5.3 (crash reasons), and the
// per-call rules of §3.2 (opening databases), §3.4 (reading checkpoints), §3.6 (changes), §3.8
// (fetching), §3.9 (writing), §3.10 (writing checkpoints).
//
// How a failure is handled:
//
//   classify(error, call) → Verdict          what to do about this one failed call
//   request_retry_delay(attempt)             how long to wait before resending it (kRetryRequest)
//   may_retry_request(attempt, …)            whether one more resend is allowed, else crash
//   RateLimiter                              pacing after 429 (kSlowDown)
//   host_probe_delay(failures, rng)          pacing of the shared probe of a silent host (kHostDown)
//   job_backoff_delay(crashes, rng)          how long a crashed job waits before it runs again
//   crash reasons                            CouchDB's texts for why a job crashed (§5.3)
//
// The verdict table (classify), by call; "crash X" is kCrashJob with CouchDB's reason X (§5.3),
// after which the scheduler restarts the job once job_backoff_delay() has passed.
//
//   every call        no answer → kHostDown; timeout, 408, 5xx, local internal → kRetryRequest;
//                     429 → kSlowDown
//   info              401 → crash unauthorized; 403 → crash forbidden; other 4xx → crash
//                     db_not_found (§3.2)
//   create_target     401 → crash unauthorized; 403 → crash forbidden; anything else (201, 202,
//                     412, …) → kProceed: the GET that follows decides (§3.2)
//   checkpoint_read   404 → kAbsent (no log yet, §3.4); 401/403 → crash as info;
//                     other 4xx → crash http_error_code
//   checkpoint_write  409 → kCheckpointConflict; 401/403 → source: kReadOnlySource, target: crash
//                     checkpoint_commit_failure; 404 → crash db_not_found; other 4xx → crash
//                     checkpoint_commit_failure (§3.10)
//   changes           405 → kFallBack (POST with doc_ids unsupported, §3.6); 401/403/404 → crash
//                     as info; other 4xx → crash changes_req_failed
//   revs_diff         401/403/404 → crash as info; other 4xx → crash http_error_code
//   bulk_get          any 4xx → kFallBack (per-document fetches, §3.8)
//   open_revs         404 → kAbsent (revision vanished, §3.8); 414 → kShortenUrl; 401/403 → crash
//                     as info; other 4xx → crash open_doc_revs_failed
//   bulk_docs         413 → kSplitBatch; 412 missing_stub → kRefetchFull; 404 → crash db_not_found;
//                     other 4xx → crash bulk_docs_failed (§3.9)
//   put_doc           401, 403, 413, 415, 400 → kDocFailure; 412 missing_stub → kRefetchFull;
//                     404 → crash db_not_found; other 4xx (409, …) → crash doc_write_failed (§3.9)
//
// A local database (LocalPeer, PeerError::Kind::kLocal) is classified by its engine Code as the
// HTTP status the server would have answered (not_found as 404, forbidden as 403, …).
//
// Retrying the same request is for glitches: CouchDB resends on 408, 5xx and timeouts (250 ms,
// doubling, retries_per_request times, and never beyond half the health threshold). A host that
// gives no answer at all is different (ours): every job on that host waits on ONE shared probe of
// it (host_probe_delay) rather than each crashing and backing off alone, so a peer that comes back
// is used again within a second or two and is not hammered while it is down. Everything that is
// an answer (401, 403, 404, …) is a decision, not a glitch, and is never resent as it is.
//
// Pure functions; thread-safe. Randomness and time come in as arguments, so every delay is
// reproducible in tests.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "replicator/endpoint.h"
#include "replicator/peer_error.h"
#include "replicator/tuning.h"

namespace divan::replicator {

using std::chrono::milliseconds;

// The peer calls of a replication (CouchDB couch_replicator_api_wrap).
enum class PeerCall {
  kInfo,             // GET db/ (update_seq, instance_start_time)
  kCreateTarget,     // PUT target/ (create_target)
  kCheckpointRead,   // GET db/_local/<id>
  kCheckpointWrite,  // PUT db/_local/<id>, POST db/_ensure_full_commit
  kChanges,          // GET|POST source/_changes
  kRevsDiff,         // POST target/_revs_diff
  kBulkGet,          // POST source/_bulk_get
  kOpenRevs,         // GET source/<id>?open_revs=… (per-document fetch)
  kBulkDocs,         // POST target/_bulk_docs (new_edits=false)
  kPutDoc,           // PUT target/<id>?new_edits=false (one document)
};

// "info", "create_target", "checkpoint_read", …
const char* call_name(PeerCall call);

// The failed call, as classify() needs it.
struct CallContext {
  PeerCall call = PeerCall::kInfo;
  Side side = Side::kSource;
  // The endpoint's redacted_url(): what crash reasons name ("could not open <url>").
  std::string_view db_url;
  // The request, for `http_error_code: <code> <METHOD> <url>` (redacted; db_url if empty).
  std::string_view method = "GET";
  std::string_view request_url;
};

enum class Verdict {
  kRetryRequest,        // a glitch: resend after request_retry_delay(attempt), while
                        // may_retry_request() allows; then crash with exhausted_reason()
  kSlowDown,            // 429: resend after the (method, url)'s RateLimiter interval; crash with
                        // max_backoff once RateLimiter::exhausted()
  kHostDown,            // no answer: wait for the shared probe of the host to succeed, then resend
  kCrashJob,            // stop the job with Decision::reason; the scheduler restarts it later
  kFail,                // stop the job for good (terminal `failed`) with Decision::reason
  kDocFailure,          // skip this document, count it in doc_write_failures (§3.9)
  kAbsent,              // "not there" is the answer, not a failure: no checkpoint yet (§3.4), the
                        // revision vanished from the source (§3.8: retry once after 2 s, then skip)
  kProceed,             // not a failure for this call: a target that already exists (§3.2)
  kFallBack,            // use the per-document path: _bulk_get → open_revs (§3.8), POST _changes
                        // with doc_ids → GET and filter here (§3.6)
  kSplitBatch,          // 413 on _bulk_docs: write each half of the batch separately (§3.9)
  kRefetchFull,         // 412 missing_stub: fetch the documents again with every attachment body
                        // and write them one per request (§3.9)
  kShortenUrl,          // 414: halve the atts_since URL budget and resend (§3.8)
  kReadOnlySource,      // 401/403 writing the source's checkpoint: keep checkpointing the target
                        // only (§3.10 step 5 "Ours", SourceCheckpoints::kReadOnly)
  kCheckpointConflict,  // 409 writing a checkpoint: re-read it; same body → use its rev, else
                        // crash with checkpoint_commit_failure (§3.10 step 5)
};

const char* verdict_name(Verdict verdict);

struct Decision {
  Verdict verdict = Verdict::kCrashJob;
  std::string reason;  // kCrashJob / kFail: the crash reason (§5.3); otherwise a short note
};

// What to do about one failed call (the table above).
Decision classify(const PeerError& error, const CallContext& ctx);

// ---- Resending a request (kRetryRequest; spec §5.1) ----------------------------------------

// The wait before resend number `attempt` (1 = the first resend): base·2^(attempt−1), capped.
// 250 ms, 500 ms, 1 s, 2 s, 4 s, … 5 min. attempt 0 → 0.
milliseconds request_retry_delay(unsigned attempt, milliseconds base = tuning::kRequestRetryBase,
                                 milliseconds cap = tuning::kRequestRetryCap);

// Whether resend number `attempt` may happen: attempt <= retries_per_request, and less than
// tuning::kRequestGiveUpAfter has passed since the request first failed.
bool may_retry_request(unsigned attempt, unsigned retries_per_request,
                       milliseconds since_first_failure);

// The crash reason once a request has used up its resends (CouchDB replication_start_error):
// `http_error_code: <code> <METHOD> <url>` for an HTTP status, `timeout: <METHOD> <url>` for a
// timeout, `<call>_failed: …` otherwise.
std::string exhausted_reason(const PeerError& error, const CallContext& ctx);

// ---- 429 pacing (kSlowDown; CouchDB couch_replicator_rate_limiter) --------------------------

// The pacing of one (method, URL): additive decrease on success, multiplicative increase on 429.
// Times are a monotonic clock's, passed in. Not thread-safe (one per key, on the job's strand).
class RateLimiter {
 public:
  // How long to wait before the next request to this key (0: no pacing).
  milliseconds interval() const { return interval_; }
  // A 429 at `now`: the interval grows ×1.2 (from at least 20 ms), up to 25 s. Answers closer than
  // 80 ms to the previous update count once.
  milliseconds on_rate_limited(milliseconds now);
  // A success at `now`: the interval first decays by 2 ms per ms of silence beyond 1 s, then
  // shrinks by 20–1000 ms (more when it is large); below 20 ms it is 20 ms, at 0 pacing stops.
  milliseconds on_success(milliseconds now);
  // The interval hit its 25 s ceiling: crash the job with max_backoff_reason().
  bool exhausted() const { return interval_ >= tuning::kRateLimitMax; }

 private:
  milliseconds interval_{0};
  milliseconds updated_{0};
  bool ever_updated_ = false;
};

// ---- The shared probe of a host that does not answer (kHostDown; ours) ------------------------

// Delay before probe number failures+1 of a host that has failed `failures` probes: full jitter,
// uniform(0, min(cap, base·2^failures)). `u` is a uniform sample in [0, 1).
milliseconds host_probe_delay(unsigned failures, double u, milliseconds base = tuning::kHostProbeBase,
                              milliseconds cap = tuning::kHostProbeCap);

// ---- A crashed job (spec §5.2) -------------------------------------------------------------

// How long a job with `consecutive_crashes` crashes (JobHistory::consecutive_crashes) waits after
// its latest crash before it may run again: min(cap, base·2^(n−1))·uniform(0.5, 1). 0 when n = 0.
// `u` is a uniform sample in [0, 1). Defaults are ours (tuning.h: 30 s base, 5 min cap).
milliseconds job_backoff_delay(unsigned consecutive_crashes, double u,
                               milliseconds base = tuning::kJobBackoffBase,
                               milliseconds cap = tuning::kJobBackoffCap);

// CouchDB's backoff_micros, for comparison and for operators who want CouchDB's exact schedule:
// 30 s × 2^min(n−1, 10): 30 s, 1 min, 2 min, … 512 min. 0 when n = 0.
milliseconds couch_job_backoff_delay(unsigned consecutive_crashes);

// The same functions drawing their sample from a UniformRandomBitGenerator (std::mt19937_64, …).
template <typename Rng>
double uniform01(Rng& rng) {
  const auto range = static_cast<double>(Rng::max() - Rng::min()) + 1.0;
  const double u = static_cast<double>(rng() - Rng::min()) / range;
  return u < 1.0 ? u : std::nextafter(1.0, 0.0);  // a 64-bit draw can round up to 1.0
}
template <typename Rng>
milliseconds host_probe_delay(unsigned failures, Rng& rng) {
  return host_probe_delay(failures, uniform01(rng));
}
template <typename Rng>
milliseconds job_backoff_delay(unsigned consecutive_crashes, Rng& rng) {
  return job_backoff_delay(consecutive_crashes, uniform01(rng));
}

// ---- Crash reasons (spec §5.3), CouchDB's texts ------------------------------------------------

// "db_not_found: could not open <url>"
std::string db_not_found_reason(std::string_view url);
// "unauthorized: unauthorized to access or create database <url>"
std::string unauthorized_reason(std::string_view url);
// "forbidden: <url>"
std::string forbidden_reason(std::string_view url);
// "nxdomain: could not resolve <url>"
std::string nxdomain_reason(std::string_view url);
// "http_error_code: <code> <METHOD> <url>"
std::string http_error_code_reason(unsigned status, std::string_view method, std::string_view url);
// "checkpoint_commit_failure: <detail>"
std::string checkpoint_commit_failure_reason(std::string_view detail = {});
// "max_backoff" (429 pacing reached its ceiling)
std::string max_backoff_reason();
// "changes_req_failed", "bulk_docs_failed", "doc_write_failed", "open_doc_revs_failed", each with
// ": <detail>" when a detail is given.
std::string changes_req_failed_reason(std::string_view detail = {});
std::string bulk_docs_failed_reason(std::string_view detail = {});
std::string doc_write_failed_reason(std::string_view detail = {});
std::string open_doc_revs_failed_reason(std::string_view detail = {});
// A `_replicator` doc that describes a replication another doc already runs (§9.1):
// "Replication `<id>` specified by document `<doc>` already started, triggered by document
// `<other>` from db `<db>`".
std::string duplicate_replication_reason(std::string_view rep_id, std::string_view doc_id,
                                         std::string_view other_doc_id, std::string_view db);
// A `_replicator` doc whose replication already runs as a transient `_replicate` job (the doc
// waits and retries, CouchDB's temporary_error): "Replication `<id>` specified by document `<doc>`
// already running as a transient replication, started via `_replicate` API endpoint".
std::string duplicate_transient_reason(std::string_view rep_id, std::string_view doc_id);

// A job that can never run (an invalid spec, a duplicate): kFail with `reason`.
Decision permanent_failure(std::string reason);

}  // namespace divan::replicator
