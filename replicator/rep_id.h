// The replication id: which checkpoints a replication reads and writes, and which job it is.
//
// spec: replication-protocol.md §3.3, the "Ours" paragraph. CouchDB hashes term_to_binary of an
// Erlang term, which we cannot and need not reproduce: our checkpoints are only ever read by the
// replicator that wrote them. What we keep of CouchDB is the shape and the rules:
//   base = 32 lowercase hex MD5 over the canonical JSON text (revtree::canonical_json: keys sorted,
//          no whitespace) of
//            [server_uuid, source.id_key(), target.id_key(), filter_part, winning_revs_only, since_seq]
//   - server_uuid: OUR persisted node uuid (engine::Catalog::server_uuid()), not the peers';
//   - the endpoint keys carry no password and no credential headers (Endpoint::id_key), so a
//     password change keeps the checkpoints;
//   - filter_part: null, {"doc_ids": sorted unique ids}, {"selector": selector}, or
//     {"filter": name, "query_params": {…}} plus "source": the filter function's text for a design
//     doc filter (editing the function changes what is replicated, so it changes the id);
//   - since_seq: the value verbatim, or null.
// `continuous` and `create_target` are not hashed: they only add the extensions "+continuous" then
// "+create_target" to the job id, never to the checkpoint doc id "_local/<base>", so one-shot and
// continuous runs of the same replication share checkpoints.
//
// FROZEN like revtree/rev_hash.cpp: changing the hashed text changes every id, and every existing
// replication then starts over from sequence 0 (correct, but a full re-scan of every source).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "replicator/spec.h"

namespace divan::replicator {

struct ReplicationId {
  std::string base;       // 32 lowercase hex
  std::string extension;  // "", "+continuous", "+create_target" or "+continuous+create_target"

  // The job id, as `_replicate` answers `_local_id` and `_scheduler/jobs` lists `id`.
  std::string full() const { return base + extension; }
  // Where the checkpoints live on both sides: "_local/<base>".
  std::string checkpoint_doc_id() const { return "_local/" + base; }
};

// The hashed value, [server_uuid, source key, target key, filter part, winning_revs_only,
// since_seq] (exposed so tests and logs can show what an id is made of). `filter_source` is the
// text of a design doc filter's function as fetched from the source; ignored for other filters.
Json replication_id_input(std::string_view server_uuid, const ReplicationSpec& spec,
                          std::string_view filter_source = {});

ReplicationId replication_id(std::string_view server_uuid, const ReplicationSpec& spec,
                             std::string_view filter_source = {});

}  // namespace divan::replicator
