#include "engine/random.h"

#include <stdexcept>

#include <openssl/rand.h>

#include "base/hex.h"

namespace divan::engine {

std::string random_bytes(size_t size) {
  std::string out(size, '\0');
  // RAND_bytes takes an int; nothing here asks for more than a few hundred bytes.
  if (size > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                             static_cast<int>(size)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return out;
}

std::string random_hex(size_t size) { return to_hex(random_bytes(size)); }

std::string random_uuid() { return random_hex(16); }

}  // namespace divan::engine
