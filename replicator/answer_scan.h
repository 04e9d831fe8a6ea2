// The two large answers of a pull, read with simdjson (engine/doc_scan.h says why): a `_changes`
// page (spec replication-protocol.md §3.6) and a `_bulk_get` answer (§3.8, http-api.md §11).
// HttpPeer turns what these return into its PeerErrors and retries; the shapes are checked here.
//
// An answer simdjson refuses but nlohmann reads (numbers past 64 bits, a byte order mark) is read
// through nlohmann's compact text of it instead, so both paths accept the same answers.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "engine/error.h"
#include "engine/write_ops.h"
#include "replicator/peer.h"

namespace divan::replicator::answer_scan {

// One page of a changes answer: rows with their revs (a `removed` row without its first rev, rows
// with an empty id skipped), last_seq (else the last row's seq, else `since`) and pending. The
// error is what is wrong with the answer ("no results array", "a row without seq", …).
tl::expected<ChangesPage, std::string> changes_page(std::string_view body, const Json& since);

// What one `_bulk_get` result (one requested id and rev) held.
struct BulkGetResult {
  bool has_docs = false;  // a non-empty `docs` array
  // Its "ok" items as replicated writes (doc_wire::parse_fetched's rules and errors).
  std::vector<Result<engine::DocUpdate>> docs;
  size_t not_found = 0;  // items {"error":{"error":"not_found",…}}
  bool other = false;    // an item that is neither (CouchDB fetches that doc on its own)
};

// The results of a `_bulk_get` answer, in request order; nullopt unless the answer is exactly
// {"results":[…]} with `expected` results.
std::optional<std::vector<BulkGetResult>> bulk_get(std::string_view body, size_t expected);

}  // namespace divan::replicator::answer_scan
