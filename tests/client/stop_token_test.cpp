// StopToken on its own: callbacks, registration lifetimes, threads.
#include <atomic>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "http/client/stop_token.h"

namespace divan::http::client {
namespace {

TEST_CASE("StopToken: stop() runs each registered callback once; later stops do nothing") {
  StopToken token;
  int runs = 0;
  auto registration = token.on_stop([&] { ++runs; });
  CHECK_FALSE(token.stopped());
  token.stop();
  token.stop();
  CHECK(token.stopped());
  CHECK(runs == 1);
}

TEST_CASE("StopToken: registering on a stopped token runs the callback at once") {
  StopToken token;
  token.stop();
  int runs = 0;
  auto registration = token.on_stop([&] { ++runs; });
  CHECK(runs == 1);
}

TEST_CASE("StopToken: a reset or destroyed registration never runs") {
  StopToken token;
  int runs = 0;
  auto kept = token.on_stop([&] { runs += 1; });
  auto reset = token.on_stop([&] { runs += 10; });
  {
    auto dropped = token.on_stop([&] { runs += 100; });
  }
  reset.reset();
  StopToken::Registration moved = std::move(kept);  // the move carries the registration
  token.stop();
  CHECK(runs == 1);
}

TEST_CASE("StopToken: registrations and stop() race from many threads safely") {
  for (int round = 0; round < 20; ++round) {
    StopToken token;
    std::atomic<int> runs{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 100; ++i) {
          auto registration = token.on_stop([&] { ++runs; });
        }
      });
    }
    token.stop();
    for (auto& thread : threads) thread.join();
    CHECK(token.stopped());
    CHECK(runs <= 400);
  }
}

}  // namespace
}  // namespace divan::http::client
