// Attachment bytes before they reach SQLite: digests, the stored-stub parser, and the
// spool that turns a streamed upload into an AttachmentBody. See engine/attachments.h.
#include "engine/attachments.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/text.h"
#include "engine/gzip.h"

namespace divan::engine {
namespace {

constexpr unsigned int kMd5Size = 16;
constexpr unsigned int kSha256Size = 32;

struct DigestCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestCtx = std::unique_ptr<EVP_MD_CTX, DigestCtxDeleter>;

DigestCtx new_digest(const EVP_MD* md) {
  DigestCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw std::bad_alloc();
  return ctx;
}

void update_digest(EVP_MD_CTX* ctx, std::string_view bytes) {
  if (EVP_DigestUpdate(ctx, bytes.data(), bytes.size()) != 1) {
    throw std::runtime_error("digest update failed");
  }
}

// The raw digest, `size` bytes.
std::string finish_digest(EVP_MD_CTX* ctx, unsigned int size) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx, md.data(), &n) != 1 || n != size) {
    throw std::runtime_error("digest failed");
  }
  return std::string(reinterpret_cast<const char*>(md.data()), n);
}

// MD5 (the digest clients see) and SHA-256 (what the store compares before sharing a body row
// between two uploads with one MD5: MD5 collisions are cheap to make) of the same bytes.
struct BodyDigests {
  Md5 md5;
  Sha256 sha256;
  void update(std::string_view bytes) {
    md5.update(bytes);
    sha256.update(bytes);
  }
};

// An unlinked temporary file in `dir`: O_TMPFILE where the filesystem supports it (never visible
// by name), else mkstemp + unlink (visible for an instant). -1 with errno set on failure.
int open_unlinked_temp(const std::filesystem::path& dir) {
#ifdef O_TMPFILE
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string templ = (dir / "att-XXXXXX").string();
  int fd2 = ::mkostemp(templ.data(), O_CLOEXEC);
  if (fd2 < 0) return -1;
  ::unlink(templ.c_str());
  return fd2;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Error io_error(const char* what) {
  return Error{Code::kInternal, std::string("attachment spool: ") + what + ": " +
                                    std::strerror(errno)};
}

}  // namespace

// ---- Md5 ----------------------------------------------------------------------------------------

namespace {

// The algorithms, fetched once: EVP_md5()/EVP_sha256() make every EVP_DigestInit_ex look the
// implementation up again (OpenSSL 3), a tenth of a small upload's digest cost under callgrind.
const EVP_MD* fetched_md(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);  // held for the process's lifetime
  return md != nullptr ? md : fallback;
}

const EVP_MD* md5_md() {
  static const EVP_MD* md = fetched_md("MD5", EVP_md5());
  return md;
}

const EVP_MD* sha256_md() {
  static const EVP_MD* md = fetched_md("SHA256", EVP_sha256());
  return md;
}

}  // namespace

struct Md5::State {
  DigestCtx ctx = new_digest(md5_md());
};

Md5::Md5() : state_(std::make_unique<State>()) {}
Md5::~Md5() = default;

void Md5::update(std::string_view bytes) { update_digest(state_->ctx.get(), bytes); }

std::string Md5::finish() {
  return "md5-" + base64_encode(finish_digest(state_->ctx.get(), kMd5Size));
}

struct Sha256::State {
  DigestCtx ctx = new_digest(sha256_md());
};

Sha256::Sha256() : state_(std::make_unique<State>()) {}
Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) { update_digest(state_->ctx.get(), bytes); }

std::string Sha256::finish() { return finish_digest(state_->ctx.get(), kSha256Size); }

std::string md5_digest(std::string_view bytes) {
  Md5 md5;
  md5.update(bytes);
  return md5.finish();
}

std::vector<AttachmentInfo> parse_stored_attachments(std::string_view atts_json) {
  std::vector<AttachmentInfo> out;
  if (atts_json.empty()) return out;
  auto json = nlohmann::ordered_json::parse(atts_json, nullptr, false);
  // Written by the writer only: anything else is corruption, which no caller can handle.
  if (!json.is_object()) throw std::runtime_error("corrupt stored attachments");
  out.reserve(json.size());
  for (const auto& [name, stub] : json.items()) {
    AttachmentInfo info;
    info.name = name;
    info.content_type = stub.value("content_type", "");
    info.digest = stub.value("digest", "");
    info.length = stub.value("length", uint64_t{0});
    info.revpos = stub.value("revpos", uint64_t{0});
    if (stub.value("encoding", "") == "gzip") {
      info.encoding = AttEncoding::kGzip;
      info.encoded_length = stub.value("encoded_length", uint64_t{0});
    }
    out.push_back(std::move(info));
  }
  return out;
}

// ---- AttachmentCompression ----------------------------------------------------------------------

namespace {

AttachmentCompression& node_compression() {
  static AttachmentCompression compression;
  return compression;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `text` matches `pattern`, ASCII case folded, `*` matching any run (also an empty one).
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && lower(pattern[p]) == lower(text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

int AttachmentCompression::level_for(std::string_view content_type) const {
  if (level <= 0) return 0;
  std::string_view media = trim_ows(content_type.substr(0, content_type.find(';')));
  for (const auto& type : types) {
    if (glob_match(type, media)) return level;
  }
  return 0;
}

std::vector<std::string> AttachmentCompression::parse_types(std::string_view list) {
  return split_list(list);
}

void set_attachment_compression(AttachmentCompression compression) {
  node_compression() = std::move(compression);
}

const AttachmentCompression& attachment_compression() { return node_compression(); }

// ---- AttachmentBody -----------------------------------------------------------------------------

std::shared_ptr<const AttachmentBody> AttachmentBody::from_bytes(std::string bytes) {
  const uint64_t n = bytes.size();
  return in_memory(std::move(bytes), AttEncoding::kIdentity, n);
}

std::shared_ptr<const AttachmentBody> AttachmentBody::for_storage(std::string identity,
                                                                  std::string_view content_type) {
  const int level = attachment_compression().level_for(content_type);
  if (level == 0) return from_bytes(std::move(identity));
  return from_gzip(gzip_bytes(identity, level), identity.size());
}

std::shared_ptr<const AttachmentBody> AttachmentBody::from_gzip(std::string gzip,
                                                                uint64_t identity_length) {
  return in_memory(std::move(gzip), AttEncoding::kGzip, identity_length);
}

std::shared_ptr<const AttachmentBody> AttachmentBody::in_memory(std::string stored,
                                                                AttEncoding encoding,
                                                                uint64_t identity_length) {
  std::shared_ptr<AttachmentBody> body(new AttachmentBody());
  BodyDigests digests;
  digests.update(stored);
  body->digest_ = digests.md5.finish();
  body->sha256_ = digests.sha256.finish();
  body->length_ = stored.size();
  body->encoding_ = encoding;
  body->identity_length_ = identity_length;
  body->bytes_ = std::move(stored);
  return body;
}

AttachmentBody::~AttachmentBody() {
  if (fd_ >= 0) ::close(fd_);
}

size_t AttachmentBody::read(uint64_t offset, char* out, size_t n) const {
  if (offset >= length_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, length_ - offset));
  if (fd_ < 0) {
    std::memcpy(out, bytes_.data() + offset, n);
    return n;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::generic_category(), "attachment spool read");
    if (got == 0) throw std::runtime_error("attachment spool file shorter than its body");
    done += static_cast<size_t>(got);
  }
  return done;
}

std::optional<std::string_view> AttachmentBody::memory() const {
  if (fd_ >= 0) return std::nullopt;
  return std::string_view(bytes_);
}

// ---- AttachmentSpool ----------------------------------------------------------------------------

struct AttachmentSpool::State {
  std::filesystem::path dir;
  size_t memory_limit;
  BodyDigests digests;
  std::string memory;  // the stored bytes while they fit under memory_limit
  int fd = -1;         // then the temporary file holding all of them
  uint64_t size = 0;   // stored bytes
  uint64_t identity_size = 0;
  int gzip_level;
  std::unique_ptr<GzipEncoder> encoder;  // with a gzip level

  State(std::filesystem::path spool_dir, size_t limit, int level)
      : dir(std::move(spool_dir)), memory_limit(limit), gzip_level(level) {}

  // The encoder of a compressing spool, made on first use (a zlib state is ~256 KiB, and the
  // fresh state seal() leaves may never be used).
  GzipEncoder& gzip() {
    if (!encoder) {
      encoder = std::make_unique<GzipEncoder>(
          gzip_level, [this](std::string_view gz) { return store(gz); });
    }
    return *encoder;
  }
  ~State() {
    if (fd >= 0) ::close(fd);
  }

  // Keeps the next stored bytes: in memory, or in the file once they pass memory_limit.
  Result<void> store(std::string_view bytes) {
    if (bytes.empty()) return {};
    if (fd < 0 && memory.size() + bytes.size() > memory_limit) {
      if (auto spilled = spill(); !spilled) return spilled;
    }
    if (fd >= 0) {
      if (!write_all(fd, bytes)) return tl::unexpected(io_error("write"));
    } else {
      memory.append(bytes);
    }
    digests.update(bytes);
    size += bytes.size();
    return {};
  }

  // Moves what is in memory to a new temporary file.
  Result<void> spill() {
    fd = open_unlinked_temp(dir);
    if (fd < 0) return tl::unexpected(io_error("cannot create a temporary file"));
    if (!write_all(fd, memory)) return tl::unexpected(io_error("write"));
    std::string().swap(memory);  // give the memory back now, not at finish()
    return {};
  }
};

AttachmentSpool::AttachmentSpool(std::filesystem::path spool_dir, size_t memory_limit,
                                 int gzip_level)
    : state_(std::make_unique<State>(std::move(spool_dir), memory_limit, gzip_level)) {}

AttachmentSpool::~AttachmentSpool() = default;

Result<void> AttachmentSpool::append(std::string_view bytes) {
  State& s = *state_;
  s.identity_size += bytes.size();
  return s.gzip_level > 0 ? s.gzip().feed(bytes) : s.store(bytes);
}

Result<std::shared_ptr<const AttachmentBody>> AttachmentSpool::finish() {
  State& s = *state_;
  if (s.gzip_level <= 0) return seal(AttEncoding::kIdentity, s.identity_size);
  if (auto ok = s.gzip().finish(); !ok) return tl::unexpected(ok.error());
  return seal(AttEncoding::kGzip, s.identity_size);
}

Result<std::shared_ptr<const AttachmentBody>> AttachmentSpool::finish_gzip(
    uint64_t identity_length) {
  return seal(AttEncoding::kGzip, identity_length);
}

std::shared_ptr<const AttachmentBody> AttachmentSpool::seal(AttEncoding encoding,
                                                            uint64_t identity_length) {
  std::unique_ptr<State> s = std::exchange(
      state_, std::make_unique<State>(state_->dir, state_->memory_limit, state_->gzip_level));
  std::shared_ptr<AttachmentBody> body(new AttachmentBody());
  body->digest_ = s->digests.md5.finish();
  body->sha256_ = s->digests.sha256.finish();
  body->length_ = s->size;
  body->encoding_ = encoding;
  body->identity_length_ = identity_length;
  body->bytes_ = std::move(s->memory);
  body->fd_ = std::exchange(s->fd, -1);
  return body;
}

}  // namespace divan::engine
