// One HTTP/1.1 connection to an origin (plain TCP or TLS) and one request/response exchange on it.
// Internal to http/client: client.cpp owns the pools and the slots, this file the bytes.
//
// Thread-safety: a Connection belongs to one request at a time (the pool hands it out under its
// lock). While it is in use everything it holds is touched only on its strand: exchange() runs
// there, and stop callbacks post abort() there. While it is idle in a pool nothing runs on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/client/client.h"

namespace divan::http::client::detail {

using Clock = std::chrono::steady_clock;

struct ResolveState;  // connection.cpp

struct Connection {
  // `tls_context` null: plain TCP. REQUIRES: `strand` is a strand; the context outlives this.
  Connection(boost::asio::any_io_executor strand, boost::asio::ssl::context* tls_context);
  ~Connection();

  boost::beast::tcp_stream& tcp() { return tls ? boost::beast::get_lowest_layer(*tls) : *plain; }
  // Strand only: ends whatever the current exchange is doing (it fails with kCancelled).
  void abort();
  // Closes the socket. On the strand, or while no exchange runs (idle in a pool).
  void close();

  const boost::asio::any_io_executor strand;
  std::optional<boost::beast::tcp_stream> plain;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;
  boost::beast::flat_buffer buffer;  // read buffer, kept across the responses of one connection
  bool open = false;                 // connected (and TLS handshake done): a reused connection
  Clock::time_point idle_since{};    // guarded by the pool's lock while idle
  // Strand only, reset by each exchange:
  bool aborted = false;
  std::shared_ptr<ResolveState> resolving;  // while a DNS lookup runs
};

// What the connection needs to know of the client's options.
struct ExchangeSettings {
  bool verify_peer = true;
  uint64_t max_response_body = 0;
  std::string user_agent;
};

// The outcome of one attempt.
struct Attempt {
  Result<Response> result;  // the response as received (body still encoded)
  bool reusable = false;    // the connection may carry another request (keep-alive, fully read)
  // It failed on a reused connection before any response byte arrived (the server closed it
  // while idle): the caller may retry once on a fresh connection.
  bool retry = false;
};

// Connects (resolve, TCP, TLS) unless the connection is open, sends `request` and reads the
// response, all before `deadline`. Runs on conn->strand (co_spawn it there). Ends promptly with
// kCancelled when request.stop or `shutdown` is stopped. When the result is not reusable the
// connection is closed. REQUIRES: origin, request, settings and shutdown outlive the coroutine.
boost::asio::awaitable<Attempt> exchange(std::shared_ptr<Connection> conn, const Origin& origin,
                                         const Request& request, Clock::time_point deadline,
                                         const ExchangeSettings& settings, StopToken& shutdown);

// "http://127.0.0.1:5984 GET /db/_changes: " — the prefix of every error message.
std::string describe(const Origin& origin, const Request& request);

}  // namespace divan::http::client::detail
