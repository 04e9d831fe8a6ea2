#include "http/server/byte_ranges.h"

#include <algorithm>

#include "base/numbers.h"
#include "http/server/header_values.h"

namespace divan::http::server {

namespace {

// One range spec as mochiweb reads it: first and last, either possibly absent (not both).
struct Spec {
  std::optional<uint64_t> first;
  std::optional<uint64_t> last;
};

std::optional<Spec> parse_spec(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = text.substr(0, dash);
  std::string_view b = text.substr(dash + 1);
  Spec spec;
  if (a.empty()) {  // "-n": a suffix
    spec.last = parse_unsigned<uint64_t>(b);
    if (!spec.last) return std::nullopt;
    return spec;
  }
  spec.first = parse_unsigned<uint64_t>(a);
  if (!spec.first) return std::nullopt;
  if (!b.empty()) {
    spec.last = parse_unsigned<uint64_t>(b);
    if (!spec.last) return std::nullopt;
  }
  return spec;
}

}  // namespace

Result<std::optional<std::vector<ByteRange>>> parse_ranges(std::string_view header,
                                                           uint64_t length) {
  using Whole = std::optional<std::vector<ByteRange>>;
  constexpr std::string_view kUnit = "bytes=";
  header = trim_ows(header);
  if (!header.starts_with(kUnit)) return Whole();
  header.remove_prefix(kUnit.size());
  std::vector<Spec> specs;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.empty()) continue;
    auto spec = parse_spec(item);
    if (!spec) return Whole();  // mochiweb `fail`: the header is ignored
    specs.push_back(*spec);
  }
  if (specs.empty()) return Whole();
  // chttpd_db:parse_ranges, in request order: "0-" anywhere means the whole body, and the first
  // range that ends before it starts (after clipping) makes the whole request 416.
  std::vector<ByteRange> ranges;
  for (const Spec& spec : specs) {
    if (spec.first == 0 && !spec.last) return Whole();
    int64_t len = static_cast<int64_t>(length);
    int64_t first, last;
    if (!spec.first) {  // suffix: the last n bytes, all of them when n >= length
      first = len - static_cast<int64_t>(std::min<uint64_t>(*spec.last, length));
      last = len - 1;
    } else {  // positions past the end are clamped first, so huge numbers cannot overflow
      first = static_cast<int64_t>(std::min<uint64_t>(*spec.first, length));
      last = spec.last ? static_cast<int64_t>(std::min<uint64_t>(*spec.last, length)) : len - 1;
      if (last >= len) last = len - 1;
    }
    if (last < first) return fail(Code::kRangeNotSatisfiable, "Requested range not satisfiable");
    ranges.push_back({static_cast<uint64_t>(first), static_cast<uint64_t>(last)});
  }
  return Whole(std::move(ranges));
}

std::string content_range(const ByteRange& range, uint64_t length) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(length);
}

}  // namespace divan::http::server
