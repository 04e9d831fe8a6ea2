// A main() for a fuzz target (multipart_fuzz.cpp, json_fuzz.cpp) in the normal (g++) build: runs
// every corpus file named on the command line (files or directories), then a few thousand
// deterministic pseudo-random inputs built from the target's fragments (replay.h). Aborts on the
// first broken invariant, naming the input.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

size_t replay_path(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) {
    size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(path)) n += replay_path(entry);
    return n;
  }
  std::ifstream in(path, std::ios::binary);
  std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s\n", path.c_str());
  run(input);
  return 1;
}

std::string random_input(uint64_t& state) {
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  std::string input;
  for (size_t i = 0; i < kFuzzReplay.random_prefix_bytes; ++i) input += static_cast<char>(next());
  const auto& fragments = kFuzzReplay.fragments;
  size_t pieces = next() % 40;
  for (size_t i = 0; i < pieces; ++i) input += fragments[next() % fragments.size()];
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  size_t files = 0;
  for (int i = 1; i < argc; ++i) files += replay_path(argv[i]);
  uint64_t state = 20240611;
  const int kRandom = 5000;
  for (int i = 0; i < kRandom; ++i) run(random_input(state));
  std::printf("%s_replay: %zu corpus files and %d generated inputs passed\n", kFuzzReplay.name,
              files, kRandom);
  return 0;
}
