// Writes at a steady rate and rows read off live feeds, both timed: what the latency scenarios
// (repl-latency, mesh-latency) share.
//
// Thread-safety: the coroutines and what they fill belong to the thread running their io_context.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "changes_stream.h"
#include "http_call.h"
#include "stats.h"

namespace divan::bench {

struct RateWrites {
  explicit RateWrites(std::size_t count) : acked(count) {}
  std::vector<Clock::time_point> acked;  // when PUT i was answered; zero: it was not
  std::size_t written = 0;               // PUTs sent so far
  std::size_t failed = 0;
  std::string error;                     // the first failure
};

// PUTs a small document at `path_of(i)` every `every`, until `until` or every slot of
// writes.acked is used.
boost::asio::awaitable<void> write_at_rate(const Target& target,
                                           std::function<std::string(std::size_t)> path_of,
                                           RateWrites& writes, Clock::duration every,
                                           Clock::time_point until);

// Follows /<db>/_changes?feed=continuous&since=now on `target` until `feed` is closed, calling
// on_row(doc id, arrival) for each row; sets `error` when the feed cannot be opened.
boost::asio::awaitable<void> watch_rows(
    const Target& target, const std::string& db, ChangesStream& feed,
    std::function<void(std::string_view id, Clock::time_point arrival)> on_row, std::string& error);

}  // namespace divan::bench
