// Helpers the replicator's test files share (one definition each: the test binaries are unity
// builds, where two file-local copies of one helper collide).
#pragma once

#include <cstdint>
#include <string>

#include <doctest/doctest.h>

#include "revtree/rev_id.h"

namespace divan::replicator::test {

// `prefix` followed by `n`: ids and sequences for table tests. Not `"literal" + std::string`, on
// which GCC 12 warns falsely (-Wrestrict, GCC bug 105329).
inline std::string numbered(std::string prefix, int64_t n) {
  prefix += std::to_string(n);
  return prefix;
}

// The revision `text` names; fails the test when it is not a valid rev.
inline revtree::RevId rev(const char* text) {
  auto parsed = revtree::parse_rev(text);
  REQUIRE_MESSAGE(parsed.has_value(), text);
  return *parsed;
}

}  // namespace divan::replicator::test
