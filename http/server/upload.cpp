#include "http/server/upload.h"

#include <algorithm>

namespace divan::http::server {

Result<void> UploadBudget::take(size_t n) {
  if (n > bytes_left_) {
    return fail(Code::kTooLarge, "Attachment data exceeds the server's max_attachment_size");
  }
  bytes_left_ -= n;
  return {};
}

size_t UploadBudget::memory_for_next() const {
  return static_cast<size_t>(std::min(kAttachmentMemory, memory_left_));
}

Upload::Upload(const std::filesystem::path& spool_dir, UploadBudget& budget, bool gzip)
    : budget_(budget), spool_(spool_dir, budget.memory_for_next()) {
  if (gzip) {
    gzip_ = std::make_unique<GzipDecoder>([this](std::string_view bytes) { return store(bytes); });
    sent_md5_.emplace();
  }
}

Result<void> Upload::store(std::string_view decoded) {
  if (auto ok = budget_.take(decoded.size()); !ok) return ok;
  return spool_.append(decoded);
}

Result<void> Upload::append(std::string_view sent) {
  sent_length_ += sent.size();
  if (!gzip_) return store(sent);
  sent_md5_->update(sent);
  return gzip_->feed(sent);
}

Result<ReceivedAttachment> Upload::finish() {
  if (gzip_) {
    if (auto ok = gzip_->finish(); !ok) return tl::unexpected(ok.error());
  }
  auto body = spool_.finish();
  if (!body) return tl::unexpected(body.error());
  if (auto in_memory = (*body)->memory()) budget_.kept_in_memory(in_memory->size());
  ReceivedAttachment out;
  out.sent_digest = sent_md5_ ? sent_md5_->finish() : (*body)->digest();
  out.sent_length = sent_length_;
  out.body = std::move(*body);
  return out;
}

}  // namespace divan::http::server
