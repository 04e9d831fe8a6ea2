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

namespace {

// The level a spool compresses an upload with: none for gzip sent (stored as sent).
int spool_level(bool gzip, std::string_view content_type) {
  return gzip ? 0 : engine::attachment_compression().level_for(content_type);
}

}  // namespace

Upload::Upload(const std::filesystem::path& spool_dir, UploadBudget& budget, bool gzip,
               std::string_view content_type)
    : budget_(budget),
      spool_(spool_dir, budget.memory_for_next(), spool_level(gzip, content_type)) {
  if (gzip) {
    gzip_ = std::make_unique<engine::GzipDecoder>([this](std::string_view identity) {
      identity_length_ += identity.size();
      return budget_.take(identity.size());
    });
  } else if (spool_level(gzip, content_type) > 0) {
    sent_md5_.emplace();
  }
}

Result<void> Upload::append(std::string_view sent) {
  sent_length_ += sent.size();
  if (gzip_) {
    if (auto ok = gzip_->feed(sent); !ok) return ok;
  } else {
    if (auto ok = budget_.take(sent.size()); !ok) return ok;
    if (sent_md5_) sent_md5_->update(sent);
  }
  return spool_.append(sent);
}

Result<ReceivedAttachment> Upload::finish() {
  if (gzip_) {
    if (auto ok = gzip_->finish(); !ok) return tl::unexpected(ok.error());
  }
  auto body = gzip_ ? spool_.finish_gzip(identity_length_) : spool_.finish();
  if (!body) return tl::unexpected(body.error());
  if (auto in_memory = (*body)->memory()) budget_.kept_in_memory(in_memory->size());
  ReceivedAttachment out;
  out.sent_digest = sent_md5_ ? sent_md5_->finish() : (*body)->digest();
  out.sent_length = sent_length_;
  out.body = std::move(*body);
  return out;
}

}  // namespace divan::http::server
