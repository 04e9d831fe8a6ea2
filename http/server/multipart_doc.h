// Documents in MIME multipart form (http-api.md §6.1, §7.4): the multipart/related PUT the CouchDB
// replicator uses to push docs with attachments, and the multipart answers it reads
// (GET ?open_revs=… with Accept: multipart/mixed; GET ?attachments=true as multipart/related).
#pragma once

#include <string>
#include <vector>

#include "engine/attachments.h"
#include "engine/database.h"
#include "http/server/doc_json.h"
#include "http/server/handler.h"

namespace divan::http::server {

// A multipart/related PUT body, read (streamed when the session streams it, see routes.h
// streams_request_body) into its JSON part and one ReceivedAttachment (doc_json.h) per following
// part, in order. Attachment parts are spooled to disk past a size (upload.h), and gzip parts
// (Content-Encoding: gzip) are decoded on the way. Errors: bad_request for a malformed body, a JSON
// part that is not an object, or an attachment part beyond the JSON's `follows` entries (refused
// as it begins); too_large once the parts decode to more than ServerContext::max_attachment_size;
// the JSON part is limited to kMaxDocumentSize.
struct MultipartDoc {
  Json doc;
  std::vector<ReceivedAttachment> parts;
};
Task<Result<MultipartDoc>> read_multipart_related(Request& req, ServerContext& ctx);

// Whether a Content-Type value's media type is multipart/related (any case; parameters are not
// looked at, so a missing or bad boundary is read_multipart_related's 400). The one rule for both
// the router (routes.h streams_request_body) and the document PUT handler.
bool is_multipart_related(std::string_view content_type);

// One revision for a multipart answer: its JSON as read_revision() rendered it with
// AttachmentMode::kFollows, and the attachments whose bytes follow it.
struct FollowsRevision {
  std::string json;
  std::vector<engine::AttachmentInfo> follows;
};

// GET ?open_revs with Accept admitting multipart/mixed: one part per found revision (plain
// application/json, or a nested multipart/related carrying its attachments), then one
// `application/json; error="true"` part per missing rev.
Task<Response> send_open_revs_multipart(Request& req, engine::Database& db,
                                        std::vector<FollowsRevision> found,
                                        std::vector<std::string> missing);

// GET /{db}/{docid}?attachments=true when Accept admits multipart/related: the JSON part with
// `follows` entries, then one part per attachment. `etag` as for the JSON answer ("" for none).
Task<Response> send_doc_multipart(Request& req, engine::Database& db, FollowsRevision revision,
                                  std::string etag);

}  // namespace divan::http::server
