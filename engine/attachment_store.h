// Engine-private: the SQL of the `attachments` table and the stub JSON kept in `revs.atts`
// (layout in schema.h).
//
// Reference counting: a body row's `refs` is the number of attachment entries, over all revs rows,
// naming its digest. The writer calls add_ref() for each entry of each revs row it inserts and
// release() for each entry of each revs row it deletes, remembers the released digests, and calls
// drop_unreferenced() on them just before COMMIT. Deleting only then means the order of adds and
// releases inside a transaction never matters (a stub carried over from a parent whose row is
// deleted first never loses its body).
//
// Thread-safety: plain functions over the connection given; as sqlite.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attachments.h"
#include "engine/sqlite.h"

namespace divan::engine::attachment_store {

// ---- revs.atts ----------------------------------------------------------------------------------

// `"name":{"content_type":…,"revpos":N,"digest":…,"length":L,"stub":true}` (http-api.md §7.1).
void append_stub_member(std::string& out, const AttachmentInfo& info);
// The compact JSON object of stubs stored in revs.atts, in the given order; "" when `atts` is empty.
std::string stubs_json(const std::vector<AttachmentInfo>& atts);
// `body` with `"_attachments":<atts_json>` appended as its last member; `body` itself when
// `atts_json` is empty. `body` is a compact JSON object ("{}" when it has no member).
std::string with_attachments(std::string_view body, std::string_view atts_json);
// Sum of the identity lengths, as counted in external_size.
uint64_t total_length(const std::vector<AttachmentInfo>& atts);

// ---- writer side (inside the writer's transaction) ----------------------------------------------

// One more reference to the body with `info.digest`. When no row holds it yet, `body` (the new
// bytes, whose digest is info.digest) is inserted; a spooled body is copied from its file in
// pieces, never whole in memory. Throws std::runtime_error when the digest is unknown and `body`
// is null (a stub whose body row is gone: corruption).
void add_ref(sqlite::Connection& conn, const AttachmentInfo& info, const AttachmentBody* body);
// One reference less; the row stays (possibly at 0) until drop_unreferenced().
void release(sqlite::Connection& conn, std::string_view digest);
// Deletes those of `digests` whose count is 0.
void drop_unreferenced(sqlite::Connection& conn, const std::vector<std::string>& digests);

// ---- reader side --------------------------------------------------------------------------------

// Bytes [offset, offset + max) of the body with `digest`, clipped to its length ("" past the end);
// nullopt when no row holds it. REQUIRES: a read transaction is open on `conn` (the rowid lookup
// and the blob read must see the same state).
std::optional<std::string> read(sqlite::Connection& conn, std::string_view digest, uint64_t offset,
                                size_t max);

}  // namespace divan::engine::attachment_store
