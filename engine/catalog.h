// The set of databases in a data directory, and the node's persistent identity.
//
// One SQLite file per database, named from the database name by an escaping that keeps every name
// inside the data directory (names may contain '/', '$', '(', ')', '+', '-'). Databases open lazily
// and stay open; delete waits for in-flight work on that database, closes it, then removes its files.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.h"
#include "engine/error.h"
#include "engine/write_policy.h"

namespace divan::engine {

struct CatalogOptions {
  std::filesystem::path data_dir = "data";
  // Group-commit caps: a drain takes at most this much, so one huge queue cannot starve a caller.
  size_t max_batch_ops = 1000;
  size_t max_batch_bytes = 1 << 20;
  size_t writer_threads = 2;     // shared by all databases; each database drains on one at a time
  size_t max_readers_per_db = 8; // read-only connections kept per database
  bool fsync = true;             // synchronous=FULL; false only for benchmarks of the CPU path
  // The write rules of system databases (write_policy.h), asked once per database as it opens.
  WritePolicies write_policies;
};

struct CatalogImpl;

class Catalog {
 public:
  explicit Catalog(CatalogOptions options);
  ~Catalog();  // close_all()

  // CouchDB's name rule (http-api.md §4.1): illegal_database_name with CouchDB's exact reason.
  static Result<void> validate_name(std::string_view name);

  Result<std::shared_ptr<Database>> create(std::string_view name);  // file_exists, illegal name
  Result<std::shared_ptr<Database>> open(std::string_view name);    // not_found if absent
  Result<void> remove(std::string_view name);                       // not_found if absent
  std::vector<std::string> all_dbs() const;                         // sorted by bytes

  // 32 lowercase hex chars, created on first start and kept in the data directory.
  const std::string& server_uuid() const;

  // Where AttachmentSpool puts the temporary files of uploads being streamed in: `<data>/.spool`,
  // created at open. Spool files are unlinked at creation, so a crash leaves nothing behind.
  const std::filesystem::path& spool_dir() const;

  // Drains every writer and closes every file. Later calls fail with not_found.
  void close_all();

 private:
  std::unique_ptr<CatalogImpl> impl_;
};

}  // namespace divan::engine
