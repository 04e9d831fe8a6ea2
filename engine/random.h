// Unguessable identifiers from the system CSPRNG (OpenSSL RAND_bytes): the node's uuid, replication
// session ids. Thread-safe.
#pragma once

#include <string>

namespace divan::engine {

// 32 lowercase hex characters (128 random bits). Throws std::runtime_error if the RNG fails.
std::string random_uuid();

}  // namespace divan::engine
