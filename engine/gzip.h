// gzip streams (RFC 1952) with zlib, as attachments are stored and sent: GzipEncoder makes the
// exact bytes CouchDB stores for a compressible attachment (couch_stream: deflate at a level,
// windowBits 31, memLevel 8, default strategy; so the same input gives the same digest on both),
// GzipDecoder reads `Content-Encoding: gzip` bodies and stored gzip attachments as they stream.
// Single-threaded objects.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/error.h"

namespace divan::engine {

// Receives output bytes in pieces; an error stops the coder and is returned by the call that fed it.
using GzipSink = std::function<Result<void>(std::string_view)>;

class GzipEncoder {
 public:
  // `level` 1–9 (zlib's levels).
  GzipEncoder(int level, GzipSink sink);
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  Result<void> feed(std::string_view identity);
  // Flushes the rest and the gzip trailer. Call once.
  Result<void> finish();

 private:
  Result<void> run(int flush);
  struct State;
  std::unique_ptr<State> state_;
  GzipSink sink_;
};

class GzipDecoder {
 public:
  explicit GzipDecoder(GzipSink sink);
  ~GzipDecoder();
  GzipDecoder(const GzipDecoder&) = delete;
  GzipDecoder& operator=(const GzipDecoder&) = delete;

  // Decodes the next piece of gzip bytes. bad_request on corrupt data or bytes after the end.
  Result<void> feed(std::string_view gzip);
  // The input ended: bad_request unless the gzip stream was complete.
  Result<void> finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
  GzipSink sink_;
};

// Whole-buffer forms of the two.
std::string gzip_bytes(std::string_view identity, int level);
// bad_request for bytes that are not one complete gzip stream.
Result<std::string> gunzip_bytes(std::string_view gzip);

}  // namespace divan::engine
