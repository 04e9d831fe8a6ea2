// spec: replication-protocol.md §5.1 (per request: 5xx retried 5 times with 250 ms doubling, 429
// slows down), §5.2 (per job: growing delays, health threshold), §5.3 (crash reasons), and the
// per-call rules of §3.2, §3.4, §3.6, §3.8, §3.9, §3.10. §12 "Retry/backoff".
#include <random>

#include <doctest/doctest.h>

#include "replicator/job_state.h"
#include "replicator/retry_policy.h"

using namespace divan;
using namespace divan::replicator;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kUrl = "http://adm:*****@h:5984/db/";

PeerError http_error(unsigned status, std::string error = {}) {
  PeerError e;
  e.kind = PeerError::Kind::kHttp;
  e.status = status;
  e.error = std::move(error);
  if (e.error == "missing_stub") e.code = Code::kMissingStub;
  e.reason = "HTTP ";
  e.reason += std::to_string(status);
  return e;
}

PeerError transport() {
  PeerError e;
  e.kind = PeerError::Kind::kTransport;
  e.reason = "connection refused";
  return e;
}

// The connection broke after the request went out (reset, a response cut mid-body).
PeerError lost() {
  PeerError e;
  e.kind = PeerError::Kind::kLost;
  e.reason = "connection_lost: partial message";
  return e;
}

PeerError timeout() {
  PeerError e;
  e.kind = PeerError::Kind::kTimeout;
  e.reason = "timed out";
  return e;
}

PeerError local(Code code) {
  PeerError e;
  e.kind = PeerError::Kind::kLocal;
  e.code = code;
  e.reason = "local";
  return e;
}

CallContext ctx(PeerCall call, Side side = Side::kSource, std::string_view method = "GET") {
  CallContext c;
  c.call = call;
  c.side = side;
  c.db_url = kUrl;
  c.method = method;
  return c;
}

Verdict verdict(const PeerError& e, PeerCall call, Side side = Side::kSource) {
  return classify(e, ctx(call, side)).verdict;
}

}  // namespace

TEST_CASE("§5.1 every call: no answer → host down, glitches → retry, 429 → slow down") {
  const PeerCall calls[] = {PeerCall::kInfo,       PeerCall::kCreateTarget, PeerCall::kCheckpointRead,
                            PeerCall::kCheckpointWrite, PeerCall::kChanges, PeerCall::kRevsDiff,
                            PeerCall::kBulkGet,    PeerCall::kOpenRevs,     PeerCall::kBulkDocs,
                            PeerCall::kPutDoc};
  for (PeerCall call : calls) {
    CAPTURE(call_name(call));
    CHECK(verdict(transport(), call) == Verdict::kHostDown);
    CHECK(verdict(timeout(), call) == Verdict::kRetryRequest);
    CHECK(verdict(lost(), call) == Verdict::kRetryRequest);  // cut mid-response: resend
    for (unsigned status : {408u, 500u, 502u, 503u, 504u, 599u, 302u}) {
      CAPTURE(status);
      CHECK(verdict(http_error(status), call) == Verdict::kRetryRequest);
    }
    CHECK(verdict(local(Code::kInternal), call) == Verdict::kRetryRequest);
    CHECK(verdict(http_error(429), call) == Verdict::kSlowDown);
  }
}

TEST_CASE("§5 verdict table: what each answer means for each call") {
  using V = Verdict;
  struct Row {
    PeerCall call;
    Side side;
    PeerError error;
    Verdict expected;
  };
  const Row rows[] = {
      // §3.2 opening databases.
      {PeerCall::kInfo, Side::kSource, http_error(401), V::kCrashJob},
      {PeerCall::kInfo, Side::kSource, http_error(403), V::kCrashJob},
      {PeerCall::kInfo, Side::kTarget, http_error(404), V::kCrashJob},
      {PeerCall::kInfo, Side::kTarget, http_error(400), V::kCrashJob},
      {PeerCall::kInfo, Side::kSource, local(Code::kNotFound), V::kCrashJob},
      {PeerCall::kCreateTarget, Side::kTarget, http_error(412, "file_exists"), V::kProceed},
      {PeerCall::kCreateTarget, Side::kTarget, http_error(400, "illegal_database_name"), V::kProceed},
      {PeerCall::kCreateTarget, Side::kTarget, http_error(401), V::kCrashJob},
      {PeerCall::kCreateTarget, Side::kTarget, http_error(403), V::kCrashJob},
      {PeerCall::kCreateTarget, Side::kTarget, local(Code::kFileExists), V::kProceed},
      // §3.4 reading checkpoints: 404 is "no log yet".
      {PeerCall::kCheckpointRead, Side::kSource, http_error(404), V::kAbsent},
      {PeerCall::kCheckpointRead, Side::kTarget, local(Code::kNotFound), V::kAbsent},
      {PeerCall::kCheckpointRead, Side::kTarget, http_error(401), V::kCrashJob},
      {PeerCall::kCheckpointRead, Side::kTarget, http_error(400), V::kCrashJob},
      // §3.10 writing checkpoints.
      {PeerCall::kCheckpointWrite, Side::kSource, http_error(409), V::kCheckpointConflict},
      {PeerCall::kCheckpointWrite, Side::kTarget, local(Code::kConflict), V::kCheckpointConflict},
      {PeerCall::kCheckpointWrite, Side::kSource, http_error(401), V::kReadOnlySource},
      {PeerCall::kCheckpointWrite, Side::kSource, http_error(403), V::kReadOnlySource},
      {PeerCall::kCheckpointWrite, Side::kSource, local(Code::kForbidden), V::kReadOnlySource},
      {PeerCall::kCheckpointWrite, Side::kTarget, http_error(401), V::kCrashJob},
      {PeerCall::kCheckpointWrite, Side::kTarget, http_error(403), V::kCrashJob},
      {PeerCall::kCheckpointWrite, Side::kTarget, http_error(404), V::kCrashJob},
      {PeerCall::kCheckpointWrite, Side::kSource, http_error(400), V::kCrashJob},
      // §3.6 changes.
      {PeerCall::kChanges, Side::kSource, http_error(405), V::kFallBack},
      {PeerCall::kChanges, Side::kSource, http_error(404), V::kCrashJob},
      {PeerCall::kChanges, Side::kSource, http_error(401), V::kCrashJob},
      {PeerCall::kChanges, Side::kSource, http_error(400), V::kCrashJob},
      // §3.7 revs_diff.
      {PeerCall::kRevsDiff, Side::kTarget, http_error(403), V::kCrashJob},
      {PeerCall::kRevsDiff, Side::kTarget, http_error(400), V::kCrashJob},
      // §3.8 fetching.
      {PeerCall::kBulkGet, Side::kSource, http_error(404), V::kFallBack},
      {PeerCall::kBulkGet, Side::kSource, http_error(400), V::kFallBack},
      {PeerCall::kBulkGet, Side::kSource, http_error(405), V::kFallBack},
      {PeerCall::kBulkGet, Side::kSource, http_error(401), V::kFallBack},
      {PeerCall::kOpenRevs, Side::kSource, http_error(404), V::kAbsent},
      {PeerCall::kOpenRevs, Side::kSource, http_error(414), V::kShortenUrl},
      {PeerCall::kOpenRevs, Side::kSource, http_error(401), V::kCrashJob},
      {PeerCall::kOpenRevs, Side::kSource, http_error(400), V::kCrashJob},
      // §3.9 writing.
      {PeerCall::kBulkDocs, Side::kTarget, http_error(413), V::kSplitBatch},
      {PeerCall::kBulkDocs, Side::kTarget, local(Code::kTooLarge), V::kSplitBatch},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(412, "missing_stub"), V::kRefetchFull},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(401), V::kCrashJob},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(403), V::kCrashJob},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(400), V::kCrashJob},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(404), V::kCrashJob},
      {PeerCall::kPutDoc, Side::kTarget, http_error(401), V::kDocFailure},
      {PeerCall::kPutDoc, Side::kTarget, http_error(403), V::kDocFailure},
      {PeerCall::kPutDoc, Side::kTarget, http_error(413), V::kDocFailure},
      {PeerCall::kPutDoc, Side::kTarget, http_error(415), V::kDocFailure},
      {PeerCall::kPutDoc, Side::kTarget, http_error(400), V::kDocFailure},  // "Attachment name …"
      {PeerCall::kPutDoc, Side::kTarget, local(Code::kDocValidation), V::kDocFailure},
      {PeerCall::kPutDoc, Side::kTarget, http_error(412, "missing_stub"), V::kRefetchFull},
      {PeerCall::kPutDoc, Side::kTarget, local(Code::kMissingStub), V::kRefetchFull},
      {PeerCall::kPutDoc, Side::kTarget, http_error(409), V::kCrashJob},
      {PeerCall::kPutDoc, Side::kTarget, http_error(412, "precondition_failed"), V::kCrashJob},
      {PeerCall::kPutDoc, Side::kTarget, http_error(404), V::kCrashJob},
  };
  for (const auto& r : rows) {
    CAPTURE(call_name(r.call));
    CAPTURE(side_name(r.side));
    CAPTURE(r.error.status);
    CAPTURE(static_cast<int>(r.error.code));
    const Decision d = classify(r.error, ctx(r.call, r.side));
    CHECK(std::string(verdict_name(d.verdict)) == verdict_name(r.expected));
    if (d.verdict == Verdict::kCrashJob) CHECK_FALSE(d.reason.empty());
  }
}

TEST_CASE("§5.3 crash reasons of the verdicts are CouchDB's texts (table)") {
  struct Row {
    PeerCall call;
    Side side;
    PeerError error;
    std::string_view method;
    const char* reason;
  };
  const Row rows[] = {
      {PeerCall::kInfo, Side::kTarget, http_error(404), "GET",
       "db_not_found: could not open http://adm:*****@h:5984/db/"},
      {PeerCall::kInfo, Side::kSource, http_error(401), "GET",
       "unauthorized: unauthorized to access or create database http://adm:*****@h:5984/db/"},
      {PeerCall::kInfo, Side::kSource, http_error(403), "GET", "forbidden: http://adm:*****@h:5984/db/"},
      {PeerCall::kCreateTarget, Side::kTarget, http_error(401), "PUT",
       "unauthorized: unauthorized to access or create database http://adm:*****@h:5984/db/"},
      {PeerCall::kRevsDiff, Side::kTarget, http_error(400), "POST",
       "http_error_code: 400 POST http://adm:*****@h:5984/db/"},
      {PeerCall::kChanges, Side::kSource, http_error(400), "GET",
       "changes_req_failed: http_error_code: 400 GET http://adm:*****@h:5984/db/"},
      {PeerCall::kBulkDocs, Side::kTarget, http_error(403), "POST",
       "bulk_docs_failed: http_error_code: 403 POST http://adm:*****@h:5984/db/"},
      {PeerCall::kPutDoc, Side::kTarget, http_error(409), "PUT",
       "doc_write_failed: http_error_code: 409 PUT http://adm:*****@h:5984/db/"},
      {PeerCall::kOpenRevs, Side::kSource, http_error(400), "GET",
       "open_doc_revs_failed: http_error_code: 400 GET http://adm:*****@h:5984/db/"},
      {PeerCall::kCheckpointWrite, Side::kTarget, http_error(403), "PUT",
       "checkpoint_commit_failure: could not write the target checkpoint: http_error_code: 403 "
       "PUT http://adm:*****@h:5984/db/"},
      {PeerCall::kInfo, Side::kSource, local(Code::kNotFound), "GET",
       "db_not_found: could not open http://adm:*****@h:5984/db/"},
  };
  for (const auto& r : rows) {
    CAPTURE(call_name(r.call));
    const Decision d = classify(r.error, ctx(r.call, r.side, r.method));
    CHECK(d.verdict == Verdict::kCrashJob);
    CHECK(d.reason == r.reason);
  }
  // The request URL, when given, names the request rather than the database.
  CallContext c = ctx(PeerCall::kRevsDiff, Side::kTarget, "POST");
  c.request_url = "http://h:5984/db/_revs_diff";
  CHECK(classify(http_error(400), c).reason == "http_error_code: 400 POST http://h:5984/db/_revs_diff");
}

TEST_CASE("§5.3 crash reason helpers") {
  CHECK(db_not_found_reason("http://h/missing/") == "db_not_found: could not open http://h/missing/");
  CHECK(unauthorized_reason("http://h/db/") ==
        "unauthorized: unauthorized to access or create database http://h/db/");
  CHECK(forbidden_reason("http://h/db/") == "forbidden: http://h/db/");
  CHECK(nxdomain_reason("http://nohost/db/") == "nxdomain: could not resolve http://nohost/db/");
  CHECK(http_error_code_reason(500, "GET", "http://h/db/_changes") ==
        "http_error_code: 500 GET http://h/db/_changes");
  CHECK(checkpoint_commit_failure_reason("x") == "checkpoint_commit_failure: x");
  CHECK(checkpoint_commit_failure_reason() == "checkpoint_commit_failure");
  CHECK(max_backoff_reason() == "max_backoff");
  CHECK(changes_req_failed_reason() == "changes_req_failed");
  CHECK(bulk_docs_failed_reason("y") == "bulk_docs_failed: y");
  CHECK(doc_write_failed_reason() == "doc_write_failed");
  CHECK(open_doc_revs_failed_reason() == "open_doc_revs_failed");
  CHECK(duplicate_replication_reason("a81a+continuous", "my_rep_dup", "my_rep", "_replicator") ==
        "Replication `a81a+continuous` specified by document `my_rep_dup` already started, "
        "triggered by document `my_rep` from db `_replicator`");
  CHECK(duplicate_transient_reason("a81a", "d") ==
        "Replication `a81a` specified by document `d` already running as a transient "
        "replication, started via `_replicate` API endpoint");
  const Decision f = permanent_failure("bad spec");
  CHECK(f.verdict == Verdict::kFail);
  CHECK(f.reason == "bad spec");
}

TEST_CASE("§12 retry: 5xx retried 5 times with 250 ms doubling, then the job crashes") {
  struct Row {
    unsigned attempt;
    std::chrono::milliseconds delay;
  };
  const Row rows[] = {{0, 0ms},     {1, 250ms},    {2, 500ms},     {3, 1000ms},
                      {4, 2000ms},  {5, 4000ms},   {6, 8000ms},    {11, 256000ms},
                      {12, 300000ms}, {13, 300000ms}, {1000, 300000ms}};
  for (const auto& r : rows) {
    CAPTURE(r.attempt);
    CHECK(request_retry_delay(r.attempt) == r.delay);
  }
  // retries_per_request = 5: resends 1..5 allowed, the 6th is not.
  for (unsigned attempt = 1; attempt <= 5; ++attempt) CHECK(may_retry_request(attempt, 5, 8s));
  CHECK_FALSE(may_retry_request(6, 5, 8s));
  CHECK_FALSE(may_retry_request(1, 0, 0ms));
  // ... and never once half the health threshold has passed since the first failure.
  CHECK(may_retry_request(2, 100, 59999ms));
  CHECK_FALSE(may_retry_request(2, 100, 60000ms));

  CallContext c = ctx(PeerCall::kChanges, Side::kSource, "GET");
  c.request_url = "http://h/db/_changes?feed=normal";
  CHECK(exhausted_reason(http_error(503), c) == "http_error_code: 503 GET http://h/db/_changes?feed=normal");
  CHECK(exhausted_reason(timeout(), c) == "timeout: GET http://h/db/_changes?feed=normal");
  CHECK(exhausted_reason(local(Code::kInternal), c) == "changes_failed: local");
}

TEST_CASE("§12 retry: 429 slows down; 25 s of pacing crashes with max_backoff") {
  RateLimiter r;
  CHECK(r.interval() == 0ms);
  CHECK(r.on_success(0ms) == 0ms);  // never limited: nothing to relax
  CHECK(r.on_rate_limited(1000ms) == 24ms);  // max(0, 20) × 1.2
  CHECK(r.on_rate_limited(1050ms) == 24ms);  // within 80 ms: the same burst, counted once
  CHECK(r.on_rate_limited(1200ms) == 29ms);  // 24 × 1.2 = 28.8 → 29
  CHECK(r.on_rate_limited(1300ms) == 35ms);
  // Success shrinks it additively: 35 − 20 = 15 → at least 20.
  CHECK(r.on_success(1400ms) == 20ms);
  CHECK(r.on_success(1500ms) == 0ms);  // 20 − 20 = 0: pacing stops
  CHECK_FALSE(r.exhausted());

  // A server that keeps answering 429 pushes the interval to its ceiling.
  RateLimiter s;
  std::chrono::milliseconds now = 0ms;
  int answers = 0;
  while (!s.exhausted() && answers < 200) {
    now += 100ms;
    s.on_rate_limited(now);
    ++answers;
  }
  CHECK(s.exhausted());
  CHECK(s.interval() == 25000ms);
  CHECK(answers < 60);  // 20 ms × 1.2^n reaches 25 s after ~40 answers
  // Large intervals come down faster (−1000 ms above 10 s), and silence decays them.
  CHECK(s.on_success(now + 100ms) == 24000ms);
  CHECK(s.on_success(now + 100ms + 5000ms) == 24000ms - 10000ms - 1000ms);
}

TEST_CASE("host probe delay: full jitter up to min(2 s, 100 ms·2^n)") {
  struct Row {
    unsigned failures;
    double u;
    std::chrono::milliseconds delay;
  };
  const Row rows[] = {
      {0, 0.0, 0ms},    {0, 0.5, 50ms},    {0, 0.999, 99ms},  {1, 0.5, 100ms},
      {2, 0.5, 200ms},  {3, 0.5, 400ms},   {4, 0.5, 800ms},   {5, 0.5, 1000ms},
      {6, 0.5, 1000ms}, {6, 0.999, 1998ms}, {40, 0.5, 1000ms}, {1000, 0.25, 500ms},
  };
  for (const auto& r : rows) {
    CAPTURE(r.failures);
    CAPTURE(r.u);
    CHECK(host_probe_delay(r.failures, r.u) == r.delay);
  }
  std::mt19937_64 rng(7);
  for (unsigned n = 0; n < 12; ++n) {
    for (int i = 0; i < 100; ++i) {
      const auto d = host_probe_delay(n, rng);
      CHECK(d >= 0ms);
      CHECK(d < std::min<std::chrono::milliseconds>(2000ms, 100ms * (1LL << n)));
    }
  }
}

TEST_CASE("§12 job backoff: growing delays, jittered, capped (ours: 30 s base, 5 min cap)") {
  struct Row {
    unsigned crashes;
    double u;
    std::chrono::milliseconds delay;
  };
  const Row rows[] = {
      {0, 0.7, 0ms},        {1, 0.0, 15000ms},   {1, 0.999999, 29999ms}, {2, 0.0, 30000ms},
      {2, 0.5, 45000ms},    {3, 0.0, 60000ms},   {4, 0.0, 120000ms},     {5, 0.0, 150000ms},
      {5, 0.5, 225000ms},   {6, 0.0, 150000ms},  {100, 0.999999, 299999ms},
  };
  for (const auto& r : rows) {
    CAPTURE(r.crashes);
    CAPTURE(r.u);
    CHECK(job_backoff_delay(r.crashes, r.u) == r.delay);
  }
  std::mt19937_64 rng(11);
  std::chrono::milliseconds previous_floor = 0ms;
  for (unsigned n = 1; n < 20; ++n) {
    const auto ceiling = std::min<std::chrono::milliseconds>(300000ms, 30000ms * (1LL << std::min(n - 1, 20u)));
    for (int i = 0; i < 50; ++i) {
      const auto d = job_backoff_delay(n, rng);
      CHECK(d >= ceiling / 2);
      CHECK(d < ceiling);
    }
    CHECK(ceiling / 2 >= previous_floor);  // never shrinks as crashes pile up
    previous_floor = ceiling / 2;
  }
}

TEST_CASE("§5.2 CouchDB's backoff schedule, for reference: 30 s × 2^min(n−1, 10)") {
  // couch_replicator_scheduler backoff_micros_test_: {1,1}, {2,2}, {4,3}, … {1024,11}, {1024,12}.
  const std::pair<unsigned, int64_t> rows[] = {{0, 0},   {1, 1},   {2, 2},    {3, 4},
                                               {4, 8},   {5, 16},  {6, 32},   {7, 64},
                                               {8, 128}, {9, 256}, {10, 512}, {11, 1024},
                                               {12, 1024}, {100, 1024}};
  for (const auto& [n, factor] : rows) {
    CAPTURE(n);
    CHECK(couch_job_backoff_delay(n) == 30000ms * factor);
  }
  CHECK(couch_job_backoff_delay(11) == std::chrono::minutes(512));
}

TEST_CASE("uniform01: within [0, 1) for any generator output") {
  struct Fixed {
    using result_type = uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~uint64_t{0}; }
    result_type value;
    result_type operator()() { return value; }
  };
  Fixed lo{0};
  Fixed hi{~uint64_t{0}};
  CHECK(uniform01(lo) == 0.0);
  CHECK(uniform01(hi) < 1.0);
  CHECK(job_backoff_delay(3, hi) < 120000ms);
  CHECK(job_backoff_delay(3, lo) == 60000ms);
}

TEST_CASE("§12 retry/backoff: crashes grow the delay; > 120 s of health resets the count") {
  // A job crashes right after each start: its delays grow (ours: 30 s, 60 s, 2 min, 4 min, 5 min
  // cap; CouchDB's: 30 s, 60 s, …, 512 min).
  JobHistory h;
  TimePoint now{};
  h.added(now);
  std::chrono::milliseconds previous = 0ms;
  for (unsigned i = 1; i <= 8; ++i) {
    h.started(now);
    now += 1s;
    h.crashed(now, "db_not_found: could not open http://h/db/");
    const unsigned n = h.consecutive_crashes();
    CHECK(n == i);
    const auto delay = job_backoff_delay(n, 0.0);  // the low end of the jitter
    CHECK(delay >= previous);
    CHECK(delay <= 150000ms);
    CHECK(couch_job_backoff_delay(n) == 30000ms * (1LL << (n - 1)));
    previous = delay;
    now += std::chrono::duration_cast<std::chrono::seconds>(delay);
  }
  CHECK(scheduler_state(false, h) == JobState::kCrashing);
  // Then it runs healthily for more than the health threshold before crashing again: a new streak.
  h.started(now);
  now += 121s;
  h.crashed(now, "bulk_docs_failed");
  CHECK(h.consecutive_crashes() == 0);
  CHECK(job_backoff_delay(h.consecutive_crashes(), 0.9) == 0ms);
  h.started(now);
  now += 5s;
  h.crashed(now, "bulk_docs_failed");
  CHECK(h.consecutive_crashes() == 1);
  CHECK(job_backoff_delay(1, 0.0) == 15000ms);
}
