#include "replicator/db_patterns.h"

#include <fnmatch.h>

#include <algorithm>

#include "base/text.h"

namespace divan::replicator {

Result<DbPatterns> DbPatterns::parse(std::string_view list) {
  DbPatterns patterns;
  patterns.text_ = std::string(list);
  if (trim_ows(list).empty()) return patterns;
  while (true) {
    const size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    const bool exclude = !item.empty() && item.front() == '!';
    if (exclude) item.remove_prefix(1);
    if (item.empty()) {
      return fail(Code::kBadRequest, "--peer-dbs: an empty pattern in \"" + patterns.text_ + "\"");
    }
    (exclude ? patterns.exclude_ : patterns.include_).emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return patterns;
}

bool DbPatterns::matches(std::string_view db) const {
  const std::string name(db);
  auto hit = [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  };
  if (std::any_of(exclude_.begin(), exclude_.end(), hit)) return false;
  const bool system = name.starts_with('_');
  if (include_.empty()) return !system;
  return std::any_of(include_.begin(), include_.end(), [&](const std::string& pattern) {
    return hit(pattern) && (!system || pattern.starts_with('_'));
  });
}

}  // namespace divan::replicator
