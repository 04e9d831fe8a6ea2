// Small helpers shared by the revtree tests: terse constructors and printable summaries, so a
// failing CHECK shows the forest/leaf list instead of "{?} == {?}".
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "revtree/rev_hash.h"
#include "revtree/rev_id.h"
#include "revtree/rev_tree.h"

namespace divan::revtree::test {

// "2-b" → RevId (must parse).
inline RevId R(std::string_view text) {
  auto r = parse_rev(text);
  REQUIRE_MESSAGE(r.has_value(), "bad rev in test: ", std::string(text));
  return *r;
}

// `_revisions` form: P(3, {"d", "b", "a"}) is {"start":3,"ids":["d","b","a"]}.
inline RevPath P(uint64_t start, std::initializer_list<const char*> ids) {
  RevPath p;
  p.start = start;
  for (const char* id : ids) p.ids.emplace_back(id);
  return p;
}

// Builds a forest by merging paths (replicated writes, no stemming).
struct Merge {
  RevPath path;
  bool deleted = false;
};
inline RevTree tree_of(std::initializer_list<Merge> merges) {
  RevTree t;
  for (const Merge& m : merges) t.merge(m.path, m.deleted);
  return t;
}

inline std::string revs(const std::vector<RevId>& v) {
  std::string out;
  for (const RevId& r : v) {
    if (!out.empty()) out += ',';
    out += r.str();
  }
  return out;
}

inline std::string leaves(const std::vector<Leaf>& v) {
  std::string out;
  for (const Leaf& l : v) {
    if (!out.empty()) out += ',';
    out += l.rev.str();
    if (l.deleted) out += "(D)";
  }
  return out;
}

inline const char* name(MergeResult r) {
  switch (r) {
    case MergeResult::kNewLeaf:
      return "new_leaf";
    case MergeResult::kNewBranch:
      return "new_branch";
    case MergeResult::kInternalNode:
      return "internal_node";
  }
  return "?";
}

// Revs holding a body, "1-a,2-b(D)", in layout order.
inline std::string bodies(const RevTree& t) {
  std::string out;
  for (const RevTree::Node& n : t.nodes()) {
    if (!n.has_body) continue;
    if (!out.empty()) out += ',';
    out += n.rev.str();
    if (n.deleted) out += "(D)";
  }
  return out;
}

// One interactive write the way the engine does it (spec §6.1): plan, hash, merge, stem, drop
// internal bodies. `forced_id` replaces the hash so tests can use the spec's short ids.
// Returns the new rev, or nullopt for a 409.
inline std::optional<RevId> interactive(RevTree& t, const std::optional<RevId>& parent,
                                        bool deleted, std::string_view canonical_body = "{}",
                                        std::optional<std::string> forced_id = std::nullopt,
                                        uint32_t revs_limit = 1000) {
  const EditPlan plan = t.plan_edit(parent, deleted);
  if (plan.conflict) return std::nullopt;
  const uint64_t parent_pos = plan.parent ? plan.parent->pos : 0;
  const std::string parent_id = plan.parent ? plan.parent->id : "";
  const std::string id =
      forced_id ? *forced_id : new_rev_id(deleted, parent_pos, parent_id, canonical_body);
  RevPath path{parent_pos + 1, {id}};
  if (plan.parent) path.ids.push_back(parent_id);
  const MergeResult res = t.merge(path, deleted);
  CHECK_MESSAGE(res == MergeResult::kNewLeaf,
                name(res));  // interactive writes accept only new_leaf
  t.stem(revs_limit);
  t.drop_internal_bodies();
  return RevId{parent_pos + 1, id};
}

}  // namespace divan::revtree::test

template <>
struct doctest::StringMaker<divan::revtree::MergeResult> {
  static doctest::String convert(divan::revtree::MergeResult r) {
    return divan::revtree::test::name(r);
  }
};
template <>
struct doctest::StringMaker<divan::revtree::RevId> {
  static doctest::String convert(const divan::revtree::RevId& r) { return r.str().c_str(); }
};
