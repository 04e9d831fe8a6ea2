#include "engine/sqlite.h"

#include <sqlite3.h>

namespace divan::engine::sqlite {

void check(sqlite3* db, int rc, std::string_view context) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string what = "sqlite: ";
  what += sqlite3_errstr(rc);
  if (db != nullptr) {
    what += " (";
    what += sqlite3_errmsg(db);
    what += ")";
  }
  what += " in ";
  what += context;
  throw Error(rc, what);
}

// ---- Stmt ---------------------------------------------------------------------------------------

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
  // SQLITE_PREPARE_PERSISTENT: these statements live as long as the connection.
  int rc = sqlite3_prepare_v3(db_, sql_.data(), static_cast<int>(sql_.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  check(db_, rc, sql_);
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

void Stmt::bind_text(int index, std::string_view text) {
  // A non-null pointer even for "" so SQLite binds an empty string, not NULL.
  const char* data = text.data() != nullptr ? text.data() : "";
  check(db_, sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8),
        sql_);
}

void Stmt::bind_blob(int index, std::string_view bytes) {
  const char* data = bytes.data() != nullptr ? bytes.data() : "";
  check(db_, sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC), sql_);
}

void Stmt::bind_int(int index, int64_t value) {
  check(db_, sqlite3_bind_int64(stmt_, index, value), sql_);
}

void Stmt::bind_null(int index) { check(db_, sqlite3_bind_null(stmt_, index), sql_); }

void Stmt::bind_zeroblob(int index, uint64_t length) {
  check(db_, sqlite3_bind_zeroblob64(stmt_, index, length), sql_);
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  check(db_, rc, sql_);
  return false;
}

void Stmt::reset() {
  // The error of a failed step was already thrown by step(); reset() repeats it, so ignore it.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string_view Stmt::column_text(int index) const {
  const unsigned char* p = sqlite3_column_text(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
}

std::string_view Stmt::column_blob(int index) const {
  const void* p = sqlite3_column_blob(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(n)};
}

bool Stmt::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

// ---- Connection ---------------------------------------------------------------------------------

namespace {

// Process-wide settings, applied once before the first connection opens (sqlite3_config() only
// works before SQLite initialises; afterwards it returns SQLITE_MISUSE and changes nothing, which
// is harmless here). MEMSTATUS off: SQLite otherwise takes one global mutex around every malloc and
// free to keep usage statistics we never read, serialising all connections on it.
void configure_sqlite_once() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

}  // namespace

Connection::Connection(const std::filesystem::path& path, Mode mode) {
  configure_sqlite_once();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  switch (mode) {
    case Mode::kReadWrite: flags |= SQLITE_OPEN_READWRITE; break;
    case Mode::kCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case Mode::kReadOnly: flags |= SQLITE_OPEN_READONLY; break;
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string what = "sqlite: cannot open ";
    what += path.string();
    what += ": ";
    what += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw Error(rc, what);
  }
}

Connection::~Connection() {
  cache_.clear();  // finalize before close, or close_v2 would keep the handle as a zombie
  sqlite3_close_v2(db_);
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = "sqlite: ";
    what += err != nullptr ? err : sqlite3_errstr(rc);
    what += " in ";
    what += sql;
    sqlite3_free(err);
    throw Error(rc, what);
  }
}

Stmt& Connection::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return *it->second;
  auto stmt = std::make_unique<Stmt>(db_, sql);
  Stmt& ref = *stmt;
  cache_.emplace(std::string(sql), std::move(stmt));
  return ref;
}

int64_t Connection::changes() const { return sqlite3_changes64(db_); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

// ---- Blob ---------------------------------------------------------------------------------------

Blob::Blob(Connection& conn, const char* table, const char* column, int64_t rowid, bool writable)
    : db_(conn.handle()) {
  int rc = sqlite3_blob_open(db_, "main", table, column, rowid, writable ? 1 : 0, &blob_);
  if (rc != SQLITE_OK) {
    sqlite3_blob_close(blob_);  // SQLite may hand back a handle even on failure; closing null is ok
    blob_ = nullptr;
    check(db_, rc, "sqlite3_blob_open");
  }
}

Blob::~Blob() { sqlite3_blob_close(blob_); }

uint64_t Blob::size() const { return static_cast<uint64_t>(sqlite3_blob_bytes(blob_)); }

void Blob::read(uint64_t offset, char* out, size_t n) {
  check(db_, sqlite3_blob_read(blob_, out, static_cast<int>(n), static_cast<int>(offset)),
        "sqlite3_blob_read");
}

void Blob::write(uint64_t offset, const char* data, size_t n) {
  check(db_, sqlite3_blob_write(blob_, data, static_cast<int>(n), static_cast<int>(offset)),
        "sqlite3_blob_write");
}

}  // namespace divan::engine::sqlite
