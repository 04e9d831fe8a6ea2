// The retry policy: the verdict table, the delays, the crash reasons. spec:
// replication-protocol.md §5 and the per-call rules of §3. See retry_policy.h for the table.
#include "replicator/retry_policy.h"

#include <cmath>
#include <optional>

namespace divan::replicator {

using namespace std::chrono_literals;

namespace {

// What the peer said, whatever the transport: an HTTP status from a remote, an engine Code from
// the local database, or nothing at all.
enum class Answer {
  kNoAnswer,          // refused, unreachable, DNS, TLS: the host, not the database
  kTransient,         // timeout, a connection lost mid-exchange, 408, 5xx, other non-4xx
                      // statuses, a local internal error
  kRateLimited,       // 429
  kUnauthorized,      // 401
  kForbidden,         // 403
  kNotFound,          // 404 (and an illegal local database name: CouchDB says db_not_found too)
  kMethodNotAllowed,  // 405
  kConflict,          // 409
  kMissingStub,       // 412 missing_stub
  kPrecondition,      // 412 otherwise (file_exists, precondition_failed)
  kTooLarge,          // 413
  kUriTooLong,        // 414
  kBadDocument,       // 400, 415: this document cannot be written as it is
  kOtherClientError,  // any other 4xx
};

Answer answer_of(const PeerError& e) {
  switch (e.kind) {
    case PeerError::Kind::kTransport:
      return Answer::kNoAnswer;
    case PeerError::Kind::kTimeout:
    case PeerError::Kind::kLost:
      return Answer::kTransient;
    case PeerError::Kind::kHttp:
      switch (e.status) {
        case 400:
        case 415:
          return Answer::kBadDocument;
        case 401:
          return Answer::kUnauthorized;
        case 403:
          return Answer::kForbidden;
        case 404:
          return Answer::kNotFound;
        case 405:
          return Answer::kMethodNotAllowed;
        case 408:
          return Answer::kTransient;
        case 409:
          return Answer::kConflict;
        case 412:
          return e.code == Code::kMissingStub || e.error == "missing_stub" ? Answer::kMissingStub
                                                                          : Answer::kPrecondition;
        case 413:
          return Answer::kTooLarge;
        case 414:
          return Answer::kUriTooLong;
        case 429:
          return Answer::kRateLimited;
        default:
          // CouchDB's httpc resends everything that is neither 2xx nor 4xx (5xx, odd 1xx/3xx).
          return e.status >= 400 && e.status < 500 ? Answer::kOtherClientError : Answer::kTransient;
      }
    case PeerError::Kind::kLocal:
      switch (e.code) {
        case Code::kUnauthorized:
          return Answer::kUnauthorized;
        case Code::kForbidden:
          return Answer::kForbidden;
        case Code::kNotFound:
        case Code::kIllegalDatabaseName:
          return Answer::kNotFound;
        case Code::kMethodNotAllowed:
          return Answer::kMethodNotAllowed;
        case Code::kConflict:
          return Answer::kConflict;
        case Code::kMissingStub:
          return Answer::kMissingStub;
        case Code::kFileExists:
        case Code::kPreconditionFailed:
          return Answer::kPrecondition;
        case Code::kTooLarge:
        case Code::kDocumentTooLarge:
          return Answer::kTooLarge;
        case Code::kBadRequest:
        case Code::kDocValidation:
        case Code::kIllegalDocId:
        case Code::kBadContentType:
        case Code::kContentMd5Mismatch:
          return Answer::kBadDocument;
        case Code::kInternal:
          // An engine failure (I/O, busy): resend a few times like a 500, then crash.
          return Answer::kTransient;
        default:
          return Answer::kOtherClientError;
      }
  }
  return Answer::kTransient;
}

// The HTTP status a local error corresponds to, for reasons ("http_error_code: 409 …").
unsigned status_of(const PeerError& e, Answer a) {
  if (e.kind == PeerError::Kind::kHttp) return e.status;
  switch (a) {
    case Answer::kUnauthorized:
      return 401;
    case Answer::kForbidden:
      return 403;
    case Answer::kNotFound:
      return 404;
    case Answer::kMethodNotAllowed:
      return 405;
    case Answer::kConflict:
      return 409;
    case Answer::kMissingStub:
    case Answer::kPrecondition:
      return 412;
    case Answer::kTooLarge:
      return 413;
    case Answer::kBadDocument:
      return 400;
    default:
      return 500;
  }
}

std::string_view request_url(const CallContext& ctx) {
  return ctx.request_url.empty() ? ctx.db_url : ctx.request_url;
}

std::string with_detail(std::string head, std::string_view detail) {
  if (!detail.empty()) {
    head += ": ";
    head += detail;
  }
  return head;
}

Decision crash(std::string reason) { return {Verdict::kCrashJob, std::move(reason)}; }
Decision note(Verdict v, const PeerError& e) { return {v, e.reason}; }

// 401/403/404 about the database itself, as CouchDB reports them when opening it (§3.2).
std::optional<Decision> database_answer(Answer a, const CallContext& ctx) {
  switch (a) {
    case Answer::kUnauthorized:
      return crash(unauthorized_reason(ctx.db_url));
    case Answer::kForbidden:
      return crash(forbidden_reason(ctx.db_url));
    case Answer::kNotFound:
      return crash(db_not_found_reason(ctx.db_url));
    default:
      return std::nullopt;
  }
}

std::string http_error(const PeerError& e, Answer a, const CallContext& ctx) {
  return http_error_code_reason(status_of(e, a), ctx.method, request_url(ctx));
}

}  // namespace

const char* call_name(PeerCall call) {
  switch (call) {
    case PeerCall::kInfo:
      return "info";
    case PeerCall::kCreateTarget:
      return "create_target";
    case PeerCall::kCheckpointRead:
      return "checkpoint_read";
    case PeerCall::kCheckpointWrite:
      return "checkpoint_write";
    case PeerCall::kChanges:
      return "changes";
    case PeerCall::kRevsDiff:
      return "revs_diff";
    case PeerCall::kBulkGet:
      return "bulk_get";
    case PeerCall::kOpenRevs:
      return "open_revs";
    case PeerCall::kBulkDocs:
      return "bulk_docs";
    case PeerCall::kPutDoc:
      return "put_doc";
  }
  return "unknown";
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kRetryRequest:
      return "retry_request";
    case Verdict::kSlowDown:
      return "slow_down";
    case Verdict::kHostDown:
      return "host_down";
    case Verdict::kCrashJob:
      return "crash_job";
    case Verdict::kFail:
      return "fail";
    case Verdict::kDocFailure:
      return "doc_failure";
    case Verdict::kAbsent:
      return "absent";
    case Verdict::kProceed:
      return "proceed";
    case Verdict::kFallBack:
      return "fall_back";
    case Verdict::kSplitBatch:
      return "split_batch";
    case Verdict::kRefetchFull:
      return "refetch_full";
    case Verdict::kShortenUrl:
      return "shorten_url";
    case Verdict::kReadOnlySource:
      return "read_only_source";
    case Verdict::kCheckpointConflict:
      return "checkpoint_conflict";
  }
  return "unknown";
}

Decision classify(const PeerError& error, const CallContext& ctx) {
  const Answer a = answer_of(error);

  // The same for every call: the host is silent, the request hit a glitch, or the peer sheds load.
  if (a == Answer::kNoAnswer) return note(Verdict::kHostDown, error);
  if (a == Answer::kTransient) return note(Verdict::kRetryRequest, error);
  if (a == Answer::kRateLimited) return note(Verdict::kSlowDown, error);

  switch (ctx.call) {
    case PeerCall::kInfo:
      // §3.2: 401 unauthorized, 403 forbidden, anything else db_not_found.
      if (auto d = database_answer(a, ctx)) return *d;
      return crash(db_not_found_reason(ctx.db_url));

    case PeerCall::kCreateTarget:
      // §3.2: 201, 202 and 412 are all fine; only 401/403 stop the job (CouchDB ignores the rest
      // and lets the GET that follows decide).
      if (a == Answer::kUnauthorized || a == Answer::kForbidden) return *database_answer(a, ctx);
      return note(Verdict::kProceed, error);

    case PeerCall::kCheckpointRead:
      if (a == Answer::kNotFound) return note(Verdict::kAbsent, error);  // §3.4: no log yet
      if (auto d = database_answer(a, ctx)) return *d;
      return crash(http_error(error, a, ctx));

    case PeerCall::kCheckpointWrite:
      if (a == Answer::kConflict) return note(Verdict::kCheckpointConflict, error);
      if (a == Answer::kUnauthorized || a == Answer::kForbidden) {
        if (ctx.side == Side::kSource) return note(Verdict::kReadOnlySource, error);
        return crash(checkpoint_commit_failure_reason(
            std::string("could not write the target checkpoint: ") + http_error(error, a, ctx)));
      }
      if (a == Answer::kNotFound) return crash(db_not_found_reason(ctx.db_url));
      return crash(checkpoint_commit_failure_reason(std::string("could not write the ") +
                                                    side_name(ctx.side) + " checkpoint: " +
                                                    http_error(error, a, ctx)));

    case PeerCall::kChanges:
      // §3.6: a server too old for POST _changes with doc_ids: GET and filter here.
      if (a == Answer::kMethodNotAllowed) return note(Verdict::kFallBack, error);
      if (auto d = database_answer(a, ctx)) return *d;
      return crash(changes_req_failed_reason(http_error(error, a, ctx)));

    case PeerCall::kRevsDiff:
      if (auto d = database_answer(a, ctx)) return *d;
      return crash(http_error(error, a, ctx));

    case PeerCall::kBulkGet:
      // §3.8: any failed _bulk_get (missing endpoint, refused body, …) → fetch per document; a
      // real permission problem then shows on those requests.
      return note(Verdict::kFallBack, error);

    case PeerCall::kOpenRevs:
      if (a == Answer::kNotFound) return note(Verdict::kAbsent, error);  // revision vanished
      if (a == Answer::kUriTooLong) return note(Verdict::kShortenUrl, error);
      if (auto d = database_answer(a, ctx)) return *d;
      return crash(open_doc_revs_failed_reason(http_error(error, a, ctx)));

    case PeerCall::kBulkDocs:
      // §3.9: 413 splits, a missing stub refetches; any other failure of the whole request
      // crashes the job (per-document errors arrive inside a 201, not here).
      if (a == Answer::kTooLarge) return note(Verdict::kSplitBatch, error);
      if (a == Answer::kMissingStub) return note(Verdict::kRefetchFull, error);
      if (a == Answer::kNotFound) return crash(db_not_found_reason(ctx.db_url));
      return crash(bulk_docs_failed_reason(http_error(error, a, ctx)));

    case PeerCall::kPutDoc:
      // §3.9: 401/403/413/415 and a bad attachment name (400) skip the document; 412 missing_stub
      // refetches it once; 409 cannot happen with new_edits=false and is a real failure.
      switch (a) {
        case Answer::kUnauthorized:
        case Answer::kForbidden:
        case Answer::kTooLarge:
        case Answer::kBadDocument:
          return note(Verdict::kDocFailure, error);
        case Answer::kMissingStub:
          return note(Verdict::kRefetchFull, error);
        case Answer::kNotFound:
          return crash(db_not_found_reason(ctx.db_url));
        default:
          return crash(doc_write_failed_reason(http_error(error, a, ctx)));
      }
  }
  return crash(http_error(error, a, ctx));
}

milliseconds request_retry_delay(unsigned attempt, milliseconds base, milliseconds cap) {
  if (attempt == 0) return milliseconds(0);
  // 2^(attempt−1) overflows nothing below 2^40; beyond, the cap holds anyway.
  if (attempt > 40) return cap;
  const auto d = base * (int64_t{1} << (attempt - 1));
  return std::min(d, cap);
}

bool may_retry_request(unsigned attempt, unsigned retries_per_request,
                       milliseconds since_first_failure) {
  return attempt <= retries_per_request && since_first_failure < tuning::kRequestGiveUpAfter;
}

std::string exhausted_reason(const PeerError& error, const CallContext& ctx) {
  switch (error.kind) {
    case PeerError::Kind::kHttp:
      return http_error_code_reason(error.status, ctx.method, request_url(ctx));
    case PeerError::Kind::kTimeout:
      return with_detail("timeout", std::string(ctx.method) + " " + std::string(request_url(ctx)));
    case PeerError::Kind::kTransport:
    case PeerError::Kind::kLost:
    case PeerError::Kind::kLocal:
      break;
  }
  return with_detail(std::string(call_name(ctx.call)) + "_failed",
                     error.reason.empty() ? std::string(request_url(ctx)) : error.reason);
}

milliseconds RateLimiter::on_rate_limited(milliseconds now) {
  if (ever_updated_ && now - updated_ <= tuning::kRateLimitSensitivity) return interval_;
  const auto from = std::max(interval_, tuning::kRateLimitBase);
  const auto grown = milliseconds(static_cast<int64_t>(
      std::llround(static_cast<double>(from.count()) * tuning::kRateLimitFactor)));
  interval_ = std::min(grown, tuning::kRateLimitMax);
  updated_ = now;
  ever_updated_ = true;
  return interval_;
}

milliseconds RateLimiter::on_success(milliseconds now) {
  if (!ever_updated_) return interval_;  // never limited: nothing to relax
  if (now - updated_ <= tuning::kRateLimitSensitivity) return interval_;
  auto decayed = interval_;
  if (const auto dt = now - updated_; dt > tuning::kRateLimitDecayThreshold) {
    decayed = std::max(milliseconds(0), interval_ - tuning::kRateLimitDecayFactor * dt);
  }
  // Additive decrease, a step function so large intervals come down faster: at the ceiling the
  // whole job is killed, which costs more than pacing a little less.
  const auto base = tuning::kRateLimitBase;
  const auto step = decayed > 10000ms ? base * 50 : decayed > 1000ms ? base * 5
                    : decayed > 100ms ? base * 2 : base;
  const auto next = decayed - step;
  if (next <= milliseconds(0)) {
    interval_ = milliseconds(0);
    ever_updated_ = false;  // pacing off, as if never limited
    return interval_;
  }
  interval_ = std::max(next, base);
  updated_ = now;
  return interval_;
}

milliseconds host_probe_delay(unsigned failures, double u, milliseconds base, milliseconds cap) {
  const auto ceiling = failures > 40 ? cap : std::min(cap, base * (int64_t{1} << failures));
  return milliseconds(static_cast<int64_t>(static_cast<double>(ceiling.count()) * u));
}

milliseconds job_backoff_delay(unsigned consecutive_crashes, double u, milliseconds base,
                               milliseconds cap) {
  if (consecutive_crashes == 0) return milliseconds(0);
  const unsigned n = consecutive_crashes - 1;
  const auto ceiling = n > 40 ? cap : std::min(cap, base * (int64_t{1} << n));
  // half + (ceiling − half)·u rather than ceiling·(0.5 + 0.5u): the latter rounds to the ceiling
  // itself for u just below 1.
  const int64_t half = ceiling.count() / 2;
  return milliseconds(half + static_cast<int64_t>(static_cast<double>(ceiling.count() - half) * u));
}

milliseconds couch_job_backoff_delay(unsigned consecutive_crashes) {
  if (consecutive_crashes == 0) return milliseconds(0);
  const unsigned exponent = std::min(consecutive_crashes - 1, tuning::kCouchJobBackoffMaxExponent);
  return tuning::kCouchJobBackoffBase * (int64_t{1} << exponent);
}

std::string db_not_found_reason(std::string_view url) {
  return "db_not_found: could not open " + std::string(url);
}

std::string unauthorized_reason(std::string_view url) {
  return "unauthorized: unauthorized to access or create database " + std::string(url);
}

std::string forbidden_reason(std::string_view url) { return "forbidden: " + std::string(url); }

std::string nxdomain_reason(std::string_view url) {
  return "nxdomain: could not resolve " + std::string(url);
}

std::string http_error_code_reason(unsigned status, std::string_view method,
                                   std::string_view url) {
  return "http_error_code: " + std::to_string(status) + " " + std::string(method) + " " +
         std::string(url);
}

std::string checkpoint_commit_failure_reason(std::string_view detail) {
  return with_detail("checkpoint_commit_failure", detail);
}

std::string max_backoff_reason() { return "max_backoff"; }

std::string changes_req_failed_reason(std::string_view detail) {
  return with_detail("changes_req_failed", detail);
}

std::string bulk_docs_failed_reason(std::string_view detail) {
  return with_detail("bulk_docs_failed", detail);
}

std::string doc_write_failed_reason(std::string_view detail) {
  return with_detail("doc_write_failed", detail);
}

std::string open_doc_revs_failed_reason(std::string_view detail) {
  return with_detail("open_doc_revs_failed", detail);
}

std::string duplicate_replication_reason(std::string_view rep_id, std::string_view doc_id,
                                         std::string_view other_doc_id, std::string_view db) {
  return "Replication `" + std::string(rep_id) + "` specified by document `" +
         std::string(doc_id) + "` already started, triggered by document `" +
         std::string(other_doc_id) + "` from db `" + std::string(db) + "`";
}

std::string duplicate_transient_reason(std::string_view rep_id, std::string_view doc_id) {
  return "Replication `" + std::string(rep_id) + "` specified by document `" +
         std::string(doc_id) +
         "` already running as a transient replication, started via `_replicate` API endpoint";
}

Decision permanent_failure(std::string reason) { return {Verdict::kFail, std::move(reason)}; }

}  // namespace divan::replicator
