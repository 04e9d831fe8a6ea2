// Receiving attachment bodies from a request (a standalone PUT, the parts of a multipart/related
// PUT): counted as sent, charged to the request's budget, spooled in their stored form
// (engine/attachments.h: gzip kept as sent, compressible identity bytes compressed).
// Single-threaded: one request's coroutine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "engine/attachments.h"
#include "engine/error.h"
#include "http/server/doc_json.h"
#include "engine/gzip.h"

namespace divan::http::server {

// What one request may store: `limit` attachment bytes in all, counted decoded (so a small gzip
// upload cannot inflate past it), and a bounded share of them held in memory rather than spooled
// to files (each spool keeps up to 1 MiB in memory on its own).
class UploadBudget {
 public:
  explicit UploadBudget(uint64_t limit) : bytes_left_(limit) {}

  // 413 too_large once the request's decoded bytes pass the limit.
  Result<void> take(size_t n);
  // How many bytes the next attachment may keep in memory before it spools to a file.
  size_t memory_for_next() const;
  // An attachment finished: what it keeps in memory counts against the rest.
  void kept_in_memory(uint64_t n) { memory_left_ -= std::min(memory_left_, n); }

 private:
  static constexpr uint64_t kRequestMemory = 16 << 20;
  static constexpr uint64_t kAttachmentMemory = 1 << 20;
  uint64_t bytes_left_;
  uint64_t memory_left_ = kRequestMemory;
};

// One attachment body of `content_type` arriving in pieces (the bytes as sent). gzip bytes are
// stored as sent, and decoded on the way only to check them and to count (and charge) their
// identity length; identity bytes are stored gzip-compressed when their type is compressible, and
// as they are otherwise. Every identity byte is charged to the request's budget. The digest of
// the bytes as sent (what a supplied digest names, couch_att) is kept beside the stored one.
class Upload {
 public:
  Upload(const std::filesystem::path& spool_dir, UploadBudget& budget, bool gzip,
         std::string_view content_type);
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  Result<void> append(std::string_view sent);
  // The body is complete: bad_request for truncated gzip data.
  Result<ReceivedAttachment> finish();

 private:
  UploadBudget& budget_;
  engine::AttachmentSpool spool_;
  std::unique_ptr<engine::GzipDecoder> gzip_;  // sent gzip: checks it, counts identity bytes
  std::optional<engine::Md5> sent_md5_;  // sent identity, stored compressed: the sent digest
  uint64_t sent_length_ = 0;
  uint64_t identity_length_ = 0;
};

}  // namespace divan::http::server
