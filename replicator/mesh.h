// A sync mesh: peers declared once (`divan serve --peer URL`, /_mesh/peers), and every database of
// this node kept in continuous two-way sync with the database of the same name on each peer.
//
// For each peer one coroutine (the peer's loop) does, over and over:
//   1. probe: GET / on the peer (reachable or not, round-trip time, last contact, last error);
//      a silent peer is probed again with retry_policy.h host_probe_delay (full jitter, capped);
//   2. reconcile: the union of this node's databases and the peer's (GET /_all_dbs), filtered by
//      `--peer-dbs`, each one created where it is missing (here or on the peer) and synced;
//      directions whose last run failed run again;
//   3. wait: until the probe interval passes, or a database is created here or on the peer.
//
// Each database syncs in two directions per peer, push (here → peer) and pull (peer → here), each
// cold, catching up or hot (mesh.cpp `Direction`): cold costs nothing; a one-shot replication
// catches up what changed unwatched (a new database, the first contact, a reconnect) or what a
// sign of activity announced (a commit here for push, a row of the peer's `_db_updates` for pull:
// one longpoll per peer, followed by a second coroutine); a second sign soon after makes the
// direction hot, a continuous job whose live feed carries each later change in a few ms, until it
// has been quiet for `hot_idle`. So 1,000 idle
// databases cost one longpoll per peer, not 2,000 feeds, and a busy one syncs as fast as a
// continuous replication. Checkpoints make every job start where the last one ended. A peer
// without `_db_updates` (pouchdb-server) gets pulls that are hot for good.
//
// Deleting a database is never propagated: a database deleted here comes back from a peer that
// still has it. To retire one, delete it on every node or leave it out with `--peer-dbs`.
//
// A peer whose GET / shows this node's own uuid is this node (a shared peer list names every node):
// it is kept in the list, shown as `self`, and never synced with.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "engine/error.h"
#include "http/client/client.h"
#include "replicator/db_patterns.h"
#include "replicator/scheduler.h"

namespace divan::replicator {

struct MeshOptions {
  std::filesystem::path peers_file;  // the persisted peer list (written 0600: URLs hold passwords)
  std::vector<std::string> peers;    // --peer: added at start (and persisted)
  DbPatterns dbs;                    // --peer-dbs
  std::chrono::milliseconds probe_interval{5000};
  std::chrono::milliseconds probe_timeout{5000};
  // A hot direction quiet for this long goes cold (its continuous job stops); 0: never.
  std::chrono::milliseconds hot_idle{30000};
  // ?w=N without ?w_timeout: how long a write waits for its copies before answering 202.
  std::chrono::milliseconds write_timeout{10000};
};

class Mesh {
 public:
  // REQUIRES: every argument outlives the Mesh; `notifier` is the node's (watches `catalog`).
  Mesh(boost::asio::io_context& ioc, engine::Catalog& catalog, changes::Notifier& notifier,
       Scheduler& scheduler, http::client::Client& client, MeshOptions options);
  ~Mesh();  // stop()
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  // Loads the peer file, adds `options.peers`, and starts every peer's loop. Errors: an unreadable
  // or malformed peer file, a bad --peer URL (the node should not start).
  [[nodiscard]] Result<void> start();
  // Stops every loop and run. Does not wait: see idle().
  void stop();
  bool idle() const;

  // POST /_mesh/peers {"url": …}: adds and persists a peer (an http(s) URL of a server root, with
  // credentials for it). Adding one already there changes nothing. bad_request for a bad URL.
  [[nodiscard]] Result<Json> add_peer(std::string_view url);
  // DELETE /_mesh/peers/{name}: stops syncing with the peer named `name` (its URL without
  // credentials, as peers() shows it) and forgets it. not_found if unknown. Its databases stay.
  [[nodiscard]] Result<Json> remove_peer(std::string_view name);
  // GET /_mesh/peers: {"peers":[name, …], "nodes":[{"name","uuid","ok"}, …], "dbs":
  // "<--peer-dbs>", "note": "<deletions …>"}. Another node's mesh reads `nodes` and `dbs`: when
  // this node pushes to it, its pulls from this node need not go hot (one copy per change).
  Json peers() const;

  // GET /_mesh: every peer (reachable, rtt_ms, last_contact, last_error, next_retry) and per
  // database its push and pull direction (mode: cold, catching_up or hot; state: idle, or the
  // job's; changes_pending, lag_seconds, docs_written, docs_per_second, last_active, last_error).
  // `healthy`: every peer other than this node itself is reachable and answers us.
  // Write concern (?w=N): how many peers (this node not counted) hold every revision in `revs`
  // (doc id, rev) of database `db`, asking each peer's _revs_diff until `wanted` of them do or
  // `deadline` passes. A write's push starts at its commit; this only watches it arrive.
  using DocRevs = std::vector<std::pair<std::string, std::string>>;
  boost::asio::awaitable<size_t> count_copies(std::string db, DocRevs revs, size_t wanted,
                                              std::chrono::steady_clock::time_point deadline);
  std::chrono::milliseconds write_timeout() const;

  struct Health {
    Json body;
    bool healthy = true;
  };
  Health health() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace divan::replicator
