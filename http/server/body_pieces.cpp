#include "http/server/body_pieces.h"

#include <optional>
#include <string_view>
#include <utility>

#include "engine/gzip.h"
#include "http/server/auth_service.h"
#include "http/server/response.h"
#include "http/server/stream.h"

namespace divan::http::server {

namespace {

// Bodies up to this size are assembled in memory and sent as one ordinary response: cheaper than
// streaming, and the connection's keep-alive handling stays the session's.
constexpr uint64_t kInMemoryLimit = 1 << 20;
// Bytes read per read transaction while streaming an attachment slice. Large, because each read
// opens the blob afresh and SQLite walks its overflow-page chain from the start to the offset.
constexpr uint64_t kSliceRead = 1 << 20;

// Stored bytes fed to a SliceDecoder at once: deflate expands at most ~1032 times, so one feed
// holds at most ~8 MiB of decoded bytes, however the attachment was made.
constexpr size_t kDecodeFeed = 8 * 1024;

// Decodes a gunzip slice's stored bytes as they are read, and checks that they decode to exactly
// the identity length announced (a Content-Length already sent may depend on it).
class SliceDecoder {
 public:
  explicit SliceDecoder(uint64_t length)
      : length_(length), decoder_([this](std::string_view identity) -> Result<void> {
          decoded_ += identity.size();
          if (decoded_ > length_) return fail(Code::kInternal, "attachment longer than stored");
          out_->append(identity);
          return {};
        }) {}

  // Appends what `stored` decodes to onto `out`; false on corrupt or overlong data.
  bool feed(std::string_view stored, std::string& out) {
    out_ = &out;
    return decoder_.feed(stored).has_value();
  }
  bool finish() { return decoder_.finish().has_value() && decoded_ == length_; }

 private:
  uint64_t length_;
  uint64_t decoded_ = 0;
  std::string* out_ = nullptr;
  engine::GzipDecoder decoder_;
};

// Appends the slice to `out`; false when the attachment body is gone (compacted away meanwhile).
// `read(digest, offset, max)` is Database or Snapshot::read_attachment, as an optional of bytes.
template <typename Read>
bool append_slice(Read read, const PieceBody::Slice& slice, std::string& out) {
  if (slice.gunzip) {
    std::optional<std::string> bytes =
        read(slice.digest, 0, static_cast<size_t>(slice.stored_length));
    if (!bytes || bytes->size() != slice.stored_length) return false;
    SliceDecoder decoder(slice.length);
    return decoder.feed(*bytes, out) && decoder.finish();  // bounded: at most slice.length out
  }
  uint64_t done = 0;
  while (done < slice.length) {
    std::optional<std::string> bytes =
        read(slice.digest, slice.offset + done, static_cast<size_t>(slice.length - done));
    if (!bytes || bytes->empty()) return false;
    done += bytes->size();
    if (out.empty() && bytes->size() == slice.length) {
      out = std::move(*bytes);  // the whole answer is this one slice: no copy
    } else {
      out += *bytes;
    }
  }
  return true;
}

// The in-memory answer (see send_pieces), slices read by `read` (as append_slice).
template <typename Read>
Response assemble(const Request& req, Read read, Response header, const PieceBody& body) {
  const bool head = req.method() == bhttp::verb::head;
  std::string out;
  if (!head) out.reserve(body.size());
  for (const auto& piece : body.pieces()) {
    if (const auto* text = std::get_if<std::string>(&piece)) {
      out += *text;
    } else if (head) {
      out.append(std::get<PieceBody::Slice>(piece).length, '\0');  // only its size is sent
    } else if (!append_slice(read, std::get<PieceBody::Slice>(piece), out)) {
      return error_response({Code::kNotFound, reason::kMissing});
    }
  }
  header.body() = std::move(out);
  return header;
}

Task<bool> stream_gunzipped(engine::Database& db, const PieceBody::Slice& slice,
                            ResponseStream& stream) {
  SliceDecoder decoder(slice.length);
  std::string identity;
  uint64_t done = 0;
  while (done < slice.stored_length) {
    size_t want = static_cast<size_t>(std::min(kSliceRead, slice.stored_length - done));
    auto bytes = db.read_attachment(slice.digest, done, want);
    if (!bytes || !*bytes || (*bytes)->empty()) co_return false;
    std::string_view stored = **bytes;
    for (size_t at = 0; at < stored.size(); at += kDecodeFeed) {
      identity.clear();
      if (!decoder.feed(stored.substr(at, kDecodeFeed), identity)) co_return false;
      if (!identity.empty() && !co_await stream.write(identity)) co_return false;
    }
    done += stored.size();
  }
  co_return decoder.finish();
}

Task<bool> stream_slice(engine::Database& db, const PieceBody::Slice& slice,
                        ResponseStream& stream) {
  if (slice.gunzip) co_return co_await stream_gunzipped(db, slice, stream);
  uint64_t done = 0;
  while (done < slice.length) {
    size_t want = static_cast<size_t>(std::min(kSliceRead, slice.length - done));
    // The read transaction ends before the socket write: a slow client must not pin the WAL.
    auto bytes = db.read_attachment(slice.digest, slice.offset + done, want);
    if (!bytes || !*bytes || (*bytes)->empty()) co_return false;
    if (!co_await stream.write(**bytes)) co_return false;
    done += (*bytes)->size();
  }
  co_return true;
}

}  // namespace

void PieceBody::text(std::string text) {
  size_ += text.size();
  pieces_.emplace_back(std::move(text));
}

void PieceBody::attachment(std::string digest, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  size_ += length;
  pieces_.emplace_back(Slice{std::move(digest), offset, length});
}

void PieceBody::gunzipped_attachment(std::string digest, uint64_t stored_length,
                                     uint64_t length) {
  size_ += length;
  pieces_.emplace_back(Slice{std::move(digest), 0, length, true, stored_length});
}

bool assembled_in_memory(const Request& req, const PieceBody& body) {
  return body.size() <= kInMemoryLimit || !req.connection();
}

Response assemble_pieces(const Request& req, engine::Snapshot& snapshot, Response header,
                         const PieceBody& body) {
  auto read = [&](std::string_view digest, uint64_t offset, size_t max) {
    return snapshot.read_attachment(digest, offset, max);
  };
  return assemble(req, read, std::move(header), body);
}

Task<Response> send_pieces(Request& req, engine::Database& db, Response header, PieceBody body) {
  const bool head = req.method() == bhttp::verb::head;
  if (assembled_in_memory(req, body)) {
    // Each slice in its own read transaction (Database::read_attachment).
    auto read = [&](std::string_view digest, uint64_t offset,
                    size_t max) -> std::optional<std::string> {
      auto bytes = db.read_attachment(digest, offset, max);
      if (!bytes || !*bytes) return std::nullopt;
      return std::move(**bytes);
    };
    co_return assemble(req, read, std::move(header), body);
  }

  ResponseStream stream(req);
  add_auth_headers(req, header);  // CORS and a refreshed session cookie, as on any response
  bool ok = co_await stream.begin_fixed(header, body.size());
  for (const auto& piece : body.pieces()) {
    if (!ok || head) break;
    if (const auto* text = std::get_if<std::string>(&piece)) {
      ok = co_await stream.write(*text);
    } else {
      ok = co_await stream_slice(db, std::get<PieceBody::Slice>(piece), stream);
    }
  }
  ok = ok && co_await stream.finish();
  req.mark_streamed(ok);  // an answer cut short leaves the connection unusable
  co_return Response{};
}

}  // namespace divan::http::server
