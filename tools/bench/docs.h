// The documents the bench writes: small, like an app's records (~100 bytes of JSON).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>

namespace divan::bench {

inline nlohmann::json make_doc(std::uint64_t n) {
  char name[32];
  std::snprintf(name, sizeof name, "bench-doc-%06llu", static_cast<unsigned long long>(n));
  return {{"n", n}, {"name", name}, {"tags", {"alpha", "beta", "gamma"}}, {"text", "lorem ipsum dolor sit amet"}};
}

}  // namespace divan::bench
