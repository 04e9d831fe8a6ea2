// Standalone attachments: GET/HEAD/PUT/DELETE /{db}/{docid}/{att…} and
// /{db}/_design/{name}/{att…} (http-api.md §7.2; chttpd_db:db_attachment_req).
//
// GET streams the stored bytes through send_pieces (body_pieces.h), so a large attachment never
// sits whole in memory and no read transaction stays open while the client drains the socket; a
// gzip-stored one goes out as stored to a client that accepts gzip, else decoded on the way. PUT
// streams the upload into an AttachmentSpool the same way (upload.h: what is stored how). Both PUT and DELETE write a new revision
// that keeps the parent's body and, as stubs, its other attachments.
#include <algorithm>
#include <optional>

#include "engine/attachments.h"
#include "http/multipart/multipart.h"
#include "http/server/body_pieces.h"
#include "http/server/byte_ranges.h"
#include "http/server/doc_json.h"
#include "http/server/handlers.h"
#include "http/server/header_values.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/write_concern.h"
#include "http/server/upload.h"
#include "revtree/rev_hash.h"

namespace divan::http::server {

namespace {

using revtree::RevId;

constexpr std::string_view kMissingAttachment = "Document is missing attachment";

// The document id and attachment name a path names: the segments after the id, rejoined with '/'
// (PouchDB percent-encodes each '/'-separated piece, so "d/dir/f" and "d/dir%2Ff" agree).
struct AttachmentPath {
  std::string id;
  std::string name;
};

AttachmentPath attachment_path(const Request& req) {
  const auto& path = req.path();
  AttachmentPath out{doc_id_from_path(req), {}};
  const size_t first = path[1] == "_design" ? 3 : 2;
  for (size_t i = first; i < path.size(); ++i) {
    if (i > first) out.name.push_back('/');
    out.name += path[i];
  }
  return out;
}

Result<std::optional<RevId>> parse_optional_rev(const std::optional<std::string>& text) {
  if (!text) return std::optional<RevId>();
  auto rev = revtree::parse_rev(*text);
  if (!rev) return fail(Code::kBadRequest, reason::kBadRev);
  return std::optional<RevId>(std::move(*rev));
}

// A stored revision of a document, read for an attachment request: the given rev (404 missing
// unless we hold its body; for a write, 409 when it is a known ancestor) or the winner (404
// deleted when it is deleted).
struct BaseRevision {
  RevId rev;
  bool deleted = false;
  engine::StoredRevision stored;
  std::vector<engine::AttachmentInfo> atts;

  const engine::AttachmentInfo* find(std::string_view name) const {
    for (const auto& att : atts) {
      if (att.name == name) return &att;
    }
    return nullptr;
  }
};

Result<BaseRevision> read_base(engine::Snapshot& snapshot, const std::string& id,
                               const std::optional<RevId>& rev, bool for_write) {
  auto doc = snapshot.doc(id);
  if (!doc) return tl::unexpected(doc.error());
  BaseRevision base;
  if (rev) {
    const auto* node = doc->tree.find(*rev);
    // A known rev whose body is gone (compacted, or never held) can only be a stale parent:
    // the write would be 409 anyway, so say that rather than 404.
    if (for_write && node && !node->has_body && !doc->tree.is_leaf(*rev)) {
      return fail(Code::kConflict, reason::kConflict);
    }
    if (!node || !node->has_body) return fail(Code::kNotFound, reason::kMissing);
    base.rev = *rev;
    base.deleted = node->deleted;
  } else {
    revtree::Leaf winner = doc->tree.winner();
    if (winner.deleted) return fail(Code::kNotFound, reason::kDeleted);
    base.rev = winner.rev;
  }
  auto stored = snapshot.revision(id, base.rev);
  if (!stored) return fail(Code::kNotFound, reason::kMissing);
  base.stored = std::move(*stored);
  base.atts = engine::parse_stored_attachments(base.stored.atts);
  return base;
}

// The parts of a new revision on top of `base` (the body, and every attachment but `except` kept
// as a stub) that become an engine::DocUpdate once the upload, if any, is in. `parent` is the rev
// the request named: with none, the writer's edit rule (RevTree::plan_edit) answers 409 for a live
// document. The writer resolves the stubs against the parent and hashes the rev id itself.
struct NextRevision {
  std::optional<RevId> parent;
  Json body = Json::object();
  std::vector<engine::NewAttachment> attachments;

  Result<engine::DocUpdate> update(std::string id) && {
    return engine::DocUpdate::edit(std::move(id), std::move(parent), false, body,
                                   std::move(attachments));
  }
};

Result<NextRevision> next_revision(const BaseRevision& base, std::optional<RevId> parent,
                                   std::string_view except) {
  NextRevision next;
  next.parent = std::move(parent);
  if (!base.stored.body.empty()) {
    next.body = Json::parse(base.stored.body, nullptr, false);
    if (!next.body.is_object()) return fail(Code::kInternal, "stored body is not a JSON object");
  }
  for (const auto& att : base.atts) {
    if (att.name == except) continue;
    engine::NewAttachment stub;
    stub.name = att.name;
    stub.stub = true;
    stub.revpos = att.revpos;
    next.attachments.push_back(std::move(stub));
  }
  return next;
}

// `digest` without its "md5-" prefix: the base64 MD5 that ETag and Content-MD5 carry.
std::string_view base64_md5(std::string_view digest) {
  if (digest.starts_with("md5-")) digest.remove_prefix(4);
  return digest;
}

// ---- PUT: the upload ----

// The request body as an attachment body of `type`: read piece by piece when the session streams
// it (a large upload goes to a spool file, never whole into memory), stored as Upload says, and
// bounded by ServerContext::max_attachment_size counted decoded.
Task<Result<ReceivedAttachment>> receive_body(Request& req, ServerContext& ctx, bool gzip,
                                              std::string_view type) {
  UploadBudget budget(ctx.max_attachment_size);
  Upload upload(ctx.catalog.spool_dir(), budget, gzip, type);
  if (BodyReader* reader = req.body_reader()) {
    for (;;) {
      auto piece = co_await reader->read_some();
      if (!piece) co_return tl::unexpected(piece.error());
      if (piece->empty()) break;  // the end of the body
      if (auto ok = upload.append(*piece); !ok) co_return tl::unexpected(ok.error());
    }
  } else {
    if (auto ok = upload.append(req.body()); !ok) co_return tl::unexpected(ok.error());
    req.mutable_body().clear();
  }
  co_return upload.finish();
}

// The checks a write to an attachment (PUT, DELETE) opens with, in CouchDB's order: the database,
// the doc id, the attachment name, then the parent rev (body-less: ?rev= or If-Match).
struct AttachmentWrite {
  std::shared_ptr<engine::Database> db;
  AttachmentPath path;
  std::optional<RevId> rev;
};

Result<AttachmentWrite> open_attachment_write(const Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) return tl::unexpected(db.error());
  AttachmentWrite out{std::move(*db), attachment_path(req), std::nullopt};
  if (auto ok = validate_doc_id(out.path.id); !ok) return tl::unexpected(ok.error());
  if (auto ok = validate_attachment_name(out.path.name); !ok) return tl::unexpected(ok.error());
  auto rev_text = requested_rev(req, std::nullopt);
  if (!rev_text) return tl::unexpected(rev_text.error());
  auto rev = parse_optional_rev(*rev_text);
  if (!rev) return tl::unexpected(rev.error());
  out.rev = std::move(*rev);
  return out;
}

// Appends "/<name>" (percent-encoded, '/' included, as couch_util:url_encode) to a Location.
void add_attachment_location(Response& res, std::string_view name) {
  auto location = res.find(bhttp::field::location);
  if (location == res.end()) return;
  std::string value(location->value());
  value.push_back('/');
  append_segment(value, name);
  res.set(bhttp::field::location, value);
}

// The answer body of an identity-stored attachment: the whole of it, or the byte ranges a Range
// header asks for (206; a malformed header is ignored, an unsatisfiable one is 416).
Result<void> identity_body(const Request& req, const engine::AttachmentInfo& att,
                           const std::string& type, std::string_view md5, Response& header,
                           PieceBody& body) {
  std::optional<std::vector<ByteRange>> ranges;
  if (auto range = req.header(bhttp::field::range); !range.empty()) {
    auto parsed = parse_ranges(range, att.length);
    if (!parsed) return tl::unexpected(parsed.error());
    ranges = std::move(*parsed);
  }
  if (ranges && ranges->size() == 1) {
    const ByteRange& r = ranges->front();
    header.result(bhttp::status::partial_content);
    header.set(bhttp::field::content_type, type);
    header.set(bhttp::field::content_range, content_range(r, att.length));
    body.attachment(att.digest, r.first, r.size());
  } else if (ranges && ranges->size() < kMaxRanges) {
    // chttpd_db:send_ranges_multipart: "--B", then per range "\r\n" headers "\r\n\r\n" bytes
    // "\r\n--B", then "--".
    std::string boundary = multipart::make_boundary();
    header.result(bhttp::status::partial_content);
    header.set(bhttp::field::content_type,
               multipart::content_type("multipart/byteranges", boundary));
    body.text("--" + boundary);
    for (const ByteRange& r : *ranges) {
      body.text("\r\nContent-Type: " + type + "\r\nContent-Range: " + content_range(r, att.length) +
                "\r\n\r\n");
      body.attachment(att.digest, r.first, r.size());
      body.text("\r\n--" + boundary);
    }
    body.text("--");
  } else {  // no Range, an ignored one, or too many ranges: the whole body
    header.set(bhttp::field::content_type, type);
    if (!md5.empty()) header.set(bhttp::field::content_md5, md5);
    body.attachment(att.digest, 0, att.length);
  }
  return {};
}

}  // namespace

Task<Response> handle_attachment_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  AttachmentPath path = attachment_path(req);
  if (auto ok = validate_doc_id(path.id); !ok) co_return error_response(ok.error());
  std::optional<std::string> rev_text;
  if (auto q = req.param("rev")) rev_text = std::string(*q);
  auto rev = parse_optional_rev(rev_text);
  if (!rev) co_return error_response(rev.error());

  // One read transaction finds the attachment and, when the answer is small enough to assemble in
  // memory, reads its bytes too; it ends before any byte goes out.
  auto opened = (*db)->snapshot();
  if (!opened) co_return error_response(opened.error());
  std::optional<engine::Snapshot> snapshot(std::move(*opened));
  engine::AttachmentInfo att;
  {
    std::vector<engine::AttachmentInfo> atts;
    if (*rev) {
      auto base = read_base(*snapshot, path.id, *rev, false);
      if (!base) co_return error_response(base.error());
      atts = std::move(base->atts);
    } else {
      // The winner, as read_base() finds it, without decoding the tree.
      auto winner = snapshot->winner_attachments(path.id);
      if (!winner) co_return error_response(winner.error());
      if (winner->deleted) co_return error_response({Code::kNotFound, reason::kDeleted});
      if (!winner->atts) co_return error_response({Code::kNotFound, reason::kMissing});
      atts = engine::parse_stored_attachments(*winner->atts);
    }
    auto found = std::find_if(atts.begin(), atts.end(),
                              [&](const engine::AttachmentInfo& a) { return a.name == path.name; });
    if (found == atts.end()) {
      co_return error_response({Code::kNotFound, std::string(kMissingAttachment)});
    }
    att = std::move(*found);
  }

  const std::string_view md5 = base64_md5(att.digest);
  const std::string etag = "\"" + std::string(md5) + "\"";
  if (!md5.empty() && etag_list_matches(req.header(bhttp::field::if_none_match), md5)) {
    Response res{bhttp::status::not_modified, 11};
    res.set(bhttp::field::etag, etag);
    co_return res;
  }
  const std::string type(header_content_type(att.content_type));
  Response header{bhttp::status::ok, 11};
  header.set(bhttp::field::etag, etag);
  header.set(bhttp::field::cache_control, "must-revalidate");
  PieceBody body;
  if (att.gzip()) {
    // Stored gzip (chttpd_db:db_attachment_req): the stored bytes to a client that accepts gzip,
    // else decoded; no ranges either way, though an unsatisfiable one (against the length this
    // client gets, as CouchDB checks it first) is still 416.
    const bool send_gzip = accepts_gzip(req.header(bhttp::field::accept_encoding));
    const uint64_t sent_length = send_gzip ? att.encoded_length : att.length;
    if (auto range = req.header(bhttp::field::range); !range.empty()) {
      if (auto parsed = parse_ranges(range, sent_length); !parsed) {
        Response res = error_response(parsed.error());
        res.set(bhttp::field::content_range, "bytes */" + std::to_string(sent_length));
        co_return res;
      }
    }
    header.set(bhttp::field::accept_ranges, "none");
    header.set(bhttp::field::content_type, type);
    if (send_gzip) {
      header.set(bhttp::field::content_encoding, "gzip");
      if (!md5.empty()) header.set(bhttp::field::content_md5, md5);
      body.attachment(att.digest, 0, att.encoded_length);
    } else {
      body.gunzipped_attachment(att.digest, att.encoded_length, att.length);
    }
  } else {
    header.set(bhttp::field::accept_ranges, "bytes");
    auto ranged = identity_body(req, att, type, md5, header, body);
    if (!ranged) {
      Response res = error_response(ranged.error());
      res.set(bhttp::field::content_range, "bytes */" + std::to_string(att.length));
      co_return res;
    }
  }
  if (assembled_in_memory(req, body)) {
    co_return assemble_pieces(req, *snapshot, std::move(header), body);
  }
  snapshot.reset();  // streamed: each slice in its own short transaction, none open meanwhile
  co_return co_await send_pieces(req, **db, std::move(header), std::move(body));
}

Task<Response> handle_attachment_put(Request& req, ServerContext& ctx) {
  auto target = open_attachment_write(req, ctx);
  if (!target) co_return error_response(target.error());
  auto& [db, path, rev] = *target;
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());
  auto gzip = gzip_content_encoding(req.header(bhttp::field::content_encoding));
  if (!gzip) co_return error_response(gzip.error());
  auto type = attachment_content_type(req.header(bhttp::field::content_type));
  if (!type) co_return error_response(type.error());

  // The parent first, so a bad rev is answered before the upload is read.
  NextRevision next;
  {
    auto snapshot = db->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    if (rev) {
      auto base = read_base(*snapshot, path.id, rev, true);
      if (!base) co_return error_response(base.error());
      auto built = next_revision(*base, rev, path.name);
      if (!built) co_return error_response(built.error());
      next = std::move(*built);
    } else if (auto doc = snapshot->doc(path.id); doc && doc->tree.plan_edit({}, false).conflict) {
      // No rev on a live document: the writer would refuse it after the upload; say so first.
      co_return error_response({Code::kConflict, reason::kConflict});
    }
  }

  auto body = co_await receive_body(req, ctx, *gzip, *type);
  if (!body) co_return error_response(body.error());
  // Content-MD5 names the bytes as sent: checkable here for identity uploads only.
  if (auto md5 = req.header(bhttp::field::content_md5); !md5.empty() && !*gzip) {
    if (md5 != base64_md5(body->sent_digest)) {
      co_return error_response({Code::kContentMd5Mismatch, "Possible message corruption."});
    }
  }
  engine::NewAttachment att;
  att.name = path.name;
  att.content_type = std::move(*type);
  att.body = std::move(body->body);
  // CouchDB lists the new attachment first, then the parent's others (db_attachment_req).
  next.attachments.insert(next.attachments.begin(), std::move(att));
  auto update = std::move(next).update(path.id);
  if (!update) co_return error_response(update.error());
  auto written = co_await write_one(req, *db, std::move(*update));
  if (!written) co_return error_response(written.error());
  Response res = doc_written(req, path.id, *written, bhttp::status::created);
  add_attachment_location(res, path.name);
  if (!*concern) co_return res;
  co_return co_await await_write_concern(**concern, ctx, req, path.id, *written, std::move(res));
}

Task<Response> handle_attachment_delete(Request& req, ServerContext& ctx) {
  auto target = open_attachment_write(req, ctx);
  if (!target) co_return error_response(target.error());
  auto& [db, path, rev] = *target;
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());

  NextRevision next;
  {
    // The attachment must be in the named revision (or the winner) before any conflict check.
    auto snapshot = db->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    auto base = read_base(*snapshot, path.id, rev, true);
    if (!base) co_return error_response(base.error());
    if (!base->find(path.name)) {
      co_return error_response({Code::kNotFound, std::string(kMissingAttachment)});
    }
    auto built = next_revision(*base, rev, path.name);  // no rev: the writer answers 409
    if (!built) co_return error_response(built.error());
    next = std::move(*built);
  }
  auto update = std::move(next).update(path.id);
  if (!update) co_return error_response(update.error());
  auto written = co_await write_one(req, *db, std::move(*update));
  if (!written) co_return error_response(written.error());
  Response res = doc_written(req, path.id, *written, bhttp::status::ok);
  res.erase(bhttp::field::location);  // CouchDB sends none for a DELETE
  if (!*concern) co_return res;
  co_return co_await await_write_concern(**concern, ctx, req, path.id, *written, std::move(res));
}

}  // namespace divan::http::server
