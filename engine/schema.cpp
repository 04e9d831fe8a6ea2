#include "engine/schema.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "engine/attachment_store.h"
#include "engine/attachments.h"

namespace divan::engine::schema {
namespace {

// Ids are TEXT compared with the default BINARY collation: memcmp order, as _all_docs requires.
//
// docs is WITHOUT ROWID: every access is by doc_id (point reads, id ranges), and rows are small
// (the encoded tree). revs is a rowid table: bodies are often larger than the ~1 KB a WITHOUT ROWID
// row keeps inline on a 4 KB page, and a rowid table keeps up to ~4 KB inline.
// attachments holds one small row per body (digest NULL while a staged body is being copied in);
// the bytes are in attachment_chunks, a rowid table keyed by id * 2^20 + chunk number
// (attachment_store.cpp says why), so each chunk is one b-tree lookup and rows with large blobs
// keep their overflow pages out of the key b-tree's way (WITHOUT ROWID would store them in it).
// attachments_unreferenced lists exactly the rows at refs 0 (staged or released), so the sweep
// after each group never scans the table.
// purges records each purged (doc, revs) (_purge), newest purged_infos_limit of them, so that a
// replicated write cannot bring a purged revision back (writer.cpp) and purge_seq survives restarts.
// docs_live indexes live winners only, so _all_docs scans and offsets (count_before) skip
// tombstones and never read tree blobs.
constexpr const char* kCreate = R"sql(
CREATE TABLE IF NOT EXISTS docs(
  doc_id  TEXT    NOT NULL PRIMARY KEY,
  seq     INTEGER NOT NULL UNIQUE,
  winner  TEXT    NOT NULL,
  deleted INTEGER NOT NULL,
  tree    BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_live ON docs(doc_id) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS revs(
  doc_id  TEXT    NOT NULL,
  rev     TEXT    NOT NULL,
  deleted INTEGER NOT NULL,
  body    TEXT    NOT NULL,
  atts    TEXT,
  UNIQUE(doc_id, rev)
);
CREATE TABLE IF NOT EXISTS attachments(
  id     INTEGER PRIMARY KEY,
  digest TEXT    UNIQUE,
  length INTEGER NOT NULL,
  sha256 BLOB    NOT NULL,
  refs   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_unreferenced ON attachments(id) WHERE refs <= 0;
CREATE TABLE IF NOT EXISTS attachment_chunks(
  key  INTEGER PRIMARY KEY,
  data BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS local_docs(
  id   TEXT    NOT NULL PRIMARY KEY,
  rev  INTEGER NOT NULL,
  body TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS purges(
  purge_seq INTEGER PRIMARY KEY,
  uuid      TEXT    NOT NULL,
  doc_id    TEXT    NOT NULL,
  revs      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS purges_by_doc ON purges(doc_id);
CREATE TABLE IF NOT EXISTS meta(
  key   TEXT NOT NULL PRIMARY KEY,
  value
) WITHOUT ROWID;
)sql";

int user_version(sqlite::Connection& conn) {
  sqlite::Use q(conn.prepare("PRAGMA user_version"));
  return q->step() ? static_cast<int>(q->column_int(0)) : 0;
}

void put_meta_default(sqlite::Connection& conn, std::string_view key, std::string_view text) {
  sqlite::Use q(conn.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES(?1, ?2)"));
  q->bind_text(1, key);
  q->bind_text(2, text);
  q->run();
}

void put_meta_default(sqlite::Connection& conn, std::string_view key, int64_t value) {
  sqlite::Use q(conn.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES(?1, ?2)"));
  q->bind_text(1, key);
  q->bind_int(2, value);
  q->run();
}

// Version 2 → 3: each body was one blob in attachments.data. Renames that table aside, creates the
// chunked tables (kCreate) and copies every body chunk by chunk through one open blob handle
// (sequential reads: no overflow-chain walk from the start per chunk), computing the SHA-256 that
// version 2 did not keep. REQUIRES: inside init()'s transaction.
void migrate_v2_bodies(sqlite::Connection& conn) {
  conn.exec("ALTER TABLE attachments RENAME TO attachments_v2");
  conn.exec(kCreate);
  std::vector<std::tuple<int64_t, std::string, int64_t>> rows;  // id, digest, refs
  {
    sqlite::Use q(conn.prepare("SELECT id, digest, refs FROM attachments_v2"));
    while (q->step()) rows.emplace_back(q->column_int(0), q->column_text(1), q->column_int(2));
  }
  std::string chunk;
  for (const auto& [id, digest, refs] : rows) {
    sqlite::Blob blob(conn, "attachments_v2", "data", id, /*writable=*/false);
    uint64_t length = blob.size();
    Sha256 sha;
    for (uint64_t offset = 0, n = 0; offset < length; offset += chunk.size(), ++n) {
      chunk.resize(static_cast<size_t>(
          std::min<uint64_t>(attachment_store::kChunkSize, length - offset)));
      blob.read(offset, chunk.data(), chunk.size());
      sha.update(chunk);
      attachment_store::put_chunk(conn, id, n, chunk);
    }
    sqlite::Use q(conn.prepare(
        "INSERT INTO attachments(id, digest, length, sha256, refs) VALUES(?1, ?2, ?3, ?4, ?5)"));
    std::string sha256 = sha.finish();
    q->bind_int(1, id);
    q->bind_text(2, digest);
    q->bind_int(3, static_cast<int64_t>(length));
    q->bind_blob(4, sha256);
    q->bind_int(5, refs);
    q->run();
  }
  conn.exec("DROP TABLE attachments_v2");
}

}  // namespace

void init(sqlite::Connection& conn) {
  conn.exec("BEGIN IMMEDIATE");
  try {
    int version = user_version(conn);
    if (version > kVersion) {
      throw std::runtime_error("database file has schema version " + std::to_string(version) +
                               ", newer than this build supports (" + std::to_string(kVersion) +
                               ")");
    }
    // Version 1 → 2: attachments. CREATE TABLE IF NOT EXISTS leaves an existing revs as it is.
    if (version == 1) conn.exec("ALTER TABLE revs ADD COLUMN atts TEXT");
    if (version == 2) migrate_v2_bodies(conn);
    // Version 3 → 4: purges (created by kCreate) and the history counters (meta defaults below).
    conn.exec(kCreate);
    put_meta_default(conn, "revs_limit", kDefaultRevsLimit);
    put_meta_default(conn, "security", kDefaultSecurity);
    put_meta_default(conn, "doc_count", 0);
    put_meta_default(conn, "doc_del_count", 0);
    put_meta_default(conn, "external_size", 0);
    put_meta_default(conn, "history_size", 0);
    put_meta_default(conn, "history_body_size", 0);
    put_meta_default(conn, "update_seq_floor", 0);
    put_meta_default(conn, "purged_infos_limit", kDefaultPurgedInfosLimit);
    if (version != kVersion) {
      conn.exec(("PRAGMA user_version = " + std::to_string(kVersion)).c_str());
    }
    conn.exec("COMMIT");
  } catch (...) {
    if (conn.in_transaction()) conn.exec("ROLLBACK");
    throw;
  }
}

DbState load_state(sqlite::Connection& conn) {
  DbState s;
  uint64_t floor = 0;
  {
    sqlite::Use q(conn.prepare("SELECT key, value FROM meta"));
    while (q->step()) {
      std::string_view key = q->column_text(0);
      if (key == "revs_limit") s.revs_limit = static_cast<uint32_t>(q->column_int(1));
      else if (key == "security") s.security = std::string(q->column_text(1));
      else if (key == "doc_count") s.doc_count = static_cast<uint64_t>(q->column_int(1));
      else if (key == "doc_del_count") s.doc_del_count = static_cast<uint64_t>(q->column_int(1));
      else if (key == "external_size") s.stored_size = static_cast<uint64_t>(q->column_int(1));
      else if (key == "history_size") s.history_size = static_cast<uint64_t>(q->column_int(1));
      else if (key == "history_body_size") {
        s.history_body_size = static_cast<uint64_t>(q->column_int(1));
      }
      else if (key == "update_seq_floor") floor = static_cast<uint64_t>(q->column_int(1));
      else if (key == "purged_infos_limit") {
        s.purged_infos_limit = static_cast<uint64_t>(q->column_int(1));
      }
    }
  }
  if (s.revs_limit == 0) s.revs_limit = kDefaultRevsLimit;
  {
    // The UNIQUE index on seq makes this a single b-tree descent.
    sqlite::Use q(conn.prepare("SELECT max(seq) FROM docs"));
    if (q->step() && !q->column_is_null(0)) s.update_seq = static_cast<uint64_t>(q->column_int(0));
  }
  // A purge that removed the newest document leaves max(seq) below the seq it consumed.
  s.update_seq = std::max(s.update_seq, floor);
  {
    sqlite::Use q(conn.prepare("SELECT max(purge_seq) FROM purges"));
    if (q->step() && !q->column_is_null(0)) s.purge_seq = static_cast<uint64_t>(q->column_int(0));
  }
  {
    sqlite::Use q(conn.prepare("PRAGMA auto_vacuum"));
    s.incremental_vacuum = q->step() && q->column_int(0) == 2;
  }
  return s;
}

void store_counters(sqlite::Connection& conn, const DbState& state) {
  // One statement for the rows: this runs in every commit that writes a document.
  sqlite::Use q(conn.prepare(
      "INSERT OR REPLACE INTO meta(key, value) VALUES('doc_count', ?1), ('doc_del_count', ?2), "
      "('external_size', ?3), ('history_size', ?4), ('history_body_size', ?5)"));
  q->bind_int(1, static_cast<int64_t>(state.doc_count));
  q->bind_int(2, static_cast<int64_t>(state.doc_del_count));
  q->bind_int(3, static_cast<int64_t>(state.stored_size));
  q->bind_int(4, static_cast<int64_t>(state.history_size));
  q->bind_int(5, static_cast<int64_t>(state.history_body_size));
  q->run();
}

}  // namespace divan::engine::schema
