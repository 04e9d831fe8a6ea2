// A main() for multipart_fuzz.cpp in the normal (g++) build: runs every corpus file named on the
// command line (files or directories), then a few thousand deterministic pseudo-random bodies built
// from multipart fragments. Aborts on the first broken invariant, naming the input.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

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

// Pieces that make the parser's decisions interesting: delimiters of every boundary in the fuzz
// target's table, line ends, padding, header text and stray bytes.
const char* const kFragments[] = {
    "--", "B", "b", "-", "a b", "abc", "\r\n", "\n", "\r", " ", "\t", ":", "Content-Type: x",
    "A: 1", "\r\n\r\n", "\r\n--B", "\n--b", "--B--", "--b\r\n", "\r\n--abc\r\n", "x", "\0",
    "\xff", "0123456789abcdef0123456789abcdef", "--xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};

std::string random_input(uint64_t& state) {
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  std::string input;
  input += static_cast<char>(next());
  input += static_cast<char>(next());
  size_t pieces = next() % 40;
  for (size_t i = 0; i < pieces; ++i) {
    std::string_view f = kFragments[next() % std::size(kFragments)];
    if (f.empty()) f = std::string_view("\0", 1);
    input += f;
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  size_t files = 0;
  for (int i = 1; i < argc; ++i) files += replay_path(argv[i]);
  uint64_t state = 20240611;
  const int kRandom = 5000;
  for (int i = 0; i < kRandom; ++i) run(random_input(state));
  std::printf("multipart_fuzz_replay: %zu corpus files and %d generated inputs passed\n", files,
              kRandom);
  return 0;
}
