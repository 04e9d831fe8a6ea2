// Executors for the replicator's background coroutines.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/strand.hpp>

namespace divan::replicator {

// A new strand that never runs a first step inline. The scheduler and the mesh spawn coroutines
// while holding their mutex, and each of those takes that mutex: on a plain io_context executor
// co_spawn could run the coroutine on the spot, on this thread, and deadlock on it.
inline boost::asio::any_io_executor fresh_strand(boost::asio::io_context& ioc) {
  return boost::asio::make_strand(
      boost::asio::require(ioc.get_executor(), boost::asio::execution::blocking.never));
}

}  // namespace divan::replicator
