// Standalone attachments: GET/HEAD/PUT/DELETE /{db}/{docid}/{att…} and
// /{db}/_design/{name}/{att…} (http-api.md §7.2; chttpd_db:db_attachment_req).
//
// GET streams the stored bytes through send_pieces (body_pieces.h), so a large attachment never
// sits whole in memory and no read transaction stays open while the client drains the socket. PUT
// streams the upload into an AttachmentSpool the same way. Both PUT and DELETE write a new revision
// that keeps the parent's body and, as stubs, its other attachments.
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>

#include "engine/attachments.h"
#include "http/multipart/multipart.h"
#include "http/server/body_pieces.h"
#include "http/server/byte_ranges.h"
#include "http/server/doc_json.h"
#include "http/server/gzip.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "revtree/rev_hash.h"

namespace divan::http {

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
    // A known rev whose body went with its leaf status (the engine keeps leaf bodies only) can
    // only be a stale parent: the write would be 409 anyway, so say that rather than 404.
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

// The write of a new revision on top of `base`: its body, and every attachment but `except` kept
// as a stub. The writer resolves the stubs against the parent and hashes the rev id itself.
engine::DocUpdate update_from(const std::string& id, const BaseRevision& base,
                              std::string_view except) {
  engine::DocUpdate update;
  update.id = id;
  update.parent = base.rev;
  update.body = base.stored.body.empty() ? "{}" : base.stored.body;
  auto json = Json::parse(update.body, nullptr, false);
  update.canonical_body =
      json.is_discarded() ? update.body : revtree::canonical_json(json, update.body);
  for (const auto& att : base.atts) {
    if (att.name == except) continue;
    engine::NewAttachment stub;
    stub.name = att.name;
    stub.stub = true;
    stub.revpos = att.revpos;
    update.attachments.push_back(std::move(stub));
  }
  return update;
}

// `digest` without its "md5-" prefix: the base64 MD5 that ETag and Content-MD5 carry.
std::string_view base64_md5(std::string_view digest) {
  if (digest.starts_with("md5-")) digest.remove_prefix(4);
  return digest;
}

// ---- PUT: the upload ----

// The request body as an attachment body: read piece by piece when the session streams it (a large
// upload goes to a spool file, never whole into memory), decoded on the way when gzipped.
Task<Result<std::shared_ptr<const engine::AttachmentBody>>> receive_body(Request& req,
                                                                          ServerContext& ctx,
                                                                          bool gzip) {
  BodyReader* reader = req.body_reader();
  if (!reader && !gzip) {
    co_return engine::AttachmentBody::from_bytes(std::move(req.mutable_body()));
  }
  engine::AttachmentSpool spool(ctx.catalog.spool_dir());
  std::unique_ptr<GzipDecoder> decoder;
  if (gzip) {
    decoder = std::make_unique<GzipDecoder>(
        [&spool](std::string_view bytes) { return spool.append(bytes); });
  }
  auto take = [&](std::string_view piece) -> Result<void> {
    return decoder ? decoder->feed(piece) : spool.append(piece);
  };
  if (reader) {
    for (;;) {
      auto piece = co_await reader->read_some();
      if (!piece) co_return tl::unexpected(piece.error());
      if (piece->empty()) break;  // the end of the body
      if (auto ok = take(*piece); !ok) co_return tl::unexpected(ok.error());
    }
  } else {
    if (auto ok = take(req.body()); !ok) co_return tl::unexpected(ok.error());
    req.mutable_body().clear();
  }
  if (decoder) {
    if (auto ok = decoder->finish(); !ok) co_return tl::unexpected(ok.error());
  }
  co_return spool.finish();
}

// "identity" (or none) → false, "gzip" → true; anything else is 415 (chttpd_db: bad_ctype).
Result<bool> gzip_encoded(const Request& req) {
  std::string encoding(req.header(bhttp::field::content_encoding));
  while (!encoding.empty() && encoding.back() == ' ') encoding.pop_back();
  while (!encoding.empty() && encoding.front() == ' ') encoding.erase(0, 1);
  for (char& c : encoding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (encoding.empty() || encoding == "identity") return false;
  if (encoding == "gzip") return true;
  return fail(Code::kBadContentType, "Only gzip and identity content-encodings are supported");
}

// Appends "/<name>" (percent-encoded, '/' included, as couch_util:url_encode) to a Location.
void add_attachment_location(Response& res, std::string_view name) {
  auto location = res.find(bhttp::field::location);
  if (location == res.end()) return;
  std::string value(location->value());
  value.push_back('/');
  size_t n = boost::urls::encoded_size(name, boost::urls::pchars);
  size_t at = value.size();
  value.resize(at + n);
  boost::urls::encode(value.data() + at, n, name, boost::urls::pchars);
  res.set(bhttp::field::location, value);
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

  engine::AttachmentInfo att;
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    auto base = read_base(*snapshot, path.id, *rev, false);
    if (!base) co_return error_response(base.error());
    const auto* found = base->find(path.name);
    if (!found) co_return error_response({Code::kNotFound, std::string(kMissingAttachment)});
    att = *found;
  }  // the read transaction ends before any byte goes out

  const std::string_view md5 = base64_md5(att.digest);
  const std::string etag = "\"" + std::string(md5) + "\"";
  auto if_none_match = req.header(bhttp::field::if_none_match);
  if (!md5.empty() && if_none_match.find(md5) != std::string_view::npos) {
    Response res{bhttp::status::not_modified, 11};
    res.set(bhttp::field::etag, etag);
    co_return res;
  }
  const std::string type = att.content_type.empty() ? "application/octet-stream" : att.content_type;
  Response header{bhttp::status::ok, 11};
  header.set(bhttp::field::etag, etag);
  header.set(bhttp::field::cache_control, "must-revalidate");
  header.set(bhttp::field::accept_ranges, "bytes");
  PieceBody body;

  std::optional<std::vector<ByteRange>> ranges;
  if (auto range = req.header(bhttp::field::range); !range.empty()) {
    auto parsed = parse_ranges(range, att.length);
    if (!parsed) {
      Response res = error_response(parsed.error());
      res.set(bhttp::field::content_range, "bytes */" + std::to_string(att.length));
      co_return res;
    }
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
    if (att.length > 0) body.attachment(att.digest, 0, att.length);
  }
  co_return co_await send_pieces(req, **db, std::move(header), std::move(body));
}

Task<Response> handle_attachment_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  AttachmentPath path = attachment_path(req);
  if (auto ok = validate_doc_id(path.id); !ok) co_return error_response(ok.error());
  if (auto ok = validate_attachment_name(path.name); !ok) co_return error_response(ok.error());
  auto gzip = gzip_encoded(req);
  if (!gzip) co_return error_response(gzip.error());
  auto rev_text = requested_rev(req, std::nullopt);
  if (!rev_text) co_return error_response(rev_text.error());
  auto rev = parse_optional_rev(*rev_text);
  if (!rev) co_return error_response(rev.error());

  // The parent first, so a bad rev is answered before the upload is read.
  engine::DocUpdate update;
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    if (*rev) {
      auto base = read_base(*snapshot, path.id, *rev, true);
      if (!base) co_return error_response(base.error());
      update = update_from(path.id, *base, path.name);
    } else {
      // No rev: a new document, or one recreated over a deleted winner; an existing live
      // document is a conflict (the writer would say so too, after the upload).
      auto doc = snapshot->doc(path.id);
      if (doc && !doc->tree.deleted()) {
        co_return error_response({Code::kConflict, reason::kConflict});
      }
      update.id = path.id;
      update.body = update.canonical_body = "{}";
    }
  }

  auto body = co_await receive_body(req, ctx, *gzip);
  if (!body) co_return error_response(body.error());
  // Content-MD5 names the bytes as sent: checkable here for identity uploads only.
  if (auto md5 = req.header(bhttp::field::content_md5); !md5.empty() && !*gzip) {
    if (md5 != base64_md5((*body)->digest())) {
      co_return error_response({Code::kContentMd5Mismatch, "Possible message corruption."});
    }
  }
  engine::NewAttachment att;
  att.name = path.name;
  auto type = req.header(bhttp::field::content_type);
  att.content_type = type.empty() ? "application/octet-stream" : std::string(type);
  att.body = std::move(*body);
  // CouchDB lists the new attachment first, then the parent's others (db_attachment_req).
  update.attachments.insert(update.attachments.begin(), std::move(att));

  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(update));
  auto result = co_await write(**db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const auto& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  Response res = doc_written(req, path.id, outcome.rev, bhttp::status::created);
  add_attachment_location(res, path.name);
  co_return res;
}

Task<Response> handle_attachment_delete(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  AttachmentPath path = attachment_path(req);
  if (auto ok = validate_doc_id(path.id); !ok) co_return error_response(ok.error());
  if (auto ok = validate_attachment_name(path.name); !ok) co_return error_response(ok.error());
  auto rev_text = requested_rev(req, std::nullopt);
  if (!rev_text) co_return error_response(rev_text.error());
  auto rev = parse_optional_rev(*rev_text);
  if (!rev) co_return error_response(rev.error());

  engine::DocUpdate update;
  {
    // The attachment must be in the named revision (or the winner) before any conflict check.
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    auto base = read_base(*snapshot, path.id, *rev, true);
    if (!base) co_return error_response(base.error());
    if (!base->find(path.name)) {
      co_return error_response({Code::kNotFound, std::string(kMissingAttachment)});
    }
    if (!*rev) co_return error_response({Code::kConflict, reason::kConflict});
    update = update_from(path.id, *base, path.name);
  }
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(update));
  auto result = co_await write(**db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const auto& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  Response res = doc_written(req, path.id, outcome.rev, bhttp::status::ok);
  res.erase(bhttp::field::location);  // CouchDB sends none for a DELETE
  co_return res;
}

}  // namespace divan::http
