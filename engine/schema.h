// The on-disk layout of one database file (engine-private).
//
//   docs(doc_id PK, seq UNIQUE, winner, deleted, tree)   one row per document, at its latest seq
//   revs(doc_id, rev, deleted, body, atts)               bodies of every revision written here,
//                                                        leaf or not, until compaction
//   attachments(id PK, digest UNIQUE, length, sha256, refs) one row per attachment body
//   attachment_chunks(key PK, data)                      its bytes, kChunkSize per row (key =
//                                                        id * 2^20 + chunk number)
//   local_docs(id PK, rev, body)                         `_local/…` docs: no tree, no seq
//   purges(purge_seq PK, uuid, doc_id, revs)             the latest purges (_purged_infos_limit)
//   meta(key PK, value)                                  revs_limit, security, counters
//
// revs.atts is the revision's attachment stubs as compact JSON, in `_attachments` order
// (`{"name":{"content_type":…,"revpos":N,"digest":"md5-…","length":L,"stub":true},…}`), NULL when
// it has none: reads splice it into the body as is. attachments.refs counts the entries of revs
// rows naming that digest; the writer deletes a row (and its chunks) when its count reaches 0, and
// a row stays at 0 only while a staged body waits for its write (attachment_store.h).
//
// Versions: 1 had no attachments; init() migrates it (revs.atts added, attachments created).
// 2 kept each body as one blob in attachments.data; init() copies those into chunks (and computes
// their SHA-256) in the same transaction as the version bump. 3 kept leaf bodies only and had no
// purges: init() adds the table and the counters (its history is empty, so they start at 0).
// Files created since version 4 use auto_vacuum=INCREMENTAL (compaction gives space back); older
// files cannot switch without a full VACUUM, so they reuse freed pages but do not shrink.
#pragma once

#include "engine/database_internal.h"
#include "engine/sqlite.h"

namespace divan::engine::schema {

// Bumped when the layout changes; a file with a newer version is refused.
inline constexpr int kVersion = 4;

inline constexpr const char* kDefaultSecurity =
    R"({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}})";
inline constexpr uint32_t kDefaultRevsLimit = 1000;
inline constexpr uint64_t kDefaultPurgedInfosLimit = 1000;  // CouchDB's purged_infos_limit

// Creates the tables and default meta rows if absent (idempotent, one transaction).
// REQUIRES: a read-write connection outside any transaction.
void init(sqlite::Connection& conn);

// Reads the counters, settings and update_seq (max seq).
DbState load_state(sqlite::Connection& conn);

// Writes the counters back into meta (inside the writer's transaction).
void store_counters(sqlite::Connection& conn, const DbState& state);

}  // namespace divan::engine::schema
