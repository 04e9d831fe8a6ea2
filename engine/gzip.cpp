#include "engine/gzip.h"

#include <zlib.h>

#include <array>
#include <new>

namespace divan::engine {

namespace {
constexpr size_t kOutChunk = 64 * 1024;
}  // namespace

// ---- GzipEncoder --------------------------------------------------------------------------------

struct GzipEncoder::State {
  z_stream zs{};
  explicit State(int level) {
    // 16 + MAX_WBITS: a gzip wrapper (mtime 0, OS from zlib's build), memLevel 8, as couch_stream.
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::bad_alloc();
    }
  }
  ~State() { deflateEnd(&zs); }
};

GzipEncoder::GzipEncoder(int level, GzipSink sink)
    : state_(std::make_unique<State>(level)), sink_(std::move(sink)) {}
GzipEncoder::~GzipEncoder() = default;

Result<void> GzipEncoder::feed(std::string_view identity) {
  if (identity.empty()) return {};
  z_stream& zs = state_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(identity.data()));
  zs.avail_in = static_cast<uInt>(identity.size());
  return run(Z_NO_FLUSH);
}

Result<void> GzipEncoder::finish() { return run(Z_FINISH); }

// Deflates what is in zs's input, passing output on, until zlib needs more input (or, with
// Z_FINISH, until the stream ended).
Result<void> GzipEncoder::run(int flush) {
  z_stream& zs = state_->zs;
  std::array<char, kOutChunk> out;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, flush);
    if (rc == Z_STREAM_ERROR) return fail(Code::kInternal, "gzip encoder state");
    size_t produced = out.size() - zs.avail_out;
    if (produced > 0) {
      if (auto ok = sink_(std::string_view(out.data(), produced)); !ok) return ok;
    }
    if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs.avail_in == 0 && zs.avail_out > 0)) break;
  }
  return {};
}

// ---- GzipDecoder --------------------------------------------------------------------------------

struct GzipDecoder::State {
  z_stream zs{};
  bool ended = false;  // the gzip trailer was read
  State() {
    // 16 + MAX_WBITS: a gzip wrapper (not zlib's, not raw deflate), as Content-Encoding: gzip is.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~State() { inflateEnd(&zs); }
};

GzipDecoder::GzipDecoder(GzipSink sink) : state_(std::make_unique<State>()), sink_(std::move(sink)) {}
GzipDecoder::~GzipDecoder() = default;

Result<void> GzipDecoder::feed(std::string_view gzip) {
  z_stream& zs = state_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  zs.avail_in = static_cast<uInt>(gzip.size());
  std::array<char, kOutChunk> out;
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

}  // namespace divan::engine

namespace divan::engine {

std::string gzip_bytes(std::string_view identity, int level) {
  std::string out;
  GzipEncoder encoder(level, [&](std::string_view piece) -> Result<void> {
    out.append(piece);
    return {};
  });
  (void)encoder.feed(identity);  // a string sink never fails
  (void)encoder.finish();
  return out;
}

Result<std::string> gunzip_bytes(std::string_view gzip) {
  std::string out;
  GzipDecoder decoder([&](std::string_view piece) -> Result<void> {
    out.append(piece);
    return {};
  });
  if (auto ok = decoder.feed(gzip); !ok) return tl::unexpected(ok.error());
  if (auto ok = decoder.finish(); !ok) return tl::unexpected(ok.error());
  return out;
}

}  // namespace divan::engine
