// The server under test and the blocking HTTP calls used to set up scenarios (create databases,
// preload documents, read the version). The load itself goes through load.h.
//
// Thread-safety: call() is self-contained (its own io_context); call it from any one thread.
// async_call() runs on the awaiting coroutine's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace divan::bench {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// Where requests go, plus the headers every request carries.
struct Target {
  tcp::endpoint endpoint;
  std::string host;           // Host header: "127.0.0.1:5984"
  std::string authorization;  // "Basic …" from the URL's user:password@, or empty
};

// Parses "http://[user:password@]host[:port][/]" and resolves host. Returns nullopt with `error`
// set when the URL is malformed, not http, or does not resolve.
std::optional<Target> make_target(std::string_view url, std::string& error);

// A whole HTTP/1.1 keep-alive request as it goes on the wire, so the load loop only writes bytes.
// A non-empty body is sent as `content_type`.
std::string serialise_request(const Target& target, http::verb method, std::string_view path,
                              std::string_view body = {}, std::string_view content_type = "application/json");


struct Response {
  unsigned status = 0;  // 0 when the exchange failed before a status line
  std::string body;
  std::string error;    // I/O error text when status == 0

  bool ok() const { return status / 100 == 2; }
  // "HTTP 404 {"error":"not_found",…}" or the I/O error, cut to a readable length.
  std::string describe() const;
};

// One request on a fresh connection, bounded by `timeout` end to end.
Response call(const Target& target, http::verb method, std::string_view path, std::string_view body = {},
              std::chrono::seconds timeout = std::chrono::seconds(60));

// The same from a coroutine, on its own executor, so the thread keeps serving other sockets.
boost::asio::awaitable<Response> async_call(const Target& target, http::verb method, std::string_view path,
                                            std::string_view body = {},
                                            std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace divan::bench
