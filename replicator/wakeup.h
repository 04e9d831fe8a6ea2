// A wake-up a coroutine waits for: a commit the Notifier reports, a stop switch flipping. The
// callback (callback()) may run on any thread (the committing one, the one stopping a job); it
// only posts to the waiter's strand, where the flag and the timer live. Shared, because a late
// post may outlive the waiting frame.
//
// Thread-safety: callback() from any thread; wait() and the flag on the waiter's strand only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace divan::replicator {

class Wakeup : public std::enable_shared_from_this<Wakeup> {
 public:
  // `executor`: the waiter's strand.
  static std::shared_ptr<Wakeup> make(boost::asio::any_io_executor executor) {
    return std::shared_ptr<Wakeup>(new Wakeup(std::move(executor)));
  }

  // What a Notifier subscription or a StopToken gets: marks the wake-up and ends a wait.
  std::function<void()> callback() {
    return [self = shared_from_this()] {
      boost::asio::post(self->executor_, [self] {
        self->woken_ = true;
        self->timer_.cancel();
      });
    };
  }

  // Returns at once when a wake-up came since the last wait, else at the next one or after
  // `timeout`. Clears the mark either way.
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::duration timeout) {
    if (!woken_) {
      timer_.expires_after(timeout);
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    woken_ = false;
  }

 private:
  explicit Wakeup(boost::asio::any_io_executor executor)
      : executor_(std::move(executor)), timer_(executor_) {}

  boost::asio::any_io_executor executor_;
  boost::asio::steady_timer timer_;
  bool woken_ = false;
};

}  // namespace divan::replicator
