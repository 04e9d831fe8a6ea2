// What the Peer tests stand on: a node's databases (an engine::Catalog in a temporary directory,
// seeded through the engine directly), and a fixture per Peer implementation that makes a Peer of
// one of those databases and runs its calls.
//
//   HttpPeerFixture  a real Divan HTTP server (http/server) on 127.0.0.1:<free port> over that
//                    catalog, and HttpPeer over real sockets through http/client.
//
// The shared suite (peer_test.cpp) runs over every fixture in DIVAN_PEER_FIXTURES, so a fixture
// for LocalPeer only has to provide the same members:
//   static constexpr const char* kName;
//   std::unique_ptr<replicator::Peer> make_peer(const std::string& db_name);
//   template <typename T> replicator::PeerResult<T> run(replicator::PeerTask<T> task);
//   template <typename T> std::future<replicator::PeerResult<T>> start(replicator::PeerTask<T>);
//   template <typename T> static replicator::PeerResult<T> wait(std::future<PeerResult<T>>&);
// plus PeerNode's (it derives from it). run() = start() then wait(), bounded by kCallBound.
//
// Every wait is bounded: run() gives a call kCallBound, the server's thread is joined after
// stop(), the client's io_context must run out of work within 2 s of shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"
#include "changes/notifier.h"
#include "engine/attachments.h"
#include "engine/catalog.h"
#include "engine/database.h"
#include "engine/write_ops.h"
#include "http/client/client.h"
#include "http/client/stop_token.h"
#include "http/server/auth_service.h"
#include "http/server/server.h"
#include "http/server/users_db.h"
#include "replicator/endpoint.h"
#include "replicator/http_peer.h"
#include "replicator/local_peer.h"
#include "replicator/peer.h"

namespace divan::replicator::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long one Peer call may take in a test before it counts as hung. Calls take milliseconds; the
// margin is for a loaded machine (several builds share two cores).
inline constexpr auto kCallBound = 20s;

using ::divan::test::TempDir;

inline engine::CatalogOptions catalog_options(const TempDir& dir) {
  engine::CatalogOptions options;
  options.data_dir = dir.path();
  options.fsync = false;  // tests check behaviour, not durability
  options.write_policies = http::server::system_write_policies();  // as the node has them
  return options;
}

inline std::shared_ptr<const engine::AttachmentBody> bytes_body(std::string bytes) {
  return engine::AttachmentBody::from_bytes(std::move(bytes));
}

// New attachment data for a replicated write.
inline engine::NewAttachment data_att(std::string name, std::string content_type,
                                      std::string bytes, uint64_t revpos) {
  engine::NewAttachment att;
  att.name = std::move(name);
  att.content_type = std::move(content_type);
  att.body = bytes_body(std::move(bytes));
  att.revpos = revpos;
  return att;
}

// A stub for a replicated write: keep `name` of the ancestor.
inline engine::NewAttachment stub_att(std::string name, uint64_t revpos) {
  engine::NewAttachment att;
  att.name = std::move(name);
  att.stub = true;
  att.revpos = revpos;
  return att;
}

// The databases of a node, and ways to fill them without any Peer.
struct PeerNode {
  TempDir dir;
  engine::Catalog catalog{catalog_options(dir)};
  changes::Notifier notifier{catalog};

  std::shared_ptr<engine::Database> db(const std::string& name) {
    if (auto open = catalog.open(name)) return *open;
    auto created = catalog.create(name);
    REQUIRE_MESSAGE(created.has_value(), name);
    return *created;
  }

  void write(const std::string& db_name, std::vector<engine::WriteOp> ops) {
    auto result = db(db_name)->write(std::move(ops));
    REQUIRE(result.has_value());
    for (const auto& outcome : *result) {
      REQUIRE_MESSAGE(!outcome.error.has_value(), (outcome.error ? outcome.error->reason : ""));
    }
  }

  // A new_edits=false write of the path {start, ids} (newest first).
  void replicate(const std::string& db_name, std::string id, uint64_t start,
                 std::vector<std::string> ids, const Json& body = Json::object(),
                 bool deleted = false, std::vector<engine::NewAttachment> atts = {}) {
    auto update = engine::DocUpdate::replicated(std::move(id), revtree::RevPath{start, std::move(ids)},
                                                deleted, body, std::move(atts));
    REQUIRE(update.has_value());
    std::vector<engine::WriteOp> ops;
    ops.push_back(std::move(*update));
    write(db_name, std::move(ops));
  }

  // An interactive first revision of `id`; returns its rev.
  std::string put(const std::string& db_name, std::string id, const Json& body) {
    auto update = engine::DocUpdate::edit(std::move(id), std::nullopt, false, body);
    REQUIRE(update.has_value());
    std::vector<engine::WriteOp> ops;
    ops.push_back(std::move(*update));
    auto result = db(db_name)->write(std::move(ops));
    REQUIRE(result.has_value());
    REQUIRE_FALSE((*result)[0].error.has_value());
    return (*result)[0].rev;
  }
};

// A Divan HTTP server on 127.0.0.1:<free port>, run by its own thread until destroyed.
class LiveServer {
 public:
  LiveServer(http::server::ServerOptions options, engine::Catalog& catalog,
             changes::Notifier& notifier) {
    options.bind = "127.0.0.1";
    options.port = 0;
    if (options.threads == 0) options.threads = 2;
    server_ = std::make_unique<http::server::Server>(std::move(options), catalog, notifier);
    port_ = server_->start();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~LiveServer() {
    server_->stop();
    thread_.join();
  }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& db_name, const std::string& userinfo = {}) const {
    return "http://" + (userinfo.empty() ? std::string() : userinfo + "@") + "127.0.0.1:" +
           std::to_string(port_) + "/" + db_name;
  }

 private:
  std::unique_ptr<http::server::Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// The client side: an io_context with two threads (as the node runs it), a Client on it, and the
// job's StopToken. Peer calls run on a strand, as a job's do.
class ClientSide {
 public:
  ClientSide()
      : work_(boost::asio::make_work_guard(ioc_)),
        client_(std::make_unique<http::client::Client>(ioc_.get_executor(),
                                                       http::client::ClientOptions{})),
        strand_(boost::asio::make_strand(ioc_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~ClientSide() {
    client_->shutdown();
    work_.reset();
    const auto until = Clock::now() + 2s;
    while (!ioc_.stopped() && Clock::now() < until) std::this_thread::sleep_for(2ms);
    ioc_.stop();
    for (auto& thread : threads_) thread.join();
    client_.reset();
  }
  ClientSide(const ClientSide&) = delete;
  ClientSide& operator=(const ClientSide&) = delete;

  http::client::Client& client() { return *client_; }
  const std::shared_ptr<http::client::StopToken>& stop() const { return stop_; }

  // Starts `task` on the strand.
  template <typename T>
  std::future<T> start(boost::asio::awaitable<T> task) {
    return boost::asio::co_spawn(strand_, std::move(task), boost::asio::use_future);
  }
  // Waits for a started call, at most `within`.
  template <typename T>
  static T wait(std::future<T>& future, std::chrono::milliseconds within = kCallBound) {
    REQUIRE_MESSAGE(future.wait_for(within) == std::future_status::ready,
                    "a peer call did not complete in time");
    return future.get();
  }
  template <typename T>
  T run(boost::asio::awaitable<T> task) {
    auto future = start(std::move(task));
    return wait(future);
  }

  // A plain request to the server (test set-up: users, _security), waited for.
  http::client::Response raw(uint16_t port, boost::beast::http::verb method, std::string target,
                             std::string body = {},
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::client::Request request;
    request.method = method;
    request.target = std::move(target);
    request.body = std::move(body);
    request.headers = std::move(headers);
    request.headers.emplace_back("Content-Type", "application/json");
    request.timeout = 10s;
    auto result = run(client_->send(http::client::Origin{false, "127.0.0.1", port}, request));
    REQUIRE_MESSAGE(result.has_value(), (result ? "" : result.error().message));
    return std::move(*result);
  }

 private:
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<http::client::Client> client_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::shared_ptr<http::client::StopToken> stop_ = std::make_shared<http::client::StopToken>();
  std::vector<std::thread> threads_;
};

inline Endpoint parse_endpoint(const std::string& url) {
  auto endpoint = Endpoint::parse(Json(url));
  REQUIRE_MESSAGE(endpoint.has_value(), url);
  return *endpoint;
}

// HttpPeer against a live Divan server over the fixture's catalog. The members after PeerNode's
// are declared in destruction order: the client (and its calls) goes before the server, the
// server before the catalog.
struct HttpPeerFixture : PeerNode {
  static constexpr const char* kName = "HttpPeer";

  // Server options for the next start_server(): tests may change them before the first peer.
  http::server::ServerOptions server_options;
  std::unique_ptr<LiveServer> server;
  ClientSide side;
  HttpPeerOptions peer_options;

  ~HttpPeerFixture() {
    side.stop()->stop();  // nothing may keep the server's sessions busy while it drains
  }

  LiveServer& live() {
    if (!server) server = std::make_unique<LiveServer>(server_options, catalog, notifier);
    return *server;
  }

  std::unique_ptr<HttpPeer> make_http_peer(const std::string& db_name,
                                           const std::string& userinfo = {}) {
    return std::make_unique<HttpPeer>(side.client(),
                                      parse_endpoint(live().url(db_name, userinfo)),
                                      peer_options, side.stop());
  }
  std::unique_ptr<Peer> make_peer(const std::string& db_name) { return make_http_peer(db_name); }

  template <typename T>
  PeerResult<T> run(PeerTask<T> task) {
    return side.run(std::move(task));
  }
  template <typename T>
  std::future<PeerResult<T>> start(PeerTask<T> task) {
    return side.start(std::move(task));
  }
  template <typename T>
  static PeerResult<T> wait(std::future<PeerResult<T>>& future,
                            std::chrono::milliseconds within = kCallBound) {
    return ClientSide::wait(future, within);
  }
};

// LocalPeer over the fixture's catalog: the engine directly, calls on the same kind of strand.
// Writes run as a server admin, as a replication started by one does.
struct LocalPeerFixture : PeerNode {
  static constexpr const char* kName = "LocalPeer";

  ClientSide side;  // its io_context runs the calls; its client is unused

  ~LocalPeerFixture() { side.stop()->stop(); }

  std::unique_ptr<Peer> make_peer(const std::string& db_name) {
    return std::make_unique<LocalPeer>(catalog, notifier, db_name, engine::Writer::node(),
                                       side.stop());
  }

  template <typename T>
  PeerResult<T> run(PeerTask<T> task) {
    return side.run(std::move(task));
  }
  template <typename T>
  std::future<PeerResult<T>> start(PeerTask<T> task) {
    return side.start(std::move(task));
  }
  template <typename T>
  static PeerResult<T> wait(std::future<PeerResult<T>>& future,
                            std::chrono::milliseconds within = kCallBound) {
    return ClientSide::wait(future, within);
  }
};

// The fixtures the shared suite (peer_test.cpp) runs over: both Peers give the same answers.
#ifndef DIVAN_PEER_FIXTURES
#define DIVAN_PEER_FIXTURES HttpPeerFixture, LocalPeerFixture
#endif

}  // namespace divan::replicator::test
