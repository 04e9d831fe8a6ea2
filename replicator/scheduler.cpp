#include "replicator/scheduler.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_annotations.h"
#include "changes/feed.h"
#include "engine/async_write.h"
#include "engine/doc_json.h"
#include "replicator/job.h"
#include "replicator/job_state.h"
#include "replicator/peers.h"
#include "replicator/rep_id.h"
#include "replicator/strands.h"
#include "replicator/sync.h"
#include "replicator/replicator_db.h"
#include "replicator/retry_policy.h"
#include "replicator/wakeup.h"

namespace divan::replicator {

namespace asio = boost::asio;
using SystemClock = std::chrono::system_clock;
using http::client::Origin;

namespace {

struct DocKey {
  std::string db;
  std::string id;
  friend auto operator<=>(const DocKey&, const DocKey&) = default;
};

// One replication the scheduler knows: from POST /_replicate (transient) or a `_replicator`
// document. Guarded by Impl::mu, except `run`'s own methods (thread-safe).
struct Job {
  std::string id;  // ReplicationId::full()
  ReplicationSpec spec;
  ReplicationId rep_id;
  engine::Writer writer;
  std::optional<DocKey> doc;
  // A bidirectional `_replicator` document's two jobs: "source_to_target" / "target_to_source";
  // null for every other job.
  const char* direction = nullptr;
  bool transient = false;
  JobState state = JobState::kPending;
  JobHistory history;
  std::shared_ptr<JobRun> run;  // the run going on, if any
  JobProgress progress;         // the last run's, kept when it ends
  std::string last_error;
  std::optional<Origin> waiting_host;        // crashing: waiting for this host's probe
  std::shared_ptr<asio::steady_timer> retry;  // crashing: the backoff timer
  SystemClock::time_point added;
  // One-shot POST /_replicate callers waiting for the end of the run.
  std::vector<std::function<void(Result<Json>)>> waiters;
};

// A `_replicator` document without a live job: completed, failed, or refused before it ran.
struct DocRecord {
  std::string job_id;  // empty: none (failed before a job could exist)
  std::string direction;  // Job::direction of a bidirectional document's half; "" otherwise
  JobState state = JobState::kFailed;
  std::string reason;
  std::string source;
  std::string target;
  unsigned error_count = 0;
  Json stats = Json::object();
  SystemClock::time_point start_time;
  SystemClock::time_point last_updated;
};

// A host that gave no answer, and the jobs waiting for it (one probe for all of them).
struct DownHost {
  unsigned failures = 0;
  std::set<std::string> jobs;
  std::string last_error;
  SystemClock::time_point next_probe;
  bool probing = false;
};

std::string rfc3339(SystemClock::time_point t) { return iso8601(t); }

// The CouchDB error of a crash reason "db_not_found: could not open …" (retry_policy.h texts):
// what a one-shot POST /_replicate answers with.
Error crash_error(const std::string& reason) {
  auto colon = reason.find(": ");
  std::string head = colon == std::string::npos ? "" : reason.substr(0, colon);
  std::string rest = colon == std::string::npos ? reason : reason.substr(colon + 2);
  if (head == "db_not_found") return Error{Code::kDbNotFound, rest};
  if (head == "unauthorized") return Error{Code::kUnauthorized, rest};
  if (head == "forbidden") return Error{Code::kForbidden, rest};
  return Error{Code::kInternal, reason};
}

// Who a `_replicator` document's local writes run as: the node. The database is admin-only
// (_security), so only admins write these documents (README: "Replication").
engine::Writer doc_writer() { return engine::Writer::node(); }

}  // namespace

struct Scheduler::Impl : std::enable_shared_from_this<Scheduler::Impl> {
  asio::io_context& ioc;
  engine::Catalog& catalog;
  changes::Notifier& notifier;
  http::client::Client& client;
  const SchedulerOptions options;
  std::shared_ptr<engine::Catalog::Subscription> catalog_subscription;

  mutable Mutex mu;
  bool stopped GUARDED_BY(mu) = false;
  std::map<std::string, std::shared_ptr<Job>> jobs GUARDED_BY(mu);  // by id
  // doc → its job ids: one, or two for a bidirectional document (forward first).
  std::map<DocKey, std::vector<std::string>> doc_jobs GUARDED_BY(mu);
  std::map<DocKey, DocRecord> doc_records GUARDED_BY(mu);           // docs without a job
  // A bidirectional document whose one direction ended (completed or failed) while the other
  // still runs: that direction's record, until both are done.
  std::map<DocKey, DocRecord> doc_half_done GUARDED_BY(mu);
  std::map<Origin, DownHost> down_hosts GUARDED_BY(mu);
  std::set<std::string> followed GUARDED_BY(mu);                    // _replicator dbs
  std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  std::atomic<size_t> live_runs{0};
  std::atomic<size_t> live_followers{0};
  std::atomic<size_t> live_probes{0};
  // Ends the followers of _replicator databases and the host probes (stop()).
  std::shared_ptr<http::client::StopToken> background_stop =
      std::make_shared<http::client::StopToken>();

  Impl(asio::io_context& io, engine::Catalog& cat, changes::Notifier& n, http::client::Client& c,
       SchedulerOptions o)
      : ioc(io), catalog(cat), notifier(n), client(c), options(std::move(o)) {}

  size_t running_count() const REQUIRES(mu) {
    return static_cast<size_t>(std::count_if(jobs.begin(), jobs.end(), [](const auto& j) {
      return j.second->state == JobState::kRunning;
    }));
  }

  // ---- Runs -----------------------------------------------------------------------------------

  std::unique_ptr<Peer> peer_for(const Endpoint& endpoint, const Job& job,
                                 std::shared_ptr<http::client::StopToken> stop) {
    return make_peer(PeerContext{catalog, notifier, client}, endpoint, job.spec, job.writer,
                     std::move(stop));
  }

  // Starts a run of `job` if a slot is free, else leaves it pending.
  void start_or_queue(const std::shared_ptr<Job>& job) REQUIRES(mu) {
    if (stopped) return;
    if (running_count() >= options.max_jobs) {
      job->state = JobState::kPending;
      return;
    }
    start_run(job);
  }

  void start_run(const std::shared_ptr<Job>& job) REQUIRES(mu) {
    job->state = JobState::kRunning;
    job->waiting_host.reset();
    job->retry.reset();
    job->history.started(SystemClock::now());
    std::weak_ptr<Job> weak_job = job;
    auto self = shared_from_this();
    PeerMaker source = [self, weak_job](std::shared_ptr<http::client::StopToken> stop) {
      auto j = weak_job.lock();
      return self->peer_for(j->spec.source, *j, std::move(stop));
    };
    PeerMaker target = [self, weak_job](std::shared_ptr<http::client::StopToken> stop) {
      auto j = weak_job.lock();
      return self->peer_for(j->spec.target, *j, std::move(stop));
    };
    auto run = std::make_shared<JobRun>(job->spec, job->rep_id, std::move(source), std::move(target));
    job->run = run;
    ++live_runs;
    asio::co_spawn(fresh_strand(ioc), run->run(),
                   [self, job, run](std::exception_ptr, RunOutcome outcome) {
                     self->on_run_end(job, run, std::move(outcome));
                     --self->live_runs;
                   });
  }

  // Starts pending jobs while slots are free.
  void fill_slots() REQUIRES(mu) {
    for (auto& [id, job] : jobs) {
      if (running_count() >= options.max_jobs) break;
      if (job->state == JobState::kPending && !job->run) start_run(job);
    }
  }

  void on_run_end(const std::shared_ptr<Job>& job, const std::shared_ptr<JobRun>& run,
                  RunOutcome outcome) {
    std::vector<std::function<void(Result<Json>)>> waiters;
    Result<Json> answer = Json();
    std::optional<std::pair<DocKey, DocRecord>> doc_state;
    {
      MutexLock lock(mu);
      job->progress = run->progress();
      if (job->run != run) return;  // superseded or forgotten
      job->run.reset();
      const auto now = SystemClock::now();
      auto found = jobs.find(job->id);
      const bool forgotten = found == jobs.end() || found->second != job;
      switch (outcome.kind) {
        case RunOutcome::Kind::kCompleted:
          job->history.stopped(now);
          job->state = JobState::kCompleted;
          answer = outcome.result;
          break;
        case RunOutcome::Kind::kStopped:
          job->history.stopped(now);
          job->state = JobState::kPending;
          answer = tl::unexpected(Error{Code::kInternal, "replication was cancelled"});
          break;
        case RunOutcome::Kind::kFailed:
          job->history.crashed(now, outcome.reason);
          job->state = JobState::kFailed;
          job->last_error = outcome.reason;
          answer = tl::unexpected(crash_error(outcome.reason));
          break;
        case RunOutcome::Kind::kCrashed:
        case RunOutcome::Kind::kHostDown:
          job->history.crashed(now, outcome.reason);
          job->state = JobState::kCrashing;
          job->last_error = outcome.reason;
          answer = tl::unexpected(crash_error(outcome.reason));
          spdlog::warn("replication {} crashed: {}", job->id, outcome.reason);
          break;
      }
      // A one-shot POST /_replicate answers its caller with how the run ended: it does not retry.
      waiters = std::move(job->waiters);
      job->waiters.clear();
      if (forgotten) {
        fill_slots();
      } else if (job->transient && (!job->spec.continuous || job->state == JobState::kFailed ||
                                    outcome.kind == RunOutcome::Kind::kStopped)) {
        jobs.erase(job->id);
        fill_slots();
      } else if (job->state == JobState::kCompleted || job->state == JobState::kFailed) {
        if (job->doc) doc_state = doc_job_ended(*job);
        jobs.erase(job->id);
        fill_slots();
      } else if (job->state == JobState::kCrashing) {
        if (outcome.kind == RunOutcome::Kind::kHostDown && outcome.host) {
          wait_for_host(job, *outcome.host, outcome.reason);
        } else {
          schedule_retry(job);
        }
        fill_slots();
      } else {
        start_or_queue(job);
      }
    }
    for (auto& waiter : waiters) waiter(answer);
    if (doc_state) write_doc_state(doc_state->first, doc_state->second);
  }

  // A document's job ended for good: the document's terminal record, to write back, once every
  // job of the document has ended (a bidirectional one waits for its other direction).
  std::optional<std::pair<DocKey, DocRecord>> doc_job_ended(const Job& job) REQUIRES(mu) {
    const DocKey& key = *job.doc;
    DocRecord record = terminal_record(job);
    auto ids = doc_jobs.find(key);
    if (ids != doc_jobs.end()) {
      std::erase(ids->second, job.id);
      if (!ids->second.empty()) {  // the other direction still runs
        doc_half_done[key] = std::move(record);
        return std::nullopt;
      }
      doc_jobs.erase(ids);
    }
    if (auto half = doc_half_done.find(key); half != doc_half_done.end()) {
      record = merge_directions(std::move(half->second), std::move(record));
      doc_half_done.erase(half);
    }
    doc_records[key] = record;
    return std::make_pair(key, std::move(record));
  }

  // The two directions' terminal records as the document's: failed if either failed (its reason,
  // named), else completed with both directions' stats.
  static DocRecord merge_directions(DocRecord first, DocRecord second) {
    DocRecord out = first.direction == std::string("source_to_target") ? first : second;
    const DocRecord& forward = out.direction == first.direction ? first : second;
    const DocRecord& reverse = out.direction == first.direction ? second : first;
    for (const DocRecord* r : {&forward, &reverse}) {
      if (r->state == JobState::kFailed && out.state != JobState::kFailed) {
        out.state = JobState::kFailed;
        out.reason = std::string(r->direction) + ": " + r->reason;
      }
    }
    if (out.state != JobState::kFailed) {
      out.state = JobState::kCompleted;
      out.stats = Json{{"source_to_target", forward.stats}, {"target_to_source", reverse.stats}};
    }
    out.error_count = std::max(forward.error_count, reverse.error_count);
    out.start_time = std::min(forward.start_time, reverse.start_time);
    out.last_updated = std::max(forward.last_updated, reverse.last_updated);
    return out;
  }

  DocRecord terminal_record(const Job& job) const {
    DocRecord r;
    r.job_id = job.id;
    r.direction = job.direction ? job.direction : "";
    r.state = job.state;
    r.reason = job.last_error;
    r.source = job.spec.source.redacted_url();
    r.target = job.spec.target.redacted_url();
    r.error_count = job.history.consecutive_crashes();
    r.stats = stats_json(job);
    r.start_time = job.added;
    r.last_updated = SystemClock::now();
    return r;
  }

  // Backoff after a crash (retry_policy.h job_backoff_delay).
  void schedule_retry(const std::shared_ptr<Job>& job) REQUIRES(mu) {
    unsigned crashes = std::max(1u, job->history.consecutive_crashes());
    auto delay = job_backoff_delay(crashes, uniform01(rng), options.job_backoff_base,
                                   options.job_backoff_cap);
    auto timer = std::make_shared<asio::steady_timer>(ioc, delay);
    job->retry = timer;
    std::weak_ptr<Impl> weak = shared_from_this();
    std::weak_ptr<Job> weak_job = job;
    timer->async_wait([weak, weak_job, timer](const boost::system::error_code& ec) {
      auto self = weak.lock();
      auto j = weak_job.lock();
      if (ec || !self || !j) return;
      MutexLock lock(self->mu);
      if (j->retry != timer || j->state != JobState::kCrashing) return;
      self->start_or_queue(j);
    });
  }

  // ---- Dead hosts: one probe per host -----------------------------------------------------

  void wait_for_host(const std::shared_ptr<Job>& job, const Origin& host, const std::string& why)
      REQUIRES(mu) {
    job->waiting_host = host;
    DownHost& down = down_hosts[host];
    down.jobs.insert(job->id);
    down.last_error = why;
    if (down.probing) return;
    down.probing = true;
    ++live_probes;
    asio::co_spawn(fresh_strand(ioc), probe(shared_from_this(), host),
                   [self = shared_from_this()](std::exception_ptr) { --self->live_probes; });
  }

  static asio::awaitable<void> probe(std::shared_ptr<Impl> self, Origin host) {
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor);
    auto on_stop = self->background_stop->on_stop([timer, executor] {
      asio::post(executor, [timer] { timer->cancel(); });
    });
    for (;;) {
      std::chrono::milliseconds delay;
      {
        MutexLock lock(self->mu);
        if (self->stopped) co_return;
        DownHost& down = self->down_hosts[host];
        delay = host_probe_delay(down.failures, uniform01(self->rng), self->options.host_probe_base,
                                 self->options.host_probe_cap);
        down.next_probe = SystemClock::now() + delay;
      }
      timer->expires_after(delay);
      co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->background_stop->stopped()) co_return;
      http::client::Request request;
      request.target = "/";
      request.timeout = std::chrono::seconds(5);
      request.stop = self->background_stop;
      auto answer = co_await self->client.send(host, std::move(request));
      MutexLock lock(self->mu);
      if (self->stopped) co_return;
      DownHost& down = self->down_hosts[host];
      if (!answer) {  // still silent
        ++down.failures;
        down.last_error = answer.error().message;
        continue;
      }
      // Any answer at all: the host is back. Every job waiting on it starts again now.
      std::set<std::string> waiting = std::move(down.jobs);
      self->down_hosts.erase(host);
      for (const auto& id : waiting) {
        auto it = self->jobs.find(id);
        if (it == self->jobs.end()) continue;
        auto& job = it->second;
        if (job->state == JobState::kCrashing && job->waiting_host == host) {
          self->start_or_queue(job);
        }
      }
      co_return;
    }
  }

  // ---- POST /_replicate -------------------------------------------------------------------

  std::shared_ptr<Job> make_job(ReplicationSpec spec, engine::Writer writer,
                                std::optional<DocKey> doc) {
    auto job = std::make_shared<Job>();
    job->rep_id = replication_id(catalog.server_uuid(), spec);
    job->id = job->rep_id.full();
    job->spec = std::move(spec);
    job->writer = std::move(writer);
    job->doc = std::move(doc);
    job->transient = !job->doc;
    job->added = SystemClock::now();
    job->history.added(job->added);
    return job;
  }

  Result<ReplicateAnswer> cancel(const ReplicationSpec& spec) {
    std::string id = spec.replication_id ? *spec.replication_id
                                         : replication_id(catalog.server_uuid(), spec).full();
    std::shared_ptr<Job> job;
    {
      MutexLock lock(mu);
      auto it = jobs.find(id);
      // A bare base id names the job whatever its extension (CouchDB accepts both).
      if (it == jobs.end()) {
        it = std::find_if(jobs.begin(), jobs.end(),
                          [&](const auto& j) { return j.second->rep_id.base == id; });
      }
      if (it == jobs.end() || !it->second->transient) {
        return fail(Code::kNotFound, "Replication " + id + " not found");
      }
      job = it->second;
      id = job->id;
      jobs.erase(it);
      fill_slots();
    }
    if (auto run = job->run) run->request_stop();
    Json body{{"ok", true}, {"_local_id", id}};
    return ReplicateAnswer{std::move(body), false};
  }

  // A one-shot job's answer, handed to whoever waits for it.
  using Respond = std::function<void(Result<Json>)>;

  // What `_replicate` does before any waiting: the answer now (cancel, continuous, an error), or
  // nullopt when `job` is a one-shot whose end `respond` is to receive. Plain code, not a
  // coroutine: GCC 12 mishandles braced temporaries in coroutine bodies.
  std::optional<Result<ReplicateAnswer>> start_replicate(const std::shared_ptr<Job>& job,
                                                         Respond& respond) {
    MutexLock lock(mu);
    if (stopped) return fail(Code::kInternal, "the node is stopping");
    auto it = jobs.find(job->id);
    if (job->spec.continuous) {
      if (it == jobs.end()) {  // an identical job already running is kept (CouchDB)
        jobs[job->id] = job;
        start_or_queue(job);
      }
      Json body{{"ok", true}, {"_local_id", job->id}};
      return ReplicateAnswer{std::move(body), true};
    }
    if (it != jobs.end() && it->second->transient) {
      it->second->waiters.push_back(std::move(respond));  // the same one-shot: share it
      return std::nullopt;
    }
    if (it != jobs.end()) {
      return fail(Code::kConflict,
                  "Replication `" + job->id + "` is already running from a _replicator document");
    }
    job->waiters.push_back(std::move(respond));
    jobs[job->id] = job;
    start_or_queue(job);
    return std::nullopt;
  }

  asio::awaitable<Result<ReplicateAnswer>> replicate(ReplicationSpec spec, engine::Writer writer) {
    if (spec.cancel) co_return cancel(spec);
    if (auto supported = check_filter_supported(spec); !supported) {
      co_return tl::unexpected(supported.error());
    }
    auto job = make_job(std::move(spec), std::move(writer), std::nullopt);
    std::optional<Result<ReplicateAnswer>> now;
    auto result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result<Json>)>(
        [this, &job, &now](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          Respond respond = [shared](Result<Json> answer) {
            auto executor = asio::get_associated_executor(*shared);
            asio::post(executor, [shared, answer = std::move(answer)]() mutable {
              (*shared)(std::move(answer));
            });
          };
          now = start_replicate(job, respond);
          if (now) respond(Result<Json>(Json()));  // answered already: resume at once
        },
        asio::use_awaitable);
    if (now) co_return std::move(*now);
    if (!result) co_return tl::unexpected(result.error());
    co_return ReplicateAnswer{std::move(*result), false};
  }

  // ---- `_replicator` documents ----------------------------------------------------------------

  void follow_if_replicator_db(const std::string& name) {
    if (!is_replicator_db(name)) return;
    {
      MutexLock lock(mu);
      if (stopped || !followed.insert(name).second) return;
    }
    ++live_followers;
    asio::co_spawn(fresh_strand(ioc), follow(shared_from_this(), name),
                   [self = shared_from_this(), name](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         spdlog::error("following {} failed: {}", name, ex.what());
                       }
                     }
                     MutexLock lock(self->mu);
                     self->followed.erase(name);
                     --self->live_followers;
                   });
  }

  // Reads the database's changes from the start, then waits for commits: each changed document
  // is (re)considered. Ends when the database is deleted or the scheduler stops.
  static asio::awaitable<void> follow(std::shared_ptr<Impl> self, std::string name) {
    auto wakeup = Wakeup::make(co_await asio::this_coro::executor);
    auto on_wake = wakeup->callback();
    auto on_stop = self->background_stop->on_stop(on_wake);
    uint64_t since = 0;
    for (;;) {
      if (self->background_stop->stopped()) break;
      auto db = self->catalog.open(name);
      if (!db) break;
      auto subscription = self->notifier.subscribe(*db, on_wake);
      auto snapshot = (*db)->snapshot();
      if (!snapshot) break;
      changes::FeedOptions options;
      options.since = since;
      options.include_docs = true;
      changes::Page page = changes::read_page(*snapshot, options, 500);
      snapshot = tl::unexpected(Error{});  // release the read transaction before acting
      for (const auto& row : page.rows) {
        std::optional<Json> body;
        if (!row.deleted && row.doc) {
          Json doc = Json::parse(*row.doc, nullptr, false);
          if (doc.is_object()) body = std::move(doc);
        }
        self->consider_doc(DocKey{name, row.id}, std::move(body));
      }
      since = page.last_seq;
      if (!page.rows.empty()) continue;
      co_await wakeup->wait(std::chrono::minutes(1));
    }
    // The database is gone (or we stop): its documents' jobs go too.
    std::vector<std::shared_ptr<Job>> cancelled;
    {
      MutexLock lock(self->mu);
      for (auto it = self->doc_jobs.begin(); it != self->doc_jobs.end();) {
        if (it->first.db != name) {
          ++it;
          continue;
        }
        for (const auto& id : it->second) {
          if (auto job = self->jobs.find(id); job != self->jobs.end()) {
            cancelled.push_back(job->second);
            self->jobs.erase(job);
          }
        }
        it = self->doc_jobs.erase(it);
      }
      std::erase_if(self->doc_records, [&](const auto& r) { return r.first.db == name; });
      std::erase_if(self->doc_half_done, [&](const auto& r) { return r.first.db == name; });
      self->fill_slots();
    }
    for (auto& job : cancelled) {
      if (auto run = job->run) run->request_stop();
    }
  }

  // A document of a `_replicator` database changed (body: its winner, nullopt when deleted).
  void consider_doc(const DocKey& key, std::optional<Json> body) {
    if (key.id.starts_with(engine::kDesignPrefix)) return;
    std::vector<std::shared_ptr<Job>> stop_jobs;
    std::optional<DocRecord> write_back;
    {
      MutexLock lock(mu);
      if (stopped) return;
      std::vector<std::shared_ptr<Job>> current;  // the document's jobs (two: bidirectional)
      if (auto it = doc_jobs.find(key); it != doc_jobs.end()) {
        for (const auto& id : it->second) {
          if (auto j = jobs.find(id); j != jobs.end()) current.push_back(j->second);
        }
      }
      auto forget_current = [&]() REQUIRES(mu) {
        doc_jobs.erase(key);
        doc_half_done.erase(key);
        for (auto& job : current) {
          jobs.erase(job->id);
          stop_jobs.push_back(std::move(job));
        }
        current.clear();
      };
      if (!body) {  // deleted: its job is cancelled
        forget_current();
        doc_records.erase(key);
        fill_slots();
      } else if (auto state = body->find("_replication_state");
                 state != body->end() && (*state == "completed" || *state == "failed")) {
        // Terminal: written back by us (or carried over by a replication); nothing to run.
        if (current.empty()) {
          DocRecord& r = doc_records[key];
          r.state = *state == "completed" ? JobState::kCompleted : JobState::kFailed;
          if (auto reason = body->find("_replication_state_reason");
              reason != body->end() && reason->is_string()) {
            r.reason = reason->get<std::string>();
          }
          if (auto stats = body->find("_replication_stats"); stats != body->end()) r.stats = *stats;
          r.last_updated = SystemClock::now();
        }
      } else {
        Json doc = *body;
        doc["_id"] = key.id;
        auto spec = parse_replicator_doc(doc);
        if (spec) {
          if (auto supported = check_filter_supported(*spec); !supported) {
            spec = tl::unexpected(supported.error());
          }
        }
        if (!spec) {
          forget_current();
          write_back = failed_record(spec.error().reason, doc);
          doc_records[key] = *write_back;
        } else {
          auto wanted = doc_jobs_for(std::move(*spec), key);
          if (same_ids(current, wanted)) {
            // The same replication (a field that is no option changed): keep it running.
          } else {
            forget_current();
            if (auto reason = already_started(wanted, key)) {
              write_back = failed_record(*reason, doc);
              doc_records[key] = *write_back;
            } else {
              doc_records.erase(key);
              auto& ids = doc_jobs[key];
              for (auto& job : wanted) {
                ids.push_back(job->id);
                jobs[job->id] = job;
                start_or_queue(job);
              }
            }
          }
        }
      }
    }
    for (auto& job : stop_jobs) {
      if (auto run = job->run) run->request_stop();
    }
    if (write_back) write_doc_state(key, *write_back);
  }

  // The jobs a `_replicator` document describes: one, or for "bidirectional": true two (source to
  // target, then target to source), each an ordinary job with its own id and checkpoints.
  std::vector<std::shared_ptr<Job>> doc_jobs_for(ReplicationSpec spec, const DocKey& key) {
    std::vector<std::shared_ptr<Job>> out;
    if (!spec.bidirectional) {
      out.push_back(make_job(std::move(spec), doc_writer(), key));
      return out;
    }
    auto [forward, reverse] = split_bidirectional(spec);
    out.push_back(make_job(std::move(forward), doc_writer(), key));
    out.back()->direction = "source_to_target";
    out.push_back(make_job(std::move(reverse), doc_writer(), key));
    out.back()->direction = "target_to_source";
    return out;
  }

  static bool same_ids(const std::vector<std::shared_ptr<Job>>& a,
                       const std::vector<std::shared_ptr<Job>>& b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](const auto& x, const auto& y) { return x->id == y->id; });
  }

  // CouchDB's reason when one of `wanted` already runs for another document or a _replicate.
  std::optional<std::string> already_started(const std::vector<std::shared_ptr<Job>>& wanted,
                                             const DocKey& key) const REQUIRES(mu) {
    for (const auto& job : wanted) {
      auto owner = jobs.find(job->id);
      if (owner == jobs.end()) continue;
      const Job& other = *owner->second;
      return "Replication `" + job->id + "` specified by document `" + key.id +
             "` already started, triggered by document `" +
             (other.doc ? other.doc->id : std::string("(POST /_replicate)")) + "` from db `" +
             (other.doc ? other.doc->db : std::string("")) + "`";
    }
    return std::nullopt;
  }

  DocRecord failed_record(const std::string& reason, const Json& doc) {
    DocRecord r;
    r.state = JobState::kFailed;
    r.reason = reason;
    r.error_count = 1;
    auto url = [](const Json& v) {
      auto endpoint = Endpoint::parse(v);
      return endpoint ? endpoint->redacted_url() : std::string();
    };
    r.source = url(doc.value("source", Json()));
    r.target = url(doc.value("target", Json()));
    r.start_time = r.last_updated = SystemClock::now();
    return r;
  }

  // Writes a terminal state into its document (§9.1: completed with stats, or failed with the
  // reason), as an interactive update by the node. A conflict (the doc changed meanwhile) skips
  // it: the new revision is considered on its own.
  void write_doc_state(const DocKey& key, const DocRecord& record) {
    asio::co_spawn(
        fresh_strand(ioc),
        [self = shared_from_this(), key, record]() -> asio::awaitable<void> {
          auto db = self->catalog.open(key.db);
          if (!db) co_return;
          auto current = (*db)->doc_with_winner_body(key.id);
          if (!current || !current->winner_body) co_return;
          revtree::Leaf winner = current->doc.tree.winner();
          if (winner.deleted) co_return;
          Json body = Json::parse(*current->winner_body, nullptr, false);
          if (!body.is_object()) co_return;
          body.erase("_attachments");
          const char* state = record.state == JobState::kCompleted ? "completed" : "failed";
          if (body.value("_replication_state", "") != state) {
            body["_replication_state_time"] = rfc3339(SystemClock::now());
          }
          body["_replication_state"] = state;
          if (record.state == JobState::kCompleted) {
            body.erase("_replication_state_reason");
            body["_replication_stats"] = record.stats;
          } else {
            body.erase("_replication_stats");
            body["_replication_state_reason"] = record.reason;
          }
          auto update = engine::DocUpdate::edit(key.id, winner.rev, false, body);
          if (!update) co_return;
          std::vector<engine::WriteOp> ops;
          ops.push_back(std::move(*update));
          auto written = co_await engine::async_write(**db, std::move(ops), engine::Writer::node());
          if (written && !written->empty() && written->front().error &&
              written->front().error->code != Code::kConflict) {
            spdlog::warn("cannot record the state of {}/{}: {}", key.db, key.id,
                         written->front().error->reason);
          }
        },
        asio::detached);
  }

  // ---- Answers -------------------------------------------------------------------------------

  static Json stats_json(const Job& job) {
    JobProgress p = job.run ? job.run->progress() : job.progress;
    Json info = p.stats.scheduler_json();
    info["changes_pending"] = p.changes_pending ? Json(*p.changes_pending) : Json(nullptr);
    info["checkpointed_source_seq"] = p.checkpointed_source_seq;
    info["source_seq"] = p.source_seq;
    info["through_seq"] = p.through_seq;
    // Ours: what operators watch. The lag is how long the target has been behind: 0 while caught
    // up, else the time since it last held everything the source had.
    double lag = 0;
    if (!p.caught_up && p.caught_up_at.time_since_epoch().count() != 0) {
      lag = std::chrono::duration<double>(SystemClock::now() - p.caught_up_at).count();
    } else if (!p.caught_up && p.started_at.time_since_epoch().count() != 0) {
      lag = std::chrono::duration<double>(SystemClock::now() - p.started_at).count();
    }
    info["lag_seconds"] = lag;
    if (p.source_read_only) info["source_checkpoint"] = "read-only";
    return info;
  }

  Json job_json(const Job& job) const {
    Json out = Json::object();
    out["id"] = job.id;
    out["pid"] = job.run ? Json("<" + job.id.substr(0, 8) + ">") : Json(nullptr);
    out["source"] = job.spec.source.redacted_url();
    out["target"] = job.spec.target.redacted_url();
    out["database"] = job.doc ? Json(job.doc->db) : Json(nullptr);
    out["doc_id"] = job.doc ? Json(job.doc->id) : Json(nullptr);
    out["user"] = job.writer.name ? Json(*job.writer.name) : Json(nullptr);
    out["node"] = options.node_name;
    out["start_time"] = rfc3339(job.added);
    out["history"] = job.history.to_json();
    out["info"] = stats_json(job);
    return out;
  }

  Json doc_row(const DocKey& key, const Job* job, const DocRecord* record) const {
    Json out = Json::object();
    out["database"] = key.db;
    out["doc_id"] = key.id;
    out["node"] = options.node_name;
    out["source_proxy"] = nullptr;
    out["target_proxy"] = nullptr;
    if (job) {
      out["id"] = job->id;
      out["source"] = job->spec.source.redacted_url();
      out["target"] = job->spec.target.redacted_url();
      out["state"] = state_name(job->state);
      const bool healthy = job->state == JobState::kRunning || job->state == JobState::kPending;
      out["info"] = healthy || job->last_error.empty() ? stats_json(*job)
                                                       : Json{{"error", job->last_error}};
      out["error_count"] = job->history.consecutive_crashes();
      auto updated = job->history.last_updated();
      out["last_updated"] = rfc3339(updated ? *updated : job->added);
      out["start_time"] = rfc3339(job->added);
    } else {
      out["id"] = nullptr;  // completed and failed docs name no job (§9.3)
      out["source"] = record->source;
      out["target"] = record->target;
      out["state"] = state_name(record->state);
      out["info"] = record->state == JobState::kFailed ? Json{{"error", record->reason}}
                                                       : record->stats;
      out["error_count"] = record->error_count;
      out["last_updated"] = rfc3339(record->last_updated);
      out["start_time"] = rfc3339(record->start_time);
    }
    return out;
  }

  // The row of a document with live jobs: its job's, or for a bidirectional document one row
  // with both: `ids`, the state of the pair, and each direction's info.
  std::optional<Json> live_doc_row(const DocKey& key, const std::vector<std::string>& ids) const
      REQUIRES(mu) {
    std::vector<const Job*> live;
    for (const auto& id : ids) {
      if (auto it = jobs.find(id); it != jobs.end()) live.push_back(it->second.get());
    }
    if (live.empty()) return std::nullopt;
    const Job& first = *live.front();
    Json row = doc_row(key, &first, nullptr);
    if (!first.direction) return row;
    const DocRecord* half = nullptr;
    if (auto it = doc_half_done.find(key); it != doc_half_done.end()) half = &it->second;
    Json all_ids = Json::array();
    Json info = Json::object();
    bool running = false, crashing = false;
    for (const Job* job : live) {
      all_ids.push_back(job->id);
      info[job->direction] = doc_row(key, job, nullptr)["info"];
      running = running || job->state == JobState::kRunning;
      crashing = crashing || job->state == JobState::kCrashing;
    }
    if (half) {
      all_ids.push_back(half->job_id);
      info[half->direction] = doc_row(key, nullptr, half)["info"];
    }
    // Source and target as the document names them (the forward direction's).
    if (first.direction == std::string("target_to_source")) {
      row["source"] = first.spec.target.redacted_url();
      row["target"] = first.spec.source.redacted_url();
    }
    row["ids"] = std::move(all_ids);
    row["state"] = running ? "running" : crashing ? "crashing" : "pending";
    row["info"] = std::move(info);
    return row;
  }

  // Every doc row, sorted by (db, doc id).
  std::vector<std::pair<DocKey, Json>> doc_rows() const REQUIRES(mu) {
    std::vector<std::pair<DocKey, Json>> rows;
    for (const auto& [key, ids] : doc_jobs) {
      if (auto row = live_doc_row(key, ids)) rows.emplace_back(key, std::move(*row));
    }
    for (const auto& [key, record] : doc_records) {
      if (!doc_jobs.count(key)) rows.emplace_back(key, doc_row(key, nullptr, &record));
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return rows;
  }
};

Scheduler::Scheduler(asio::io_context& ioc, engine::Catalog& catalog, changes::Notifier& notifier,
                     http::client::Client& client, SchedulerOptions options)
    : impl_(std::make_shared<Impl>(ioc, catalog, notifier, client, std::move(options))) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->catalog_subscription =
      impl_->catalog.subscribe([weak](const engine::CatalogEvent& event) {
        auto self = weak.lock();
        if (!self || event.type == engine::CatalogEventType::kDeleted) return;
        // Off the catalog's thread: following reads the database.
        asio::post(self->ioc, [self, name = event.name] { self->follow_if_replicator_db(name); });
      });
  for (const auto& name : impl_->catalog.all_dbs()) {
    if (is_replicator_db(name)) impl_->follow_if_replicator_db(name);
  }
}

void Scheduler::stop() {
  std::vector<std::shared_ptr<JobRun>> runs;
  {
    MutexLock lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& [id, job] : impl_->jobs) {
      if (job->run) runs.push_back(job->run);
      if (job->retry) job->retry->cancel();
    }
  }
  impl_->catalog_subscription.reset();
  impl_->background_stop->stop();
  for (auto& run : runs) run->stop();
}

bool Scheduler::idle() const {
  return impl_->live_runs == 0 && impl_->live_followers == 0 && impl_->live_probes == 0;
}

asio::awaitable<Result<Scheduler::ReplicateAnswer>> Scheduler::replicate(ReplicationSpec spec,
                                                                        engine::Writer writer) {
  auto impl = impl_;
  co_return co_await impl->replicate(std::move(spec), std::move(writer));
}

asio::awaitable<Result<void>> Scheduler::create_database(const Endpoint& endpoint,
                                                         const ReplicationSpec& spec,
                                                         engine::Writer writer) {
  auto impl = impl_;
  auto peer = make_peer(PeerContext{impl->catalog, impl->notifier, impl->client}, endpoint, spec,
                        std::move(writer), impl->background_stop);
  auto created = co_await peer->create(spec.create_target_params);
  if (created) co_return Result<void>();
  const PeerError& e = created.error();
  if (e.kind == PeerError::Kind::kHttp || e.kind == PeerError::Kind::kLocal) {
    co_return tl::unexpected(Error{e.code, e.reason});
  }
  co_return tl::unexpected(Error{Code::kDbNotFound, "could not open " + endpoint.redacted_url()});
}

Json Scheduler::jobs(size_t limit, size_t skip) const {
  MutexLock lock(impl_->mu);
  Json rows = Json::array();
  size_t index = 0;
  for (const auto& [id, job] : impl_->jobs) {  // sorted by id
    if (job->state == JobState::kCompleted || job->state == JobState::kFailed) continue;
    if (index++ < skip) continue;
    if (rows.size() >= limit) continue;
    rows.push_back(impl_->job_json(*job));
  }
  return Json{{"total_rows", index}, {"offset", skip}, {"jobs", std::move(rows)}};
}

std::optional<Json> Scheduler::job(std::string_view id) const {
  MutexLock lock(impl_->mu);
  auto it = impl_->jobs.find(std::string(id));
  if (it == impl_->jobs.end()) return std::nullopt;
  return impl_->job_json(*it->second);
}

Json Scheduler::docs(const std::optional<std::string>& db, size_t limit, size_t skip,
                     const std::vector<std::string>& states) const {
  MutexLock lock(impl_->mu);
  Json rows = Json::array();
  size_t total = 0;
  for (auto& [key, row] : impl_->doc_rows()) {
    if (db && key.db != *db) continue;
    if (!states.empty() &&
        std::find(states.begin(), states.end(), row["state"].get<std::string>()) == states.end()) {
      continue;
    }
    if (total++ < skip) continue;
    if (rows.size() < limit) rows.push_back(std::move(row));
  }
  return Json{{"total_rows", total}, {"offset", skip}, {"docs", std::move(rows)}};
}

std::optional<Json> Scheduler::doc(std::string_view db, std::string_view doc_id) const {
  MutexLock lock(impl_->mu);
  DocKey key{std::string(db), std::string(doc_id)};
  if (auto it = impl_->doc_jobs.find(key); it != impl_->doc_jobs.end()) {
    if (auto row = impl_->live_doc_row(key, it->second)) return row;
  }
  if (auto it = impl_->doc_records.find(key); it != impl_->doc_records.end()) {
    return impl_->doc_row(key, nullptr, &it->second);
  }
  return std::nullopt;
}

std::vector<Json> Scheduler::active_tasks() const {
  MutexLock lock(impl_->mu);
  std::vector<Json> tasks;
  for (const auto& [id, job] : impl_->jobs) {
    if (job->state != JobState::kRunning || !job->run) continue;
    JobProgress p = job->run->progress();
    Json task = p.stats.scheduler_json();
    task["type"] = "replication";
    task["pid"] = "<" + job->id.substr(0, 8) + ">";
    task["user"] = job->writer.name ? Json(*job->writer.name) : Json(nullptr);
    task["replication_id"] = job->id;
    task["database"] = job->doc ? Json(job->doc->db) : Json(nullptr);
    task["doc_id"] = job->doc ? Json(job->doc->id) : Json(nullptr);
    task["source"] = job->spec.source.redacted_url();
    task["target"] = job->spec.target.redacted_url();
    task["continuous"] = job->spec.continuous;
    task["source_seq"] = p.source_seq;
    task["through_seq"] = p.through_seq;
    task["checkpointed_source_seq"] = p.checkpointed_source_seq;
    task["checkpoint_interval"] = job->spec.checkpoint_interval.count();
    task["changes_pending"] = p.changes_pending ? Json(*p.changes_pending) : Json(nullptr);
    auto seconds = [](SystemClock::time_point t) {
      return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    };
    task["started_on"] = seconds(p.started_at);
    task["updated_on"] = seconds(p.updated_at);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

std::optional<Scheduler::JobStatus> Scheduler::status(std::string_view id) const {
  MutexLock lock(impl_->mu);
  auto it = impl_->jobs.find(std::string(id));
  if (it == impl_->jobs.end()) return std::nullopt;
  const Job& job = *it->second;
  return JobStatus{state_name(job.state), Impl::stats_json(job), job.last_error};
}

std::vector<JobSummary> Scheduler::summaries() const {
  MutexLock lock(impl_->mu);
  std::vector<JobSummary> out;
  for (const auto& [id, job] : impl_->jobs) {
    out.push_back({id, state_name(job->state),
                   job->doc ? std::optional(job->doc->db) : std::nullopt,
                   job->doc ? std::optional(job->doc->id) : std::nullopt});
  }
  for (const auto& [key, record] : impl_->doc_records) {
    out.push_back({record.job_id, state_name(record.state), key.db, key.id});
  }
  return out;
}

}  // namespace divan::replicator
