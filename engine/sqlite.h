// A thin RAII layer over the SQLite C API: connections, cached prepared statements, and errors as
// exceptions (engine-private; never included by a public engine header).
//
// SQLite failures here are the "cannot handle on the spot" kind (I/O, full disk, corruption, busy
// beyond the timeout), so they throw sqlite::Error; the writer's drain and the request handler catch.
//
// Thread-safety: a Connection (and its statements) is used by one thread at a time; connections are
// opened with SQLITE_OPEN_NOMUTEX and handed between threads only through a mutex or a post.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_blob;

namespace divan::engine::sqlite {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }  // extended SQLite result code

 private:
  int code_;
};

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Parameter indexes are 1-based, as in SQLite. Text and blobs are bound SQLITE_STATIC: the
  // caller keeps them alive until the statement is reset (a Use guard does that at scope exit).
  void bind_text(int index, std::string_view text);
  void bind_blob(int index, std::string_view bytes);
  void bind_int(int index, int64_t value);
  void bind_null(int index);
  // A blob of `length` zero bytes, to be filled in place through a Blob (no copy in memory).
  void bind_zeroblob(int index, uint64_t length);

  // true: a row is ready; false: done. Throws sqlite::Error on failure.
  bool step();
  // Steps a statement that returns no rows (or whose rows are ignored).
  void run() {
    while (step()) {
    }
  }
  void reset();  // ends the current execution and clears the bindings

  // Column indexes are 0-based. Views stay valid until the next step()/reset().
  int64_t column_int(int index) const;
  std::string_view column_text(int index) const;
  std::string_view column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;  // for error messages
};

// Resets a statement at scope exit, so no statement stays active past its use (an active read
// statement would keep a read transaction open and make COMMIT of a read snapshot fail).
class Use {
 public:
  explicit Use(Stmt& stmt) : stmt_(stmt) {}
  ~Use() { stmt_.reset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Stmt* operator->() { return &stmt_; }
  Stmt& operator*() { return stmt_; }

 private:
  Stmt& stmt_;
};

class Connection {
 public:
  enum class Mode { kReadWrite, kCreate, kReadOnly };

  // Throws sqlite::Error if the file cannot be opened.
  Connection(const std::filesystem::path& path, Mode mode);
  ~Connection();  // finalizes the cached statements, then closes
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void exec(const char* sql);  // one or more statements, no parameters
  // A statement prepared once per connection and kept for its lifetime. `sql` is the cache key.
  Stmt& prepare(std::string_view sql);

  int64_t changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
  bool in_transaction() const;
  sqlite3* handle() { return db_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Stmt>, Hash, std::equal_to<>> cache_;
};

// Incremental I/O on one BLOB value (sqlite3_blob_open): reads or writes a slice of a large value
// without loading the rest. Lives inside the caller's transaction; closed at scope exit.
class Blob {
 public:
  // Opens column `column` of the row `rowid` of `table`. Throws sqlite::Error (e.g. no such row).
  Blob(Connection& conn, const char* table, const char* column, int64_t rowid, bool writable);
  ~Blob();
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;

  uint64_t size() const;
  // REQUIRES: offset + n <= size(); both below 2 GiB (SQLite's own limit on a value).
  void read(uint64_t offset, char* out, size_t n);
  void write(uint64_t offset, const char* data, size_t n);

 private:
  sqlite3* db_;
  sqlite3_blob* blob_ = nullptr;
};

// Throws sqlite::Error for `rc` unless it is SQLITE_OK/ROW/DONE.
void check(sqlite3* db, int rc, std::string_view context);

}  // namespace divan::engine::sqlite
