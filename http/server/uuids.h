// Server-generated document ids and /_uuids, as CouchDB's default "sequential" algorithm makes them:
// a random 26-hex prefix plus a 6-hex suffix that grows by a random step, so ids created close in
// time sort close together (cheap appends to the id-ordered B-tree) yet stay unguessable: every
// random bit comes from the CSPRNG (engine/random.h), 104 of them per prefix.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/thread_annotations.h"
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
  std::string next() EXCLUDES(mutex_);

 private:
  static constexpr uint32_t kSuffixLimit = 0xfff000;  // leaves room for the last step
  // Random bytes are drawn this many at a time: one CSPRNG call per ~100 ids, not one per id.
  static constexpr size_t kPoolBytes = 256;

  void new_prefix() REQUIRES(mutex_);
  uint32_t random_step() REQUIRES(mutex_);
  unsigned char random_byte() REQUIRES(mutex_);

  const RandomBytes random_bytes_;
  Mutex mutex_;
  std::string prefix_ GUARDED_BY(mutex_);
  uint32_t suffix_ GUARDED_BY(mutex_) = kSuffixLimit;  // the limit forces a prefix on first use
  std::string pool_ GUARDED_BY(mutex_);  // random bytes, used up to pool_used_
  size_t pool_used_ GUARDED_BY(mutex_) = 0;
};

}  // namespace divan::http::server
