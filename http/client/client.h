// The HTTP/1.1 client the replicator talks to its peers with. It knows nothing of CouchDB: it sends
// a request to an origin and returns the complete response (status, headers, body), or says why
// there is none.
//
// - Asynchronous: send() is a coroutine on the executor the Client was given (the node's
//   io_context, run by several threads). The client has no thread of its own; each connection
//   does its I/O on a strand of its own.
// - Keep-alive pools, one per Origin: an idle connection is reused (most recently used first),
//   closed after ClientOptions::idle_timeout, and never shared by two requests at once. Responses
//   with `Connection: close`, HTTP/1.0 ones without `Connection: keep-alive`, and bodies that end
//   with the connection are honoured: such a connection is not reused.
// - Bounded concurrency: at most max_connections_per_origin requests (long-poll ones aside) are in
//   flight to one origin; later ones wait their turn, first come first served.
// - A timeout on every request bounds all of it: the wait for a slot, name resolution, connect,
//   TLS handshake, sending, and reading the whole response. Expiry ends it with kTimeout and
//   closes its connection.
// - TLS for https peers (OpenSSL): SNI, certificate and host name verification, on by default.
// - gzip and deflate response bodies are decoded; `Accept-Encoding: gzip` is sent.
// - RETRIES: a request sent on a reused keep-alive connection that fails before a single response
//   byte arrived (the server closed the connection while it sat idle: a race HTTP/1.1 allows,
//   RFC 9112 §9.3.1) is sent once more on a fresh connection. So the server may see a request
//   twice when it processed it and then dropped the connection without answering. The
//   replicator's requests are idempotent (GET, HEAD, _revs_diff, _bulk_get, _bulk_docs with
//   new_edits=false) or safe to repeat (a _local checkpoint PUT repeated after it was applied
//   answers 409 conflict, which the caller then sees instead of 201); callers that send other
//   non-idempotent requests through this client must accept that.
//
// Thread-safety: a Client is shared by every replication job of a node; send() and shutdown() may
// be called from any thread or strand, concurrently. Errors never throw out of send() (only
// std::bad_alloc can): they are TransportError values. An HTTP error status is not a transport
// error: it is a Response.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <tl/expected.hpp>

#include "http/client/stop_token.h"

namespace divan::http::client {

namespace bhttp = boost::beast::http;

// Where requests go: scheme, host and port (replicator/endpoint.h makes one from a URL). Origins
// that compare equal share a connection pool.
struct Origin {
  bool tls = false;  // https
  std::string host;  // DNS name or IP literal (an IPv6 one without brackets)
  uint16_t port = 80;

  // "http://host:port" ("https://[::1]:6984"): for logs and error messages.
  std::string str() const;
  // The `Host` header's value: host, bracketed if IPv6, with ":port" unless it is the scheme's
  // default (RFC 9110 §7.2).
  std::string host_header() const;

  friend auto operator<=>(const Origin&, const Origin&) = default;
};

struct Request {
  bhttp::verb method = bhttp::verb::get;
  std::string target = "/";  // origin-form: path and query, already percent-encoded
  // Extra header fields, sent as given after the client's own (Authorization, Content-Type,
  // Accept, …). One given here replaces the client's Host, User-Agent or Accept-Encoding;
  // Content-Length and Transfer-Encoding are the client's to write and are dropped. A name that
  // is not an HTTP token or a value holding CR, LF or NUL fails the request with kProtocol
  // before anything is sent (header injection).
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent with Content-Length (also when empty, for POST, PUT and PATCH).
  std::string body;
  // Bounds the whole exchange: waiting for a slot, resolve, connect, handshake, send, and reading
  // the full response. Zero or less: kTimeout at once.
  std::chrono::milliseconds timeout{30000};
  // A request that may legitimately stay open for long (a longpoll or continuous _changes feed):
  // it does not take one of the origin's max_connections_per_origin slots, so a job's feed never
  // starves its own workers. It still gets its own connection (from the pool, if one is idle).
  bool long_poll = false;
  // Optional: stop() ends this request at once with kCancelled, wherever it is.
  std::shared_ptr<StopToken> stop;
  // The body as received, its Content-Encoding kept: for bytes wanted exactly as a server stores
  // them (a gzip-stored attachment, whose digest names the gzip bytes).
  bool keep_content_encoding = false;
};

struct Response {
  unsigned status = 0;
  // As received, except that a decoded body loses its Content-Encoding and gets the decoded
  // Content-Length (Request::keep_content_encoding: none is decoded).
  bhttp::fields headers;
  std::string body;  // complete, gzip/deflate decoded; empty for HEAD
};

enum class ErrorKind {
  kResolve,         // the host name did not resolve
  kConnect,         // no TCP connection: refused, unreachable
  kTimeout,         // Request::timeout passed (waiting for a slot included)
  kTls,             // TLS handshake failed, certificate or host name not trusted, bad ca_file
  kConnectionLost,  // reset or closed before the response was complete
  kProtocol,        // malformed response, unsupported Content-Encoding, corrupt gzip, bad header
  kTooLarge,        // the response body (decoded) or its header passed the limits
  kCancelled,       // the request's StopToken, or Client::shutdown()
};

// "resolve", "connect", "timeout", "tls", "connection_lost", "protocol", "too_large", "cancelled".
std::string_view name(ErrorKind kind);

struct TransportError {
  ErrorKind kind = ErrorKind::kConnectionLost;
  // One line for logs: what failed, the method, origin and target, and the system's reason.
  // Holds no credentials (none are in an Origin or a target; header values are never quoted).
  std::string message;
};

template <typename T>
using Result = tl::expected<T, TransportError>;

struct ClientOptions {
  // Bounded concurrency: requests in flight to one origin, long-poll ones not counted (0 means
  // 1). CouchDB's replicator defaults to 20 connections per job; 32 leaves room for two jobs on
  // one peer.
  size_t max_connections_per_origin = 32;
  // Idle keep-alive connections kept per origin. Worker bursts come and go; 8 keeps the common
  // case (a handful of workers) from reconnecting without holding many sockets open.
  size_t max_idle_per_origin = 8;
  // An idle connection is closed after this long: servers drop idle ones themselves (CouchDB
  // after 5 minutes, common proxies after 60 s), and using one they are closing costs a retry.
  std::chrono::milliseconds idle_timeout{30000};
  // The largest response body accepted, counted both as received and decoded (a gzip bomb).
  uint64_t max_response_body = uint64_t{1} << 30;
  std::string user_agent = "Divan/0.1";
  // TLS: verify the peer's certificate chain and that it names Origin::host. false accepts any
  // certificate: UNSAFE (anyone on the path can read and change the traffic); for tests and
  // self-signed peers the operator chose to trust blindly.
  bool verify_peer = true;
  // PEM file of the CAs to trust; empty: the system's default paths. A file that cannot be read
  // fails every https request with kTls (and says why) rather than the constructor.
  std::string ca_file;
};

class Client {
 public:
  // Every request runs on `executor` (strands are made from it). The executor's context must
  // outlive the Client and every send() still running.
  Client(boost::asio::any_io_executor executor, ClientOptions options);
  // Calls shutdown().
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The executor given at construction: what callers may run their own CPU work on (the
  // replicator parses fetched documents there, off its job's strand).
  const boost::asio::any_io_executor& executor() const;

  // Sends `request` to `origin` and returns its complete response, or the TransportError that
  // ended it. Any HTTP status is a Response. Resumes on the awaiting coroutine's executor.
  // Takes origin and request by value: the coroutine keeps them for as long as it runs.
  [[nodiscard]] boost::asio::awaitable<Result<Response>> send(Origin origin, Request request);

  // Closes every idle connection, ends in-flight and waiting requests with kCancelled (promptly:
  // their sockets are closed), and refuses later ones the same way. Idempotent. While idle
  // connections exist the client keeps one timer pending on the executor (to close them after
  // idle_timeout); after shutdown() it keeps none, so an io_context runs out of work.
  void shutdown();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the coroutines still running
};

}  // namespace divan::http::client
