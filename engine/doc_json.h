// Documents as JSON arrives with them (http-api.md §5, §7.1): the id and attachment-name rules,
// splitting the special `_` members off an incoming body, and turning it into the engine's write
// (write_ops.h). Shared by the HTTP handlers and the replicator, which reads documents from a
// remote peer in the same JSON form, so both apply one set of rules.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attachments.h"
#include "engine/write_ops.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

inline constexpr std::string_view kLocalPrefix = "_local/";
inline constexpr std::string_view kDesignPrefix = "_design/";
// The content type of an attachment stored or sent without one (couch_att's default).
inline constexpr std::string_view kOctetStream = "application/octet-stream";

// Id rules (http-api.md §5.1): illegal_docid with CouchDB's reasons.
[[nodiscard]] Result<void> validate_doc_id(std::string_view id);
// Whether `key`, though it starts with '_', stays in the body: `_access` and the
// `_replication_*` members CouchDB's scheduler writes into `_replicator` docs.
bool is_kept_special(std::string_view key);
[[nodiscard]] Result<void> validate_json_doc_id(const Json& id);  // also "Document id must be a string"

// Whether `s` holds a control character other than HTAB (0x00–0x08, 0x0A–0x1F, 0x7F): CR and LF
// end a header field, and attachment names and types are written into headers.
bool has_control_char(std::string_view s);

// couch_doc:validate_attachment_name: bad_request when `name` starts with '_', is not UTF-8, or
// holds a control character (it is written into Content-Disposition headers). Every reason starts
// with "Attachment name ": the CouchDB replicator skips a doc refused so, rather than stopping.
[[nodiscard]] Result<void> validate_attachment_name(std::string_view name);

// The content type a new attachment is stored with, from what the client gave (the `content_type`
// of an `_attachments` entry, the Content-Type of a standalone PUT): absent or "" →
// kOctetStream. The one place that default is applied, before the rev id is hashed over it.
// bad_request when it holds a control character: it is written into headers.
[[nodiscard]] Result<std::string> attachment_content_type(std::optional<std::string_view> given);

// What a multipart/related body's JSON part says of the attachment parts that follow it: one per
// `"follows": true` entry of `_attachments` (stubs excepted), in order.
struct FollowsEntry {
  std::string content_type;  // as attachment_content_type() stores it (invalid: as given)
  bool gzip = false;         // `"encoding":"gzip"`: the part holds gzip bytes
};
std::vector<FollowsEntry> follows_entries(const Json& doc);

// An `atts_since` value (GET ?atts_since=…, _bulk_get entries): a JSON array of rev strings.
// bad_request "Invalid rev format" for a bad rev, "att_since value must be array of revs." for a
// value that is not an array.
[[nodiscard]] Result<std::vector<revtree::RevId>> parse_atts_since(const Json& value);

// The bytes of one `"follows": true` attachment, received in a multipart part (§7.4).
struct ReceivedAttachment {
  std::shared_ptr<const AttachmentBody> body;  // the stored form (attachments.h)
  uint64_t sent_length = 0;  // bytes as sent (the encoded length for a gzip part)
  std::string sent_digest;   // "md5-<base64>" of the bytes as sent: what a supplied digest names
};

// A request body with its special members taken out.
struct IncomingDoc {
  std::optional<std::string> id;              // `_id`, validated
  std::optional<revtree::RevId> rev;          // `_rev` (normal docs)
  std::optional<std::string> raw_rev;         // `_rev` text as given (local docs use "0-N")
  std::optional<revtree::RevPath> revisions;  // `_revisions` (normal docs; ignored on local ones)
  bool deleted = false;
  Json body = Json::object();                 // user fields in their original order
  std::vector<NewAttachment> attachments;     // `_attachments`, in order
};

// Validates and splits `doc` (must be an object). `_rev` is parsed as a tree rev unless the doc is
// local (its `_id` starts with "_local/"; then raw_rev only). Errors: doc_validation / bad_request
// / illegal_docid per §5.2.
//
// A local doc accepts every form CouchDB's replicator and PouchDB write checkpoints with:
// `_rev` "0-N", `_deleted`, and `_revisions` with any integer `start` (CouchDB's replicator sends
// `{"start":0,"ids":["1"]}`), checked for shape as CouchDB does and then ignored.
//
// `_attachments` (§7.1): each entry is a stub, inline base64 `data`, or `"follows": true`, whose
// bytes are the next unused element of `*follows` (the parts of a multipart/related PUT, in
// `_attachments` order; taken by move). Errors: bad_request for a name starting with '_', a
// non-object entry, bad base64, a `follows` entry without a part left (or with no `follows` list:
// a JSON body cannot carry one), a part shorter/longer than its declared length; 400
// content_md5_mismatch when a declared digest is not the part's. Parts beyond the `follows`
// entries are ignored, as CouchDB leaves them unread.
[[nodiscard]] Result<IncomingDoc> parse_incoming_doc(Json&& doc,
                                                     std::vector<ReceivedAttachment>* follows = nullptr);

// The engine write for a normal (tree) document: DocUpdate::edit with `_rev` as the parent, or for
// new_edits=false DocUpdate::replicated with `_revisions` (else `_rev` alone; neither: 400).
[[nodiscard]] Result<DocUpdate> to_doc_update(IncomingDoc&& doc, std::string id, bool new_edits);
// The engine write for a `_local/…` doc; rev "0-N" or absent, else bad_request "Invalid rev format".
[[nodiscard]] Result<LocalUpdate> to_local_update(IncomingDoc&& doc, std::string id);
// Either of the two, by `id` (a `_local/` id or not): POST /{db} and _bulk_docs items.
[[nodiscard]] Result<WriteOp> to_write_op(IncomingDoc&& doc, std::string id, bool new_edits);

}  // namespace divan::engine
