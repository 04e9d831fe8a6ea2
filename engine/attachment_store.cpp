#include "engine/attachment_store.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "engine/doc_render.h"

namespace divan::engine::attachment_store {
namespace {

// attachment_chunks.key = attachments.id * kMaxChunks + chunk number: the chunks of one body are
// one contiguous range of the rowid b-tree, found with one seek, and no second index is needed
// (a UNIQUE(att_id, n) would be a second b-tree to update per chunk and to search per read).
// 2^20 chunks of 256 KiB: bodies up to 256 GiB, ids up to 2^43.
constexpr int64_t kMaxChunks = int64_t{1} << 20;

int64_t chunk_key(int64_t id, uint64_t n) { return id * kMaxChunks + static_cast<int64_t>(n); }

// Writes the chunks of `body` into row `id` from `offset` (a chunk boundary) until `budget` bytes
// were written or the body ends; returns the new offset. In-memory bytes are bound in place; a
// spooled body is read one chunk at a time.
uint64_t write_chunks(sqlite::Connection& conn, int64_t id, const AttachmentBody& body,
                      uint64_t offset, uint64_t budget) {
  if (body.length() > static_cast<uint64_t>(kMaxChunks) * kChunkSize) {
    throw std::runtime_error("attachment larger than the store supports");
  }
  auto memory = body.memory();
  std::string buffer;
  uint64_t written = 0;
  while (offset < body.length() && written < budget) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkSize, body.length() - offset));
    std::string_view chunk;
    if (memory) {
      chunk = memory->substr(static_cast<size_t>(offset), n);
    } else {
      buffer.resize(n);
      if (body.read(offset, buffer.data(), n) != n) {
        throw std::runtime_error("attachment body shorter than its length");
      }
      chunk = buffer;
    }
    put_chunk(conn, id, offset / kChunkSize, chunk);
    offset += n;
    written += n;
  }
  return offset;
}

void delete_row(sqlite::Connection& conn, int64_t id) {
  {
    sqlite::Use q(conn.prepare("DELETE FROM attachment_chunks WHERE key BETWEEN ?1 AND ?2"));
    q->bind_int(1, chunk_key(id, 0));
    q->bind_int(2, chunk_key(id, kMaxChunks - 1));
    q->run();
  }
  sqlite::Use q(conn.prepare("DELETE FROM attachments WHERE id = ?1"));
  q->bind_int(1, id);
  q->run();
}

}  // namespace

void put_chunk(sqlite::Connection& conn, int64_t id, uint64_t n, std::string_view data) {
  sqlite::Use q(conn.prepare("INSERT INTO attachment_chunks(key, data) VALUES(?1, ?2)"));
  q->bind_int(1, chunk_key(id, n));
  q->bind_blob(2, data);
  q->run();
}

void append_member_head(std::string& out, const AttachmentInfo& info) {
  append_json_string(out, info.name);
  out += ":{\"content_type\":";
  append_json_string(out, info.content_type);
  out += ",\"revpos\":";
  out += std::to_string(info.revpos);
  out += ",\"digest\":";
  append_json_string(out, info.digest);
}

void append_encoding_info(std::string& out, const AttachmentInfo& info) {
  if (!info.gzip()) return;
  out += ",\"encoding\":\"gzip\",\"encoded_length\":";
  out += std::to_string(info.encoded_length);
}

void append_stub_member(std::string& out, const AttachmentInfo& info, bool encoding_info) {
  append_member_head(out, info);
  out += ",\"length\":";
  out += std::to_string(info.length);
  out += ",\"stub\":true";
  if (encoding_info) append_encoding_info(out, info);
  out.push_back('}');
}

std::string stubs_json(const std::vector<AttachmentInfo>& atts, bool encoding_info) {
  if (atts.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < atts.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_stub_member(out, atts[i], encoding_info);
  }
  out.push_back('}');
  return out;
}

std::string with_stubs(std::string_view body, std::string_view stored_atts, bool encoding_info) {
  // The stored stubs carry the encoding of gzip entries; a client sees it only when it asks.
  // Text without the word holds no gzip entry (the common case, spliced as it is).
  if (!encoding_info && stored_atts.find("\"encoding\"") != std::string_view::npos) {
    return splice_attachments(body, stubs_json(parse_stored_attachments(stored_atts), false));
  }
  return splice_attachments(body, stored_atts);
}

std::string splice_attachments(std::string_view body, std::string_view atts_json) {
  if (atts_json.empty()) return std::string(body);
  constexpr std::string_view kKey = "\"_attachments\":";
  std::string out;
  out.reserve(body.size() + kKey.size() + atts_json.size() + 1);
  out.append(body.substr(0, body.size() - 1));  // without the closing '}'
  if (body.size() > 2) out.push_back(',');      // "{…}" has members to follow
  out += kKey;
  out += atts_json;
  out.push_back('}');
  return out;
}

uint64_t total_length(const std::vector<AttachmentInfo>& atts) {
  uint64_t n = 0;
  for (const auto& a : atts) n += a.length;
  return n;
}

std::optional<std::string> stored_atts(sqlite::Connection& conn, std::string_view id,
                                       std::string_view rev) {
  sqlite::Use q(conn.prepare("SELECT atts FROM revs WHERE doc_id = ?1 AND rev = ?2"));
  q->bind_text(1, id);
  q->bind_text(2, rev);
  if (!q->step()) return std::nullopt;
  return std::string(q->column_text(0));
}

std::optional<BodyRow> find(sqlite::Connection& conn, std::string_view digest) {
  sqlite::Use q(conn.prepare("SELECT id, length, sha256 FROM attachments WHERE digest = ?1"));
  q->bind_text(1, digest);
  if (!q->step()) return std::nullopt;
  return BodyRow{q->column_int(0), static_cast<uint64_t>(q->column_int(1)),
                 std::string(q->column_blob(2))};
}

bool same_bytes(const BodyRow& row, const AttachmentBody& body) {
  return row.length == body.length() && row.sha256 == body.sha256();
}

void add_ref(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody* body) {
  // Update first, insert only when absent: a known digest costs no copy of the new bytes.
  {
    sqlite::Use q(conn.prepare("UPDATE attachments SET refs = refs + 1 WHERE digest = ?1"));
    q->bind_text(1, info.digest);
    q->run();
  }
  if (conn.changes() > 0) return;
  if (body == nullptr) {
    throw std::runtime_error("attachment body " + info.digest + " is missing from the database");
  }
  insert(conn, info, *body);
}

void insert(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody& body) {
  int64_t id = 0;
  {
    sqlite::Use q(conn.prepare(
        "INSERT INTO attachments(digest, length, sha256, refs) VALUES(?1, ?2, ?3, 1) RETURNING id"));
    q->bind_text(1, info.digest);
    q->bind_int(2, static_cast<int64_t>(body.length()));
    q->bind_blob(3, body.sha256());
    if (!q->step()) throw std::runtime_error("attachment insert returned no row");
    id = q->column_int(0);
  }
  write_chunks(conn, id, body, 0, UINT64_MAX);
}

void release(sqlite::Connection& conn, std::string_view digest) {
  sqlite::Use q(conn.prepare("UPDATE attachments SET refs = refs - 1 WHERE digest = ?1"));
  q->bind_text(1, digest);
  q->run();
}

void sweep(sqlite::Connection& conn, const std::unordered_set<int64_t>& keep) {
  std::vector<int64_t> ids;
  {
    // Served by the partial index attachments_unreferenced: only rows at 0 are visited.
    sqlite::Use q(conn.prepare("SELECT id FROM attachments WHERE refs <= 0"));
    while (q->step()) {
      int64_t id = q->column_int(0);
      if (keep.count(id) == 0) ids.push_back(id);
    }
  }
  for (int64_t id : ids) delete_row(conn, id);
}

int64_t stage_begin(sqlite::Connection& conn, const AttachmentBody& body) {
  sqlite::Use q(conn.prepare(
      "INSERT INTO attachments(digest, length, sha256, refs) VALUES(NULL, ?1, ?2, 0) RETURNING id"));
  q->bind_int(1, static_cast<int64_t>(body.length()));
  q->bind_blob(2, body.sha256());
  if (!q->step()) throw std::runtime_error("attachment insert returned no row");
  return q->column_int(0);
}

uint64_t stage_chunks(sqlite::Connection& conn, int64_t id, const AttachmentBody& body,
                      uint64_t offset, uint64_t budget) {
  return write_chunks(conn, id, body, offset, budget);
}

int64_t stage_publish(sqlite::Connection& conn, int64_t id, const AttachmentBody& body) {
  if (auto existing = find(conn, body.digest())) {
    delete_row(conn, id);
    return existing->id;
  }
  sqlite::Use q(conn.prepare("UPDATE attachments SET digest = ?1 WHERE id = ?2"));
  q->bind_text(1, body.digest());
  q->bind_int(2, id);
  q->run();
  return id;
}

std::optional<std::string> read(sqlite::Connection& conn, std::string_view digest, uint64_t offset,
                                size_t max) {
  int64_t id = 0;
  uint64_t length = 0;
  {
    sqlite::Use q(conn.prepare("SELECT id, length FROM attachments WHERE digest = ?1"));
    q->bind_text(1, digest);
    if (!q->step()) return std::nullopt;
    id = q->column_int(0);
    length = static_cast<uint64_t>(q->column_int(1));
  }
  if (offset >= length || max == 0) return std::string();
  size_t n = static_cast<size_t>(std::min<uint64_t>(max, length - offset));
  std::string out;
  out.reserve(n);
  uint64_t first = offset / kChunkSize;
  uint64_t last = (offset + n - 1) / kChunkSize;
  // One range scan: a single seek to the first chunk, then the next rows in key order.
  sqlite::Use q(conn.prepare(
      "SELECT key, data FROM attachment_chunks WHERE key BETWEEN ?1 AND ?2 ORDER BY key"));
  q->bind_int(1, chunk_key(id, first));
  q->bind_int(2, chunk_key(id, last));
  uint64_t expect = first;
  while (q->step()) {
    std::string_view data = q->column_blob(1);
    if (q->column_int(0) != chunk_key(id, expect) || data.size() > kChunkSize) break;
    uint64_t chunk_start = expect * kChunkSize;
    uint64_t from = offset + out.size() - chunk_start;  // where the slice continues in this chunk
    if (from > data.size()) break;
    out.append(data.substr(static_cast<size_t>(from),
                           std::min<size_t>(data.size() - static_cast<size_t>(from),
                                            n - out.size())));
    ++expect;
  }
  if (out.size() != n) throw std::runtime_error("attachment body " + std::string(digest) +
                                                 " has missing or short chunks");
  return out;
}

}  // namespace divan::engine::attachment_store
