#include "live_writes.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "interrupt.h"

namespace divan::bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> write_at_rate(const Target& target,
                                    std::function<std::string(std::size_t)> path_of,
                                    RateWrites& writes, Clock::duration every,
                                    Clock::time_point until) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto next = Clock::now();
  for (std::size_t i = 0; i < writes.acked.size() && Clock::now() < until && !interrupted(); ++i) {
    timer.expires_at(next);
    co_await timer.async_wait(asio::use_awaitable);
    next += every;
    const Response r = co_await async_call(target, http::verb::put, path_of(i),
                                           R"({"text":"lorem ipsum dolor sit amet"})", 30s);
    writes.written = i + 1;
    if (!r.ok()) {
      ++writes.failed;
      if (writes.error.empty()) writes.error = r.describe();
      continue;
    }
    writes.acked[i] = Clock::now();
  }
}

asio::awaitable<void> watch_rows(
    const Target& target, const std::string& db, ChangesStream& feed,
    std::function<void(std::string_view id, Clock::time_point arrival)> on_row, std::string& error) {
  const std::string request = serialise_request(
      target, http::verb::get, "/" + db + "/_changes?feed=continuous&since=now&heartbeat=10000");
  if (auto ec = co_await feed.open(target, request, 10s); ec || feed.status() != 200) {
    error = ec ? ec.message() : feed.describe();
    co_return;
  }
  LineSplitter lines;
  co_await feed.read_body(
      [&](std::string_view piece) {
        const auto now = Clock::now();
        lines.feed(piece, [&](std::string_view line) { on_row(row_id(line), now); });
      },
      std::nullopt);
}

}  // namespace divan::bench
