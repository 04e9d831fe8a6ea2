// Attachments: the bytes a document revision carries beside its JSON body (http-api.md §7).
//
// Storage: each database holds every attachment body once per digest (an `attachments` row keyed
// by digest, reference-counted by the revisions that list it, its bytes in fixed-size chunks:
// attachment_store.h), and each stored revision keeps its attachment metadata (name, content type,
// digest, length, revpos) as a compact JSON object of stubs beside its body. We store identity
// bytes only: digest = "md5-" + base64(MD5(bytes)), for every content type (CouchDB gzips
// compressible types first; digests are opaque labels to clients). A SHA-256 is kept beside it, so
// two uploads share a row only when their bytes are the same, not merely their MD5.
//
// Writes: a new attachment's bytes travel to the writer inside DocUpdate as an AttachmentBody: in
// memory when small, or spooled to an unlinked temporary file while the request streams in
// (AttachmentSpool), so a large upload never sits in memory and never occupies the single writer
// while the network is slow. The writer copies in-memory bytes inside the write's transaction, and
// stages spooled ones beforehand in short transactions of their own, so other writes to the
// database proceed meanwhile (writer.cpp).
//
// Reads: Snapshot/Database::read_attachment() return a slice by digest, so large bodies go out to a
// socket chunk by chunk, each chunk in its own short read transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace divan::engine {

// "md5-" + base64(MD5(bytes)): the digest of identity bytes.
std::string md5_digest(std::string_view bytes);

// The same digest of bytes that arrive in pieces (a request body being streamed).
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void update(std::string_view bytes);
  // "md5-<base64>" of everything updated so far. Call once.
  std::string finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// SHA-256 of bytes that arrive in pieces: 32 raw bytes (AttachmentBody::sha256()).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  // The digest of everything updated so far. Call once.
  std::string finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One attachment of a stored revision, as its stub shows it (§7.1).
struct AttachmentInfo {
  std::string name;
  std::string content_type;
  std::string digest;   // "md5-<base64>"
  uint64_t length = 0;  // identity bytes
  uint64_t revpos = 0;
};

// Parses a stored revision's attachment JSON (the object Snapshot::revision() returns in `atts`)
// into its entries, in stored order. Empty text → empty list.
std::vector<AttachmentInfo> parse_stored_attachments(std::string_view atts_json);

// The bytes of a new attachment, complete and digested. Immutable once built; shared by pointer so
// a DocUpdate can be queued without copying them.
class AttachmentBody {
 public:
  // Small bodies: the bytes in memory.
  static std::shared_ptr<const AttachmentBody> from_bytes(std::string bytes);
  ~AttachmentBody();
  AttachmentBody(const AttachmentBody&) = delete;
  AttachmentBody& operator=(const AttachmentBody&) = delete;

  uint64_t length() const { return length_; }
  const std::string& digest() const { return digest_; }
  // SHA-256 of the bytes (32 raw bytes). Stored beside the MD5 digest: a body row is shared by two
  // uploads only when both agree, so a crafted MD5 collision cannot substitute another's bytes.
  const std::string& sha256() const { return sha256_; }
  // Copies up to `n` bytes from `offset` into `out`; returns how many (0 at the end). Thread-safe
  // (pread on a spooled body).
  size_t read(uint64_t offset, char* out, size_t n) const;
  // The bytes when held in memory; nullopt when spooled to a file.
  std::optional<std::string_view> memory() const;

 private:
  friend class AttachmentSpool;
  AttachmentBody() = default;
  std::string bytes_;  // in memory, or
  int fd_ = -1;        // an unlinked temporary file (closed by the destructor)
  uint64_t length_ = 0;
  std::string digest_;
  std::string sha256_;
};

// Builds an AttachmentBody from bytes arriving in pieces (a request body being streamed): keeps
// them in memory up to `memory_limit`, then moves them to an unlinked temporary file in
// `spool_dir` and appends there. Computes the MD5 and SHA-256 as the bytes pass. Single-threaded.
class AttachmentSpool {
 public:
  AttachmentSpool(std::filesystem::path spool_dir, size_t memory_limit = 1 << 20);
  ~AttachmentSpool();
  AttachmentSpool(const AttachmentSpool&) = delete;
  AttachmentSpool& operator=(const AttachmentSpool&) = delete;

  // internal error when the temporary file cannot be created or written (disk full).
  Result<void> append(std::string_view bytes);
  uint64_t size() const;
  // Ends the body. The spool is empty afterwards.
  Result<std::shared_ptr<const AttachmentBody>> finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// An attachment entry of an incoming document write (DocUpdate::attachments), in the order the
// `_attachments` object lists them. That list is the complete attachment set of the new revision.
struct NewAttachment {
  std::string name;
  // Stub ("stub": true): keep attachment `name` of the base revision (revision-trees.md §6.3).
  // `revpos`, when given, must equal the stored one, else missing_stub.
  bool stub = false;
  std::optional<uint64_t> revpos;
  // New data: type and bytes. The type is stored and hashed into the rev id exactly as given
  // (callers normalise it, e.g. default it to application/octet-stream; the engine does not).
  // `revpos` for a replicated write is taken as given (0 when absent); an interactive write sets
  // it to the new revision's pos.
  std::string content_type;
  std::shared_ptr<const AttachmentBody> body;
  // A stub's description as its source gave it (content_type above, digest, length), carried so
  // a replicated write can be sent on to another server as CouchDB's stub form. The engine itself
  // resolves a stub by name and revpos only, and stores what the base revision says.
  std::string digest;
  std::optional<uint64_t> length;
};

}  // namespace divan::engine
