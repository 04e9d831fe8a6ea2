// Database::submit() as an Asio awaitable, for coroutine callers (HTTP handlers, replication
// jobs): `co_await async_write(db, ops, writer)` hands the ops to the database's writer and resumes
// the coroutine on its own executor once they committed, never on the writer thread, so an io
// thread never waits on an fsync.
//
// The one engine header that names Asio; it is header-only, so the engine library itself stays
// free of it.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "engine/database.h"

namespace divan::engine {

inline boost::asio::awaitable<Result<std::vector<WriteOutcome>>> async_write(
    Database& db, std::vector<WriteOp> ops, Writer writer = Writer::node()) {
  namespace asio = boost::asio;
  using WriteResult = Result<std::vector<WriteOutcome>>;
  auto initiate = [&db](auto handler, std::vector<WriteOp> ops, Writer writer) {
    // The writer's completion is a copyable std::function; the coroutine's handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    db.submit(
        std::move(ops),
        [shared](WriteResult result) {
          auto executor = asio::get_associated_executor(*shared);
          asio::post(executor, [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
        },
        std::move(writer));
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(WriteResult)>(
      initiate, asio::use_awaitable, std::move(ops), std::move(writer));
}

}  // namespace divan::engine
