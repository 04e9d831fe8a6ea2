// Attachments: the bytes a document revision carries beside its JSON body (http-api.md §7).
//
// Storage: each database holds every attachment body once per digest (an `attachments` row keyed
// by digest, reference-counted by the revisions that list it, its bytes in fixed-size chunks:
// attachment_store.h), and each stored revision keeps its attachment metadata (name, content type,
// digest, length, revpos, encoding) as a compact JSON object of stubs beside its body.
//
// Encoding, as CouchDB stores attachments (couch_att): a new attachment of a compressible type
// (AttachmentCompression: text/*, JSON, JavaScript, XML by default) that arrives as identity bytes
// is stored gzip-compressed, with exactly the bytes CouchDB makes (engine/gzip.h); one that arrives
// gzip-encoded (Content-Encoding: gzip, or a replicator's `"encoding":"gzip"` part) is stored as
// sent, whatever its type; everything else as identity. The digest is "md5-" + base64(MD5(stored
// bytes)), so a Divan node and a CouchDB node show the same digest for the same attachment.
// `length` is always the identity length; `encoded_length` the stored length of a gzip one.
// Databases written before this stored identity bytes only; those entries have no encoding and
// read as they always did. A SHA-256 is kept beside the MD5, so two uploads share a row only when
// their stored bytes are the same, not merely their MD5.
//
// Writes: a new attachment's bytes travel to the writer inside DocUpdate as an AttachmentBody: in
// memory when small, or spooled to an unlinked temporary file while the request streams in
// (AttachmentSpool, which also compresses on the way), so a large upload never sits in memory and
// never occupies the single writer while the network is slow. The writer copies in-memory bytes
// inside the write's transaction, and stages spooled ones beforehand in short transactions of
// their own, so other writes to the database proceed meanwhile (writer.cpp).
//
// Reads: Snapshot/Database::read_attachment() return a slice of the stored bytes by digest, so
// large bodies go out to a socket chunk by chunk, each chunk in its own short read transaction.
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

// How an attachment's bytes are stored, and how they travel in multipart bodies and to clients
// that accept gzip.
enum class AttEncoding { kIdentity, kGzip };

// One attachment of a stored revision, as its stub shows it (§7.1).
struct AttachmentInfo {
  std::string name;
  std::string content_type;
  std::string digest;   // "md5-<base64>" of the stored bytes
  uint64_t length = 0;  // identity bytes
  uint64_t revpos = 0;
  AttEncoding encoding = AttEncoding::kIdentity;
  uint64_t encoded_length = 0;  // kGzip: the stored bytes

  bool gzip() const { return encoding == AttEncoding::kGzip; }
  // How many bytes the store holds for it (what read_attachment() slices).
  uint64_t stored_length() const { return gzip() ? encoded_length : length; }
};

// Which new attachments are stored gzip-compressed: CouchDB's [attachments] compressible_types
// and compression_level (couch_att:compressible_att_type). A content type matches a pattern
// case-insensitively, `*` standing for any run of characters, its parameters (`;charset=…`)
// ignored: `Text/Plain; charset=utf-8` matches `text/*`, `application/jsonx` does not match
// `application/json`.
inline constexpr int kCouchDbCompressionLevel = 8;  // CouchDB's default compression_level

struct AttachmentCompression {
  std::vector<std::string> types{"text/*", "application/javascript", "application/json",
                                 "application/xml"};
  int level = kCouchDbCompressionLevel;  // zlib's 1–9; 0 stores every attachment as it arrives

  // The gzip level to store a new identity attachment of `content_type` with; 0: as it is.
  int level_for(std::string_view content_type) const;
  // CouchDB's config form, "text/*, application/json": patterns split at commas, trimmed.
  static std::vector<std::string> parse_types(std::string_view list);
};

// The node's setting, read by every ingest path. Set once at startup, before the node serves or
// writes anything (tools/divan.cpp); CouchDB's defaults until then. Not for changing while writes
// run: reads are unsynchronised.
void set_attachment_compression(AttachmentCompression compression);
const AttachmentCompression& attachment_compression();

// Parses a stored revision's attachment JSON (the object Snapshot::revision() returns in `atts`)
// into its entries, in stored order. Empty text → empty list.
std::vector<AttachmentInfo> parse_stored_attachments(std::string_view atts_json);

// The bytes of a new attachment as they will be stored, complete and digested. Immutable once
// built; shared by pointer so a DocUpdate can be queued without copying them.
class AttachmentBody {
 public:
  // Small bodies, in memory. Identity bytes stored as they are:
  static std::shared_ptr<const AttachmentBody> from_bytes(std::string bytes);
  // New identity bytes of an attachment of `content_type`: gzip-compressed first when
  // attachment_compression() says so.
  static std::shared_ptr<const AttachmentBody> for_storage(std::string identity,
                                                           std::string_view content_type);
  // A gzip stream of `identity_length` bytes, stored as it is (a stored gzip attachment copied).
  static std::shared_ptr<const AttachmentBody> from_gzip(std::string gzip,
                                                         uint64_t identity_length);
  ~AttachmentBody();
  AttachmentBody(const AttachmentBody&) = delete;
  AttachmentBody& operator=(const AttachmentBody&) = delete;

  // The stored bytes: what read() and memory() give, what digest() and sha256() are of.
  uint64_t length() const { return length_; }
  AttEncoding encoding() const { return encoding_; }
  bool gzip() const { return encoding_ == AttEncoding::kGzip; }
  // The length of the bytes once decoded (length() for identity).
  uint64_t identity_length() const { return identity_length_; }
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
  static std::shared_ptr<const AttachmentBody> in_memory(std::string stored, AttEncoding encoding,
                                                         uint64_t identity_length);
  std::string bytes_;  // in memory, or
  int fd_ = -1;        // an unlinked temporary file (closed by the destructor)
  uint64_t length_ = 0;
  AttEncoding encoding_ = AttEncoding::kIdentity;
  uint64_t identity_length_ = 0;
  std::string digest_;
  std::string sha256_;
};

// Builds an AttachmentBody from bytes arriving in pieces (a request body being streamed): keeps
// the stored bytes in memory up to `memory_limit`, then moves them to an unlinked temporary file
// in `spool_dir` and appends there. With a `gzip_level`, compresses the identity bytes appended
// on the way. Computes the MD5 and SHA-256 of the stored bytes as they pass. Single-threaded.
class AttachmentSpool {
 public:
  AttachmentSpool(std::filesystem::path spool_dir, size_t memory_limit = 1 << 20,
                  int gzip_level = 0);
  ~AttachmentSpool();
  AttachmentSpool(const AttachmentSpool&) = delete;
  AttachmentSpool& operator=(const AttachmentSpool&) = delete;

  // internal error when the temporary file cannot be created or written (disk full).
  Result<void> append(std::string_view bytes);
  // Ends the body: identity bytes, or gzip when a level was given. The spool is empty afterwards.
  Result<std::shared_ptr<const AttachmentBody>> finish();
  // Ends a body whose appended bytes were a gzip stream of `identity_length` bytes, stored as they
  // came. REQUIRES: no gzip_level.
  Result<std::shared_ptr<const AttachmentBody>> finish_gzip(uint64_t identity_length);

 private:
  // The body of what was stored so far; the spool starts over, empty.
  std::shared_ptr<const AttachmentBody> seal(AttEncoding encoding, uint64_t identity_length);
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
  // resolves a stub by name and revpos only, and stores what the base revision says. For new
  // data, `digest` is what the source declared (its stored form's): the replicator compares it
  // with body->digest() (HttpPeer::keep_source_digests); the engine stores body->digest().
  std::string digest;
  std::optional<uint64_t> length;
};

}  // namespace divan::engine
