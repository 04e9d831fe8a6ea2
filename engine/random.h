// Unguessable bytes and ids from the system CSPRNG (OpenSSL RAND_bytes): the one source of them,
// for the node's uuid, replication session ids, server-generated document ids (http/server
// uuids.cpp), password salts, the cookie secret and the auth cache's key. Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace divan::engine {

// `size` random bytes. Throws std::runtime_error if the RNG fails.
std::string random_bytes(size_t size);
// 2·`size` lowercase hex characters of random_bytes(size).
std::string random_hex(size_t size);
// 32 lowercase hex characters (128 random bits).
std::string random_uuid();

}  // namespace divan::engine
