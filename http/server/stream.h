// Responses written in pieces while the handler runs: chunked transfer encoding for the changes
// feeds, or a known Content-Length for large attachment and multipart bodies (begin_fixed), plus a
// wait that ends when the handler is woken (a commit), a deadline passes
// (heartbeat or timeout), or the client goes away — so an idle feed holds no thread and notices a
// disconnect at once, not at its next heartbeat.
//
// Lives on the connection's strand; wake() is the only method that may be called from elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/server/request.h"

namespace divan::http::server {

// The completion token of the server's socket and timer waits: `co_await op(kNoThrow)` gives
// (error_code, result...) instead of throwing, so a client that goes away is a value, not an
// exception.
inline constexpr auto kNoThrow = boost::asio::as_tuple(boost::asio::use_awaitable);

template <typename T>
using StreamTask = boost::asio::awaitable<T>;

class ResponseStream {
 public:
  // Answers `req` on its connection (REQUIRES: req.connection() is set). The response keeps the
  // connection open only when the request asked for keep-alive, as the session then decides. A
  // HEAD request gets the headers only: see begin_fixed() and finish().
  explicit ResponseStream(const Request& req);

  // Sends the status line and headers (Transfer-Encoding: chunked). False if the client is gone.
  StreamTask<bool> begin(Response& header);
  // Sends the status line and headers with `Content-Length: content_length` (no chunking): for
  // bodies whose size is known up front (attachments, multipart documents). The writes that follow
  // must add up to exactly that many bytes; finish() then checks it. For HEAD, send the headers
  // with begin_fixed and call finish() without writing (a write is refused).
  StreamTask<bool> begin_fixed(Response& header, uint64_t content_length);
  // Sends one chunk (or, after begin_fixed, the raw bytes); empty data is skipped (an empty chunk
  // would end the body). After begin_fixed, bytes past content_length are not sent: false, and the
  // connection is unusable.
  StreamTask<bool> write(std::string_view data);
  // Ends the body: the last chunk, or after begin_fixed the check that exactly content_length
  // bytes went out (none at all for HEAD). True: the connection may serve its next
  // request; false: the client is gone or the body came out short or long (close the connection:
  // req.mark_streamed(false)).
  StreamTask<bool> finish();

  enum class WaitResult { kWoken, kDeadline, kClientGone };
  // Waits for wake(), the deadline, or the client closing its side. A wake() that came while the
  // handler was busy is not lost: the next wait returns kWoken at once.
  StreamTask<WaitResult> wait(std::chrono::steady_clock::time_point deadline);
  // A callback for changes::Notifier: thread-safe, only posts to this connection's strand.
  std::function<void()> waker();

  bool started() const { return started_; }
  bool finished() const { return finished_; }
  bool client_gone() const { return gone_; }

 private:
  struct Shared;  // what waker() callbacks may outlive the stream with
  // The status line and headers, chunked or with a Content-Length: begin() and begin_fixed().
  StreamTask<bool> send_header(Response& header, std::optional<uint64_t> content_length);

  boost::beast::tcp_stream& stream_;
  unsigned version_;
  bool keep_alive_;
  bool head_;  // HEAD: a fixed-length answer sends no body bytes
  std::shared_ptr<Shared> shared_;
  bool started_ = false;
  bool finished_ = false;
  bool gone_ = false;
  bool input_seen_ = false;  // the client sent bytes mid-feed: watch only the timer from then on
  bool fixed_ = false;       // begin_fixed: raw writes, counted against content_length_
  bool overrun_ = false;     // a write went past content_length_: the body can't end cleanly
  std::atomic<int>* idle_feeds_;  // Request::idle_feeds(): counted while wait() waits
  uint64_t content_length_ = 0;
  uint64_t written_ = 0;
};

}  // namespace divan::http::server
