// Decoding response bodies by their Content-Encoding (RFC 9110 §8.4): gzip (x-gzip) and deflate,
// with zlib. Internal to http/client; pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace divan::http::client::detail {

enum class DecodeError {
  kUnsupported,  // a coding other than gzip, x-gzip, deflate or identity
  kCorrupt,      // not valid data of its coding, or truncated
  kTooLarge,     // decoded, it would pass the limit
};

// Decodes `body` in place by the codings listed in `content_encoding` (a comma-separated list,
// applied in order, so they are undone last to first). `limit` bounds the decoded size at every
// step, so a gzip bomb stops after `limit` bytes of output. "deflate" is the zlib format as RFC
// 9110 says, or raw deflate as some servers send it. A gzip body may hold several members
// (RFC 1952 §2.2). On error `body` is unspecified.
[[nodiscard]] tl::expected<void, DecodeError> decode_body(std::string_view content_encoding,
                                                          std::string& body, uint64_t limit);

// True when `content_encoding` names no coding at all (absent, empty or only "identity").
bool is_identity(std::string_view content_encoding);

}  // namespace divan::http::client::detail
