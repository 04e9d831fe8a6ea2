// Engine-private: the SQL of the `attachments` and `attachment_chunks` tables and the stub JSON kept
// in `revs.atts` (layout in schema.h).
//
// Bodies are stored as fixed-size chunks (kChunkSize), so a read of any slice costs one indexed
// lookup per chunk it touches, wherever the slice is (one large blob made every read walk the
// overflow chain from its start: quadratic for a whole download), and no body is bound by SQLite's
// 1e9-byte limit on one value.
//
// Reference counting: a body row's `refs` is the number of attachment entries, over all revs rows,
// naming its digest. The writer calls add_ref() for each entry of each revs row it inserts and
// release() for each entry of each revs row it deletes, and sweep() just before COMMIT. Deleting
// only then means the order of adds and releases inside a transaction never matters (a stub
// carried over from a parent whose row is deleted first never loses its body).
//
// Staging: the writer copies a spooled (large) body in its own short transactions before the write
// naming it (stage_begin / stage_chunks / stage_publish), so the copy never holds a group open. A
// staged row has refs 0 until that write's add_ref; until then the writer keeps it out of sweep()
// by its id. Rows that never get a reference (a crash, a failed write) are swept.
//
// Thread-safety: plain functions over the connection given; as sqlite.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/attachments.h"
#include "engine/sqlite.h"

namespace divan::engine::attachment_store {

// Bytes per stored chunk (the last chunk of a body is shorter). 256 KiB (a choice, not yet a
// measured optimum): large enough that the per-chunk lookup is small next to copying 64 overflow
// pages, small enough that a slice starting or ending inside a chunk wastes little, and a divisor
// of the 1 MiB slices the HTTP layer reads, so a whole download reads each chunk once.
inline constexpr size_t kChunkSize = 256 * 1024;

// ---- revs.atts ----------------------------------------------------------------------------------

// `"name":{"content_type":…,"revpos":N,"digest":…` — the members every form of an attachment
// entry starts with (stub, inline, follows: http-api.md §7.1); the caller closes the object.
void append_member_head(std::string& out, const AttachmentInfo& info);
// `,"encoding":"gzip","encoded_length":M` for a gzip-stored attachment, nothing for identity: what
// att_encoding_info adds to every form of an entry, after its other members (couch_att:to_json).
void append_encoding_info(std::string& out, const AttachmentInfo& info);
// `"name":{"content_type":…,"revpos":N,"digest":…,"length":L,"stub":true}` (http-api.md §7.1),
// with the encoding info of a gzip entry when `encoding_info`.
void append_stub_member(std::string& out, const AttachmentInfo& info, bool encoding_info);
// The compact JSON object of stubs, in the given order; "" when `atts` is empty. revs.atts stores
// the form with encoding info, so a stored entry knows how its bytes are stored.
std::string stubs_json(const std::vector<AttachmentInfo>& atts, bool encoding_info = true);
// `body` with `"_attachments":<atts_json>` appended as its last member, as it is; `body` itself
// when `atts_json` is empty. `body` is a compact JSON object ("{}" when it has no member).
std::string splice_attachments(std::string_view body, std::string_view atts_json);
// splice_attachments() of a stored revision's stubs (revs.atts) as a client sees them: with the
// encoding info of gzip entries only when `encoding_info` (att_encoding_info=true).
std::string with_stubs(std::string_view body, std::string_view stored_atts,
                       bool encoding_info = false);
// Sum of the identity lengths, as counted in external_size.
uint64_t total_length(const std::vector<AttachmentInfo>& atts);
// revs.atts of `rev` (text) of doc `id`: nullopt when no row holds its body, "" when it holds no
// attachments.
std::optional<std::string> stored_atts(sqlite::Connection& conn, std::string_view id,
                                       std::string_view rev);

// ---- the body rows --------------------------------------------------------------------------------

struct BodyRow {
  int64_t id = 0;
  uint64_t length = 0;
  std::string sha256;
};
// The complete body row holding `digest` (staged rows not yet published are not found).
std::optional<BodyRow> find(sqlite::Connection& conn, std::string_view digest);
// Whether `row` holds exactly `body` (same length and SHA-256): else the two only share an MD5.
bool same_bytes(const BodyRow& row, const AttachmentBody& body);

// ---- writer side (inside the writer's transaction) ----------------------------------------------

// One more reference to the body with `info.digest`. When no row holds it yet, `body` (the new
// bytes, whose digest is info.digest) is inserted, chunk by chunk (a spooled body is read from its
// file a chunk at a time, never whole in memory). Throws std::runtime_error when the digest is
// unknown and `body` is null (a stub whose body row is gone: corruption).
// REQUIRES: when a row exists and `body` is given, same_bytes() (the writer refuses a collision
// before calling this).
void add_ref(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody* body);
// add_ref() for a digest known to have no row yet (the writer's collision check just looked):
// inserts the row with one reference and its chunks, without first trying the UPDATE.
// REQUIRES: no row holds info.digest (else the INSERT fails: digest is UNIQUE).
void insert(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody& body);
// One reference less; the row stays (possibly at 0) until sweep().
void release(sqlite::Connection& conn, std::string_view digest);
// Deletes every row whose count is 0 (and its chunks), except those in `keep` (staged rows whose
// write has not run yet). Cheap when there are none: a partial index lists exactly those rows.
void sweep(sqlite::Connection& conn, const std::unordered_set<int64_t>& keep);

// Staging, each call inside its own short writer transaction:
// A new, unpublished row for `body` (no digest yet, refs 0); returns its id.
int64_t stage_begin(sqlite::Connection& conn, const AttachmentBody& body);
// Copies chunks of `body` into row `id` from `offset` (a multiple of kChunkSize) while fewer than
// `budget` bytes were copied; returns the new offset (body.length() when done).
uint64_t stage_chunks(sqlite::Connection& conn, int64_t id, const AttachmentBody& body,
                      uint64_t offset, uint64_t budget);
// Publishes the complete row `id` under body.digest() and returns it; when a row with that digest
// appeared meanwhile, deletes `id` and returns that row's id instead.
int64_t stage_publish(sqlite::Connection& conn, int64_t id, const AttachmentBody& body);

// Chunk `n` of row `id` (kChunkSize bytes, or fewer for a body's last chunk). For the schema
// migration; the functions above write chunks themselves.
void put_chunk(sqlite::Connection& conn, int64_t id, uint64_t n, std::string_view data);

// ---- reader side --------------------------------------------------------------------------------

// Bytes [offset, offset + max) of the body with `digest`, clipped to its length ("" past the end);
// nullopt when no row holds it. Reads only the chunks the slice touches. REQUIRES: a read
// transaction is open on `conn` (the row lookup and the chunk reads must see the same state).
std::optional<std::string> read(sqlite::Connection& conn, std::string_view digest, uint64_t offset,
                                size_t max);

}  // namespace divan::engine::attachment_store
