#include "replicator/mesh.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_annotations.h"
#include "replicator/job_state.h"
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

// How long a `_db_updates` longpoll waits on the peer, and how much longer our request may take.
constexpr std::chrono::milliseconds kDbUpdatesPoll{25000};
constexpr std::chrono::milliseconds kDbUpdatesSlack{10000};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

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
  std::string text = std::to_string(response.status);
  auto body = Json::parse(response.body, nullptr, false);
  if (body.is_object()) {
    text += " " + body.value("error", std::string()) + ": " + body.value("reason", std::string());
  }
  return text;
}

Json time_or_null(std::optional<SystemClock::time_point> t) {
  return t ? Json(iso8601(*t)) : Json(nullptr);
}

}  // namespace

// ---- DbPatterns ---------------------------------------------------------------------------------

Result<DbPatterns> DbPatterns::parse(std::string_view list) {
  DbPatterns patterns;
  patterns.text_ = std::string(list);
  if (trim(list).empty()) return patterns;
  while (true) {
    const size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    const bool exclude = !item.empty() && item.front() == '!';
    if (exclude) item.remove_prefix(1);
    if (item.empty()) {
      return fail(Code::kBadRequest, "--peer-dbs: an empty pattern in \"" + patterns.text_ + "\"");
    }
    (exclude ? patterns.exclude_ : patterns.include_).emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return patterns;
}

bool DbPatterns::matches(std::string_view db) const {
  const std::string name(db);
  auto hit = [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  };
  if (std::any_of(exclude_.begin(), exclude_.end(), hit)) return false;
  const bool system = name.starts_with('_');
  if (include_.empty()) return !system;
  return std::any_of(include_.begin(), include_.end(), [&](const std::string& pattern) {
    return hit(pattern) && (!system || pattern.starts_with('_'));
  });
}

// ---- Mesh ---------------------------------------------------------------------------------------

namespace {

// One direction of one database's sync with one peer: the Scheduler job, and the samples its
// docs/s comes from.
struct Direction {
  std::string job_id;
  uint64_t docs_written = 0;
  SteadyClock::time_point sampled_at{};
  double docs_per_second = 0;
};

struct DbSync {
  Direction push;  // this node → peer
  Direction pull;  // peer → this node
};

struct PeerState {
  std::string name;  // host[:port]
  std::string url;   // as given, credentials included, no trailing '/'
  Endpoint root;
  std::shared_ptr<StopToken> stop = std::make_shared<StopToken>();
  asio::any_io_executor strand;
  std::shared_ptr<Wakeup> wakeup;           // the peer loop's: a database created, or stop
  std::shared_ptr<Wakeup> follower_wakeup;  // the _db_updates follower's pause: stop
  StopToken::Registration wake_on_stop;
  StopToken::Registration follower_wake_on_stop;

  // Health, under Impl::mu.
  bool probed = false;
  bool reachable = false;
  bool self = false;
  double rtt_ms = 0;
  std::optional<SystemClock::time_point> last_contact;
  std::optional<SystemClock::time_point> next_retry;
  std::string last_error;
  unsigned failures = 0;
  std::map<std::string, DbSync> dbs;

  // The URL of database `db` on this peer, credentials included.
  std::string db_url(std::string_view db) const {
    return url + "/" + boost::urls::encode(db, boost::urls::pchars);
  }
};

}  // namespace

struct Mesh::Impl : std::enable_shared_from_this<Mesh::Impl> {
  Impl(asio::io_context& ioc, engine::Catalog& catalog, Scheduler& scheduler,
       http::client::Client& client, MeshOptions options)
      : ioc(ioc), catalog(catalog), scheduler(scheduler), client(client),
        options(std::move(options)) {}

  asio::io_context& ioc;
  engine::Catalog& catalog;
  Scheduler& scheduler;
  http::client::Client& client;
  const MeshOptions options;

  mutable Mutex mu;
  std::map<std::string, std::shared_ptr<PeerState>> peers GUARDED_BY(mu);
  bool stopped GUARDED_BY(mu) = false;
  std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  std::shared_ptr<engine::Catalog::Subscription> subscription;
  std::atomic<int> coroutines{0};  // peer loops and _db_updates followers still running

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
    if (!stopped) spawn(peer);
    return true;
  }

  void spawn(const std::shared_ptr<PeerState>& peer) {
    auto self = shared_from_this();
    coroutines += 2;
    asio::co_spawn(peer->strand, peer_loop(self, peer), [self](std::exception_ptr e) {
      if (e) spdlog::error("mesh: a peer loop failed");
      --self->coroutines;
    });
    asio::co_spawn(peer->strand, follow_db_updates(self, peer), [self](std::exception_ptr e) {
      if (e) spdlog::error("mesh: a _db_updates follower failed");
      --self->coroutines;
    });
  }

  // Stops the peer's coroutines and cancels its jobs (its databases stay, here and there).
  void retire(const std::shared_ptr<PeerState>& peer) REQUIRES(mu) {
    peer->stop->stop();
    for (const auto& [db, sync] : peer->dbs) {
      cancel_job(sync.push.job_id);
      cancel_job(sync.pull.job_id);
    }
    peer->dbs.clear();
  }

  void cancel_job(const std::string& id) {
    if (id.empty()) return;
    ReplicationSpec spec;
    spec.cancel = true;
    spec.replication_id = id;
    asio::co_spawn(fresh_strand(ioc), scheduler.replicate(std::move(spec), engine::Writer::node()),
                   asio::detached);
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
    if (!in || !body.is_object() || !body.contains("peers") || !body["peers"].is_array()) {
      return fail(Code::kBadRequest, options.peers_file.string() +
                                         ": not a peer list ({\"peers\": [\"http://…\", …]})");
    }
    for (const auto& url : body["peers"]) {
      if (!url.is_string()) return fail(Code::kBadRequest, options.peers_file.string() + ": a peer that is not a URL");
      urls.push_back(url.get<std::string>());
    }
    return urls;
  }

  // ---- One peer: probe, reconcile, wait ---------------------------------------------------------

  static asio::awaitable<void> peer_loop(std::shared_ptr<Impl> self, std::shared_ptr<PeerState> peer) {
    while (!peer->stop->stopped()) {
      co_await self->probe(*peer);
      bool synced = false;
      {
        MutexLock lock(self->mu);
        synced = peer->reachable && !peer->self;
      }
      if (synced) co_await self->reconcile(*peer);
      std::chrono::milliseconds delay = self->options.probe_interval;
      {
        MutexLock lock(self->mu);
        if (!peer->reachable) delay = host_probe_delay(peer->failures - 1, self->rng);  // failures ≥ 1
        peer->next_retry = SystemClock::now() + delay;
      }
      co_await peer->wakeup->wait(delay);
    }
  }

  // A request to the peer with its credentials, bounded by the probe timeout.
  asio::awaitable<http::client::Result<http::client::Response>> get(const PeerState& peer,
                                                                    std::string target) {
    http::client::Request request;
    request.target = std::move(target);
    for (const auto& header : peer.root.request_headers()) request.headers.push_back(header);
    request.timeout = options.probe_timeout;
    request.stop = peer.stop;
    co_return co_await client.send(peer.root.origin(), std::move(request));
  }

  // GET /: reachable or not, how fast, and whether it is this node.
  asio::awaitable<void> probe(PeerState& peer) {
    const auto start = SteadyClock::now();
    auto response = co_await get(peer, "/");
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
    peer.self = body.value("uuid", std::string()) == catalog.server_uuid();
    peer.last_error.clear();
  }

  // Every database either side has (and the patterns let through) gets created where it is
  // missing and a push and a pull job, unless it has them.
  asio::awaitable<void> reconcile(PeerState& peer) {
    auto response = co_await get(peer, "/_all_dbs");
    auto remote = response ? Json::parse(response->body, nullptr, false) : Json();
    if (!response || response->status != 200 || !remote.is_array()) {
      MutexLock lock(mu);
      peer.last_error = "GET /_all_dbs: " + (response ? http_error(*response)
                                                      : response.error().message);
      co_return;
    }
    std::set<std::string> remote_dbs;
    for (const auto& db : remote) {
      if (db.is_string()) remote_dbs.insert(db.get<std::string>());
    }
    std::set<std::string> wanted;
    for (const auto& db : remote_dbs) wanted.insert(db);
    for (auto& db : catalog.all_dbs()) wanted.insert(std::move(db));
    std::string error;
    for (const auto& db : wanted) {
      if (peer.stop->stopped()) co_return;
      if (!options.dbs.matches(db) || has_live_jobs(peer, db)) continue;
      auto started = co_await start_sync(peer, db, remote_dbs.count(db) > 0);
      if (!started && error.empty()) error = db + ": " + started.error().reason;
    }
    sample_rates(peer);
    MutexLock lock(mu);
    peer.last_error = error;
  }

  // Whether both of the database's jobs still exist (a job the Scheduler forgot, after a cancel or
  // a failure, is made again).
  bool has_live_jobs(PeerState& peer, const std::string& db) {
    std::string push, pull;
    {
      MutexLock lock(mu);
      auto it = peer.dbs.find(db);
      if (it == peer.dbs.end()) return false;
      push = it->second.push.job_id;
      pull = it->second.pull.job_id;
    }
    auto alive = [&](const std::string& id) {
      auto status = scheduler.status(id);
      return status && status->state != "failed" && status->state != "completed";
    };
    return alive(push) && alive(pull);
  }

  asio::awaitable<Result<void>> start_sync(PeerState& peer, const std::string& db, bool on_peer) {
    const engine::Writer node = engine::Writer::node();
    if (auto made = catalog.create(db); !made && made.error().code != Code::kFileExists) {
      co_return tl::unexpected(made.error());
    }
    Json body = Json::object();
    body["source"] = db;
    body["target"] = peer.db_url(db);
    body["continuous"] = true;
    auto push_spec = parse_replicate_body(body);
    if (!push_spec) co_return tl::unexpected(push_spec.error());
    if (!on_peer) {
      auto created = co_await scheduler.create_database(push_spec->target, *push_spec, node);
      if (!created) co_return tl::unexpected(created.error());
    }
    auto pull_spec = *push_spec;
    std::swap(pull_spec.source, pull_spec.target);
    auto push = co_await scheduler.replicate(std::move(*push_spec), node);
    if (!push) co_return tl::unexpected(push.error());
    auto pull = co_await scheduler.replicate(std::move(pull_spec), node);
    if (!pull) co_return tl::unexpected(pull.error());
    MutexLock lock(mu);
    if (peer.stop->stopped()) {  // removed meanwhile: its jobs go too
      cancel_job(push->body.value("_local_id", ""));
      cancel_job(pull->body.value("_local_id", ""));
      co_return Result<void>{};
    }
    DbSync& sync = peer.dbs[db];
    sync.push = Direction{push->body.value("_local_id", "")};
    sync.pull = Direction{pull->body.value("_local_id", "")};
    co_return Result<void>{};
  }

  // docs/s of every job, from docs_written now and at the previous sample.
  void sample_rates(PeerState& peer) {
    std::vector<std::pair<std::string, std::string>> jobs;  // db, push id / pull id
    {
      MutexLock lock(mu);
      for (const auto& [db, sync] : peer.dbs) {
        jobs.emplace_back(db, sync.push.job_id);
        jobs.emplace_back(db, sync.pull.job_id);
      }
    }
    std::map<std::string, uint64_t> written;
    for (const auto& [db, id] : jobs) {
      auto status = scheduler.status(id);
      if (status) written[id] = status->info.value("docs_written", uint64_t{0});
    }
    const auto now = SteadyClock::now();
    MutexLock lock(mu);
    for (auto& [db, sync] : peer.dbs) {
      for (Direction* d : {&sync.push, &sync.pull}) {
        auto it = written.find(d->job_id);
        if (it == written.end()) continue;
        if (d->sampled_at != SteadyClock::time_point{}) {
          const double seconds = std::chrono::duration<double>(now - d->sampled_at).count();
          const uint64_t delta = it->second >= d->docs_written ? it->second - d->docs_written : 0;
          d->docs_per_second = seconds > 0 ? static_cast<double>(delta) / seconds : 0;
        }
        d->docs_written = it->second;
        d->sampled_at = now;
      }
    }
  }

  // ---- The peer's `_db_updates`: a database created there is synced at once --------------------

  static asio::awaitable<void> follow_db_updates(std::shared_ptr<Impl> self,
                                                 std::shared_ptr<PeerState> peer) {
    std::string since = "now";
    while (!peer->stop->stopped()) {
      http::client::Request request;
      request.target = "/_db_updates?feed=longpoll&timeout=" +
                       std::to_string(kDbUpdatesPoll.count()) + "&since=" + since;
      for (const auto& header : peer->root.request_headers()) request.headers.push_back(header);
      request.timeout = kDbUpdatesPoll + kDbUpdatesSlack;
      request.long_poll = true;
      request.stop = peer->stop;
      auto response = co_await self->client.send(peer->root.origin(), std::move(request));
      auto body = response && response->status == 200
                      ? Json::parse(response->body, nullptr, false)
                      : Json();
      if (!body.is_object() || !body.contains("results")) {
        // Down, or no _db_updates (a pouchdb-server): the peer loop's probes cover it. Start
        // again from "now" (a restarted peer numbers its events afresh) after a pause.
        since = "now";
        co_await peer->follower_wakeup->wait(self->options.probe_interval);
        continue;
      }
      bool created = false;
      for (const auto& row : body["results"]) {
        created = created || (row.is_object() && row.value("type", "") == "created");
      }
      if (created) peer->wakeup->callback()();
      const Json& last = body.contains("last_seq") ? body["last_seq"] : Json();
      if (last.is_string()) since = boost::urls::encode(last.get<std::string>(),
                                                        boost::urls::pchars);
      else if (last.is_number()) since = last.dump();
    }
  }

  // ---- This node's databases -------------------------------------------------------------------

  void on_catalog_event(const engine::CatalogEvent& event) {
    if (event.type == engine::CatalogEventType::kOpened) return;
    MutexLock lock(mu);
    for (auto& [name, peer] : peers) {
      if (event.type == engine::CatalogEventType::kDeleted) {
        // Its jobs crash on the missing database; cancel them so that the next reconcile (which
        // brings the database back from the peer, if the peer has it) starts afresh.
        auto it = peer->dbs.find(event.name);
        if (it == peer->dbs.end()) continue;
        cancel_job(it->second.push.job_id);
        cancel_job(it->second.pull.job_id);
        peer->dbs.erase(it);
      } else if (options.dbs.matches(event.name)) {
        peer->wakeup->callback()();
      }
    }
  }

  // ---- Answers ----------------------------------------------------------------------------------

  Json direction_json(const Direction& d) const {
    Json out = Json::object();
    out["id"] = d.job_id;
    auto status = scheduler.status(d.job_id);
    if (!status) {
      out["state"] = nullptr;
      return out;
    }
    out["state"] = status->state;
    out["changes_pending"] = status->info.value("changes_pending", Json(nullptr));
    out["lag_seconds"] = status->info.value("lag_seconds", 0.0);
    out["docs_written"] = status->info.value("docs_written", uint64_t{0});
    out["docs_per_second"] = d.docs_per_second;
    out["last_error"] = status->last_error.empty() ? Json(nullptr) : Json(status->last_error);
    return out;
  }
};

Mesh::Mesh(asio::io_context& ioc, engine::Catalog& catalog, Scheduler& scheduler,
           http::client::Client& client, MeshOptions options)
    : impl_(std::make_shared<Impl>(ioc, catalog, scheduler, client, std::move(options))) {}

Mesh::~Mesh() { stop(); }

Result<void> Mesh::start() {
  auto saved = impl_->load_peer_file();
  if (!saved) return tl::unexpected(saved.error());
  std::vector<std::pair<std::string, Endpoint>> parsed;
  for (const auto& url : *saved) {
    auto peer = parse_peer_url(url);
    if (!peer) return tl::unexpected(Error{peer.error().code, impl_->options.peers_file.string() + ": " + peer.error().reason});
    parsed.push_back(std::move(*peer));
  }
  for (const auto& url : impl_->options.peers) {
    auto peer = parse_peer_url(url);
    if (!peer) return tl::unexpected(Error{peer.error().code, "--peer: " + peer.error().reason});
    parsed.push_back(std::move(*peer));
  }
  std::weak_ptr<Impl> weak = impl_;
  impl_->subscription = impl_->catalog.subscribe([weak](const engine::CatalogEvent& event) {
    if (auto self = weak.lock()) self->on_catalog_event(event);
  });
  MutexLock lock(impl_->mu);
  bool changed = false;
  for (auto& [url, root] : parsed) changed = impl_->add(std::move(url), std::move(root)) || changed;
  if (!impl_->options.peers.empty() && changed) return impl_->persist();
  return {};
}

void Mesh::stop() {
  impl_->subscription.reset();
  MutexLock lock(impl_->mu);
  impl_->stopped = true;
  // The jobs stay: the Scheduler stops them itself (a node shutting down keeps its checkpoints).
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
  MutexLock lock(impl_->mu);
  for (const auto& [name, peer] : impl_->peers) names.push_back(name);
  Json body = Json::object();
  body["peers"] = std::move(names);
  body["dbs"] = impl_->options.dbs.text();
  body["note"] = kDeletionNote;
  return body;
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
