#include "replicator/mesh.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_annotations.h"
#include "replicator/job_state.h"
#include "replicator/rep_id.h"
#include "replicator/retry_policy.h"
#include "replicator/strands.h"
#include "replicator/wakeup.h"

namespace divan::replicator {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
using http::client::StopToken;

namespace {

constexpr const char* kDeletionNote =
    "Deleting a database is never propagated: a database deleted on one node comes back from a "
    "peer that still has it. To retire one, leave it out with --peer-dbs on every node, then "
    "delete it everywhere.";

// Catch-up runs at once per peer: enough to keep a connection pool busy, few enough that a
// hundred databases met at once do not crowd out the live jobs (or time out waiting for a slot).
constexpr size_t kCatchUpsPerPeer = 4;

// Two signs of activity this close make a direction hot: a database written more often than this
// is served by a live job, a lone write by one catch-up run.
constexpr std::chrono::seconds kBusyWithin{2};

// How long a `_db_updates` longpoll waits on the peer, and how much longer our request may take.
constexpr std::chrono::milliseconds kDbUpdatesPoll{25000};
constexpr std::chrono::milliseconds kDbUpdatesSlack{10000};

// A peer's URL, checked: an http(s) server root. Returns the URL as given without trailing '/'s
// (it keeps its credentials: jobs are made from it) and its parsed form.
Result<std::pair<std::string, Endpoint>> parse_peer_url(std::string_view url) {
  auto root = Endpoint::parse(Json(std::string(url)));
  if (!root || root->is_local() || root->path() != "/" || !root->query().empty()) {
    return fail(Code::kBadRequest, "a peer is the http(s) URL of a server root, such as "
                                   "http://admin:secret@10.0.0.2:5984 (got \"" +
                                       (root ? root->url() : std::string("an invalid url")) + "\")");
  }
  std::string given(url);
  while (!given.empty() && given.back() == '/') given.pop_back();
  return std::make_pair(std::move(given), std::move(*root));
}

// The peer's name in answers and in DELETE /_mesh/peers/{name}: host[:port], no credentials.
std::string peer_name(const Endpoint& root) { return root.origin().host_header(); }

// Writes `body` to `path` so that a crash leaves either the old file or the new one: a temporary
// file, fsync, rename. 0600: peer URLs hold passwords.
Result<void> write_file_atomically(const std::filesystem::path& path, const std::string& body) {
  const std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Code::kInternal, "cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < body.size()) {
    ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == body.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Code::kInternal, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

// A peer's reason for refusing a request, for last_error: "401 unauthorized: Name or password is
// incorrect.".
std::string http_error(const http::client::Response& response) {
  auto body = Json::parse(response.body, nullptr, false);
  if (!body.is_object()) return std::to_string(response.status);
  return fmt::format("{} {}: {}", response.status, body.value("error", std::string()),
                     body.value("reason", std::string()));
}

Json time_or_null(std::optional<SystemClock::time_point> t) {
  return t ? Json(iso8601(*t)) : Json(nullptr);
}

}  // namespace

// ---- Mesh ---------------------------------------------------------------------------------------

namespace {

enum class Way { kPush, kPull };  // push: this node → peer; pull: peer → this node

// One direction of one database's sync with one peer, in one of three modes:
//   cold         nothing runs: an idle database costs no job, no feed and no connection;
//   catching up  a one-shot replication carries what changed while nobody watched (a new
//                database, the first contact with the peer, a reconnect of its _db_updates) or
//                what a sign of activity announced; at most kCatchUpsPerPeer at once per peer;
//   hot          a second sign of activity (a commit here for push, a row of the peer's
//                _db_updates for pull) soon after the first started a continuous job, whose live
//                feed carries each later change in a few ms. Without a sign for MeshOptions::hot_idle, and caught up, it is cancelled
//                (its checkpoint saved) and the direction is cold again.
// Pulls from a peer without _db_updates are hot for good (`pinned`).
enum class Mode { kCold, kCatchingUp, kHot };

struct Direction {
  Mode mode = Mode::kCold;
  bool queued = false;      // catching up: waiting for one of the peer's catch-up slots
  bool hot_wanted = false;  // a sign came while catching up: hot when it ends
  bool pinned = false;
  std::string job_id;       // the catch-up's or the hot job's
  SteadyClock::time_point last_sign{};
  SteadyClock::time_point hot_since{};  // when go_hot() asked the Scheduler for the job
  std::string last_error;   // why the last job failed; "" when it did not
  std::optional<SystemClock::time_point> last_active;
  uint64_t docs_written = 0;  // cumulative, as the checkpoint history counts
  uint64_t sampled_docs = 0;
  SteadyClock::time_point sampled_at{};
  double docs_per_second = 0;
};

struct DbSync {
  Direction push;
  Direction pull;
  Direction& way(Way w) { return w == Way::kPush ? push : pull; }
};

struct PeerState {
  std::string name;  // host[:port]
  std::string url;   // as given, credentials included, no trailing '/'
  Endpoint root;
  std::shared_ptr<StopToken> stop = std::make_shared<StopToken>();
  asio::any_io_executor strand;
  std::shared_ptr<Wakeup> wakeup;           // the peer loop's: a database created, or stop
  std::shared_ptr<Wakeup> follower_wakeup;  // the _db_updates follower's pauses: stop
  StopToken::Registration wake_on_stop;
  StopToken::Registration follower_wake_on_stop;

  // Under Impl::mu.
  bool probed = false;
  bool reachable = false;
  bool self = false;
  bool has_db_updates = true;  // false: pulls run as continuous jobs
  std::string uuid;            // from its GET /
  // The databases the peer's own mesh pushes to this node (it lists us, reachable and answering):
  // pulling them too would carry every change twice, so their pulls only catch up.
  std::optional<DbPatterns> pushes_to_us;
  double rtt_ms = 0;
  std::optional<SystemClock::time_point> last_contact;
  std::optional<SystemClock::time_point> next_retry;
  std::string last_error;
  unsigned failures = 0;
  std::map<std::string, DbSync> dbs;
  // Directions waiting to catch up (urgent ones in front), and how many catch-ups run: a peer met
  // with 1,000 databases must not start 2,000 replications at once.
  std::deque<std::pair<std::string, Way>> catch_up_queue;
  size_t catch_ups_running = 0;

  // The URL of database `db` on this peer, credentials included.
  std::string db_url(std::string_view db) const {
    return url + "/" + boost::urls::encode(db, boost::urls::pchars);
  }
};

using PeerPtr = std::shared_ptr<PeerState>;

}  // namespace

struct Mesh::Impl : std::enable_shared_from_this<Mesh::Impl> {
  Impl(asio::io_context& ioc, engine::Catalog& catalog, changes::Notifier& notifier,
       Scheduler& scheduler, http::client::Client& client, MeshOptions options)
      : ioc(ioc), catalog(catalog), notifier(notifier), scheduler(scheduler), client(client),
        options(std::move(options)), strand(fresh_strand(ioc)), local_wakeup(Wakeup::make(strand)) {}

  asio::io_context& ioc;
  engine::Catalog& catalog;
  changes::Notifier& notifier;
  Scheduler& scheduler;
  http::client::Client& client;
  const MeshOptions options;
  const engine::Writer node = engine::Writer::node();

  mutable Mutex mu;
  std::map<std::string, PeerPtr> peers GUARDED_BY(mu);
  bool stopped GUARDED_BY(mu) = false;
  std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  std::atomic<int> coroutines{0};  // everything spawned and still running

  // This node's database events (commits, creations, deletions): one follower.
  asio::any_io_executor strand;
  std::shared_ptr<Wakeup> local_wakeup;
  std::shared_ptr<changes::Notifier::Subscription> local_events;
  std::shared_ptr<StopToken> local_stop = std::make_shared<StopToken>();
  StopToken::Registration local_wake_on_stop;

  template <typename Awaitable>
  void spawn(asio::any_io_executor executor, Awaitable awaitable, const char* what) {
    ++coroutines;
    asio::co_spawn(std::move(executor), std::move(awaitable),
                   [self = shared_from_this(), what](std::exception_ptr e) {
                     if (e) spdlog::error("mesh: {} failed", what);
                     --self->coroutines;
                   });
  }

  // ---- Peers ------------------------------------------------------------------------------------

  // Adds the peer (or, for a name already known, takes the new URL: new credentials) and starts
  // its coroutines. Returns whether anything changed.
  bool add(std::string url, Endpoint root) REQUIRES(mu) {
    const std::string name = peer_name(root);
    if (auto it = peers.find(name); it != peers.end()) {
      if (it->second->url == url) return false;
      retire(it->second);
      peers.erase(it);
    }
    auto peer = std::make_shared<PeerState>();
    peer->name = name;
    peer->url = std::move(url);
    peer->root = std::move(root);
    peer->strand = fresh_strand(ioc);
    peer->wakeup = Wakeup::make(peer->strand);
    peer->follower_wakeup = Wakeup::make(peer->strand);
    peer->wake_on_stop = peer->stop->on_stop(peer->wakeup->callback());
    peer->follower_wake_on_stop = peer->stop->on_stop(peer->follower_wakeup->callback());
    peers.emplace(name, peer);
    if (!stopped) {
      spawn(peer->strand, peer_loop(shared_from_this(), peer), "a peer loop");
      spawn(peer->strand, follow_db_updates(shared_from_this(), peer), "a _db_updates follower");
    }
    return true;
  }

  // Stops the peer's coroutines and its hot jobs (its databases stay, here and there).
  void retire(const PeerPtr& peer) REQUIRES(mu) {
    peer->stop->stop();
    for (auto& [db, sync] : peer->dbs) {
      for (Direction* d : {&sync.push, &sync.pull}) {
        if (d->mode == Mode::kHot) cancel_job(d->job_id);
      }
    }
    peer->dbs.clear();
  }

  void cancel_job(const std::string& id) {
    if (id.empty()) return;
    ReplicationSpec spec;
    spec.cancel = true;
    spec.replication_id = id;
    asio::co_spawn(fresh_strand(ioc), scheduler.replicate(std::move(spec), node), asio::detached);
  }

  Result<void> persist() REQUIRES(mu) {
    Json urls = Json::array();
    for (const auto& [name, peer] : peers) urls.push_back(peer->url);
    Json body = Json::object();
    body["peers"] = std::move(urls);
    return write_file_atomically(options.peers_file, body.dump(2) + "\n");
  }

  Result<std::vector<std::string>> load_peer_file() const {
    std::vector<std::string> urls;
    std::error_code ec;
    if (!std::filesystem::exists(options.peers_file, ec)) return urls;
    std::ifstream in(options.peers_file);
    std::stringstream text;
    text << in.rdbuf();
    auto body = Json::parse(text.str(), nullptr, false);
    const std::string where = options.peers_file.string();
    if (!in || !body.is_object() || !body.contains("peers") || !body["peers"].is_array()) {
      return fail(Code::kBadRequest, where + ": not a peer list ({\"peers\": [\"http://…\", …]})");
    }
    for (const auto& url : body["peers"]) {
      if (!url.is_string()) return fail(Code::kBadRequest, where + ": a peer that is not a URL");
      urls.push_back(url.get<std::string>());
    }
    return urls;
  }

  // ---- Runs: one-shot replications, one at a time per direction ---------------------------------

  Result<ReplicationSpec> spec_for(const PeerState& peer, const std::string& db, Way way,
                                   bool continuous) const {
    Json body = Json::object();
    body["source"] = way == Way::kPush ? Json(db) : Json(peer.db_url(db));
    body["target"] = way == Way::kPush ? Json(peer.db_url(db)) : Json(db);
    body["continuous"] = continuous;
    return parse_replicate_body(body);
  }

  Direction* find(PeerState& peer, const std::string& db, Way way) REQUIRES(mu) {
    auto it = peer.dbs.find(db);
    return it == peer.dbs.end() ? nullptr : &it->second.way(way);
  }

  // A sign of activity on the side `way` reads. A lone one: an urgent catch-up (one write costs
  // one run). A second within kBusyWithin, or one while the catch-up runs: hot (a busy database,
  // which a live job serves best), now or once the running catch-up ends.
  void sign(const PeerPtr& peer, const std::string& db, Way way) REQUIRES(mu) {
    Direction* d = find(*peer, db, way);
    if (!d || stopped || peer->stop->stopped()) return;  // not synced (yet): reconcile adds it
    if (way == Way::kPull && peer->pushes_to_us && peer->pushes_to_us->matches(db)) return;
    const auto now = SteadyClock::now();
    const bool busy = now - d->last_sign < kBusyWithin;  // the previous sign was recent
    d->last_sign = now;
    d->last_active = SystemClock::now();
    switch (d->mode) {
      case Mode::kCold:
        if (busy) {
          go_hot(peer, db, way, *d);
        } else {
          catch_up(peer, db, way, /*urgent=*/true);
        }
        break;
      case Mode::kCatchingUp:
        if (d->queued) {
          d->queued = false;  // its queue entry is skipped
          go_hot(peer, db, way, *d);
        } else {
          d->hot_wanted = true;
        }
        break;
      case Mode::kHot:
        break;
    }
  }

  // What changed while nobody watched: a one-shot run, when a catch-up slot of the peer frees.
  void catch_up(const PeerPtr& peer, const std::string& db, Way way, bool urgent = false)
      REQUIRES(mu) {
    Direction* d = find(*peer, db, way);
    if (!d || d->mode != Mode::kCold || stopped || peer->stop->stopped()) return;
    d->mode = Mode::kCatchingUp;
    d->queued = true;
    d->hot_wanted = false;
    if (urgent) {
      peer->catch_up_queue.emplace_front(db, way);
    } else {
      peer->catch_up_queue.emplace_back(db, way);
    }
    pump_catch_ups(peer);
  }

  void catch_up_all(const PeerPtr& peer, Way way) REQUIRES(mu) {
    for (const auto& [db, sync] : peer->dbs) catch_up(peer, db, way);
  }

  void pump_catch_ups(const PeerPtr& peer) REQUIRES(mu) {
    while (peer->catch_ups_running < kCatchUpsPerPeer && !peer->catch_up_queue.empty() &&
           !stopped && !peer->stop->stopped()) {
      auto [db, way] = std::move(peer->catch_up_queue.front());
      peer->catch_up_queue.pop_front();
      Direction* d = find(*peer, db, way);
      if (!d || d->mode != Mode::kCatchingUp || !d->queued) continue;  // went hot, or forgotten
      auto spec = spec_for(*peer, db, way, /*continuous=*/false);
      if (!spec) {
        d->mode = Mode::kCold;
        continue;
      }
      d->queued = false;
      d->job_id = replication_id(catalog.server_uuid(), *spec).full();
      ++peer->catch_ups_running;
      spawn(fresh_strand(ioc), catch_up_run(shared_from_this(), peer, db, way, std::move(*spec)),
            "a catch-up run");
    }
  }

  static asio::awaitable<void> catch_up_run(std::shared_ptr<Impl> self, PeerPtr peer,
                                            std::string db, Way way, ReplicationSpec spec) {
    auto answer = co_await self->scheduler.replicate(std::move(spec), self->node);
    MutexLock lock(self->mu);
    --peer->catch_ups_running;
    self->pump_catch_ups(peer);
    Direction* d = self->find(*peer, db, way);
    if (!d || d->mode != Mode::kCatchingUp || d->queued) co_return;  // forgotten meanwhile
    d->mode = Mode::kCold;
    d->last_active = SystemClock::now();
    if (!answer) {
      d->last_error = answer.error().reason;  // the next reconcile runs it again
    } else {
      d->last_error.clear();
      const Json& history = answer->body.contains("history") ? answer->body["history"] : Json();
      if (history.is_array() && !history.empty() && history[0].is_object()) {
        d->docs_written = history[0].value("docs_written", d->docs_written);
      }
    }
    if (d->hot_wanted) self->go_hot(peer, db, way, *d);
  }

  void go_hot(const PeerPtr& peer, const std::string& db, Way way, Direction& d) REQUIRES(mu) {
    if (stopped || peer->stop->stopped()) return;
    auto spec = spec_for(*peer, db, way, /*continuous=*/true);
    if (!spec) return;
    d.mode = Mode::kHot;
    d.job_id = replication_id(catalog.server_uuid(), *spec).full();
    d.last_sign = d.hot_since = SteadyClock::now();
    asio::co_spawn(fresh_strand(ioc), scheduler.replicate(std::move(*spec), node), asio::detached);
  }

  // A hot direction's job, looked at: its counters and error kept; cancelled (cold again) when it
  // saw no sign for hot_idle (or the peer pushes what it pulls) and has nothing pending;
  // forgotten when it is gone.
  // `covered`: the peer's own push carries this (pull) direction: no need to stay hot.
  void check_hot(Direction& d, bool covered) REQUIRES(mu) {
    if (d.mode != Mode::kHot) return;
    auto status = scheduler.status(d.job_id);
    // The Scheduler may not have the job yet: go_hot() spawned the request a moment ago.
    if (!status && SteadyClock::now() - d.hot_since < std::chrono::seconds(5)) return;
    if (!status) {  // ended on its own: failed for good, or cancelled by someone else
      d.mode = Mode::kCold;
      d.last_error = "the replication job " + d.job_id + " ended";
      return;
    }
    d.docs_written = status->info.value("docs_written", d.docs_written);
    d.last_error = status->last_error;
    const bool quiet = options.hot_idle.count() > 0 &&
                       SteadyClock::now() - d.last_sign > options.hot_idle;
    const Json& pending = status->info.contains("changes_pending")
                              ? status->info["changes_pending"] : Json();
    if (!d.pinned && (quiet || covered) && status->state == "running" && pending == Json(0)) {
      cancel_job(d.job_id);
      d.mode = Mode::kCold;
    }
  }

  // ---- One peer: probe, reconcile, wait ---------------------------------------------------------

  static asio::awaitable<void> peer_loop(std::shared_ptr<Impl> self, PeerPtr peer) {
    while (!peer->stop->stopped()) {
      co_await self->probe(*peer);
      bool synced = false;
      {
        MutexLock lock(self->mu);
        synced = peer->reachable && !peer->self;
      }
      if (synced) co_await self->reconcile(peer);
      std::chrono::milliseconds delay = self->options.probe_interval;
      {
        MutexLock lock(self->mu);
        if (!peer->reachable) delay = host_probe_delay(peer->failures - 1, self->rng);  // ≥ 1
        peer->next_retry = SystemClock::now() + delay;
      }
      co_await peer->wakeup->wait(delay);
    }
  }

  // A GET to the peer with its credentials.
  asio::awaitable<http::client::Result<http::client::Response>> get(
      const PeerState& peer, std::string target, std::chrono::milliseconds timeout,
      bool long_poll = false) {
    http::client::Request request;
    request.target = std::move(target);
    for (const auto& header : peer.root.request_headers()) request.headers.push_back(header);
    request.timeout = timeout;
    request.long_poll = long_poll;
    request.stop = peer.stop;
    co_return co_await client.send(peer.root.origin(), std::move(request));
  }

  // GET /: reachable or not, how fast, and whether it is this node.
  asio::awaitable<void> probe(PeerState& peer) {
    const auto start = SteadyClock::now();
    auto response = co_await get(peer, "/", options.probe_timeout);
    record_probe(peer, response, SteadyClock::now() - start);
  }

  void record_probe(PeerState& peer, const http::client::Result<http::client::Response>& response,
                    SteadyClock::duration rtt) {
    MutexLock lock(mu);
    peer.probed = true;
    if (!response) {
      if (peer.reachable || peer.failures == 0) {
        spdlog::warn("mesh: peer {} unreachable: {}", peer.name, response.error().message);
      }
      peer.reachable = false;
      ++peer.failures;
      peer.last_error = std::string(name(response.error().kind)) + ": " + response.error().message;
      return;
    }
    if (!peer.reachable) spdlog::info("mesh: peer {} reachable", peer.name);
    peer.reachable = true;
    peer.failures = 0;
    peer.rtt_ms = std::chrono::duration<double, std::milli>(rtt).count();
    peer.last_contact = SystemClock::now();
    auto body = Json::parse(response->body, nullptr, false);
    if (response->status != 200 || !body.is_object()) {
      peer.last_error = "GET /: " + http_error(*response);
      return;
    }
    peer.uuid = body.value("uuid", std::string());
    peer.self = peer.uuid == catalog.server_uuid();
    peer.last_error.clear();
  }

  // Every database either side has (and the patterns let through) is created where it is missing
  // and synced both ways from then on. Directions whose last run failed run again.
  asio::awaitable<void> reconcile(PeerPtr peer) {
    auto response = co_await get(*peer, "/_all_dbs", options.probe_timeout);
    auto remote = response ? Json::parse(response->body, nullptr, false) : Json();
    if (!response || response->status != 200 || !remote.is_array()) {
      MutexLock lock(mu);
      peer->last_error = "GET /_all_dbs: " + (response ? http_error(*response)
                                                       : response.error().message);
      co_return;
    }
    std::set<std::string> remote_dbs;
    for (const auto& db : remote) {
      if (db.is_string()) remote_dbs.insert(db.get<std::string>());
    }
    std::set<std::string> wanted = remote_dbs;
    for (auto& db : catalog.all_dbs()) wanted.insert(std::move(db));
    std::string error;
    for (const auto& db : wanted) {
      if (peer->stop->stopped()) co_return;
      if (!options.dbs.matches(db) || synced(*peer, db)) continue;
      auto added = co_await add_db(peer, db, remote_dbs.count(db) > 0);
      if (!added && error.empty()) error = db + ": " + added.error().reason;
    }
    auto pushes = co_await pushes_to_us(*peer);
    MutexLock lock(mu);
    peer->last_error = error;
    peer->pushes_to_us = std::move(pushes);
    for (auto& [db, sync] : peer->dbs) {
      if (!peer->has_db_updates && !sync.pull.pinned) {
        sync.pull.pinned = true;
        if (sync.pull.mode == Mode::kCold) go_hot(peer, db, Way::kPull, sync.pull);
      }
      for (Way way : {Way::kPush, Way::kPull}) {
        Direction& d = sync.way(way);
        check_hot(d, way == Way::kPull && peer->pushes_to_us && peer->pushes_to_us->matches(db));
        if (d.mode == Mode::kCold && !d.last_error.empty()) catch_up(peer, db, way);
        if (d.mode == Mode::kCold && d.pinned) go_hot(peer, db, way, d);
      }
    }
    sample_rates(*peer);
  }

  // Which databases the peer's mesh pushes to this node: its GET /_mesh/peers lists this node's
  // uuid as a healthy peer, and its `dbs` patterns. None for a peer that runs no mesh (CouchDB).
  asio::awaitable<std::optional<DbPatterns>> pushes_to_us(const PeerState& peer) {
    auto response = co_await get(peer, "/_mesh/peers", options.probe_timeout);
    if (!response || response->status != 200) co_return std::nullopt;
    auto body = Json::parse(response->body, nullptr, false);
    if (!body.is_object() || !body.contains("nodes") || !body["nodes"].is_array()) {
      co_return std::nullopt;
    }
    for (const auto& node : body["nodes"]) {
      if (!node.is_object() || node.value("uuid", "") != catalog.server_uuid()) continue;
      if (!node.value("ok", false)) co_return std::nullopt;
      auto patterns = DbPatterns::parse(body.value("dbs", ""));
      if (!patterns) co_return std::nullopt;
      co_return std::move(*patterns);
    }
    co_return std::nullopt;
  }

  bool synced(PeerState& peer, const std::string& db) {
    MutexLock lock(mu);
    return peer.dbs.count(db) > 0;
  }

  // Creates the database where it is missing and starts syncing it both ways.
  asio::awaitable<Result<void>> add_db(PeerPtr peer, std::string db, bool on_peer) {
    if (auto made = catalog.create(db); !made && made.error().code != Code::kFileExists) {
      co_return tl::unexpected(made.error());
    }
    if (!on_peer) {
      auto spec = spec_for(*peer, db, Way::kPush, false);
      if (!spec) co_return tl::unexpected(spec.error());
      auto created = co_await scheduler.create_database(spec->target, *spec, node);
      if (!created) co_return tl::unexpected(created.error());
    }
    MutexLock lock(mu);
    if (peer->stop->stopped() || peer->dbs.count(db)) co_return Result<void>{};
    DbSync& sync = peer->dbs[db];
    catch_up(peer, db, Way::kPush);
    if (peer->has_db_updates) {
      catch_up(peer, db, Way::kPull);
    } else {
      sync.pull.pinned = true;
      go_hot(peer, db, Way::kPull, sync.pull);
    }
    co_return Result<void>{};
  }

  // docs/s of every direction since the previous sample.
  void sample_rates(PeerState& peer) REQUIRES(mu) {
    const auto now = SteadyClock::now();
    for (auto& [db, sync] : peer.dbs) {
      for (Direction* d : {&sync.push, &sync.pull}) {
        if (d->sampled_at != SteadyClock::time_point{}) {
          const double seconds = std::chrono::duration<double>(now - d->sampled_at).count();
          const uint64_t delta = d->docs_written >= d->sampled_docs
                                     ? d->docs_written - d->sampled_docs : 0;
          d->docs_per_second = seconds > 0 ? static_cast<double>(delta) / seconds : 0;
        }
        d->sampled_docs = d->docs_written;
        d->sampled_at = now;
      }
    }
  }

  // ---- The peer's `_db_updates`: what changed there is pulled at once ---------------------------

  static asio::awaitable<void> follow_db_updates(std::shared_ptr<Impl> self, PeerPtr peer) {
    std::optional<std::string> since;  // none: not following (yet, or after an error)
    while (!peer->stop->stopped()) {
      bool is_self = false;
      {
        MutexLock lock(self->mu);
        is_self = peer->self;
      }
      if (is_self) {  // this node: nothing to follow
        co_await peer->follower_wakeup->wait(std::chrono::minutes(10));
        continue;
      }
      if (!since) {
        since = co_await self->db_updates_position(peer);
        if (!since) co_await peer->follower_wakeup->wait(self->options.probe_interval);
        continue;
      }
      auto response = co_await self->get(
          *peer,
          "/_db_updates?feed=longpoll&timeout=" + std::to_string(kDbUpdatesPoll.count()) +
              "&since=" + *since,
          kDbUpdatesPoll + kDbUpdatesSlack, /*long_poll=*/true);
      auto body = response && response->status == 200
                      ? Json::parse(response->body, nullptr, false)
                      : Json();
      if (!body.is_object() || !body.contains("results") || !body["results"].is_array()) {
        since.reset();  // a restarted peer numbers its events afresh: start over from "now"
        continue;
      }
      self->on_peer_events(peer, body["results"]);
      if (auto next = seq_param(body); next) since = std::move(next);
    }
  }

  // Where the peer's _db_updates is now (GET since=now), or none. Every direction is then pulled
  // once: what changed before that point. A peer without _db_updates (404, 400, …) gets
  // continuous pull jobs instead.
  asio::awaitable<std::optional<std::string>> db_updates_position(PeerPtr peer) {
    auto response = co_await get(*peer, "/_db_updates?since=now", options.probe_timeout);
    if (!response) co_return std::nullopt;
    auto body = Json::parse(response->body, nullptr, false);
    MutexLock lock(mu);
    if (response->status != 200 || !body.is_object()) {
      if (response->status >= 400 && response->status < 500 && response->status != 401 &&
          response->status != 403 && peer->has_db_updates) {
        spdlog::info("mesh: peer {} has no _db_updates ({}): pulling with continuous jobs",
                     peer->name, response->status);
        peer->has_db_updates = false;
        peer->wakeup->callback()();  // the next reconcile starts them
      }
      co_return std::nullopt;
    }
    catch_up_all(peer, Way::kPull);
    co_return seq_param(body).value_or("now");
  }

  // last_seq as a `since` query value: a number as is, a string (CouchDB's opaque ones)
  // percent-encoded.
  static std::optional<std::string> seq_param(const Json& body) {
    auto it = body.find("last_seq");
    if (it == body.end()) return std::nullopt;
    if (it->is_string()) return boost::urls::encode(it->get<std::string>(), boost::urls::pchars);
    if (it->is_number()) return it->dump();
    return std::nullopt;
  }

  void on_peer_events(const PeerPtr& peer, const Json& rows) {
    MutexLock lock(mu);
    for (const auto& row : rows) {
      if (!row.is_object() || !row.contains("db_name") || !row["db_name"].is_string()) continue;
      const std::string db = row["db_name"].get<std::string>();
      const std::string type = row.value("type", "");
      if (!options.dbs.matches(db)) continue;
      if (type == "created" && !peer->dbs.count(db)) peer->wakeup->callback()();
      if (type == "updated" || type == "created") sign(peer, db, Way::kPull);
    }
  }

  // ---- This node's databases: a commit is pushed at once ----------------------------------------

  static asio::awaitable<void> follow_local_events(std::shared_ptr<Impl> self, uint64_t since) {
    while (!self->local_stop->stopped()) {
      auto events = self->notifier.db_events_since(since, 1000);
      if (events.empty()) {
        co_await self->local_wakeup->wait(std::chrono::seconds(60));
        continue;
      }
      since = events.back().seq;
      self->on_local_events(events);
    }
  }

  void on_local_events(const std::vector<changes::DbEvent>& events) {
    MutexLock lock(mu);
    for (const auto& event : events) {
      if (!options.dbs.matches(event.db_name)) continue;
      for (auto& [name, peer] : peers) {
        switch (event.type) {
          case changes::DbEventType::kCreated:
            if (!peer->dbs.count(event.db_name)) peer->wakeup->callback()();
            break;
          case changes::DbEventType::kUpdated:
            sign(peer, event.db_name, Way::kPush);
            break;
          case changes::DbEventType::kDeleted:
            forget(peer, event.db_name);
            break;
        }
      }
    }
  }

  // A database deleted here: its runs fail on the missing database; the next reconcile brings it
  // back from the peer if the peer still has it (deletion is not propagated), and syncs afresh.
  void forget(const PeerPtr& peer, const std::string& db) REQUIRES(mu) {
    auto it = peer->dbs.find(db);
    if (it == peer->dbs.end()) return;
    for (Direction* d : {&it->second.push, &it->second.pull}) {
      if (d->mode == Mode::kHot) cancel_job(d->job_id);
    }
    peer->dbs.erase(it);
  }

  // ---- Answers ----------------------------------------------------------------------------------

  // REQUIRES: mu not held (asks the Scheduler).
  Json direction_json(const Direction& d) const {
    Json out = Json::object();
    std::optional<Scheduler::JobStatus> status;
    if (d.mode != Mode::kCold && !d.queued) status = scheduler.status(d.job_id);
    out["mode"] = d.mode == Mode::kHot ? "hot" : d.mode == Mode::kCatchingUp ? "catching_up" : "cold";
    if (d.queued) {
      out["state"] = "pending";  // waiting for a catch-up slot
    } else if (status) {
      out["state"] = status->state;
    } else {
      out["state"] = d.last_error.empty() ? "idle" : "crashing";
    }
    out["job"] = d.mode == Mode::kCold ? Json(nullptr) : Json(d.job_id);
    out["changes_pending"] = status ? status->info.value("changes_pending", Json(nullptr))
                                    : d.last_error.empty() ? Json(0) : Json(nullptr);
    out["lag_seconds"] = status ? status->info.value("lag_seconds", 0.0) : 0.0;
    out["docs_written"] = status ? status->info.value("docs_written", d.docs_written)
                                 : d.docs_written;
    out["docs_per_second"] = d.docs_per_second;
    out["last_active"] = time_or_null(d.last_active);
    const std::string& error = status && !status->last_error.empty() ? status->last_error
                                                                     : d.last_error;
    out["last_error"] = error.empty() ? Json(nullptr) : Json(error);
    return out;
  }
};

Mesh::Mesh(asio::io_context& ioc, engine::Catalog& catalog, changes::Notifier& notifier,
           Scheduler& scheduler, http::client::Client& client, MeshOptions options)
    : impl_(std::make_shared<Impl>(ioc, catalog, notifier, scheduler, client,
                                   std::move(options))) {}

Mesh::~Mesh() { stop(); }

Result<void> Mesh::start() {
  auto saved = impl_->load_peer_file();
  if (!saved) return tl::unexpected(saved.error());
  std::vector<std::pair<std::string, Endpoint>> parsed;
  for (const auto& url : *saved) {
    auto peer = parse_peer_url(url);
    if (!peer) {
      return fail(peer.error().code,
                  impl_->options.peers_file.string() + ": " + peer.error().reason);
    }
    parsed.push_back(std::move(*peer));
  }
  for (const auto& url : impl_->options.peers) {
    auto peer = parse_peer_url(url);
    if (!peer) return fail(peer.error().code, "--peer: " + peer.error().reason);
    parsed.push_back(std::move(*peer));
  }
  // This node's events from now on; what came before, each peer's first reconcile syncs.
  auto impl = impl_;
  impl->local_events = impl->notifier.subscribe_db_events(impl->local_wakeup->callback());
  impl->local_wake_on_stop = impl->local_stop->on_stop(impl->local_wakeup->callback());
  impl->spawn(impl->strand, Impl::follow_local_events(impl, impl->notifier.last_db_event_seq()),
              "the local events follower");
  MutexLock lock(impl->mu);
  bool changed = false;
  for (auto& [url, root] : parsed) changed = impl->add(std::move(url), std::move(root)) || changed;
  if (!impl->options.peers.empty() && changed) return impl->persist();
  return {};
}

void Mesh::stop() {
  impl_->local_events.reset();
  impl_->local_stop->stop();
  MutexLock lock(impl_->mu);
  impl_->stopped = true;
  // Continuous pull jobs stay: the Scheduler stops them itself, keeping their checkpoints.
  for (auto& [name, peer] : impl_->peers) peer->stop->stop();
}

bool Mesh::idle() const { return impl_->coroutines.load() == 0; }

Result<Json> Mesh::add_peer(std::string_view url) {
  auto peer = parse_peer_url(url);
  if (!peer) return tl::unexpected(peer.error());
  const std::string name = peer_name(peer->second);
  MutexLock lock(impl_->mu);
  if (impl_->add(std::move(peer->first), std::move(peer->second))) {
    if (auto saved = impl_->persist(); !saved) return tl::unexpected(saved.error());
  }
  Json body = Json::object();
  body["ok"] = true;
  body["peer"] = name;
  body["note"] = kDeletionNote;
  return body;
}

Result<Json> Mesh::remove_peer(std::string_view name) {
  MutexLock lock(impl_->mu);
  auto it = impl_->peers.find(std::string(name));
  if (it == impl_->peers.end()) return fail(Code::kNotFound, "no such peer");
  impl_->retire(it->second);
  impl_->peers.erase(it);
  if (auto saved = impl_->persist(); !saved) return tl::unexpected(saved.error());
  Json body = Json::object();
  body["ok"] = true;
  body["peer"] = std::string(name);
  return body;
}

Json Mesh::peers() const {
  Json names = Json::array();
  Json nodes = Json::array();  // what another node's mesh asks (Impl::pushes_to_us)
  MutexLock lock(impl_->mu);
  for (const auto& [name, peer] : impl_->peers) {
    names.push_back(name);
    Json node = Json::object();
    node["name"] = name;
    node["uuid"] = peer->uuid;
    node["ok"] = peer->reachable && !peer->self && peer->last_error.empty();
    nodes.push_back(std::move(node));
  }
  Json body = Json::object();
  body["peers"] = std::move(names);
  body["nodes"] = std::move(nodes);
  body["dbs"] = impl_->options.dbs.text();
  body["note"] = kDeletionNote;
  return body;
}

std::chrono::milliseconds Mesh::write_timeout() const { return impl_->options.write_timeout; }

asio::awaitable<size_t> Mesh::count_copies(std::string db, DocRevs revs, size_t wanted,
                                           SteadyClock::time_point deadline) {
  auto impl = impl_;
  std::vector<PeerPtr> peers;
  {
    MutexLock lock(impl->mu);
    for (const auto& [name, peer] : impl->peers) {
      if (!peer->self) peers.push_back(peer);
    }
  }
  Json query = Json::object();
  for (auto& [id, rev] : revs) query[id].push_back(std::move(rev));
  const std::string payload = query.dump();
  const std::string target = "/" + boost::urls::encode(db, boost::urls::pchars) + "/_revs_diff";
  std::vector<bool> holds(peers.size(), false);
  size_t count = 0;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::chrono::milliseconds pause{2};  // doubling to 100 ms: a copy usually lands in a few ms
  for (;;) {
    for (size_t i = 0; i < peers.size() && count < wanted; ++i) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - SteadyClock::now());
      if (holds[i] || left.count() <= 0) continue;
      http::client::Request request;
      request.method = bhttp::verb::post;
      request.target = target;
      request.headers = peers[i]->root.request_headers();
      request.headers.emplace_back("Content-Type", "application/json");
      request.body = payload;
      request.timeout = std::min(left, impl->options.probe_timeout);
      request.stop = peers[i]->stop;
      auto response = co_await impl->client.send(peers[i]->root.origin(), std::move(request));
      if (!response || response->status != 200) continue;
      auto missing = Json::parse(response->body, nullptr, false);
      if (missing.is_object() && missing.empty()) {
        holds[i] = true;
        ++count;
      }
    }
    const auto now = SteadyClock::now();
    if (count >= wanted || count == peers.size() || now >= deadline) co_return count;
    timer.expires_after(std::min<SteadyClock::duration>(pause, deadline - now));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

Mesh::Health Mesh::health() const {
  // Copies under the mesh's lock, then asks the Scheduler (which has its own) without it.
  struct PeerCopy {
    Json info;
    std::map<std::string, DbSync> dbs;
  };
  std::vector<PeerCopy> copies;
  Health health;
  {
    MutexLock lock(impl_->mu);
    for (const auto& [name, peer] : impl_->peers) {
      Json info = Json::object();
      info["name"] = name;
      info["url"] = peer->root.redacted_url();
      info["self"] = peer->self;
      info["reachable"] = peer->reachable;
      info["rtt_ms"] = peer->reachable ? Json(peer->rtt_ms) : Json(nullptr);
      info["last_contact"] = time_or_null(peer->last_contact);
      info["last_error"] = peer->last_error.empty() ? Json(nullptr) : Json(peer->last_error);
      info["next_retry"] = time_or_null(peer->next_retry);
      info["uuid"] = peer->uuid;
      info["db_updates"] = peer->has_db_updates;
      info["pushes_to_us"] = peer->pushes_to_us.has_value();
      const bool ok = peer->self || (peer->probed && peer->reachable && peer->last_error.empty());
      health.healthy = health.healthy && ok;
      copies.push_back(PeerCopy{std::move(info), peer->dbs});
    }
  }
  Json peers = Json::array();
  for (auto& copy : copies) {
    Json dbs = Json::object();
    for (const auto& [db, sync] : copy.dbs) {
      Json entry = Json::object();
      entry["push"] = impl_->direction_json(sync.push);
      entry["pull"] = impl_->direction_json(sync.pull);
      dbs[db] = std::move(entry);
    }
    copy.info["databases"] = std::move(dbs);
    peers.push_back(std::move(copy.info));
  }
  health.body = Json::object();
  health.body["ok"] = health.healthy;
  health.body["node"] = impl_->catalog.server_uuid();
  health.body["peers"] = std::move(peers);
  health.body["dbs"] = impl_->options.dbs.text();
  health.body["note"] = kDeletionNote;
  return health;
}

}  // namespace divan::replicator
