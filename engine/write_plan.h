// Engine-private: what a DocUpdate does to its document, decided from the stored revision tree
// before anything is written, and the resolution of its attachment stubs (revision-trees.md §6,
// http-api.md §7.3). One implementation for the writer (writer.cpp apply) and for
// Snapshot::check_stubs, so a handler that refuses a request up front applies the very rule the
// writer applies at commit time.
//
// Thread-safety: plain functions; the connection as sqlite.h.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/attachments.h"
#include "engine/database.h"
#include "engine/error.h"
#include "engine/sqlite.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

struct WritePlan {
  // bad_request (a malformed replicated path) or conflict (interactive): the op fails, nothing is
  // written and its stubs are never looked at.
  std::optional<Error> error;
  // false without an error: a replicated write whose newest rev was already a leaf (or did not
  // become one): a success that writes nothing, whatever its stubs say.
  bool store = false;
  // Replicated: the forest with the path merged. Interactive: the stored forest (the writer merges
  // the new rev once it knows its id).
  revtree::RevTree tree;
  revtree::RevId newest;                 // replicated: the path's newest rev
  std::optional<revtree::RevId> parent;  // interactive: the rev actually extended (EditPlan)
  // The revision stubs resolve against: the parent for an interactive write (for a recreate, the
  // deleted winner), for a replicated one the nearest ancestor on its path whose body we hold in
  // the forest as it was before the merge (§6.2 step 4). nullopt: none (a stub is missing_stub).
  std::optional<revtree::RevId> stub_base;
  // Interactive: the new revision's pos, which new data gets as revpos. Replicated: nullopt (revpos
  // taken as given).
  std::optional<uint64_t> new_pos;
};

// `stored`: the document's forest as stored (empty for a new document); consumed.
WritePlan plan_write(revtree::RevTree stored, const DocUpdate& update);

// The new revision's attachments once stubs are resolved: what each entry will say, and for an
// entry with new data its bytes (null for a stub carried over from the base revision).
struct ResolvedAttachments {
  std::vector<AttachmentInfo> infos;
  std::vector<const AttachmentBody*> bodies;
  // Set by the writer's digest-collision check (same size as `bodies` once it ran): no body row
  // held bodies[i]'s digest then, so storing it needs no UPDATE attempt first.
  std::vector<bool> unstored;
};

// Resolves `update.attachments` against `plan.stub_base`, reading the base's stored stubs through
// `conn`. Errors: missing_stub (no base, unknown name, revpos differs); bad_request for what callers
// already reject (a data entry without bytes, a name twice: revs.atts is a JSON object, so a
// duplicate would be counted twice but released once). Content types are stored as given: the
// caller normalises them (they are hashed into the rev id as stored).
// REQUIRES: plan.store and no plan.error.
Result<ResolvedAttachments> resolve_attachments(sqlite::Connection& conn, const DocUpdate& update,
                                                const WritePlan& plan);

}  // namespace divan::engine
