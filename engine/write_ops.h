// What a write is, before the writer applies it (Database::submit): DocUpdate (a revision of a
// normal document), LocalUpdate (a `_local/…` document) and the database settings.
//
// A DocUpdate is made only by its named constructors, which compute what derives from the body
// (the stored compact text, its canonical form, the new revision's id) on the caller's thread, so
// the single writer never pays for it and no caller can forget it and get a wrong rev id:
//   edit()        an interactive write (new_edits=true): revision-trees.md §6.1, with `parent`;
//   deletion()    an interactive deletion (DELETE /{db}/{docid}): an empty deleted body;
//   replicated()  a replicated write (new_edits=false): the `_revisions` path merged verbatim
//                 (§6.2), which never conflicts.
// Whether an interactive write conflicts is decided by the writer alone, against the stored tree,
// by RevTree::plan_edit.
//
// Immutable values once built; safe to move between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/attachments.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

using Json = nlohmann::ordered_json;

// CouchDB's default max_document_size: a larger JSON body (attachments not counted) is 413
// document_too_large (http-api.md §5.4).
inline constexpr size_t kMaxDocumentSize = 8'000'000;

class DocUpdate {
 public:
  // An interactive write of `body` (the user fields: no `_` members) as a child of `parent`
  // (nullopt: a first revision, or a recreate over a deleted winner). `attachments` is the new
  // revision's complete attachment set (attachments.h NewAttachment); when none is a stub, the new
  // rev id is hashed here (revision-trees.md §2.2), else the writer hashes it once it resolved them.
  // Errors: document_too_large.
  [[nodiscard]] static Result<DocUpdate> edit(std::string id, std::optional<revtree::RevId> parent,
                                              bool deleted, const Json& body,
                                              std::vector<NewAttachment> attachments = {});
  // An interactive deletion of the revision `parent` (nullopt: the writer answers as plan_edit
  // rules, a conflict for a live document).
  static DocUpdate deletion(std::string id, std::optional<revtree::RevId> parent);
  // A replicated write: `revisions` (newest first) is merged as it is; the newest revision gets
  // `body` and `attachments` (stubs resolve against the nearest ancestor on the path whose body
  // the target holds, §6.3). Errors: document_too_large.
  [[nodiscard]] static Result<DocUpdate> replicated(std::string id, revtree::RevPath revisions,
                                                    bool deleted, const Json& body,
                                                    std::vector<NewAttachment> attachments = {});
  // The same from a body that is already stored compact JSON text (a database's own
  // Snapshot::revision(), as the local replicator reads it): no parse, no size check.
  static DocUpdate replicated_stored(std::string id, revtree::RevPath revisions, bool deleted,
                                     std::string stored_body,
                                     std::vector<NewAttachment> attachments = {});

  const std::string& id() const { return id_; }
  bool deleted() const { return deleted_; }
  // Compact JSON object text of the stored body (no `_` members).
  const std::string& body() const { return body_; }
  // Interactive writes: revtree::canonical_json(body), the rev hash's input.
  const std::string& canonical_body() const { return canonical_body_; }
  bool replicated() const { return revisions_.has_value(); }
  // Interactive: the requested parent.
  const std::optional<revtree::RevId>& parent() const { return parent_; }
  // Interactive without stubs: the new rev id for `parent` as requested (empty otherwise). The
  // writer uses it when the edit does extend that parent, and otherwise (recreating a deleted
  // document extends the deleted winner) hashes the id itself.
  const std::string& new_rev_id() const { return new_rev_id_; }
  // Replicated: the path to merge.
  const std::optional<revtree::RevPath>& revisions() const { return revisions_; }
  const std::vector<NewAttachment>& attachments() const { return attachments_; }
  bool has_stubs() const;

  // The same write with another body (the `_users` policy hashes a password into it): derived
  // fields are computed again. Errors: document_too_large.
  [[nodiscard]] Result<DocUpdate> with_body(const Json& body) &&;
  // A replicated write with its body given as compact JSON object text, already validated
  // (engine/doc_scan.h writes it from a simdjson parse): no dump. Errors: document_too_large.
  // REQUIRES: replicated() (an interactive write hashes a canonical form of the body).
  [[nodiscard]] Result<DocUpdate> with_body_text(std::string compact) &&;

 private:
  DocUpdate() = default;
  // Sets body_ from `body` and, for an interactive write, canonical_body_ and new_rev_id_.
  [[nodiscard]] Result<void> set_body(const Json& body);

  std::string id_;
  bool deleted_ = false;
  std::string body_;
  std::string canonical_body_;
  std::optional<revtree::RevId> parent_;
  std::string new_rev_id_;
  std::optional<revtree::RevPath> revisions_;
  std::vector<NewAttachment> attachments_;
};

// A `_local/…` document write (spec http-api.md §8): no tree, no MVCC, rev "0-N".
struct LocalUpdate {
  std::string id;              // full id, "_local/…"
  uint64_t rev_counter = 0;    // N of the supplied "0-N" (0 when absent); stored rev = N + 1
  bool deleted = false;
  std::string body;            // compact JSON object text (no `_` fields)
};

struct SetRevsLimit { uint32_t limit = 1000; };
struct SetSecurity { std::string json; };  // the whole `_security` object, compact JSON text

// A purge of one document's leaf revisions (POST /{db}/_purge): they go, with every revision no
// remaining leaf descends from, bodies and all, without a tombstone (RevTree::remove_leaves). A
// document left with no leaf disappears from every read. The purge is recorded (purges table)
// under `uuid`, and a replicated write of a recorded purged revision is ignored as already known.
struct PurgeDoc {
  std::string id;
  std::vector<revtree::RevId> revs;
  std::string uuid;  // the purge request's id (32 hex)
};
struct SetPurgedInfosLimit { uint64_t limit = 1000; };

using WriteOp =
    std::variant<DocUpdate, LocalUpdate, SetRevsLimit, SetSecurity, PurgeDoc, SetPurgedInfosLimit>;

}  // namespace divan::engine
