#include "engine/attachment_store.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "engine/doc_render.h"

namespace divan::engine::attachment_store {
namespace {

// Piece size for copying a spooled body into its blob: large enough that the per-call overhead is
// nothing next to the copy, small enough to stay out of the way of the rest of the group's memory.
constexpr size_t kCopyPiece = 256 * 1024;

void insert_body(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody& body) {
  auto memory = body.memory();
  sqlite::Use q(conn.prepare(
      "INSERT INTO attachments(digest, length, refs, data) VALUES(?1, ?2, 1, ?3) RETURNING id"));
  q->bind_text(1, info.digest);
  q->bind_int(2, static_cast<int64_t>(body.length()));
  // In memory: bound in place (SQLITE_STATIC), no copy. Spooled: reserve zeros, fill below.
  if (memory) q->bind_blob(3, *memory);
  else q->bind_zeroblob(3, body.length());
  if (!q->step()) throw std::runtime_error("attachment insert returned no row");
  int64_t rowid = q->column_int(0);
  q->run();  // finish the statement before opening a blob on the same table
  if (memory) return;

  sqlite::Blob blob(conn, "attachments", "data", rowid, /*writable=*/true);
  std::vector<char> piece(std::min<uint64_t>(kCopyPiece, body.length()));
  for (uint64_t offset = 0; offset < body.length();) {
    size_t n = body.read(offset, piece.data(), piece.size());
    if (n == 0) throw std::runtime_error("attachment body shorter than its length");
    blob.write(offset, piece.data(), n);
    offset += n;
  }
}

}  // namespace

void append_stub_member(std::string& out, const AttachmentInfo& info) {
  append_json_string(out, info.name);
  out += ":{\"content_type\":";
  append_json_string(out, info.content_type);
  out += ",\"revpos\":";
  out += std::to_string(info.revpos);
  out += ",\"digest\":";
  append_json_string(out, info.digest);
  out += ",\"length\":";
  out += std::to_string(info.length);
  out += ",\"stub\":true}";
}

std::string stubs_json(const std::vector<AttachmentInfo>& atts) {
  if (atts.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < atts.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_stub_member(out, atts[i]);
  }
  out.push_back('}');
  return out;
}

std::string with_attachments(std::string_view body, std::string_view atts_json) {
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

void add_ref(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody* body) {
  // Update first, insert only when absent: a known digest costs no copy of the new bytes (an
  // INSERT … ON CONFLICT would build its record, data included, before finding the conflict).
  {
    sqlite::Use q(conn.prepare("UPDATE attachments SET refs = refs + 1 WHERE digest = ?1"));
    q->bind_text(1, info.digest);
    q->run();
  }
  if (conn.changes() > 0) return;
  if (body == nullptr) {
    throw std::runtime_error("attachment body " + info.digest + " is missing from the database");
  }
  insert_body(conn, info, *body);
}

void release(sqlite::Connection& conn, std::string_view digest) {
  sqlite::Use q(conn.prepare("UPDATE attachments SET refs = refs - 1 WHERE digest = ?1"));
  q->bind_text(1, digest);
  q->run();
}

void drop_unreferenced(sqlite::Connection& conn, const std::vector<std::string>& digests) {
  sqlite::Use q(conn.prepare("DELETE FROM attachments WHERE digest = ?1 AND refs <= 0"));
  for (const auto& digest : digests) {
    q->bind_text(1, digest);
    q->run();
    q->reset();
  }
}

std::optional<std::string> read(sqlite::Connection& conn, std::string_view digest, uint64_t offset,
                                size_t max) {
  int64_t rowid = 0;
  uint64_t length = 0;
  {
    sqlite::Use q(conn.prepare("SELECT id, length FROM attachments WHERE digest = ?1"));
    q->bind_text(1, digest);
    if (!q->step()) return std::nullopt;
    rowid = q->column_int(0);
    length = static_cast<uint64_t>(q->column_int(1));
  }
  if (offset >= length || max == 0) return std::string();
  size_t n = static_cast<size_t>(std::min<uint64_t>(max, length - offset));
  std::string out(n, '\0');
  sqlite::Blob blob(conn, "attachments", "data", rowid, /*writable=*/false);
  blob.read(offset, out.data(), n);
  return out;
}

}  // namespace divan::engine::attachment_store
