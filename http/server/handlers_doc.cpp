// Single documents: GET/HEAD/PUT/DELETE /{db}/{docid}, including `_design/` and `_local/` ids
// (http-api.md §6, §8; revision-trees.md §6, §8).
#include <algorithm>
#include <charconv>
#include <variant>

#include "http/multipart/multipart.h"
#include "http/server/doc_json.h"
#include "http/server/handlers.h"
#include "http/server/header_values.h"
#include "http/server/multipart_doc.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/write_concern.h"

namespace divan::http::server {

namespace {

using revtree::RevId;

Result<RevId> parse_rev_text(std::string_view text) {
  auto rev = revtree::parse_rev(text);
  if (!rev) return fail(Code::kBadRequest, reason::kBadRev);
  return *rev;
}

// Whether `accept` admits `type` (explicitly, via "major/*", via "*/*", or with no Accept at all),
// with a q above 0. Media types compare case-insensitively.
bool accepts(std::string_view accept, std::string_view type) {
  if (accept.empty()) return true;
  std::string_view major = type.substr(0, type.find('/'));
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    size_t semi = range.find(';');
    std::string_view params = semi == std::string_view::npos ? "" : range.substr(semi);
    if (accept_quality(params) <= 0) continue;
    const std::string media = multipart::parse_media_type(trim_ows(range)).value_or("");
    if (media == type || media == "*/*" ||
        (media.size() == major.size() + 2 && media.starts_with(major) && media.ends_with("/*"))) {
      return true;
    }
  }
  return false;
}

Result<ReadOptions> read_options(const Request& req) {
  ReadOptions options;
  auto meta = bool_param(req, "meta");
  if (!meta) return tl::unexpected(meta.error());
  struct Flag {
    const char* name;
    bool* target;
  };
  for (Flag flag : {Flag{"revs", &options.revs}, Flag{"revs_info", &options.revs_info},
                    Flag{"conflicts", &options.conflicts},
                    Flag{"deleted_conflicts", &options.deleted_conflicts},
                    Flag{"local_seq", &options.local_seq}}) {
    auto value = bool_param(req, flag.name);
    if (!value) return tl::unexpected(value.error());
    *flag.target = *value;
  }
  if (*meta) options.revs_info = options.conflicts = options.deleted_conflicts = true;
  auto encoding_info = bool_param(req, "att_encoding_info");
  if (!encoding_info) return tl::unexpected(encoding_info.error());
  options.att_encoding_info = *encoding_info;
  auto attachments = bool_param(req, "attachments");
  if (!attachments) return tl::unexpected(attachments.error());
  if (*attachments) options.attachments = engine::AttachmentMode::kInline;
  auto since = json_param(req, "atts_since");
  if (!since) return tl::unexpected(since.error());
  if (*since) {  // implies attachments (§6.1)
    auto revs = parse_atts_since(**since);
    if (!revs) return tl::unexpected(revs.error());
    options.atts_since = std::move(*revs);
    options.attachments = engine::AttachmentMode::kInline;
  }
  return options;
}

// ---- _local documents (§8): no tree, no MVCC, rev "0-N" ----

Task<Response> get_local(Request& req, engine::Database& db, const std::string& id) {
  if (req.param("rev")) co_return error_response({Code::kNotFound, reason::kMissing});
  auto snapshot = db.snapshot();
  if (!snapshot) co_return error_response(snapshot.error());
  auto doc = snapshot->local(id);
  if (!doc) co_return error_response({Code::kNotFound, reason::kMissing});
  co_return json_response(bhttp::status::ok,
                          render_doc(doc->id, "0-" + std::to_string(doc->rev_counter), false, doc->body));
}

Task<Response> write_local(Request& req, engine::Database& db, const std::string& id, bool remove) {
  IncomingDoc incoming;
  if (!remove) {
    // CouchDB's answer (chttpd_db), rather than storing the JSON part and dropping the rest.
    if (is_multipart_related(req.header(bhttp::field::content_type))) {
      co_return error_response({Code::kBadRequest, "_local documents do not accept attachments."});
    }
    auto json = parse_json_object(req.body(), "Document must be a JSON object");
    if (!json) co_return error_response(json.error());
    (*json)["_id"] = id;  // the URL id wins over a body `_id`
    auto parsed = parse_incoming_doc(std::move(*json));
    if (!parsed) co_return error_response(parsed.error());
    incoming = std::move(*parsed);
  }
  auto rev = requested_rev(req, incoming.raw_rev);
  if (!rev) co_return error_response(rev.error());
  incoming.raw_rev = *rev;
  incoming.deleted = remove || incoming.deleted;
  auto update = to_local_update(std::move(incoming), id);
  if (!update) co_return error_response(update.error());
  auto written = co_await write_one(req, db, std::move(*update));
  if (!written) co_return error_response(written.error());
  co_return doc_written(req, id, *written, remove ? bhttp::status::ok : bhttp::status::created);
}

// ---- open_revs (§6.1): several revisions, as a JSON array or multipart/mixed ----

struct OpenRevs {
  std::vector<FollowsRevision> found;  // rendered docs (and, in multipart form, their follows)
  std::vector<std::string> missing;
};

Response open_revs_json(OpenRevs&& result) {
  std::string body = "[";
  for (const auto& doc : result.found) {
    if (body.size() > 1) body.push_back(',');
    body += "{\"ok\":" + doc.json + "}";
  }
  for (const auto& rev : result.missing) {
    if (body.size() > 1) body.push_back(',');
    body += "{\"missing\":" + json_string(rev) + "}";
  }
  body.push_back(']');
  return json_response(bhttp::status::ok, std::move(body));
}

// Reads the revisions `open_revs` names from one snapshot, released on return (before any byte of
// the answer goes out). A Response when the answer is an error.
std::variant<Response, OpenRevs> read_open_revs(Request& req, engine::Database& db,
                                                const std::string& id, std::string_view open_revs,
                                                const ReadOptions& options) {
  auto latest = bool_param(req, "latest");
  if (!latest) return error_response(latest.error());
  bool all = open_revs == "all";
  std::vector<RevId> requested;
  if (!all) {
    auto json = parse_json(open_revs);
    if (!json) return error_response(json.error());
    if (!json->is_array()) return error_response({Code::kBadRequest, "Invalid rev format"});
    for (const auto& item : *json) {
      if (!item.is_string()) return error_response({Code::kBadRequest, reason::kBadRev});
      auto rev = parse_rev_text(item.get_ref<const std::string&>());
      if (!rev) return error_response(rev.error());
      requested.push_back(std::move(*rev));
    }
  }
  auto snapshot = db.snapshot();
  if (!snapshot) return error_response(snapshot.error());
  auto doc = snapshot->doc(id);
  OpenRevs result;
  if (!doc) {
    if (all) return error_response({Code::kNotFound, reason::kMissing});
    for (const auto& rev : requested) result.missing.push_back(rev.str());
    return result;
  }
  revtree::OpenRevs selected = doc->tree.open_revs(
      all ? std::nullopt : std::optional<std::vector<RevId>>(std::move(requested)), *latest);
  for (const auto& rev : selected.missing) result.missing.push_back(rev.str());
  const std::vector<revtree::Leaf>& to_send = selected.found;
  const bool follows = options.attachments == engine::AttachmentMode::kFollows;
  for (const auto& leaf : to_send) {
    FollowsRevision revision;
    auto rendered = read_revision(*snapshot, *doc, leaf.rev, leaf.deleted, options,
                                  db.revs_limit(), follows ? &revision.follows : nullptr);
    if (rendered) {
      revision.json = std::move(*rendered);
      result.found.push_back(std::move(revision));
    } else {
      result.missing.push_back(leaf.rev.str());
    }
  }
  return result;
}

Task<Response> get_open_revs(Request& req, engine::Database& db, const std::string& id,
                             std::string_view open_revs, ReadOptions options) {
  // The CouchDB replicator reads the multipart/mixed form (Accept: multipart/mixed), and CouchDB
  // always sends attachment bodies in it, as parts; only atts_since leaves some as stubs.
  const bool multipart = accepts(req.header(bhttp::field::accept), "multipart/mixed");
  if (multipart) options.attachments = engine::AttachmentMode::kFollows;
  auto read = read_open_revs(req, db, id, open_revs, options);
  if (auto* error = std::get_if<Response>(&read)) co_return std::move(*error);
  OpenRevs result = std::get<OpenRevs>(std::move(read));
  if (!multipart) co_return open_revs_json(std::move(result));
  co_return co_await send_open_revs_multipart(req, db, std::move(result.found),
                                              std::move(result.missing));
}

// Only a plain read (no extras) has an ETag: the rev alone does not identify the extras.
bool plain_read(const ReadOptions& options) {
  return !options.revs_info && !options.conflicts && !options.deleted_conflicts &&
         !options.local_seq;
}

std::string etag_of(const RevId& rev) { return "\"" + rev.str() + "\""; }

// 304 when a plain read's If-None-Match names `rev`.
std::optional<Response> not_modified(const Request& req, const RevId& rev,
                                     const ReadOptions& options) {
  if (!plain_read(options)) return std::nullopt;
  if (!etag_list_matches(req.header(bhttp::field::if_none_match), rev.str())) return std::nullopt;
  Response res{bhttp::status::not_modified, 11};
  res.set(bhttp::field::etag, etag_of(rev));
  return res;
}

Response doc_response(std::string rendered, const RevId& rev, const ReadOptions& options) {
  Response res = json_response(bhttp::status::ok, std::move(rendered));
  if (plain_read(options)) res.set(bhttp::field::etag, etag_of(rev));
  return res;
}

// The current revision: the common GET, read with its body in one statement and no snapshot.
Response get_winner(const Request& req, engine::Database& db, const std::string& id,
                    const ReadOptions& options) {
  auto found = db.doc_with_winner_body(id, options.att_encoding_info);
  if (!found) return error_response(found.error());
  revtree::Leaf winner = found->doc.tree.winner();
  if (winner.deleted) return error_response({Code::kNotFound, reason::kDeleted});
  if (auto unchanged = not_modified(req, winner.rev, options)) return std::move(*unchanged);
  if (!found->winner_body) return error_response({Code::kNotFound, reason::kMissing});
  // revs_limit takes the database lock: only the extras that list ancestors need it.
  uint32_t revs_limit = options.revs || options.revs_info ? db.revs_limit() : 0;
  std::string extras = render_extras(found->doc, winner.rev, options, revs_limit);
  return doc_response(render_doc(id, winner.rev.str(), false, *found->winner_body, extras),
                      winner.rev, options);
}

}  // namespace

Result<std::optional<std::string>> requested_rev(const Request& req,
                                                 const std::optional<std::string>& body_rev) {
  std::optional<std::string> query;
  if (auto q = req.param("rev")) query = std::string(*q);
  std::optional<std::string> etag;
  if (auto h = req.header(bhttp::field::if_match); !h.empty()) etag = std::string(unquote_etag(h));
  if (body_rev && query && *body_rev != *query) {
    return fail(Code::kBadRequest,
                "Document rev from request body and query string have different values");
  }
  if (query && etag && *query != *etag) {
    return fail(Code::kBadRequest, "Document rev and etag have different values");
  }
  if (body_rev) return body_rev;
  if (query) return query;
  return etag;
}

Task<Response> handle_doc_get(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  std::string id = doc_id_from_path(req);
  if (auto ok = validate_doc_id(id); !ok) co_return error_response(ok.error());
  if (id.starts_with(kLocalPrefix)) co_return co_await get_local(req, **db, id);

  auto options = read_options(req);
  if (!options) co_return error_response(options.error());
  if (auto open_revs = req.param("open_revs")) {
    co_return co_await get_open_revs(req, **db, id, *open_revs, *options);
  }
  std::optional<RevId> rev;
  if (auto text = req.param("rev")) {
    auto parsed = parse_rev_text(*text);
    if (!parsed) co_return error_response(parsed.error());
    rev = std::move(*parsed);
  }
  auto latest = bool_param(req, "latest");
  if (!latest) co_return error_response(latest.error());
  if (*latest) rev.reset();  // without open_revs, CouchDB answers the winner
  const bool inline_atts = options->attachments != engine::AttachmentMode::kStubs;
  if (!rev && !inline_atts) co_return get_winner(req, **db, id, *options);

  // Attachments inlined, or a given rev: read from a snapshot, released before the answer goes out.
  const bool multipart =
      inline_atts && accepts(req.header(bhttp::field::accept), "multipart/related");
  if (multipart) options->attachments = engine::AttachmentMode::kFollows;
  RevId read_rev;
  FollowsRevision revision;
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    auto doc = snapshot->doc(id);
    if (!doc) co_return error_response(doc.error());
    bool deleted = false;
    if (rev) {
      const auto* node = doc->tree.find(*rev);
      if (!node || !node->has_body) co_return error_response({Code::kNotFound, reason::kMissing});
      options->revs_info = false;  // only for the winner
      options->conflicts = options->deleted_conflicts = false;  // ignored together with rev=
      read_rev = *rev;
      deleted = node->deleted;
    } else {
      revtree::Leaf winner = doc->tree.winner();
      if (winner.deleted) co_return error_response({Code::kNotFound, reason::kDeleted});
      read_rev = winner.rev;
    }
    if (auto unchanged = not_modified(req, read_rev, *options)) co_return std::move(*unchanged);
    auto rendered = read_revision(*snapshot, *doc, read_rev, deleted, *options,
                                  (*db)->revs_limit(), multipart ? &revision.follows : nullptr);
    if (!rendered) co_return error_response({Code::kNotFound, reason::kMissing});
    revision.json = std::move(*rendered);
  }
  // CouchDB answers multipart/related only for a doc with attachments (send_doc_efficiently); a
  // doc whose attachments all stayed stubs (atts_since) reads the same either way.
  if (!multipart || revision.follows.empty()) {
    co_return doc_response(std::move(revision.json), read_rev, *options);
  }
  std::string etag = plain_read(*options) ? etag_of(read_rev) : std::string();
  co_return co_await send_doc_multipart(req, **db, std::move(revision), std::move(etag));
}

Task<Response> handle_doc_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  std::string id = doc_id_from_path(req);
  if (auto ok = validate_doc_id(id); !ok) co_return error_response(ok.error());
  if (id.starts_with(kLocalPrefix)) co_return co_await write_local(req, **db, id, false);
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());

  auto new_edits = bool_param(req, "new_edits", true);
  if (!new_edits) co_return error_response(new_edits.error());
  // multipart/related carries the doc and its `follows` attachments (§7.4); any other body is
  // parsed as JSON, whatever its type says (http-api.md §1.1).
  Json json;
  std::vector<ReceivedAttachment> parts;
  if (is_multipart_related(req.header(bhttp::field::content_type))) {
    auto multipart = co_await read_multipart_related(req, ctx);
    if (!multipart) co_return error_response(multipart.error());
    json = std::move(multipart->doc);
    parts = std::move(multipart->parts);
  } else {
    auto parsed = parse_json_object(req.body(), "Document must be a JSON object");
    if (!parsed) co_return error_response(parsed.error());
    json = std::move(*parsed);
  }
  json.erase("_id");  // the URL id wins over any `_id` in the body
  auto doc = parse_incoming_doc(std::move(json), &parts);
  if (!doc) co_return error_response(doc.error());
  auto rev_text = requested_rev(req, doc->raw_rev);
  if (!rev_text) co_return error_response(rev_text.error());
  if (*rev_text && !doc->rev) {
    auto parsed = parse_rev_text(**rev_text);
    if (!parsed) co_return error_response(parsed.error());
    doc->rev = std::move(*parsed);
  }
  bool deleted = doc->deleted;
  auto update = to_doc_update(std::move(*doc), id, *new_edits);
  if (!update) co_return error_response(update.error());
  auto written = co_await write_one(req, **db, std::move(*update));
  if (!written) co_return error_response(written.error());
  if (req.param("batch") == "ok") {
    co_return json_response(bhttp::status::accepted, "{\"ok\":true,\"id\":" + json_string(id) + "}");
  }
  Response res = doc_written(req, id, *written, deleted ? bhttp::status::ok : bhttp::status::created);
  if (!*concern) co_return res;
  co_return co_await await_write_concern(**concern, ctx, req, id, *written, std::move(res));
}

Task<Response> handle_doc_delete(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  std::string id = doc_id_from_path(req);
  if (auto ok = validate_doc_id(id); !ok) co_return error_response(ok.error());
  if (id.starts_with(kLocalPrefix)) co_return co_await write_local(req, **db, id, true);
  auto concern = parse_write_concern(req, ctx);
  if (!concern) co_return error_response(concern.error());

  auto rev_text = requested_rev(req, std::nullopt);
  if (!rev_text) co_return error_response(rev_text.error());
  std::optional<RevId> rev;
  if (*rev_text) {
    auto parsed = parse_rev_text(**rev_text);
    if (!parsed) co_return error_response(parsed.error());
    rev = std::move(*parsed);
  }
  {
    // CouchDB reads the document first: a missing or deleted one is 404, not 409 (§6.3).
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    auto doc = snapshot->doc(id);
    if (!doc) co_return error_response(doc.error());
    if (doc->tree.deleted()) co_return error_response({Code::kNotFound, reason::kDeleted});
  }
  // No rev on a live document: the writer's edit rule answers 409.
  auto update = engine::DocUpdate::deletion(id, std::move(rev));
  auto written = co_await write_one(req, **db, std::move(update));
  if (!written) co_return error_response(written.error());
  Response res = doc_written(req, id, *written, bhttp::status::ok);
  if (!*concern) co_return res;
  co_return co_await await_write_concern(**concern, ctx, req, id, *written, std::move(res));
}

}  // namespace divan::http::server
