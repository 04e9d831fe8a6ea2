#include "engine/doc_json.h"

#include <algorithm>

#include "base/base64.h"
#include "base/numbers.h"

namespace divan::engine {

namespace {

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

tl::unexpected<Error> validation(std::string reason) {
  return fail(Code::kDocValidation, std::move(reason));
}

// `_revisions` as CouchDB checks it (couch_doc:transfer_fields): an integer `start` and an array
// `ids` of rev id strings.
Result<void> check_revisions_shape(const Json& value) {
  if (!value.is_object()) return validation("_revisions member must be an object");
  auto start = value.find("start");
  if (start == value.end() || !start->is_number_integer()) {
    return validation("_revisions.start isn't an integer.");
  }
  auto ids = value.find("ids");
  if (ids == value.end() || !ids->is_array()) return validation("_revisions.ids isn't a array.");
  for (const auto& id : *ids) {
    if (!id.is_string()) return validation("RevId isn't a string");
  }
  return {};
}

// `_revisions` of a tree document (revision-trees.md §1): {"start": int >= 1, "ids": [newest, …]}
// with no more ids than `start` (a rev's pos is at least 1).
Result<revtree::RevPath> parse_revisions(const Json& value) {
  if (auto ok = check_revisions_shape(value); !ok) return tl::unexpected(ok.error());
  const Json& start = value["start"];
  const Json& ids = value["ids"];
  if (start.get<int64_t>() < 1) return validation("_revisions.start isn't an integer.");
  revtree::RevPath path;
  path.start = start.get<uint64_t>();
  if (ids.empty() || ids.size() > path.start) return validation("_revisions.ids isn't a array.");
  path.ids.reserve(ids.size());
  for (const auto& id : ids) {
    auto canonical = revtree::canonical_rev_id(id.get_ref<const std::string&>());
    if (!canonical) return validation("RevId isn't a valid hexadecimal");
    path.ids.push_back(std::move(*canonical));
  }
  return path;
}

bool is_ignored_special(std::string_view key) {
  // Accepted and ignored so docs read with these options can be written back (§5.2).
  return key == "_revs_info" || key == "_conflicts" || key == "_deleted_conflicts" ||
         key == "_local_seq";
}

std::optional<uint64_t> uint_member(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer() || it->get<int64_t>() < 0) return std::nullopt;
  return it->get<uint64_t>();
}

bool true_member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// A `"follows": true` entry's bytes (couch_att follow_from_json, write_streamed_attachment): the
// declared length is of the bytes as sent (`encoded_length` when `encoding` is given, which
// defaults to `length`), and a declared digest names those bytes too.
Result<std::shared_ptr<const AttachmentBody>> take_follows(
    const std::string& name, const Json& entry, std::vector<ReceivedAttachment>* follows,
    size_t& next) {
  if (!follows || next >= follows->size()) {
    return fail(Code::kBadRequest, "Attachment " + name + " has no data: expected a following "
                                   "MIME part (multipart/related)");
  }
  ReceivedAttachment& part = (*follows)[next++];
  std::optional<uint64_t> declared = uint_member(entry, "length");
  if (entry.contains("encoding")) {
    if (auto encoded = uint_member(entry, "encoded_length")) declared = encoded;
  }
  if (declared && part.sent_length < *declared) {
    return fail(Code::kBadRequest, "attachment shorter than expected");
  }
  if (declared && part.sent_length > *declared) {
    return fail(Code::kBadRequest, "attachment longer than expected");
  }
  if (auto digest = entry.find("digest"); digest != entry.end() && digest->is_string()) {
    if (digest->get_ref<const std::string&>() != part.sent_digest) {
      return fail(Code::kContentMd5Mismatch, "Possible message corruption.");
    }
  }
  return std::move(part.body);
}

// `_attachments` (http-api.md §7.1; couch_att:from_json): stub, follows, else inline data.
Result<void> parse_attachments(const Json& value, IncomingDoc& out,
                               std::vector<ReceivedAttachment>* follows) {
  if (!value.is_object()) return validation("Bad special document member: _attachments");
  size_t next_part = 0;
  out.attachments.reserve(value.size());
  for (const auto& [name, entry] : value.items()) {
    if (auto ok = validate_attachment_name(name); !ok) return ok;
    if (!entry.is_object()) return fail(Code::kBadRequest, "Invalid attachment " + name);
    NewAttachment att;
    att.name = name;
    att.revpos = uint_member(entry, "revpos");
    if (true_member(entry, "stub")) {
      att.stub = true;
      if (auto type = entry.find("content_type"); type != entry.end() && type->is_string()) {
        att.content_type = type->get<std::string>();
      }
      if (auto digest = entry.find("digest"); digest != entry.end() && digest->is_string()) {
        att.digest = digest->get<std::string>();
      }
      att.length = uint_member(entry, "length");
      out.attachments.push_back(std::move(att));
      continue;
    }
    auto type = entry.find("content_type");
    auto content_type = attachment_content_type(
        type != entry.end() && type->is_string()
            ? std::optional<std::string_view>(type->get_ref<const std::string&>())
            : std::nullopt);
    if (!content_type) return tl::unexpected(content_type.error());
    att.content_type = std::move(*content_type);
    if (true_member(entry, "follows")) {
      auto body = take_follows(name, entry, follows, next_part);
      if (!body) return tl::unexpected(body.error());
      att.body = std::move(*body);
    } else {
      auto data = entry.find("data");
      std::optional<std::string> bytes;
      if (data != entry.end() && data->is_string()) {
        bytes = base64_decode(data->get_ref<const std::string&>());
      }
      if (!bytes) return fail(Code::kBadRequest, "Invalid attachment data for " + name);
      att.body = AttachmentBody::for_storage(std::move(*bytes), att.content_type);
      if (auto digest = entry.find("digest"); digest != entry.end() && digest->is_string()) {
        att.digest = digest->get<std::string>();  // the source's; ours is body->digest()
      }
    }
    out.attachments.push_back(std::move(att));
  }
  return {};
}

}  // namespace

bool is_kept_special(std::string_view key) {
  return key == "_access" || key == "_replication_state" || key == "_replication_state_time" ||
         key == "_replication_state_reason" || key == "_replication_id" ||
         key == "_replication_stats";
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

Result<void> validate_doc_id(std::string_view id) {
  if (id.empty()) return fail(Code::kIllegalDocId, "Document id must not be empty");
  if (!valid_utf8(id)) return fail(Code::kIllegalDocId, "Document id must be valid UTF-8");
  if (id.front() != '_') return {};
  for (std::string_view prefix : {kDesignPrefix, kLocalPrefix}) {
    if (id.starts_with(prefix)) {
      if (id.size() == prefix.size()) {
        return fail(Code::kIllegalDocId, "Illegal document id `" + std::string(id) + "`");
      }
      return {};
    }
  }
  return fail(Code::kIllegalDocId, "Only reserved document ids may start with underscore.");
}

Result<void> validate_attachment_name(std::string_view name) {
  if (name.starts_with('_')) {
    return fail(Code::kBadRequest,
                "Attachment name '" + std::string(name) + "' starts with prohibited character '_'");
  }
  if (!valid_utf8(name)) return fail(Code::kBadRequest, "Attachment name is not UTF-8 encoded");
  if (has_control_char(name)) {
    return fail(Code::kBadRequest, "Attachment name must not contain control characters");
  }
  return {};
}

Result<std::string> attachment_content_type(std::optional<std::string_view> given) {
  if (!given || given->empty()) return std::string(kOctetStream);
  if (has_control_char(*given)) {
    return fail(Code::kBadRequest, "Attachment content_type must not contain control characters");
  }
  return std::string(*given);
}

std::vector<FollowsEntry> follows_entries(const Json& doc) {
  std::vector<FollowsEntry> out;
  auto atts = doc.find("_attachments");
  if (atts == doc.end() || !atts->is_object()) return out;
  for (const auto& [name, entry] : atts->items()) {
    if (!entry.is_object() || true_member(entry, "stub") || !true_member(entry, "follows")) continue;
    FollowsEntry follows;
    auto type = entry.find("content_type");
    if (type != entry.end() && type->is_string()) follows.content_type = type->get<std::string>();
    if (follows.content_type.empty()) follows.content_type = kOctetStream;
    auto encoding = entry.find("encoding");
    follows.gzip = encoding != entry.end() && encoding->is_string() && *encoding == "gzip";
    out.push_back(std::move(follows));
  }
  return out;
}

Result<std::vector<revtree::RevId>> parse_atts_since(const Json& value) {
  if (!value.is_array()) return fail(Code::kBadRequest, "att_since value must be array of revs.");
  std::vector<revtree::RevId> revs;
  revs.reserve(value.size());
  for (const auto& item : value) {
    auto rev = item.is_string() ? revtree::parse_rev(item.get_ref<const std::string&>())
                                : std::nullopt;
    if (!rev) return fail(Code::kBadRequest, reason::kBadRev);
    revs.push_back(std::move(*rev));
  }
  return revs;
}

Result<void> validate_json_doc_id(const Json& id) {
  if (!id.is_string()) return fail(Code::kIllegalDocId, "Document id must be a string");
  return validate_doc_id(std::string_view(id.get_ref<const std::string&>()));
}

Result<IncomingDoc> parse_incoming_doc(Json&& doc,
                                       std::vector<ReceivedAttachment>* follows) {
  if (!doc.is_object()) return fail(Code::kBadRequest, "Document must be a JSON object");
  IncomingDoc out;
  Json::iterator id_it = doc.find("_id");
  if (id_it != doc.end()) {
    if (auto ok = validate_json_doc_id(*id_it); !ok) return tl::unexpected(ok.error());
    out.id = id_it->get<std::string>();
  }
  const bool local = out.id && out.id->starts_with(kLocalPrefix);
  std::vector<std::string> specials;  // members to take out of the body
  for (auto& [key, value] : doc.items()) {
    if (key.empty() || key.front() != '_' || is_kept_special(key)) continue;  // a body field
    specials.push_back(key);
    if (key == "_id" || is_ignored_special(key)) {
      continue;
    } else if (key == "_rev") {
      if (!value.is_string()) return fail(Code::kBadRequest, reason::kBadRev);
      out.raw_rev = value.get<std::string>();
      if (!local) {
        out.rev = revtree::parse_rev(*out.raw_rev);
        if (!out.rev) return fail(Code::kBadRequest, reason::kBadRev);
      }
    } else if (key == "_revisions" && local) {
      // CouchDB checks the shape and a local doc keeps no history: checkpoints send one.
      if (auto ok = check_revisions_shape(value); !ok) return tl::unexpected(ok.error());
    } else if (key == "_revisions") {
      auto path = parse_revisions(value);
      if (!path) return tl::unexpected(path.error());
      out.revisions = std::move(*path);
    } else if (key == "_deleted") {
      if (!value.is_boolean()) return validation("Bad special document member: _deleted");
      out.deleted = value.get<bool>();
    } else if (key == "_attachments") {
      if (auto ok = parse_attachments(value, out, follows); !ok) return tl::unexpected(ok.error());
    } else {
      return validation("Bad special document member: " + key);
    }
  }
  // The body is the document minus its special members, in place: user fields keep their order
  // and are not copied into a new object (usually nothing, or just `_id`, is erased).
  for (const auto& key : specials) doc.erase(key);
  out.body = std::move(doc);
  return out;
}

Result<DocUpdate> to_doc_update(IncomingDoc&& doc, std::string id, bool new_edits) {
  if (new_edits) {
    return DocUpdate::edit(std::move(id), std::move(doc.rev), doc.deleted, doc.body,
                           std::move(doc.attachments));
  }
  std::optional<revtree::RevPath> path = std::move(doc.revisions);
  if (!path && doc.rev) path = revtree::RevPath{doc.rev->pos, {std::move(doc.rev->id)}};
  if (!path) {
    return fail(Code::kBadRequest,
                "When `new_edits: false`, the document needs `_rev` or `_revisions` specified");
  }
  return DocUpdate::replicated(std::move(id), std::move(*path), doc.deleted, doc.body,
                               std::move(doc.attachments));
}

Result<LocalUpdate> to_local_update(IncomingDoc&& doc, std::string id) {
  LocalUpdate update;
  update.id = std::move(id);
  update.deleted = doc.deleted;
  if (doc.raw_rev) {
    std::string_view rev = *doc.raw_rev;
    auto counter = rev.starts_with("0-")
                       ? parse_unsigned<decltype(update.rev_counter)>(rev.substr(2))
                       : std::nullopt;
    if (!counter) return fail(Code::kBadRequest, reason::kBadRev);
    update.rev_counter = *counter;
  }
  update.body = doc.body.dump();
  return update;
}

Result<WriteOp> to_write_op(IncomingDoc&& doc, std::string id, bool new_edits) {
  if (id.starts_with(kLocalPrefix)) {
    auto update = to_local_update(std::move(doc), std::move(id));
    if (!update) return tl::unexpected(update.error());
    return WriteOp(std::move(*update));
  }
  auto update = to_doc_update(std::move(doc), std::move(id), new_edits);
  if (!update) return tl::unexpected(update.error());
  return WriteOp(std::move(*update));
}

}  // namespace divan::engine
