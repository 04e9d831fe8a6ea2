// The on-disk layout of one database file (engine-private).
//
//   docs(doc_id PK, seq UNIQUE, winner, deleted, tree)   one row per document, at its latest seq
//   revs(doc_id, rev, deleted, body)                     bodies of leaf revisions only
//   local_docs(id PK, rev, body)                         `_local/…` docs: no tree, no seq
//   meta(key PK, value)                                  revs_limit, security, counters
//
// Attachments (a later issue): an `attachments(digest PK, length, data)` table holding each body
// once per digest, plus `rev_atts(doc_id, rev, name, digest, content_type, revpos, …)` rows beside
// `revs`, deleted together with the rev's body row.
#pragma once

#include "engine/database_internal.h"
#include "engine/sqlite.h"

namespace divan::engine::schema {

// Bumped when the layout changes; a file with a newer version is refused.
inline constexpr int kVersion = 1;

inline constexpr const char* kDefaultSecurity =
    R"({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}})";
inline constexpr uint32_t kDefaultRevsLimit = 1000;

// Creates the tables and default meta rows if absent (idempotent, one transaction).
// REQUIRES: a read-write connection outside any transaction.
void init(sqlite::Connection& conn);

// Reads the counters, settings and update_seq (max seq).
DbState load_state(sqlite::Connection& conn);

// Writes the counters back into meta (inside the writer's transaction).
void store_counters(sqlite::Connection& conn, const DbState& state);

}  // namespace divan::engine::schema
