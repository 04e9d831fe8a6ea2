#include "http/server/gzip.h"

#include <zlib.h>

#include <array>

namespace divan::http::server {

struct GzipDecoder::State {
  z_stream zs{};
  bool ended = false;  // the gzip trailer was read
  State() {
    // 16 + MAX_WBITS: a gzip wrapper (not zlib's, not raw deflate), as Content-Encoding: gzip is.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~State() { inflateEnd(&zs); }
};

GzipDecoder::GzipDecoder(Sink sink) : state_(std::make_unique<State>()), sink_(std::move(sink)) {}
GzipDecoder::~GzipDecoder() = default;

Result<void> GzipDecoder::feed(std::string_view gzip) {
  z_stream& zs = state_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  zs.avail_in = static_cast<uInt>(gzip.size());
  std::array<char, 64 * 1024> out;
  bool more = zs.avail_in > 0;
  while (more) {
    if (state_->ended) return fail(Code::kBadRequest, "Bytes after the end of gzip data");
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return fail(Code::kBadRequest, "Invalid gzip data");
    }
    size_t produced = out.size() - zs.avail_out;
    if (produced > 0) {
      if (auto ok = sink_(std::string_view(out.data(), produced)); !ok) return ok;
    }
    if (rc == Z_STREAM_END) {
      state_->ended = true;
      if (zs.avail_in > 0) return fail(Code::kBadRequest, "Bytes after the end of gzip data");
      break;
    }
    if (rc == Z_BUF_ERROR && produced == 0) break;  // needs more input
    // A full output buffer may leave decoded bytes inside zlib even with no input left.
    more = zs.avail_in > 0 || zs.avail_out == 0;
  }
  return {};
}

Result<void> GzipDecoder::finish() {
  if (!state_->ended) return fail(Code::kBadRequest, "Truncated gzip data");
  return {};
}

}  // namespace divan::http::server
