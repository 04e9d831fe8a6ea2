// What replay_main.cpp needs from a fuzz target besides LLVMFuzzerTestOneInput: its name and the
// pieces its pseudo-random inputs are built from. Each target defines kFuzzReplay once.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

struct FuzzReplay {
  const char* name;
  size_t random_prefix_bytes;  // random bytes before the pieces (the target's option bytes)
  std::span<const std::string_view> fragments;
};

extern const FuzzReplay kFuzzReplay;
