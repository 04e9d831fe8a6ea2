#include "http/client/stop_token.h"

#include <algorithm>

namespace divan::http::client {

void StopToken::stop() {
  MutexLock lock(mu_);
  if (stopped_.exchange(true, std::memory_order_acq_rel)) return;
  // Under the lock, so a Registration being reset on another thread waits for its callback to
  // finish instead of racing it (the callbacks only post, so the lock is held briefly).
  for (auto& [id, callback] : callbacks_) callback();
  callbacks_.clear();
}

StopToken::Registration StopToken::on_stop(std::function<void()> callback) {
  {
    MutexLock lock(mu_);
    if (!stopped_.load(std::memory_order_acquire)) {
      uint64_t id = next_id_++;
      callbacks_.emplace_back(id, std::move(callback));
      return Registration(this, id);
    }
  }
  callback();
  return Registration();
}

StopToken::Registration& StopToken::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    reset();
    token_ = std::exchange(other.token_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void StopToken::Registration::reset() {
  if (!token_) return;
  MutexLock lock(token_->mu_);
  auto& callbacks = token_->callbacks_;
  auto it = std::find_if(callbacks.begin(), callbacks.end(),
                         [this](const auto& entry) { return entry.first == id_; });
  if (it != callbacks.end()) callbacks.erase(it);
  token_ = nullptr;
}

}  // namespace divan::http::client
