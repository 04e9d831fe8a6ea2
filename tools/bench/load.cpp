#include "load.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <random>

#include "interrupt.h"

namespace divan::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

class LoadRun {
 public:
  LoadRun(const Target& target, const Workload& workload, const LoadConfig& config)
      : target_(target), workload_(workload), config_(config), watchdog_(ioc_) {
    for (int i = 0; i < config.clients; ++i) sockets_.emplace_back(ioc_);
    // Enough room that recording never reallocates in the common case (~50k req/s for the window).
    result_.latencies.reserve(static_cast<std::size_t>(Seconds(config.measure).count() * 50000));
  }

  LoadResult run() {
    window_ = Window::starting_now(config_.warmup, config_.measure);
    live_clients_ = sockets_.size();
    for (std::size_t i = 0; i < sockets_.size(); ++i) {
      asio::co_spawn(ioc_, client(i), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);  // no I/O throws here (redirect_error): only bad_alloc & co
      });
    }
    watchdog_.expires_at(window_.end + config_.grace);
    watchdog_.async_wait([this](beast::error_code ec) {
      if (!ec) abandon_in_flight();
    });
    ioc_.run();
    result_.window = window_.covered_at(Clock::now());  // shorter only when interrupted
    return std::move(result_);
  }

 private:
  asio::awaitable<void> client(std::size_t index) {
    tcp::socket& socket = sockets_[index];
    beast::flat_buffer buffer;  // (Must persist between reads: it may hold bytes of the next answer)
    http::response<http::string_body> res;
    std::minstd_rand rng(static_cast<std::minstd_rand::result_type>(index + 1));
    std::uniform_int_distribution<std::size_t> any(0, std::max<std::size_t>(1, workload_.requests.size()) - 1);
    // Staggered starting points so clients do not send the same body in lockstep.
    std::size_t next = workload_.requests.empty() ? 0 : index * workload_.requests.size() / sockets_.size();
    std::string generated;  // this client's request when the workload generates them

    while (Clock::now() < window_.end && !interrupted()) {
      if (!socket.is_open() && !co_await connect(socket)) continue;
      if (workload_.generate) workload_.generate(generated_++, generated);
      const std::string& request = workload_.generate ? generated
                                   : workload_.random ? workload_.requests[any(rng)]
                                                      : workload_.requests[next++ % workload_.requests.size()];
      beast::error_code ec;
      const Clock::time_point start = Clock::now();
      co_await asio::async_write(socket, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
      res = {};  // a parser adds to the message it is given: start from an empty one
      if (!ec) co_await http::async_read(socket, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
      const Clock::time_point stop = Clock::now();
      if (ec) {
        on_io_error(stop, ec);
        reset(socket, buffer);
        continue;
      }
      record(start, stop, res);
      if (!res.keep_alive()) reset(socket, buffer);
    }
    beast::error_code ignored;
    socket.close(ignored);  // an open socket now means a request in flight (see abandon_in_flight)
    if (--live_clients_ == 0) watchdog_.cancel();
  }

  // Opens the client's connection; after a failure waits a little so a refusing server is not spun on.
  asio::awaitable<bool> connect(tcp::socket& socket) {
    beast::error_code ec;
    co_await socket.async_connect(target_.endpoint, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);  // small requests must not wait for Nagle
      co_return true;
    }
    on_io_error(Clock::now(), ec);
    socket.close(ec);
    asio::steady_timer pause(ioc_, std::chrono::milliseconds(10));
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return false;
  }

  void reset(tcp::socket& socket, beast::flat_buffer& buffer) {
    beast::error_code ignored;
    socket.close(ignored);
    buffer.clear();
    ++result_.reconnects;
  }

  void record(Clock::time_point start, Clock::time_point stop, const http::response<http::string_body>& res) {
    const bool ok = res.result_int() / 100 == 2 &&
                    !(workload_.error_in_body_fails && res.body().find("\"error\"") != std::string::npos);
    if (ok) ++result_.acked_total;
    if (!window_.contains(stop)) return;
    if (ok) {
      ++result_.ok;
      result_.latencies.add(stop - start);
      return;
    }
    ++result_.errors;
    if (result_.first_error.empty()) {
      result_.first_error = "HTTP " + std::to_string(res.result_int()) + " " + res.body().substr(0, 160);
    }
  }

  void on_io_error(Clock::time_point when, const beast::error_code& ec) {
    if (!window_.contains(when)) return;
    ++result_.errors;
    if (result_.first_error.empty()) result_.first_error = "I/O error: " + ec.message();
  }

  // The window closed `grace` ago and some clients are still waiting: close their sockets so their
  // reads fail and the loops end.
  void abandon_in_flight() {
    for (tcp::socket& socket : sockets_) {
      if (!socket.is_open()) continue;
      beast::error_code ignored;
      socket.close(ignored);
      ++result_.abandoned;
    }
  }

  const Target& target_;
  const Workload& workload_;
  const LoadConfig config_;
  asio::io_context ioc_;
  std::vector<tcp::socket> sockets_;  // one per client; here so the watchdog can close them
  asio::steady_timer watchdog_;
  Window window_;
  std::size_t live_clients_ = 0;
  std::uint64_t generated_ = 0;  // the next request number for Workload::generate
  LoadResult result_;
};

}  // namespace

LoadResult run_load(const Target& target, const Workload& workload, const LoadConfig& config) {
  if ((workload.requests.empty() && !workload.generate) || config.clients <= 0) return {};
  return LoadRun(target, workload, config).run();
}

}  // namespace divan::bench
