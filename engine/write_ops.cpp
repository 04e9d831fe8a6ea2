#include "engine/write_ops.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "revtree/rev_hash.h"

namespace divan::engine {

Result<DocUpdate> DocUpdate::edit(std::string id, std::optional<revtree::RevId> parent,
                                  bool deleted, const Json& body,
                                  std::vector<NewAttachment> attachments) {
  DocUpdate update;
  update.id_ = std::move(id);
  update.deleted_ = deleted;
  update.parent_ = std::move(parent);
  update.attachments_ = std::move(attachments);
  if (auto ok = update.set_body(body); !ok) return tl::unexpected(ok.error());
  return update;
}

DocUpdate DocUpdate::deletion(std::string id, std::optional<revtree::RevId> parent) {
  // An empty object: its text is its canonical form, and no attachment needs resolving.
  return *edit(std::move(id), std::move(parent), true, Json::object());
}

Result<DocUpdate> DocUpdate::replicated(std::string id, revtree::RevPath revisions, bool deleted,
                                        const Json& body, std::vector<NewAttachment> attachments) {
  DocUpdate update;
  update.id_ = std::move(id);
  update.deleted_ = deleted;
  update.revisions_ = std::move(revisions);
  update.attachments_ = std::move(attachments);
  if (auto ok = update.set_body(body); !ok) return tl::unexpected(ok.error());
  return update;
}

DocUpdate DocUpdate::replicated_stored(std::string id, revtree::RevPath revisions, bool deleted,
                                       std::string stored_body,
                                       std::vector<NewAttachment> attachments) {
  DocUpdate update;
  update.id_ = std::move(id);
  update.deleted_ = deleted;
  update.revisions_ = std::move(revisions);
  update.attachments_ = std::move(attachments);
  update.body_ = stored_body.empty() ? std::string("{}") : std::move(stored_body);
  return update;
}

bool DocUpdate::has_stubs() const {
  return std::any_of(attachments_.begin(), attachments_.end(),
                     [](const NewAttachment& a) { return a.stub; });
}

Result<DocUpdate> DocUpdate::with_body(const Json& body) && {
  if (auto ok = set_body(body); !ok) return tl::unexpected(ok.error());
  return std::move(*this);
}

Result<DocUpdate> DocUpdate::with_body_text(std::string compact) && {
  assert(replicated());
  if (compact.size() > kMaxDocumentSize) return fail(Code::kDocumentTooLarge, id_);
  body_ = std::move(compact);
  return std::move(*this);
}

Result<void> DocUpdate::set_body(const Json& body) {
  // `_attachments` was split off by the caller: the limit counts the JSON body only (§5.4).
  body_ = body.dump();
  if (body_.size() > kMaxDocumentSize) return fail(Code::kDocumentTooLarge, id_);
  if (revisions_) return {};  // a replicated rev id is given, never hashed
  // From the dump: most bodies are already canonical, and then it is reused as is.
  canonical_body_ = revtree::canonical_json(body, body_);
  new_rev_id_.clear();
  if (has_stubs()) return {};  // stubs name bytes only the writer can look up: it hashes
  std::vector<revtree::AttachmentDigest> digests;
  digests.reserve(attachments_.size());
  for (const auto& att : attachments_) {
    if (!att.body) return {};  // malformed: the writer refuses it (resolve_attachments)
    digests.push_back({att.name, att.content_type, att.body->digest()});
  }
  new_rev_id_ = revtree::new_rev_id(deleted_, parent_ ? parent_->pos : 0,
                                    parent_ ? std::string_view(parent_->id) : "", canonical_body_,
                                    std::move(digests));
  return {};
}

}  // namespace divan::engine
