#include "replicator/job.h"

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_annotations.h"
#include "engine/random.h"
#include "replicator/job_state.h"
#include "replicator/retry_policy.h"
#include "replicator/seq_tracker.h"

namespace divan::replicator {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
using http::client::StopToken;

namespace {

// §8: what a one-shot `_replicate` answers: "ok" (and "no_changes") first, then the checkpoint
// body without its `_id` and `_rev`.
Json one_shot_answer(const Json& checkpoint_body, bool no_changes) {
  Json out = Json::object();
  out["ok"] = true;
  if (no_changes) out["no_changes"] = true;
  for (const auto& [key, value] : checkpoint_body.items()) {
    if (key != "_id" && key != "_rev") out[key] = value;
  }
  return out;
}

// How a run ends early, thrown from deep inside a call and caught in run() (STYLE: the job is one
// of the three places that catch): a crash, a dead host, a permanent failure, or a stop.
struct RunEnd {
  RunOutcome outcome;
};
struct Stopped {};

// A wake-up for one waiting coroutine on the run's strand (a timer that notify() cuts short). A
// notify() with nobody waiting is kept for the next wait.
class Event {
 public:
  explicit Event(const asio::any_io_executor& executor)
      : timer_(executor, Clock::time_point::max()) {}
  void notify() {
    pending_ = true;
    timer_.cancel();
  }
  // Returns at the next notify() (or at once if one came since the last wait), or at `deadline`.
  asio::awaitable<void> wait(Clock::time_point deadline = Clock::time_point::max()) {
    if (!pending_) {
      timer_.expires_at(deadline);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    pending_ = false;
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace

struct JobRun::Impl {
  JobRun& run;
  PeerMaker make_source;
  PeerMaker make_target;
  std::shared_ptr<StopToken> stop = std::make_shared<StopToken>();       // every request
  std::shared_ptr<StopToken> feed_stop = std::make_shared<StopToken>();  // the live read only
  std::atomic<bool> stopping{false};
  std::atomic<bool> hard_stopped{false};

  // A failure ends the run: every request in flight ends now, the live read too.
  void stop_all() {
    feed_stop->stop();
    stop->stop();
  }

  mutable Mutex mu;
  JobProgress shown GUARDED_BY(mu);  // what progress() returns

  // Strand-only state, from here on.
  std::unique_ptr<Peer> source;
  std::unique_ptr<Peer> target;
  std::mt19937_64 rng{std::random_device{}()};
  ReplicationLog source_log;
  ReplicationLog target_log;
  StartPoint start;
  SeqTracker tracker;
  ReplicationStats stats;
  std::string start_time;       // RFC 1123, for the checkpoint history
  std::string source_instance;  // instance_start_time at the start (§3.10 step 2)
  std::string target_instance;
  SourceCheckpoints source_checkpoints = SourceCheckpoints::kWritable;
  Json committed_seq;                  // the seq the last checkpoint recorded
  Json last_body;                      // the last checkpoint body written (one-shot result)
  Clock::time_point last_checkpoint;   // when it was written
  bool checkpointing = false;
  bool rows_seen = false;              // a one-shot run with no rows answers no_changes
  size_t in_flight = 0;
  std::optional<RunOutcome> failure;   // the first worker's crash
  std::optional<Event> batch_done;     // a worker finished: the reader and the checkpointer look
  std::optional<Event> checkpoint_due;

  Impl(JobRun& r, PeerMaker s, PeerMaker t)
      : run(r), make_source(std::move(s)), make_target(std::move(t)) {}

  const ReplicationSpec& spec() const { return run.spec_; }
  Peer& peer(Side side) { return side == Side::kSource ? *source : *target; }
  const Endpoint& endpoint(Side side) const {
    return side == Side::kSource ? spec().source : spec().target;
  }

  // ---- Calls, with the retry policy --------------------------------------------------------

  // Sleeps `delay`, or less when the run is stopped (then throws Stopped).
  asio::awaitable<void> sleep_for(Clock::duration delay) {
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor, delay);
    auto registration = stop->on_stop([timer, executor] {
      asio::post(executor, [timer] { timer->cancel(); });
    });
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (stop->stopped()) throw Stopped{};
  }

  [[noreturn]] void end(RunOutcome::Kind kind, std::string reason, const Endpoint* host = nullptr) {
    RunOutcome outcome;
    outcome.kind = kind;
    outcome.reason = std::move(reason);
    if (host && !host->is_local()) outcome.host = host->origin();
    throw RunEnd{std::move(outcome)};
  }

  // One peer call, resent after glitches as retry_policy.h says; a crash, a dead host or a
  // permanent failure ends the run (throws). Any other verdict comes back to the caller, whose
  // call it is to handle (kAbsent, kFallBack, kSplitBatch, kRefetchFull, kReadOnlySource, …).
  template <typename T, typename F>
  asio::awaitable<tl::expected<T, Decision>> call(PeerCall what, Side side, F&& f) {
    const auto first_failure = Clock::now();
    for (unsigned attempt = 1;; ++attempt) {
      if (stop->stopped()) throw Stopped{};
      PeerResult<T> result = co_await f();
      if (result) {
        if constexpr (std::is_void_v<T>) {
          co_return tl::expected<T, Decision>();
        } else {
          co_return std::move(*result);
        }
      }
      // A request cancelled by a stop says nothing of the peer.
      if (stop->stopped() || stopping) throw Stopped{};
      const std::string name = peer(side).display_name();
      CallContext ctx{what, side, name};
      Decision decision = classify(result.error(), ctx);
      switch (decision.verdict) {
        case Verdict::kRetryRequest:
        case Verdict::kSlowDown: {
          auto since = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                             first_failure);
          if (!may_retry_request(attempt, spec().retries_per_request, since)) {
            end(RunOutcome::Kind::kCrashed, exhausted_reason(result.error(), ctx));
          }
          co_await sleep_for(request_retry_delay(attempt));
          continue;
        }
        case Verdict::kHostDown:
          end(RunOutcome::Kind::kHostDown, result.error().reason, &endpoint(side));
        case Verdict::kCrashJob:
          end(RunOutcome::Kind::kCrashed, decision.reason);
        case Verdict::kFail:
          end(RunOutcome::Kind::kFailed, decision.reason);
        default:
          co_return tl::unexpected(std::move(decision));
      }
    }
  }

  // call() for a call whose only acceptable outcome is success: anything else crashes the run.
  template <typename T, typename F>
  asio::awaitable<T> must(PeerCall what, Side side, F&& f) {
    auto result = co_await call<T>(what, side, std::forward<F>(f));
    if (!result) end(RunOutcome::Kind::kCrashed, result.error().reason);
    co_return std::move(*result);
  }
  // Calls are resent after glitches, so the lambdas given to call()/must() pass copies of their
  // arguments, never moved-from ones.

  // ---- Progress ----------------------------------------------------------------------------

  void publish(const std::function<void(JobProgress&)>& change) {
    MutexLock lock(mu);
    change(shown);
    shown.stats = stats;
    shown.through_seq = tracker.through_seq();
    shown.updated_at = SystemClock::now();
  }

  // ---- Setup (§3.2–§3.5) ---------------------------------------------------------------------

  asio::awaitable<void> open_peers() {
    source = make_source(stop);
    target = make_target(stop);
    if (spec().create_target) {
      auto created = co_await call<void>(PeerCall::kCreateTarget, Side::kTarget,
                                         [&] { return target->create(spec().create_target_params); });
      (void)created;  // kProceed: the GET below decides (§3.2)
    }
    PeerInfo source_info = co_await must<PeerInfo>(PeerCall::kInfo, Side::kSource,
                                                   [&] { return source->info(); });
    PeerInfo target_info = co_await must<PeerInfo>(PeerCall::kInfo, Side::kTarget,
                                                   [&] { return target->info(); });
    source_instance = source_info.instance_start_time;
    target_instance = target_info.instance_start_time;
  }

  asio::awaitable<ReplicationLog> read_log(Side side) {
    const std::string doc_id = run.id_.checkpoint_doc_id();
    auto doc = co_await call<std::optional<Json>>(PeerCall::kCheckpointRead, side,
                                                 [&] { return peer(side).get_local(doc_id); });
    if (!doc) {
      if (doc.error().verdict == Verdict::kAbsent) co_return missing_log();
      end(RunOutcome::Kind::kCrashed, doc.error().reason);
    }
    co_return *doc ? parse_log(**doc) : missing_log();
  }

  asio::awaitable<void> find_start() {
    if (!spec().use_checkpoints) {
      start.seq = spec().since_seq.value_or(Json(0));
      tracker = SeqTracker(start.seq);
      committed_seq = start.seq;
      co_return;
    }
    source_log = co_await read_log(Side::kSource);
    target_log = co_await read_log(Side::kTarget);
    start = compare_logs(source_log, target_log, spec().since_seq, source_checkpoints);
    // Counters go on from the history kept (§3.10 step 3: cumulative across sessions).
    stats = ReplicationStats::from_history(start.history);
    tracker = SeqTracker(start.seq);
    committed_seq = start.seq;
    publish([&](JobProgress& p) {
      p.checkpointed_source_seq = start.seq;
      p.source_seq = start.seq;
    });
  }

  // ---- Checkpoints (§3.10) -----------------------------------------------------------------

  // Writes `body` as side's checkpoint with the rev last read or written; 409 → the §3.10 step 5
  // rule. Returns false for a read-only source (kReadOnlySource).
  asio::awaitable<bool> put_checkpoint(Side side, const Json& body) {
    ReplicationLog& log = side == Side::kSource ? source_log : target_log;
    const std::string doc_id = run.id_.checkpoint_doc_id();
    Json doc = body;
    if (!log.rev.empty()) doc["_rev"] = log.rev;
    auto rev = co_await call<std::string>(PeerCall::kCheckpointWrite, side,
                                          [&] { return peer(side).put_local(doc_id, doc); });
    if (rev) {
      log.rev = std::move(*rev);
      co_return true;
    }
    if (rev.error().verdict == Verdict::kReadOnlySource) co_return false;
    if (rev.error().verdict == Verdict::kCheckpointConflict) {
      ReplicationLog now = co_await read_log(side);
      if (now.exists && same_checkpoint(body, now.body)) {
        log.rev = now.rev;
        co_return true;
      }
    }
    end(RunOutcome::Kind::kCrashed, "checkpoint_commit_failure: " + rev.error().reason);
  }

  asio::awaitable<void> ensure_commit(Side side) {
    std::string instance = co_await must<std::string>(
        PeerCall::kCheckpointWrite, side, [&] { return peer(side).ensure_full_commit(); });
    const std::string& at_start = side == Side::kSource ? source_instance : target_instance;
    if (instance_start_time_changed(Json(at_start), Json(instance))) {
      end(RunOutcome::Kind::kCrashed, instance_start_time_changed_reason(side));
    }
  }

  Json body_now() {
    CheckpointRecord record{run.session_id_, start_time, rfc1123(SystemClock::now()), start.seq,
                            tracker.through_seq(), stats};
    return checkpoint_body(record, start.history);
  }

  asio::awaitable<void> checkpoint() {
    if (!spec().use_checkpoints || checkpointing) co_return;
    Json through = tracker.through_seq();
    if (through == committed_seq) co_return;
    checkpointing = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{checkpointing};
    co_await ensure_commit(Side::kSource);
    co_await ensure_commit(Side::kTarget);
    Json body = body_now();
    if (source_checkpoints == SourceCheckpoints::kWritable &&
        !co_await put_checkpoint(Side::kSource, body)) {
      source_checkpoints = SourceCheckpoints::kReadOnly;
      publish([](JobProgress& p) { p.source_read_only = true; });
    }
    (void)co_await put_checkpoint(Side::kTarget, body);
    committed_seq = through;
    last_body = std::move(body);
    last_checkpoint = Clock::now();
    publish([&](JobProgress& p) { p.checkpointed_source_seq = through; });
  }

  // Checkpoints after batches, at most every kMinCheckpointSpacing (or the job's own
  // checkpoint_interval when that is shorter), until the reader is done (then go() writes the
  // last one at once: `finished` is announced through checkpoint_due).
  asio::awaitable<void> checkpointer(const bool& finished) {
    const auto spacing = std::min<std::chrono::milliseconds>(tuning::kMinCheckpointSpacing,
                                                             spec().checkpoint_interval);
    while (!finished) {
      co_await checkpoint_due->wait();
      for (auto due = last_checkpoint + spacing;
           !finished && Clock::now() < due;) {
        co_await checkpoint_due->wait(due);
      }
      if (finished) break;
      co_await checkpoint();
    }
  }

  // ---- Batches (§3.7–§3.9) ------------------------------------------------------------------

  // Writes fetched revisions; a missing_stub answer (the target lacks a base revision the stubs
  // name) makes them be fetched again with every attachment body and written one by one (§3.9).
  asio::awaitable<void> write_docs(std::vector<engine::DocUpdate> docs) {
    if (docs.empty()) co_return;
    std::vector<FetchRequest> refetch;
    refetch.reserve(docs.size());
    for (const auto& doc : docs) {
      refetch.push_back(FetchRequest{doc.id(), {doc.revisions()->newest()}, {}});
    }
    const uint64_t count = docs.size();
    auto written = co_await call<std::vector<WriteFailure>>(
        PeerCall::kBulkDocs, Side::kTarget, [&] { return target->write(docs); });
    if (written) {
      count_written(count, *written);
      co_return;
    }
    if (written.error().verdict != Verdict::kRefetchFull) {
      end(RunOutcome::Kind::kCrashed, written.error().reason);
    }
    for (auto& request : refetch) {
      FetchResult full = co_await must<FetchResult>(PeerCall::kBulkGet, Side::kSource, [&] {
        return source->fetch(std::vector<FetchRequest>{request}, true);
      });
      for (auto& doc : full.docs) {
        std::vector<engine::DocUpdate> one;
        one.push_back(std::move(doc));
        auto again = co_await call<std::vector<WriteFailure>>(
            PeerCall::kPutDoc, Side::kTarget, [&] { return target->write(one); });
        if (again) {
          count_written(1, *again);
        } else if (again.error().verdict == Verdict::kDocFailure ||
                   again.error().verdict == Verdict::kRefetchFull) {
          stats.doc_write_failures += 1;
        } else {
          end(RunOutcome::Kind::kCrashed, again.error().reason);
        }
      }
    }
  }

  void count_written(uint64_t count, const std::vector<WriteFailure>& failures) {
    stats.doc_write_failures += failures.size();
    stats.docs_written += count - std::min<uint64_t>(count, failures.size());
    for (const auto& f : failures) {
      spdlog::warn("replication {}: {} {} not written: {} {}", run.id_.full(), f.id, f.rev,
                   f.error, f.reason);
    }
  }

  asio::awaitable<void> process(std::vector<Change> rows) {
    // One entry per document, its revs merged (a doc can appear once per feed, but be safe).
    std::map<std::string, std::set<revtree::RevId>> by_id;
    for (auto& row : rows) {
      auto& revs = by_id[row.id];
      for (auto& rev : row.revs) revs.insert(std::move(rev));
    }
    std::vector<RevsDiffEntry> entries;
    entries.reserve(by_id.size());
    uint64_t asked = 0;
    for (auto& [id, revs] : by_id) {
      asked += revs.size();
      entries.push_back(RevsDiffEntry{id, {revs.begin(), revs.end()}});
    }
    auto missing = co_await must<std::vector<MissingRevs>>(
        PeerCall::kRevsDiff, Side::kTarget, [&] { return target->revs_diff(entries); });
    stats.missing_checked += asked;
    std::vector<FetchRequest> requests;
    requests.reserve(missing.size());
    for (auto& m : missing) {
      stats.missing_found += m.missing.size();
      requests.push_back(FetchRequest{std::move(m.id), std::move(m.missing),
                                      std::move(m.possible_ancestors)});
    }
    if (requests.empty()) co_return;
    FetchResult fetched = co_await must<FetchResult>(
        PeerCall::kBulkGet, Side::kSource, [&] { return source->fetch(requests, false); });
    stats.docs_read += fetched.docs.size();
    stats.bulk_get_attempts += fetched.bulk_get_attempts;
    stats.bulk_get_docs += fetched.bulk_get_docs;
    // Revisions gone from the source since the feed listed them (deleted or compacted
    // meanwhile): the feed lists their successor later (§3.8), so they are simply not copied.
    co_await write_docs(std::move(fetched.docs));
  }

  // A worker: one batch, start to finish. Errors end the whole run (the first one is kept).
  asio::awaitable<void> worker(uint64_t batch, std::vector<Change> rows) {
    try {
      co_await process(std::move(rows));
      tracker.complete(batch);
      publish([](JobProgress&) {});
      checkpoint_due->notify();
    } catch (const RunEnd& e) {
      if (!failure) failure = e.outcome;
    } catch (const Stopped&) {
    } catch (const std::exception& e) {
      if (!failure) failure = RunOutcome{RunOutcome::Kind::kCrashed, e.what(), {}, {}};
    }
    if (failure) stop_all();  // the others end fast; their batches are redone next run
  }

  // ---- The reader (§3.6) and the run -------------------------------------------------------

  asio::awaitable<void> read_changes() {
    auto executor = co_await asio::this_coro::executor;
    const unsigned workers = std::max(1u, spec().worker_processes);
    const size_t batch_size = std::max(1u, spec().worker_batch_size);
    const bool continuous = spec().continuous;
    Json since = start.seq;
    bool live = false;
    while (!stopping && !failure) {
      while (in_flight >= workers && !failure) co_await batch_done->wait();
      if (stopping || failure) break;
      ChangesRequest request;
      request.since = since;
      request.limit = batch_size * workers;
      request.live = live;
      request.timeout = tuning::kChangesHeartbeat;
      request.filter = spec().filter.kind == Filter::Kind::kNone ? nullptr : &spec().filter;
      request.winning_revs_only = spec().winning_revs_only;
      request.stop = feed_stop;
      ChangesPage page;
      try {
        page = co_await must<ChangesPage>(PeerCall::kChanges, Side::kSource,
                                          [&] { return source->changes(request); });
      } catch (const Stopped&) {
        if (hard_stopped) throw;
        break;  // request_stop(): the live read was cut short
      }
      if (stopping) break;
      const bool idle = page.rows.empty();
      publish([&](JobProgress& p) {
        p.source_seq = idle ? page.last_seq : page.rows.back().seq;
        p.changes_pending = page.pending;
        if (idle && in_flight == 0) {
          if (!p.caught_up) p.caught_up_at = SystemClock::now();
          p.caught_up = true;
        } else if (!idle) {
          p.caught_up = false;
        }
      });
      if (idle) {
        if (!continuous) break;  // one-shot: the feed is exhausted
        // A live feed's last_seq may move past changes the filter dropped: a zero-row batch
        // lets the checkpoint move with it (§3.6).
        if (live && page.last_seq != since) {
          tracker.add_marker(page.last_seq);
          checkpoint_due->notify();
        }
        since = page.last_seq;
        live = true;
        continue;
      }
      rows_seen = true;
      since = page.last_seq;
      // One page feeds several batches: a page is one round trip to the source, which the
      // workers would otherwise wait on (the reader was the serial step of a pull).
      for (size_t begin = 0; begin < page.rows.size() && !stopping && !failure;) {
        while (in_flight >= workers && !failure) co_await batch_done->wait();
        if (stopping || failure) break;
        const size_t end = std::min(page.rows.size(), begin + batch_size);
        std::vector<Change> rows(std::make_move_iterator(page.rows.begin() + begin),
                                 std::make_move_iterator(page.rows.begin() + end));
        begin = end;
        const uint64_t batch = tracker.begin(rows.back().seq);
        ++in_flight;
        asio::co_spawn(executor, worker(batch, std::move(rows)), [this](std::exception_ptr) {
          --in_flight;
          batch_done->notify();
          checkpoint_due->notify();
        });
      }
    }
    while (in_flight > 0) co_await batch_done->wait();
  }

  asio::awaitable<RunOutcome> go() {
    auto executor = co_await asio::this_coro::executor;
    batch_done.emplace(executor);
    checkpoint_due.emplace(executor);
    start_time = rfc1123(SystemClock::now());
    publish([](JobProgress& p) { p.started_at = SystemClock::now(); });
    co_await open_peers();
    co_await find_start();
    last_checkpoint = Clock::now();

    bool finished = false;
    bool checkpointer_done = false;
    Event checkpointer_exit(executor);
    std::optional<RunOutcome> checkpointer_failure;
    asio::co_spawn(executor,
                   [&]() -> asio::awaitable<void> {
                     try {
                       co_await checkpointer(finished);
                     } catch (const RunEnd& e) {
                       checkpointer_failure = e.outcome;
                       stop_all();
                     } catch (...) {
                     }
                   },
                   [&](std::exception_ptr) {
                     checkpointer_done = true;
                     checkpointer_exit.notify();
                   });
    std::exception_ptr reader_error;
    try {
      co_await read_changes();
    } catch (...) {
      reader_error = std::current_exception();
      stop_all();  // end the workers and the checkpointer fast
    }
    finished = true;
    checkpoint_due->notify();
    while (in_flight > 0) co_await batch_done->wait();
    while (!checkpointer_done) co_await checkpointer_exit.wait();
    if (reader_error) std::rethrow_exception(reader_error);
    if (failure) throw RunEnd{*failure};
    if (checkpointer_failure) throw RunEnd{*checkpointer_failure};

    co_await checkpoint();  // the last one: everything written is recorded
    RunOutcome outcome;
    outcome.kind = stopping ? RunOutcome::Kind::kStopped : RunOutcome::Kind::kCompleted;
    if (!rows_seen) {
      // §3.11: nothing processed: the previous source log, and no_changes.
      outcome.result = one_shot_answer(source_log.exists ? source_log.body : Json::object(), true);
    } else {
      outcome.result = one_shot_answer(last_body.is_object() ? last_body : body_now(), false);
    }
    co_return outcome;
  }
};

JobRun::JobRun(ReplicationSpec spec, ReplicationId id, PeerMaker make_source, PeerMaker make_target)
    : spec_(std::move(spec)), id_(std::move(id)), session_id_(engine::random_uuid()) {
  impl_ = std::make_unique<Impl>(*this, std::move(make_source), std::move(make_target));
}

JobRun::~JobRun() = default;

asio::awaitable<RunOutcome> JobRun::run() {
  try {
    co_return co_await impl_->go();
  } catch (const RunEnd& e) {
    co_return e.outcome;
  } catch (const Stopped&) {
    co_return RunOutcome{RunOutcome::Kind::kStopped, "stopped", {}, {}};
  } catch (const std::exception& e) {
    co_return RunOutcome{RunOutcome::Kind::kCrashed, e.what(), {}, {}};
  }
}

void JobRun::request_stop() {
  impl_->stopping = true;
  impl_->feed_stop->stop();
}

void JobRun::stop() {
  impl_->stopping = true;
  impl_->hard_stopped = true;
  impl_->feed_stop->stop();
  impl_->stop->stop();
}

JobProgress JobRun::progress() const {
  MutexLock lock(impl_->mu);
  return impl_->shown;
}

}  // namespace divan::replicator
