// Database names ↔ file names (engine-private; tests include it too).
//
// A database's file is `<escaped>.sqlite3` where every byte outside [a-z0-9_-] is written as %XX
// (lowercase hex). '/', '$', '(', ')', '+' and '.' therefore never reach the file system, so a name
// cannot escape the data directory or collide with SQLite's "-wal"/"-shm" companions, and the
// mapping is injective. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace divan::engine {

inline constexpr std::string_view kDbFileSuffix = ".sqlite3";

std::string escape_db_name(std::string_view name);
// The database name for a file name produced by escape_db_name() + kDbFileSuffix; nullopt for any
// other file name (SQLite companions, the node file, malformed escapes, non-canonical escapes).
std::optional<std::string> db_name_from_file(std::string_view file_name);

}  // namespace divan::engine
