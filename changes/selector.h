// A Mango selector (CouchDB `_find` / `filter=_selector` syntax), the subset the changes feed needs:
// field equality (implicit `$eq`), `$eq $ne $gt $gte $lt $lte $in $nin $exists`, `$and $or $not
// $nor`, nested fields by sub-object or dotted path ("a.b"). Comparisons follow CouchDB's collation
// of JSON types: null < false < true < numbers < strings < arrays < objects.
// Immutable after parse; thread-safe.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace divan::changes {

class Selector {
 public:
  // 400 bad_request with CouchDB-like reasons for malformed selectors (non-object, unknown
  // operator, `$in` without an array, …).
  static Result<Selector> parse(const nlohmann::ordered_json& selector);
  bool matches(const nlohmann::ordered_json& doc) const;

  struct Node;  // the parsed tree (selector.cpp)

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace divan::changes
