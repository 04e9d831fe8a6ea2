#include "http/client/content_coding.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <new>
#include <vector>

#include "base/text.h"

namespace divan::http::client::detail {

namespace {

// The codings listed, in order, "identity" and empty items left out.
std::vector<std::string_view> codings(std::string_view list) {
  std::vector<std::string_view> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !ascii_iequals(item, "identity")) out.push_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

enum class Wrapper { kGzip, kZlib, kRaw };

struct Inflater {
  z_stream zs{};
  explicit Inflater(Wrapper wrapper) {
    // 16 + MAX_WBITS: gzip only; MAX_WBITS: zlib; -MAX_WBITS: raw deflate.
    int bits = wrapper == Wrapper::kGzip   ? 16 + MAX_WBITS
               : wrapper == Wrapper::kZlib ? MAX_WBITS
                                           : -MAX_WBITS;
    if (inflateInit2(&zs, bits) != Z_OK) throw std::bad_alloc();
  }
  ~Inflater() { inflateEnd(&zs); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

tl::expected<std::string, DecodeError> inflate_all(std::string_view in, Wrapper wrapper,
                                                   uint64_t limit) {
  Inflater inflater(wrapper);
  z_stream& zs = inflater.zs;
  std::string out;
  out.reserve(static_cast<size_t>(std::min<uint64_t>(limit, uint64_t{in.size()} * 3)));
  std::array<char, 64 * 1024> buf;
  // zlib counts input in uInt: feed a body over 4 GiB in pieces.
  constexpr size_t kMostIn = size_t{1} << 30;
  auto refill = [&] {
    size_t n = std::min(in.size(), kMostIn);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(n);
    in.remove_prefix(n);
  };
  refill();
  for (;;) {
    if (zs.avail_in == 0 && !in.empty()) refill();
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    size_t produced = buf.size() - zs.avail_out;
    if (out.size() + produced > limit) return tl::unexpected(DecodeError::kTooLarge);
    out.append(buf.data(), produced);
    bool input_left = zs.avail_in > 0 || !in.empty();
    if (rc == Z_STREAM_END) {
      if (!input_left) return out;
      // Another gzip member follows (RFC 1952 §2.2); the other formats hold one stream only.
      if (wrapper != Wrapper::kGzip || inflateReset(&zs) != Z_OK) {
        return tl::unexpected(DecodeError::kCorrupt);
      }
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      // No progress possible: with input left that cannot happen (output had room), so the
      // input ended inside the stream.
      if (!input_left && produced == 0) return tl::unexpected(DecodeError::kCorrupt);
      continue;
    }
    if (rc != Z_OK) return tl::unexpected(DecodeError::kCorrupt);
  }
}

tl::expected<std::string, DecodeError> decode_one(std::string_view coding, std::string_view in,
                                                  uint64_t limit) {
  if (ascii_iequals(coding, "gzip") || ascii_iequals(coding, "x-gzip")) {
    return inflate_all(in, Wrapper::kGzip, limit);
  }
  if (ascii_iequals(coding, "deflate")) {
    // RFC 9110 §8.4.1.2 says zlib format; some servers send raw deflate. A zlib stream opens with
    // a header whose two bytes, read big-endian, are a multiple of 31 with method 8 (RFC 1950).
    bool zlib =
        in.size() >= 2 && (static_cast<unsigned char>(in[0]) & 0x0f) == 8 &&
        ((static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1])) % 31 == 0;
    return inflate_all(in, zlib ? Wrapper::kZlib : Wrapper::kRaw, limit);
  }
  return tl::unexpected(DecodeError::kUnsupported);
}

}  // namespace

bool is_identity(std::string_view content_encoding) { return codings(content_encoding).empty(); }

tl::expected<void, DecodeError> decode_body(std::string_view content_encoding, std::string& body,
                                            uint64_t limit) {
  auto list = codings(content_encoding);
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    auto decoded = decode_one(*it, body, limit);
    if (!decoded) return tl::unexpected(decoded.error());
    body = std::move(*decoded);
  }
  return {};
}

}  // namespace divan::http::client::detail
