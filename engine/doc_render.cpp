#include "engine/doc_render.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "base/base64.h"
#include "base/hex.h"
#include "engine/attachment_store.h"
#include "engine/gzip.h"

namespace divan::engine {

std::string render_doc(std::string_view id, std::string_view rev, bool deleted,
                       std::string_view body, std::string_view extras) {
  std::string out;
  out.reserve(id.size() + rev.size() + body.size() + extras.size() + 32);
  out += "{\"_id\":";
  append_json_string(out, id);
  out += ",\"_rev\":";
  append_json_string(out, rev);
  if (body.size() > 2) {  // "{…}" with at least one field: splice its members in
    out.push_back(',');
    out.append(body.substr(1, body.size() - 2));
  }
  if (deleted) out += ",\"_deleted\":true";
  out += extras;
  out.push_back('}');
  return out;
}

namespace {

void append_rev_list(std::string& out, std::string_view key, const std::vector<revtree::RevId>& revs) {
  if (revs.empty()) return;  // omitted when empty (§6.1)
  out += ",\"";
  out += key;
  out += "\":[";
  for (size_t i = 0; i < revs.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, revs[i].str());
  }
  out.push_back(']');
}

}  // namespace

std::string render_extras(const DocRecord& doc, const revtree::RevId& rev,
                          const ReadOptions& options, uint32_t revs_limit) {
  std::string out;
  if (options.revs) {
    revtree::RevPath path = doc.tree.ancestry(rev, revs_limit);
    out += ",\"_revisions\":{\"start\":" + std::to_string(path.start) + ",\"ids\":[";
    for (size_t i = 0; i < path.ids.size(); ++i) {
      if (i) out.push_back(',');
      append_json_string(out, path.ids[i]);
    }
    out += "]}";
  }
  if (options.revs_info) {
    revtree::RevPath path = doc.tree.ancestry(rev, revs_limit);
    out += ",\"_revs_info\":[";
    for (size_t i = 0; i < path.ids.size(); ++i) {
      revtree::RevId r{path.start - i, path.ids[i]};
      const auto* node = doc.tree.find(r);
      const char* status = !node || !node->has_body ? "missing"
                           : node->deleted           ? "deleted"
                                                     : "available";
      if (i) out.push_back(',');
      out += "{\"rev\":";
      append_json_string(out, r.str());
      out += ",\"status\":\"";
      out += status;
      out += "\"}";
    }
    out.push_back(']');
  }
  if (options.local_seq) out += ",\"_local_seq\":" + std::to_string(doc.seq);
  if (options.conflicts) append_rev_list(out, "_conflicts", doc.tree.conflicts());
  if (options.deleted_conflicts) {
    append_rev_list(out, "_deleted_conflicts", doc.tree.deleted_conflicts());
  }
  return out;
}

namespace {

// §7.1 inline form: the identity bytes as base64 `data`, no `length`, no `stub`.
void append_inline(std::string& out, Snapshot& snapshot, const AttachmentInfo& a,
                   bool encoding_info) {
  auto bytes = snapshot.read_attachment(a.digest, 0, static_cast<size_t>(a.stored_length()));
  // Every digest a stored revision lists has its row in the same snapshot.
  if (!bytes) throw std::runtime_error("attachment body " + a.digest + " is missing");
  if (a.gzip()) {
    auto identity = gunzip_bytes(*bytes);
    if (!identity) throw std::runtime_error("attachment body " + a.digest + " is not gzip");
    *bytes = std::move(*identity);
  }
  attachment_store::append_member_head(out, a);
  out += ",\"data\":\"";
  out += base64_encode(*bytes);
  out.push_back('"');
  if (encoding_info) attachment_store::append_encoding_info(out, a);
  out.push_back('}');
}

// §7.1 follows form (multipart): the stored bytes go in a part after the JSON. A gzip one is sent
// as it is stored and says so, as CouchDB's multipart always does (att_encoding_info implied).
void append_follows(std::string& out, const AttachmentInfo& a) {
  attachment_store::append_member_head(out, a);
  out += ",\"length\":";
  out += std::to_string(a.length);
  out += ",\"follows\":true";
  attachment_store::append_encoding_info(out, a);
  out.push_back('}');
}

// The `_attachments` object of a kInline / kFollows read.
std::string attachments_json(Snapshot& snapshot, const DocRecord& doc, const revtree::RevId& rev,
                             const std::vector<AttachmentInfo>& atts, const ReadOptions& options,
                             std::vector<AttachmentInfo>* follows) {
  std::optional<uint64_t> since_pos = atts_since_pos(doc.tree, rev, options.atts_since);
  // Multipart always says how every entry is stored, stubs too (chttpd_db: att_encoding_info).
  const bool encoding_info =
      options.att_encoding_info || options.attachments == AttachmentMode::kFollows;
  std::string out = "{";
  for (size_t i = 0; i < atts.size(); ++i) {
    const AttachmentInfo& a = atts[i];
    if (i > 0) out.push_back(',');
    if (since_pos && a.revpos <= *since_pos) {
      attachment_store::append_stub_member(out, a, encoding_info);
    } else if (options.attachments == AttachmentMode::kInline) {
      append_inline(out, snapshot, a, options.att_encoding_info);
    } else {
      append_follows(out, a);
      if (follows != nullptr) follows->push_back(a);
    }
  }
  out.push_back('}');
  return out;
}

}  // namespace

std::optional<uint64_t> atts_since_pos(const revtree::RevTree& tree, const revtree::RevId& rev,
                                       const std::vector<revtree::RevId>& since) {
  if (since.empty()) return std::nullopt;
  revtree::RevPath path = tree.ancestry(rev, SIZE_MAX);
  for (size_t i = 0; i < path.ids.size(); ++i) {
    revtree::RevId r{path.start - i, path.ids[i]};
    if (std::find(since.begin(), since.end(), r) != since.end()) return r.pos;
  }
  return std::nullopt;
}

std::optional<std::string> read_revision(Snapshot& snapshot, const DocRecord& doc,
                                         const revtree::RevId& rev, bool deleted,
                                         const ReadOptions& options, uint32_t revs_limit,
                                         std::vector<AttachmentInfo>* follows) {
  std::string extras = render_extras(doc, rev, options, revs_limit);
  if (options.attachments == AttachmentMode::kStubs) {
    // Stubs already spliced in (no copy when there are none).
    auto body = snapshot.body(doc.id, rev, options.att_encoding_info);
    if (!body) return std::nullopt;
    return render_doc(doc.id, rev.str(), deleted, *body, extras);
  }
  auto stored = snapshot.revision(doc.id, rev);
  if (!stored) return std::nullopt;
  std::vector<AttachmentInfo> atts = parse_stored_attachments(stored->atts);
  if (atts.empty()) return render_doc(doc.id, rev.str(), deleted, stored->body, extras);
  std::string json = attachments_json(snapshot, doc, rev, atts, options, follows);
  return render_doc(doc.id, rev.str(), deleted,
                    attachment_store::splice_attachments(stored->body, json), extras);
}

}  // namespace divan::engine
