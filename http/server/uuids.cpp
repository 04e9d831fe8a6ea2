#include "http/server/uuids.h"

#include <stdexcept>

#include "base/hex.h"

namespace divan::http::server {

std::string next_uuid() {
  static SequentialUuids generator;
  return generator.next();
}

std::string SequentialUuids::next() {
  MutexLock lock(mutex_);
  suffix_ += random_step();
  if (suffix_ >= kSuffixLimit) new_prefix();
  std::string out = prefix_;
  for (int shift = 16; shift >= 0; shift -= 8) append_hex(out, (suffix_ >> shift) & 0xff);
  return out;
}

// 13 random bytes: the 26 hex digits every id shares until the suffix runs out.
void SequentialUuids::new_prefix() {
  prefix_.clear();
  for (int i = 0; i < 13; ++i) append_hex(prefix_, random_byte());
  suffix_ = random_step();  // as CouchDB's couch_uuids starts one
}

// 1..0xffe, as CouchDB's sequential algorithm steps; rejection keeps it uniform.
uint32_t SequentialUuids::random_step() {
  for (;;) {
    const uint32_t r = (uint32_t{random_byte()} << 8 | random_byte()) & 0xfff;
    if (r >= 1 && r <= 0xffe) return r;
  }
}

unsigned char SequentialUuids::random_byte() {
  if (pool_used_ == pool_.size()) {
    pool_ = random_bytes_(kPoolBytes);
    pool_used_ = 0;
    if (pool_.empty()) throw std::runtime_error("uuids: no random bytes");
  }
  return static_cast<unsigned char>(pool_[pool_used_++]);
}

}  // namespace divan::http::server
