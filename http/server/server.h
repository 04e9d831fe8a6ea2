// The HTTP listener: one io_context run by N threads, one coroutine (on its own strand) per
// connection, HTTP/1.1 keep-alive, limits on body size and on idle or slow connections.
//
// Thread-safety: construct, start() and run() from one thread; stop() from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "http/server/handler.h"

namespace divan::replicator {
class Mesh;
class Scheduler;
}

namespace divan::http::server {

class AuthService;

struct ServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 5984;                     // 0: the kernel picks a free port
  size_t max_request_body = 64 << 20;       // larger bodies get 413
  // Bodies streamed to their handler (attachments, multipart documents: routes.h
  // streams_request_body) are never held whole in memory, so they get a limit of their own.
  // Larger ones get 413: at once for a Content-Length, from BodyReader::read_some() when chunked.
  // The attachment bytes a request stores are held to it too, counted decoded (a gzip upload or
  // part is bounded by what it inflates to) and summed over all of a multipart request's parts
  // (ServerContext::max_attachment_size).
  uint64_t max_attachment_size = uint64_t{1} << 30;
  size_t threads = 0;                       // 0: one per core
  // How long a connection may sit idle between requests, or take to send one request: bounds what
  // abandoned and slow clients (slowloris) can hold.
  std::chrono::seconds idle_timeout{120};
  std::chrono::seconds request_timeout{120};
  // A streamed body must also keep up an average rate: from `body_rate_grace` after its first byte
  // was asked for, at least `min_body_rate` bytes per second over the whole body so far, else the
  // connection is dropped as timed out. request_timeout bounds each read only, so a client sending
  // a byte a minute could otherwise hold a connection, its spool file and a slot for as long as
  // max_attachment_size allows. 16 KiB/s after 30 s refuses no real uplink (a modem-era 128 kbit/s
  // passes) yet bounds a trickle: it must send 16 KiB more for every second it stays. 0: off.
  std::chrono::seconds body_rate_grace{30};
  uint64_t min_body_rate = 16 * 1024;
  // Admins, sessions, _security and CORS (auth_service.h); null: no checks, everyone is admin.
  std::shared_ptr<AuthService> auth;
  // Tests only: answers every request in place of the route table (and of `auth`). null: routes.h.
  Handler route_override = nullptr;
  // The node's io_context, shared with the replicator and its HTTP client (tools/divan.cpp), so
  // everything runs on the same threads; null: the server makes its own (tests). run() runs it
  // on `threads` threads either way. It must outlive the Server.
  boost::asio::io_context* io_context = nullptr;
  // The node's replications (POST /_replicate, /_scheduler/*, /_active_tasks); null: none.
  replicator::Scheduler* scheduler = nullptr;
  // The node's sync mesh (/_mesh, /_mesh/peers); null: none.
  replicator::Mesh* mesh = nullptr;
};

class Server {
 public:
  // REQUIRES: `catalog` and `notifier` (the node's, subscribed to that catalog) outlive the Server.
  Server(ServerOptions options, engine::Catalog& catalog, changes::Notifier& notifier);
  ~Server();

  // Binds and listens; returns the bound port. Throws std::system_error when it cannot bind.
  uint16_t start();
  // Serves until stop() or SIGINT/SIGTERM; then stops accepting, lets in-flight requests finish
  // (bounded), and returns. The caller closes the catalog afterwards, which drains the writers.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace divan::http::server
