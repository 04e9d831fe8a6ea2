// `_replicator` databases (replication-protocol.md §9.1): which databases they are, and the write
// rules every writer of them passes (engine/write_policy.h), as CouchDB's
// couch_replicator_docs:before_doc_update applies them:
//   - an interactive write of a replication document must parse as a replication (spec.h
//     parse_replicator_doc): otherwise 403 forbidden with the reason, nothing written;
//   - the document gets an `owner` (the writer's name) when it has none, and a user who is no
//     admin may not write or delete another user's document (403 "Can't update replication
//     documents from other users.").
// Documents replicated in (new_edits=false), design docs and deletions are not parsed; a
// document the replicator itself marked `failed` is not parsed again.
//
// Thread-safety: the policy is immutable.
#pragma once

#include <string_view>

#include "engine/write_policy.h"

namespace divan::replicator {

inline constexpr std::string_view kReplicatorDb = "_replicator";

// `_replicator`, or any `<prefix>/_replicator` (spec §9.1).
bool is_replicator_db(std::string_view db_name);

class ReplicatorDbPolicy final : public engine::WritePolicy {
 public:
  Result<void> prepare(engine::DocUpdate& update, const engine::Writer& writer) const override;
  std::optional<Error> validate(const engine::DocUpdate& update,
                                const std::optional<std::string>& old_body,
                                const engine::Writer& writer) const override;
};

}  // namespace divan::replicator
