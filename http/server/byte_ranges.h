// HTTP Range requests on attachments (http-api.md §7.2), as CouchDB answers them: mochiweb parses
// the header, chttpd_db:parse_ranges resolves each range against the attachment's length. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace divan::http::server {

// Inclusive byte positions, as Content-Range writes them.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t size() const { return last - first + 1; }
  bool operator==(const ByteRange&) const = default;
};

// The ranges of a `Range` header for a body of `length` bytes, in request order:
//   - nullopt: answer the whole body with 200. No header, a header that does not parse
//     (not "bytes=", a non-number, …; mochiweb's `fail`), no ranges at all, or any range "0-"
//     (chttpd_db: `bytes=0-` means everything).
//   - `a-b` ends past the body are clipped to length-1; `a-` runs to the end; `-n` is the last n
//     bytes (all of them when n >= length).
//   - range_not_satisfiable (416) when a range ends before it starts, after clipping too (a start
//     at or past the end, `-0`, anything on an empty body).
// The caller answers one range with 206 + Content-Range, 2..kMaxRanges-1 with 206
// multipart/byteranges, and kMaxRanges or more with the whole body (chttpd_db:
// `length(Ranges) < 10`).
Result<std::optional<std::vector<ByteRange>>> parse_ranges(std::string_view header,
                                                           uint64_t length);
inline constexpr size_t kMaxRanges = 10;

// "bytes <first>-<last>/<length>".
std::string content_range(const ByteRange& range, uint64_t length);

}  // namespace divan::http::server
