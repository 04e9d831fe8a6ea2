#include "engine/schema.h"

#include <stdexcept>
#include <string>

namespace divan::engine::schema {
namespace {

// Ids are TEXT compared with the default BINARY collation: memcmp order, as _all_docs requires.
//
// docs is WITHOUT ROWID: every access is by doc_id (point reads, id ranges), and rows are small
// (the encoded tree). revs is a rowid table: bodies are often larger than the ~1 KB a WITHOUT ROWID
// row keeps inline on a 4 KB page, and a rowid table keeps up to ~4 KB inline.
// attachments is a rowid table so sqlite3_blob_open can stream a body by rowid; `data` is the last
// column, so reading digest/length/refs never touches its overflow pages.
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
  digest TEXT    NOT NULL UNIQUE,
  length INTEGER NOT NULL,
  refs   INTEGER NOT NULL,
  data   BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS local_docs(
  id   TEXT    NOT NULL PRIMARY KEY,
  rev  INTEGER NOT NULL,
  body TEXT    NOT NULL
) WITHOUT ROWID;
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
    conn.exec(kCreate);
    put_meta_default(conn, "revs_limit", kDefaultRevsLimit);
    put_meta_default(conn, "security", kDefaultSecurity);
    put_meta_default(conn, "doc_count", 0);
    put_meta_default(conn, "doc_del_count", 0);
    put_meta_default(conn, "external_size", 0);
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
  {
    sqlite::Use q(conn.prepare("SELECT key, value FROM meta"));
    while (q->step()) {
      std::string_view key = q->column_text(0);
      if (key == "revs_limit") s.revs_limit = static_cast<uint32_t>(q->column_int(1));
      else if (key == "security") s.security = std::string(q->column_text(1));
      else if (key == "doc_count") s.doc_count = static_cast<uint64_t>(q->column_int(1));
      else if (key == "doc_del_count") s.doc_del_count = static_cast<uint64_t>(q->column_int(1));
      else if (key == "external_size") s.external_size = static_cast<uint64_t>(q->column_int(1));
    }
  }
  if (s.revs_limit == 0) s.revs_limit = kDefaultRevsLimit;
  {
    // The UNIQUE index on seq makes this a single b-tree descent.
    sqlite::Use q(conn.prepare("SELECT max(seq) FROM docs"));
    if (q->step() && !q->column_is_null(0)) s.update_seq = static_cast<uint64_t>(q->column_int(0));
  }
  return s;
}

void store_counters(sqlite::Connection& conn, const DbState& state) {
  // One statement for the three rows: this runs in every commit that writes a document.
  sqlite::Use q(conn.prepare(
      "INSERT OR REPLACE INTO meta(key, value) "
      "VALUES('doc_count', ?1), ('doc_del_count', ?2), ('external_size', ?3)"));
  q->bind_int(1, static_cast<int64_t>(state.doc_count));
  q->bind_int(2, static_cast<int64_t>(state.doc_del_count));
  q->bind_int(3, static_cast<int64_t>(state.external_size));
  q->run();
}

}  // namespace divan::engine::schema
