// Responses written in pieces while the handler runs (the changes feeds): chunked transfer
// encoding, plus a wait that ends when the handler is woken (a commit), a deadline passes
// (heartbeat or timeout), or the client goes away — so an idle feed holds no thread and notices a
// disconnect at once, not at its next heartbeat.
//
// Lives on the connection's strand; wake() is the only method that may be called from elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/server/request.h"

namespace divan::http {

template <typename T>
using StreamTask = boost::asio::awaitable<T>;

class ResponseStream {
 public:
  ResponseStream(boost::beast::tcp_stream& stream, unsigned http_version);

  // Sends the status line and headers (Transfer-Encoding: chunked). False if the client is gone.
  StreamTask<bool> begin(Response& header);
  // Sends one chunk; empty data is skipped (an empty chunk would end the body).
  StreamTask<bool> write(std::string_view data);
  // Ends the body (last chunk). The connection may then serve its next request.
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
  boost::beast::tcp_stream& stream_;
  unsigned version_;
  std::shared_ptr<Shared> shared_;
  bool started_ = false;
  bool finished_ = false;
  bool gone_ = false;
  bool input_seen_ = false;  // the client sent bytes mid-feed: watch only the timer from then on
};

}  // namespace divan::http
