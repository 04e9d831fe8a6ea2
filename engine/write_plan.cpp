#include "engine/write_plan.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "engine/attachment_store.h"

namespace divan::engine {
namespace {

bool valid_path(const revtree::RevPath& path) {
  if (path.ids.empty() || path.start < path.ids.size()) return false;
  for (const auto& id : path.ids) {
    if (id.empty()) return false;
  }
  return true;
}

// §6.2 step 4: the nearest ancestor on `path` (its newest rev excluded) whose body `tree` holds.
std::optional<revtree::RevId> replicated_base(const revtree::RevTree& tree,
                                              const revtree::RevPath& path) {
  for (size_t k = 1; k < path.ids.size(); ++k) {
    revtree::RevId r{path.start - k, path.ids[k]};
    const revtree::RevTree::Node* node = tree.find(r);
    if (node != nullptr && node->has_body) return r;
  }
  return std::nullopt;
}

bool has_duplicate_name(const DocUpdate& update) {
  if (update.attachments().size() < 2) return false;
  std::unordered_set<std::string_view> names;
  for (const auto& a : update.attachments()) {
    if (!names.insert(a.name).second) return true;
  }
  return false;
}

Error missing_stub(const DocUpdate& update, std::string_view name) {
  return Error{Code::kMissingStub,
               "Invalid attachment stub in " + update.id() + " for " + std::string(name)};
}

}  // namespace

WritePlan plan_write(revtree::RevTree stored, const DocUpdate& update) {
  WritePlan plan;
  if (update.revisions()) {
    // spec §6.2: merge verbatim, never conflict; written only if the newest rev became a leaf.
    const revtree::RevPath& path = *update.revisions();
    if (!valid_path(path)) {
      plan.error = Error{Code::kBadRequest, reason::kBadRev};
      return plan;
    }
    plan.newest = path.newest();
    bool was_leaf = stored.is_leaf(plan.newest);
    if (!was_leaf && update.has_stubs()) plan.stub_base = replicated_base(stored, path);
    plan.tree = std::move(stored);
    plan.tree.merge(path, update.deleted());
    plan.store = !was_leaf && plan.tree.is_leaf(plan.newest);
    return plan;
  }
  // spec §6.1: interactive edit.
  revtree::EditPlan edit = stored.plan_edit(update.parent(), update.deleted());
  if (edit.conflict) {
    plan.error = Error{Code::kConflict, reason::kConflict};
    return plan;
  }
  plan.parent = edit.parent;
  plan.stub_base = edit.parent;  // for a recreate, the deleted winner actually extended
  plan.new_pos = edit.parent ? edit.parent->pos + 1 : 1;
  plan.tree = std::move(stored);
  plan.store = true;
  return plan;
}

Result<ResolvedAttachments> resolve_attachments(sqlite::Connection& conn, const DocUpdate& update,
                                                const WritePlan& plan) {
  if (has_duplicate_name(update)) return fail(Code::kBadRequest, "Duplicate attachments");
  std::vector<AttachmentInfo> base_atts;
  if (update.has_stubs()) {
    std::optional<std::string> json =
        plan.stub_base ? attachment_store::stored_atts(conn, update.id(), plan.stub_base->str())
                       : std::nullopt;
    if (!json) {
      return fail(Code::kMissingStub, "Previous revision missing for document " + update.id());
    }
    base_atts = parse_stored_attachments(*json);
  }
  ResolvedAttachments out;
  out.infos.reserve(update.attachments().size());
  out.bodies.reserve(update.attachments().size());
  for (const NewAttachment& a : update.attachments()) {
    if (a.stub) {
      auto found = std::find_if(base_atts.begin(), base_atts.end(),
                                [&](const AttachmentInfo& b) { return b.name == a.name; });
      if (found == base_atts.end() || (a.revpos && *a.revpos != found->revpos)) {
        return tl::unexpected(missing_stub(update, a.name));
      }
      out.infos.push_back(*found);
      out.bodies.push_back(nullptr);
      continue;
    }
    if (!a.body) return fail(Code::kBadRequest, "Invalid attachment data for " + a.name);
    AttachmentInfo info;
    info.name = a.name;
    info.content_type = a.content_type;
    info.digest = a.body->digest();
    info.length = a.body->identity_length();
    info.encoding = a.body->encoding();
    if (info.gzip()) info.encoded_length = a.body->length();
    info.revpos = plan.new_pos ? *plan.new_pos : a.revpos.value_or(0);
    out.infos.push_back(std::move(info));
    out.bodies.push_back(a.body.get());
  }
  return out;
}

}  // namespace divan::engine
