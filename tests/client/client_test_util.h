// Shared by the client tests: the client side of a test (an io_context run by two threads, as the
// node runs it, and a Client on it) and zlib helpers that make gzip and deflate bodies.
#pragma once

#include <zlib.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

#include "http/client/client.h"

namespace divan::http::client::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A Client on an io_context with two threads of its own. On destruction it shuts the client down
// and then requires the io_context to run out of work by itself: a client that was shut down must
// leave no timer, socket operation or coroutine behind.
class ClientSide {
 public:
  explicit ClientSide(ClientOptions options = {})
      : work_(boost::asio::make_work_guard(ioc_)),
        client_(std::make_unique<Client>(ioc_.get_executor(), std::move(options))) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  ~ClientSide() {
    client_->shutdown();
    client_.reset();
    work_.reset();
    const auto until = Clock::now() + 2s;
    while (!ioc_.stopped() && Clock::now() < until) std::this_thread::sleep_for(2ms);
    CHECK_MESSAGE(ioc_.stopped(), "the io_context kept work after Client::shutdown()");
    ioc_.stop();
    for (auto& thread : threads_) thread.join();
  }

  Client& client() { return *client_; }
  boost::asio::io_context& ioc() { return ioc_; }

  // Starts a send() on the io_context.
  std::future<Result<Response>> start(Origin origin, Request request) {
    return boost::asio::co_spawn(ioc_, client_->send(std::move(origin), std::move(request)),
                                 boost::asio::use_future);
  }

  // Sends and waits for the result, at most `within`.
  Result<Response> send(Origin origin, Request request, std::chrono::milliseconds within = 5s) {
    auto future = start(std::move(origin), std::move(request));
    return wait(future, within);
  }

  static Result<Response> wait(std::future<Result<Response>>& future,
                               std::chrono::milliseconds within = 5s) {
    REQUIRE_MESSAGE(future.wait_for(within) == std::future_status::ready,
                    "send() did not complete in time");
    return future.get();
  }

 private:
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<Client> client_;
  std::vector<std::thread> threads_;
};

inline Origin local_origin(uint16_t port, bool tls = false) {
  return Origin{tls, "127.0.0.1", port};
}

inline Request get(std::string target, std::chrono::milliseconds timeout = 5s) {
  Request request;
  request.target = std::move(target);
  request.timeout = timeout;
  return request;
}

// `window_bits` as deflateInit2 takes them: 16 + 15 gzip, 15 zlib, -15 raw deflate.
inline std::string compress(const std::string& data, int window_bits,
                            int level = Z_BEST_COMPRESSION) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}
inline std::string gzip(const std::string& data) { return compress(data, 16 + 15); }
inline std::string zlib_deflate(const std::string& data) { return compress(data, 15); }
inline std::string raw_deflate(const std::string& data) { return compress(data, -15); }

}  // namespace divan::http::client::test
