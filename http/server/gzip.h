// Decoding `Content-Encoding: gzip` request bodies (attachment uploads, multipart parts from the
// CouchDB replicator, http-api.md §7.2, §7.4) as they stream in, with zlib. Single-threaded.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "engine/error.h"

namespace divan::http::server {

class GzipDecoder {
 public:
  // Receives decoded bytes in pieces; an error stops the decode and is returned by feed().
  using Sink = std::function<Result<void>(std::string_view)>;

  explicit GzipDecoder(Sink sink);
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
  Sink sink_;
};

}  // namespace divan::http::server
