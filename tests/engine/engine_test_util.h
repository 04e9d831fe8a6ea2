// Helpers shared by the engine tests: temporary data directories and write builders.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"
#include "engine/catalog.h"
#include "engine/database.h"
#include "revtree/rev_hash.h"
#include "revtree/rev_id.h"
#include "revtree/rev_tree.h"

namespace divan::engine::test {

namespace fs = std::filesystem;

using ::divan::test::TempDir;

inline CatalogOptions options_for(const TempDir& dir, bool fsync = false) {
  CatalogOptions o;
  o.data_dir = dir.path();
  o.fsync = fsync;
  return o;
}

inline revtree::RevId rev(std::string_view text) {
  auto r = revtree::parse_rev(text);
  REQUIRE(r.has_value());
  return *r;
}

// The rev id an interactive write computes (spec §2.2); bodies in tests are already canonical.
inline std::string hash_for(bool deleted, const std::optional<revtree::RevId>& parent,
                            const std::string& body) {
  return revtree::new_rev_id(deleted, parent ? parent->pos : 0, parent ? parent->id : "", body);
}

// An interactive write through the named constructor (bodies are JSON object text).
inline DocUpdate edit(std::string id, std::string body, std::optional<std::string> parent = {},
                      bool deleted = false, std::vector<NewAttachment> atts = {}) {
  auto json = Json::parse(body);
  auto u = DocUpdate::edit(std::move(id), parent ? std::optional(rev(*parent)) : std::nullopt,
                           deleted, json, std::move(atts));
  REQUIRE(u.has_value());
  return std::move(*u);
}

inline DocUpdate remove_doc(std::string id, std::string parent) {
  return DocUpdate::deletion(std::move(id), rev(parent));
}

// A new_edits=false write of `_revisions {start, ids}` (newest first).
inline DocUpdate replicated(std::string id, uint64_t start, std::vector<std::string> ids,
                            bool deleted = false, std::string body = "{}",
                            std::vector<NewAttachment> atts = {}) {
  auto u = DocUpdate::replicated(std::move(id), revtree::RevPath{start, std::move(ids)}, deleted,
                                 Json::parse(body), std::move(atts));
  REQUIRE(u.has_value());
  return std::move(*u);
}

// The same write with `atts` as its attachment set.
inline DocUpdate with_atts(const DocUpdate& u, std::vector<NewAttachment> atts) {
  auto body = Json::parse(u.body());
  auto out = u.replicated()
                 ? DocUpdate::replicated(u.id(), *u.revisions(), u.deleted(), body, std::move(atts))
                 : DocUpdate::edit(u.id(), u.parent(), u.deleted(), body, std::move(atts));
  REQUIRE(out.has_value());
  return std::move(*out);
}

inline LocalUpdate local_put(std::string id, uint64_t counter, std::string body) {
  LocalUpdate u;
  u.id = std::move(id);
  u.rev_counter = counter;
  u.body = std::move(body);
  return u;
}

inline LocalUpdate local_delete(std::string id) {
  LocalUpdate u;
  u.id = std::move(id);
  u.deleted = true;
  return u;
}

// Writes one op and returns its outcome (the batch itself must succeed).
inline WriteOutcome write_one(Database& db, WriteOp op) {
  std::vector<WriteOp> ops;
  ops.push_back(std::move(op));
  auto result = db.write(std::move(ops));
  REQUIRE(result.has_value());
  REQUIRE(result->size() == 1);
  return std::move(result->front());
}

// Runs a compaction to its end (bounded: 10 s).
inline void compact_and_wait(Database& db) {
  db.compact();
  for (int i = 0; i < 10000 && db.compaction().running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE_FALSE(db.compaction().running);
  CHECK(db.compaction().error == "");
}

inline std::vector<std::string> rev_strings(const std::vector<revtree::RevId>& revs) {
  std::vector<std::string> out;
  for (const auto& r : revs) out.push_back(r.str());
  return out;
}

inline std::vector<std::string> leaf_strings(const revtree::RevTree& tree) {
  std::vector<std::string> out;
  for (const auto& l : tree.leaves()) out.push_back(l.rev.str() + (l.deleted ? "(D)" : ""));
  return out;
}

inline revtree::RevTree doc_tree(Database& db, const std::string& id) {
  auto snap = db.snapshot();
  REQUIRE(snap.has_value());
  auto rec = snap->doc(id);
  REQUIRE(rec.has_value());
  return rec->tree;
}

// Ids listed by scan_by_id over everything (live winners only unless include_deleted).
inline std::vector<std::string> all_doc_ids(Database& db, bool include_deleted = false) {
  auto snap = db.snapshot();
  REQUIRE(snap.has_value());
  std::vector<std::string> ids;
  IdRange range;
  range.include_deleted = include_deleted;
  snap->scan_by_id(range, [&](const DocRow& row) {
    ids.emplace_back(row.id);
    return true;
  });
  return ids;
}

// DIVAN_SEED replays a run; otherwise a fresh seed (printed through CAPTURE on failure).
inline uint64_t test_seed() {
  if (const char* s = std::getenv("DIVAN_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() ^
         static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace divan::engine::test
