#include "http/server/uuids.h"

#include <mutex>
#include <random>

namespace divan::http::server {

namespace {

constexpr char kHex[] = "0123456789abcdef";

class SequentialUuids {
 public:
  std::string next() {
    std::lock_guard lock(mutex_);
    suffix_ += step_(rng_);
    if (suffix_ >= kSuffixLimit) new_prefix();
    std::string out = prefix_;
    for (int shift = 20; shift >= 0; shift -= 4) out.push_back(kHex[(suffix_ >> shift) & 0xf]);
    return out;
  }

 private:
  static constexpr uint32_t kSuffixLimit = 0xfff000;  // leaves room for the last step

  void new_prefix() {
    prefix_.clear();
    for (int i = 0; i < 26; ++i) prefix_.push_back(kHex[rng_() & 0xf]);
    suffix_ = rng_() & 0xfff;
  }

  std::mutex mutex_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_int_distribution<uint32_t> step_{1, 0xffe};
  std::string prefix_;
  uint32_t suffix_ = kSuffixLimit;  // forces a prefix on first use
};

}  // namespace

std::string next_uuid() {
  static SequentialUuids generator;
  return generator.next();
}

}  // namespace divan::http::server
