#include "http/server/stream.h"

#include <sys/socket.h>

#include <cerrno>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "http/server/response.h"

namespace divan::http::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace asio::experimental::awaitable_operators;
// A client that cannot take a chunk for this long is treated as gone.
constexpr auto kWriteTimeout = std::chrono::seconds(30);

enum class Peek { kClosed, kData, kNothing };

// What is waiting on a socket, without consuming it or blocking.
Peek peek(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return Peek::kData;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Peek::kNothing;
  return Peek::kClosed;  // orderly shutdown (0) or an error such as a reset
}

struct ResponseStream::Shared {
  explicit Shared(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  std::atomic<bool> woken{false};
};

ResponseStream::ResponseStream(const Request& req)
    : stream_(*req.connection()),
      version_(req.version()),
      keep_alive_(req.keep_alive()),
      head_(req.method() == bhttp::verb::head),
      shared_(std::make_shared<Shared>(stream_.get_executor())),
      idle_feeds_(req.idle_feeds()) {}

StreamTask<bool> ResponseStream::send_header(Response& header,
                                             std::optional<uint64_t> content_length) {
  started_ = true;
  bhttp::response<bhttp::empty_body> res{header.result(), version_};
  for (const auto& field : header) res.set(field.name_string(), field.value());
  if (content_length) {
    res.erase(bhttp::field::transfer_encoding);
    res.content_length(*content_length);
  } else {
    res.chunked(true);
  }
  res.set(bhttp::field::server, kServerHeader);
  // Saying keep-alive and then closing makes clients that pool sockets (Node ≥ 19) send their
  // next request into a closed connection.
  res.keep_alive(keep_alive_);
  stream_.expires_after(kWriteTimeout);
  // Header only: serializing the whole (empty) message would also send the last chunk, or count a
  // Content-Length message as complete. The same bytes answer HEAD, which then writes nothing more.
  bhttp::response_serializer<bhttp::empty_body> serializer{res};
  auto [ec, n] = co_await bhttp::async_write_header(stream_, serializer, kNoThrow);
  if (ec) gone_ = true;
  co_return !gone_;
}

StreamTask<bool> ResponseStream::begin(Response& header) {
  return send_header(header, std::nullopt);
}

StreamTask<bool> ResponseStream::begin_fixed(Response& header, uint64_t content_length) {
  fixed_ = true;
  content_length_ = content_length;
  return send_header(header, content_length);
}

StreamTask<bool> ResponseStream::write(std::string_view data) {
  if (gone_ || overrun_) co_return false;
  if (data.empty()) co_return true;
  stream_.expires_after(kWriteTimeout);
  beast::error_code ec;
  if (fixed_) {
    // Bytes past the announced length (any, for HEAD) would be read as the next response.
    if (head_ || data.size() > content_length_ - written_) {
      overrun_ = true;
      co_return false;
    }
    std::tie(ec, std::ignore) = co_await asio::async_write(stream_, asio::buffer(data), kNoThrow);
    written_ += data.size();
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(data)), kNoThrow);
  }
  if (ec) gone_ = true;
  co_return !gone_;
}

StreamTask<bool> ResponseStream::finish() {
  if (gone_ || overrun_) co_return false;
  if (fixed_) {
    // Nothing to send: Content-Length delimits the body, which HEAD announces but never sends.
    finished_ = written_ == (head_ ? 0 : content_length_);
    co_return finished_;
  }
  stream_.expires_after(kWriteTimeout);
  auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk_last(), kNoThrow);
  if (ec) gone_ = true;
  finished_ = !gone_;
  co_return finished_;
}

StreamTask<ResponseStream::WaitResult> ResponseStream::wait(
    std::chrono::steady_clock::time_point deadline) {
  if (gone_) co_return WaitResult::kClientGone;
  if (shared_->woken.exchange(false)) co_return WaitResult::kWoken;
  // Idle while waiting: a shutting-down server does not wait for this request to end.
  struct IdleMark {
    std::atomic<int>* counter;
    explicit IdleMark(std::atomic<int>* c) : counter(c) { if (counter) ++*counter; }
    ~IdleMark() { if (counter) --*counter; }
  } idle(idle_feeds_);
  shared_->timer.expires_at(deadline);
  stream_.expires_never();
  auto& socket = stream_.socket();
  for (bool watch_socket = !input_seen_;;) {
    if (!watch_socket) {
      co_await shared_->timer.async_wait(kNoThrow);
      break;
    }
    // Readable while we only write means the client closed, or sent bytes a feed never reads.
    auto outcome = co_await (shared_->timer.async_wait(kNoThrow) ||
                             socket.async_wait(asio::ip::tcp::socket::wait_read, kNoThrow));
    if (outcome.index() == 0) break;
    switch (peek(socket.native_handle())) {
      case Peek::kClosed:
        gone_ = true;
        co_return WaitResult::kClientGone;
      case Peek::kData:  // e.g. a pipelined request: stop watching, it is read after the feed
        input_seen_ = true;
        watch_socket = false;
        break;
      case Peek::kNothing:  // the reactor may report readiness that is not there: wait again
        break;
    }
  }
  if (shared_->woken.exchange(false)) co_return WaitResult::kWoken;
  co_return std::chrono::steady_clock::now() >= deadline ? WaitResult::kDeadline
                                                         : WaitResult::kWoken;
}

std::function<void()> ResponseStream::waker() {
  std::weak_ptr<Shared> weak = shared_;
  auto executor = stream_.get_executor();
  return [weak, executor] {
    auto shared = weak.lock();
    if (!shared) return;
    shared->woken = true;
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) s->timer.cancel();
    });
  };
}

}  // namespace divan::http::server
