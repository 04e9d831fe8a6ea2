// Server-generated document ids and /_uuids, as CouchDB's default "sequential" algorithm makes them:
// a random 26-hex prefix plus a 6-hex suffix that grows by a random step, so ids created close in
// time sort close together (cheap appends to the id-ordered B-tree) yet stay unguessable: every
// random bit comes from the CSPRNG (engine/random.h), 104 of them per prefix.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "engine/random.h"

namespace divan::http::server {

// The node's generator (one per process).
std::string next_uuid();

// The generator behind next_uuid(). `random_bytes` supplies every random bit: the CSPRNG, or a
// fixed source in tests. Thread-safe.
class SequentialUuids {
 public:
  using RandomBytes = std::string (*)(size_t size);
  explicit SequentialUuids(RandomBytes random_bytes = engine::random_bytes)
      : random_bytes_(random_bytes) {}

  // 32 lowercase hex characters.
  std::string next();

 private:
  static constexpr uint32_t kSuffixLimit = 0xfff000;  // leaves room for the last step
  // Random bytes are drawn this many at a time: one CSPRNG call per ~100 ids, not one per id.
  static constexpr size_t kPoolBytes = 256;

  // REQUIRES: mutex_ is held (all three).
  void new_prefix();
  uint32_t random_step();
  unsigned char random_byte();

  const RandomBytes random_bytes_;
  std::mutex mutex_;
  std::string prefix_;              // GUARDED_BY(mutex_)
  uint32_t suffix_ = kSuffixLimit;  // GUARDED_BY(mutex_); the limit forces a prefix on first use
  std::string pool_;                // GUARDED_BY(mutex_): random bytes not used yet, from pool_used_
  size_t pool_used_ = 0;            // GUARDED_BY(mutex_)
};

}  // namespace divan::http::server
