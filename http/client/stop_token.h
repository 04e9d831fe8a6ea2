// A stop switch for a group of HTTP requests (in Divan: every request of one replication job).
// stop() ends each request that carries it with ErrorKind::kCancelled: in flight (its connection
// is closed), waiting for a connection slot, or sent later (refused at once). A switch only goes
// one way: a stopped token stays stopped.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "base/thread_annotations.h"

namespace divan::http::client {

class StopToken {
 public:
  StopToken() = default;
  StopToken(const StopToken&) = delete;
  StopToken& operator=(const StopToken&) = delete;

  // Flips the switch and runs every registered callback on this thread before returning. Later
  // calls do nothing.
  void stop();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

  // Keeps a callback registered for as long as it lives (see on_stop). Move-only.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept
        : token_(std::exchange(other.token_, nullptr)), id_(other.id_) {}
    Registration& operator=(Registration&& other) noexcept;
    ~Registration() { reset(); }
    // Unregisters now. When it returns the callback is not running and never will.
    void reset();

   private:
    friend class StopToken;
    Registration(StopToken* token, uint64_t id) : token_(token), id_(id) {}
    StopToken* token_ = nullptr;
    uint64_t id_ = 0;
  };

  // Registers `callback` to run once, when stop() is called; if the token is already stopped it
  // runs at once, on this thread, and the Registration returned is empty. Callbacks run while the
  // token's lock is held (that is what makes Registration::reset() final): they must be quick,
  // must not block and must not call this token. Posting to an executor is the intended use.
  // REQUIRES: the token outlives the Registration.
  [[nodiscard]] Registration on_stop(std::function<void()> callback);

 private:
  mutable Mutex mu_;
  std::atomic<bool> stopped_{false};
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_ GUARDED_BY(mu_);
};

}  // namespace divan::http::client
