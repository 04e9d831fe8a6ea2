// Documents as they travel to and from a remote peer (HttpPeer): the JSON a CouchDB-compatible
// server takes in `_bulk_docs` with new_edits=false, and the JSON it gives back from `_bulk_get`
// and `GET ?open_revs=…` (spec replication-protocol.md §3.8, §3.9; http-api.md §5.2, §7.1, §10,
// §11). Kept apart from http_peer.cpp so the shaping is tested without sockets.
//
// Reading uses the engine's one parser of incoming document JSON (engine/doc_json.h), so a
// document fetched from a remote peer obeys exactly the rules a document PUT to this node does.
// Writing splices the DocUpdate's stored compact body (never re-parsed) between `_id`/`_rev` and
// the `_revisions`/`_attachments` members, with engine/doc_render.h's string escaper and
// base/base64.h's base64.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/doc_scan.h"
#include "engine/error.h"
#include "engine/write_ops.h"

namespace divan::replicator::doc_wire {

// "<pos>-<id>" of the newest revision of a replicated write's path: the `_rev` it is sent with.
// REQUIRES: update.replicated().
std::string newest_rev(const engine::DocUpdate& update);

// A replicated write as one element of `_bulk_docs` {"new_edits":false,"docs":[…]}, in CouchDB's
// member order (http-api.md §5.3):
//   {"_id":…,"_rev":<newest of the path>,<body members>,"_deleted":true (deleted only),
//    "_revisions":{"start":N,"ids":[newest,…]},"_attachments":{…} (when it has any)}
// Attachments, in the update's order:
//   data  {"content_type":…,"revpos":N,"digest":…,"data":"<base64>"} (`revpos` when known);
//   stub  {"content_type":…,"revpos":N,"digest":…,"length":L,"stub":true} with whichever of
//         content_type, revpos, digest and length the stub carries (a stub needs only `stub`;
//         the rest lets the target check it, §7.3).
// REQUIRES: update.replicated().
std::string render_replicated(const engine::DocUpdate& update);

// Whether a replicated write may travel inside _bulk_docs JSON (render_replicated: attachment
// data inline as base64, always decoded) rather than as a multipart PUT: its attachments' decoded
// bytes are fewer than `limit`, and every gzip-stored one is exactly what CouchDB's compression
// (kCouchDbCompressionLevel, this node's default too) makes again from them, so the target ends with the same
// digest. Otherwise multipart carries the stored bytes as they are.
bool travels_inline(const engine::DocUpdate& update, uint64_t limit);

// A replicated write as the body of `PUT /db/<id>?new_edits=false` with
// `Content-Type: multipart/related; boundary="<boundary>"` (http-api.md §7.4), as CouchDB's
// replicator sends documents with attachments: the JSON part first, with every attachment that
// has data as {"content_type","revpos","digest","length","follows":true}, then one part per such
// attachment, raw, in the order of `_attachments`. Stubs stay stubs.
// REQUIRES: update.replicated(); `boundary` valid (multipart::make_boundary()).
std::string render_multipart_related(const engine::DocUpdate& update, std::string_view boundary);

// A document as a source answered it (a `_bulk_get` "ok" item, an open_revs "ok" item): its
// `_id`, `_rev`, `_revisions`, `_deleted`, body and `_attachments` (inline data or stubs) as the
// replicated write that copies it (DocUpdate::replicated, new_edits=false). Errors: those of
// engine::parse_incoming_doc and to_doc_update (a bad id, bad rev, bad `_revisions`, bad base64,
// an unknown `_` member, …), and bad_request for a document without `_id` or with a `_local/` id
// (local documents are never replicated).
[[nodiscard]] Result<engine::DocUpdate> parse_fetched(engine::Json&& doc);
// The same for a document taken apart by engine::split_doc (answer_scan.h): the same rules and
// errors, the body kept as the split wrote it.
[[nodiscard]] Result<engine::DocUpdate> parse_fetched(engine::SplitDoc&& doc);

}  // namespace divan::replicator::doc_wire
