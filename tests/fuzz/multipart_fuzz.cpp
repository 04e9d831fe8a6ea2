// libFuzzer target for http/multipart. Input: byte 0 picks the boundary and limits, byte 1 seeds the
// chunk sizes, the rest is the body. The body is parsed in one feed, in pseudo-random chunks and one
// byte at a time; every run must report the same events (data merged), well-formed in order, with
// no more data than input. Bodies that parse are written back with the writer helpers and must
// parse to the same parts. Built by tests/fuzz/run_fuzz.sh (clang, libFuzzer, ASan, UBSan) and, with
// replay_main.cpp, into the normal build as a CTest test.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/multipart/multipart.h"
#include "replay.h"

namespace mp = divan::multipart;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "multipart_fuzz: invariant failed: %s\n", what);
  std::abort();
}

// Records events, merging adjacent data, and checks their order as they come.
class Recorder : public mp::MultipartHandler {
 public:
  std::vector<std::string> events;
  size_t data_bytes = 0;
  size_t parts = 0;
  bool in_part = false;
  bool ended = false;

  void on_part_begin(const mp::Headers& headers) override {
    check(!in_part && !ended, "part begins inside a part or after the end");
    in_part = true;
    ++parts;
    std::string e = "B";
    for (const auto& h : headers) {
      check(!h.name.empty(), "empty header name");
      e += h.name + '\0' + h.value + '\0';
    }
    events.push_back(std::move(e));
  }
  void on_part_data(std::string_view data) override {
    check(in_part && !ended, "data outside a part");
    check(!data.empty(), "empty data piece");
    data_bytes += data.size();
    if (events.empty() || events.back()[0] != 'D') events.push_back("D");
    events.back().append(data);
  }
  void on_part_end() override {
    check(in_part && !ended, "part ends outside a part");
    in_part = false;
    events.push_back("E");
  }
  void on_body_end() override {
    check(!in_part && !ended, "body ends inside a part or twice");
    ended = true;
    events.push_back("Z");
  }
};

const char* const kBoundaries[] = {
    "B", "b", "--", "-", "a b", "abc", "0123456789abcdef0123456789abcdef",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",  // 70
};

mp::Limits limits_for(uint8_t choice) {
  switch (choice) {
    case 1: return {.max_header_bytes = 32, .max_parts = 10'000};
    case 2: return {.max_header_bytes = 16 * 1024, .max_parts = 2};
    case 3: return {.max_header_bytes = 1, .max_parts = 1};
    default: return {};
  }
}

struct Run {
  std::vector<std::string> events;
  std::string error;
  size_t data_bytes = 0;
  size_t parts = 0;
  bool done = false;
};

// Feeds `body` in pieces whose sizes come from `next_size`.
template <typename NextSize>
Run parse(std::string_view body, const std::string& boundary, mp::Limits limits,
          NextSize next_size) {
  Recorder r;
  mp::MultipartParser parser(boundary, r, limits);
  for (size_t i = 0; i < body.size();) {
    size_t n = std::min(next_size(), body.size() - i);
    bool ok = parser.feed(body.substr(i, n));
    check(ok == !parser.failed(), "feed's result disagrees with failed()");
    i += n;
  }
  size_t before = r.events.size();
  bool ok = parser.finish();
  check(r.events.size() == before, "finish() reported events");
  check(ok == !parser.failed(), "finish's result disagrees with failed()");
  check(ok == parser.done(), "finish() succeeded without the close delimiter");
  check(ok == r.ended, "success without on_body_end");
  check(parser.failed() == !parser.error().empty(), "failed without a reason");
  check(!parser.failed() || parser.error().starts_with("multipart: "), "reason without prefix");
  check(r.parts <= parser.parts() && parser.parts() <= limits.max_parts, "part count");
  return {r.events, std::string(parser.error()), r.data_bytes, r.parts, parser.done()};
}

bool same(const Run& a, const Run& b) {
  return a.events == b.events && a.error == b.error && a.data_bytes == b.data_bytes &&
         a.done == b.done;
}

// Writes the parsed parts back with the writer helpers; they must parse to the same parts.
void check_round_trip(const std::vector<mp::Part>& parts, const std::string& boundary) {
  std::string dash = "--" + boundary;
  std::string body;
  for (const mp::Part& p : parts) {
    if (p.body.find(dash) != std::string::npos) return;  // the writer's precondition
    body += mp::part_header(boundary, p.headers) + p.body + "\r\n";
  }
  body += mp::close_delimiter(boundary);
  auto again = mp::parse_all(body, boundary);
  check(again.ok(), "written body does not parse");
  check(again.parts.size() == parts.size(), "round trip changed the part count");
  for (size_t i = 0; i < parts.size(); ++i) {
    check(again.parts[i].body == parts[i].body, "round trip changed a body");
    check(again.parts[i].headers.size() == parts[i].headers.size(), "round trip changed headers");
    for (size_t h = 0; h < parts[i].headers.size(); ++h) {
      check(again.parts[i].headers[h].name == parts[i].headers[h].name &&
                again.parts[i].headers[h].value == parts[i].headers[h].value,
            "round trip changed a header");
    }
  }
}

void check_content_type(std::string_view text) {
  auto ct = mp::parse_content_type(text);
  if (!ct) return;
  check(!ct->media_type.empty() && ct->media_type.find('/') != std::string::npos, "media type");
  check(!ct->is_multipart() || mp::valid_boundary(ct->boundary), "multipart without boundary");
  check(ct->is_multipart() || ct->boundary.empty(), "boundary on a non-multipart type");
}

// Pieces that make the parser's decisions interesting: delimiters of every boundary in the table
// above, line ends, padding, header text and stray bytes (replay_main.cpp builds inputs from them).
using namespace std::string_view_literals;
constexpr std::string_view kFragments[] = {
    "--", "B", "b", "-", "a b", "abc", "\r\n", "\n", "\r", " ", "\t", ":", "Content-Type: x",
    "A: 1", "\r\n\r\n", "\r\n--B", "\n--b", "--B--", "--b\r\n", "\r\n--abc\r\n", "x", "\0"sv,
    "\xff", "0123456789abcdef0123456789abcdef", "--xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};

}  // namespace

const FuzzReplay kFuzzReplay{"multipart_fuzz", 2, kFragments};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string boundary = kBoundaries[data[0] & 7];
  const mp::Limits limits = limits_for((data[0] >> 3) & 3);
  uint32_t seed = data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  Run whole = parse(body, boundary, limits, [&] { return body.size(); });
  check(whole.data_bytes <= body.size(), "more data than input");

  uint32_t state = seed * 2654435761u + 1;
  size_t max_piece = 1 + (seed & 15) * (seed & 16 ? 64 : 1);
  Run chunked = parse(body, boundary, limits, [&] {
    state = state * 1103515245u + 12345u;
    return 1 + (state >> 16) % max_piece;
  });
  check(same(whole, chunked), "chunked run differs from one feed");
  if (body.size() <= 4096) {
    Run bytes = parse(body, boundary, limits, [] { return size_t{1}; });
    check(same(whole, bytes), "byte-at-a-time run differs from one feed");
  }

  auto all = mp::parse_all(body, boundary, limits);
  check(all.error == whole.error, "parse_all's error differs");
  size_t all_bytes = 0;
  for (const auto& p : all.parts) all_bytes += p.body.size();
  check(all_bytes <= whole.data_bytes, "parse_all returned more data");
  if (all.ok()) check_round_trip(all.parts, boundary);

  check_content_type(body);
  return 0;
}
