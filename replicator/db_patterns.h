// Which databases a sync mesh syncs (`--peer-dbs`). Pure; an immutable value, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace divan::replicator {

// `--peer-dbs`: which databases a mesh syncs. A comma-separated list of shell globs (fnmatch);
// `!glob` excludes. A database syncs when it matches an include (or there are none) and no
// exclude. System databases (a name starting with '_') sync only when an include names them with
// a pattern that itself starts with '_'.
class DbPatterns {
 public:
  // bad_request for an empty pattern in the list ("a,,b", "!").
  [[nodiscard]] static Result<DbPatterns> parse(std::string_view list);
  bool matches(std::string_view db) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
};

}  // namespace divan::replicator
