// Documents on the wire: splitting the special `_` fields off an incoming body (http-api.md §5),
// and rendering a stored body back with `_id`, `_rev` and the requested extras (§5.3) by splicing
// text, without re-parsing the stored body.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/attachments.h"
#include "engine/database.h"
#include "engine/doc_render.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::http::server {

using Json = nlohmann::ordered_json;

inline constexpr std::string_view kLocalPrefix = "_local/";
inline constexpr std::string_view kDesignPrefix = "_design/";
// CouchDB's default max_document_size: larger bodies are 413 document_too_large (§5.4).
inline constexpr size_t kMaxDocumentSize = 8'000'000;

// Id rules (http-api.md §5.1): illegal_docid with CouchDB's reasons.
Result<void> validate_doc_id(std::string_view id);
Result<void> validate_json_doc_id(const Json& id);  // also "Document id must be a string"

// couch_doc:validate_attachment_name: bad_request when `name` starts with '_', is not UTF-8, or
// holds a control character (it is written into Content-Disposition headers). Every reason starts
// with "Attachment name ": the CouchDB replicator skips a doc refused so, rather than stopping.
Result<void> validate_attachment_name(std::string_view name);

// The content type a new attachment is stored with, from what the client gave (the `content_type`
// of an `_attachments` entry, the Content-Type of a standalone PUT): absent or "" →
// kOctetStream (header_values.h). The one place that default is applied, before the rev id is
// hashed over it. bad_request when it holds a control character: it is written into headers.
Result<std::string> attachment_content_type(std::optional<std::string_view> given);

// How many `_attachments` entries of `doc` are `"follows": true` (stubs excepted): the number of
// attachment parts a multipart/related body must carry after its JSON part.
size_t count_follows(const Json& doc);

// An `atts_since` value (GET ?atts_since=…, _bulk_get entries): a JSON array of rev strings.
// bad_request "Invalid rev format" for a bad rev, "att_since value must be array of revs." for a
// value that is not an array.
Result<std::vector<revtree::RevId>> parse_atts_since(const Json& value);

// The bytes of one `"follows": true` attachment, received in a multipart part (§7.4).
struct ReceivedAttachment {
  std::shared_ptr<const engine::AttachmentBody> body;  // identity bytes (gzip parts decoded)
  uint64_t sent_length = 0;  // bytes as sent (the encoded length for a gzip part)
  std::string sent_digest;   // "md5-<base64>" of the bytes as sent: what a supplied digest names
};

// A request body with its special fields taken out.
struct IncomingDoc {
  std::optional<std::string> id;              // `_id`, validated
  std::optional<revtree::RevId> rev;          // `_rev`
  std::optional<std::string> raw_rev;         // `_rev` text as given (local docs use "0-N")
  std::optional<revtree::RevPath> revisions;  // `_revisions`
  bool deleted = false;
  Json body = Json::object();                 // user fields in their original order
  std::vector<engine::NewAttachment> attachments;  // `_attachments`, in order
  bool has_stubs = false;                     // some attachment is a stub (the writer hashes)
};

// Validates and splits `doc` (must be an object). `_rev` is parsed as a tree rev unless the doc is
// local (then raw_rev only). Errors: doc_validation / bad_request / illegal_docid per §5.2.
//
// `_attachments` (§7.1): each entry is a stub, inline base64 `data`, or `"follows": true`, whose
// bytes are the next unused element of `*follows` (the parts of a multipart/related PUT, in
// `_attachments` order; taken by move). Errors: bad_request for a name starting with '_', a
// non-object entry, bad base64, a `follows` entry without a part left (or with no `follows` list:
// a JSON body cannot carry one), a part shorter/longer than its declared length; 400
// content_md5_mismatch when a declared digest is not the part's. Parts beyond the `follows`
// entries are ignored, as CouchDB leaves them unread.
Result<IncomingDoc> parse_incoming_doc(Json&& doc,
                                       std::vector<ReceivedAttachment>* follows = nullptr);

// The engine write for a normal (tree) document. new_edits=false needs `_rev` or `_revisions`.
// Carries the attachments; an interactive write without stubs gets its rev id here (hashing the
// attachment digests too), one with stubs leaves it to the writer, which resolves them first.
// The 8 MB document limit counts the JSON body only, never attachment bytes.
Result<engine::DocUpdate> to_doc_update(IncomingDoc&& doc, std::string id, bool new_edits);
// The engine write for a `_local/…` doc; rev "0-N" or absent.
Result<engine::LocalUpdate> to_local_update(IncomingDoc&& doc, std::string id);

// Rendering stored revisions lives in the engine (changes/ renders docs too).
using engine::ReadOptions;
using engine::read_revision;
using engine::render_doc;
using engine::render_extras;

}  // namespace divan::http::server
