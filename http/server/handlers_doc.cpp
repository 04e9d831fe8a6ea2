// Single documents: GET/HEAD/PUT/DELETE /{db}/{docid}, including `_design/` and `_local/` ids
// (http-api.md §6, §8; revision-trees.md §6, §8).
#include <random>

#include "http/server/doc_json.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"

namespace divan::http {

namespace {

using revtree::RevId;

Result<RevId> parse_rev_text(std::string_view text) {
  auto rev = revtree::parse_rev(text);
  if (!rev) return fail(Code::kBadRequest, reason::kBadRev);
  return *rev;
}

std::string_view unquote(std::string_view s) {
  if (s.starts_with("W/")) s.remove_prefix(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// The parent rev of a write: body `_rev`, `?rev=`, `If-Match`; all given ones must agree (§6.2).
Result<std::optional<std::string>> requested_rev(const Request& req,
                                                 const std::optional<std::string>& body_rev) {
  std::optional<std::string> query;
  if (auto q = req.param("rev")) query = std::string(*q);
  std::optional<std::string> etag;
  if (auto h = req.header(bhttp::field::if_match); !h.empty()) etag = std::string(unquote(h));
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

// Whether `accept` admits `type` (explicitly, via "major/*", via "*/*", or with no Accept at all).
bool accepts(std::string_view accept, std::string_view type) {
  if (accept.empty()) return true;
  std::string_view major = type.substr(0, type.find('/'));
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    size_t semi = range.find(';');
    std::string_view params = semi == std::string_view::npos ? "" : range.substr(semi);
    range = range.substr(0, semi);
    while (!range.empty() && range.front() == ' ') range.remove_prefix(1);
    while (!range.empty() && range.back() == ' ') range.remove_suffix(1);
    bool zero_q = params.find("q=0") != std::string_view::npos &&
                  params.find("q=0.") == std::string_view::npos;
    if (zero_q) continue;
    if (range == type || range == "*/*" ||
        (range.size() == major.size() + 2 && range.starts_with(major) && range.ends_with("/*"))) {
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
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(*update));
  auto result = co_await write(db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const auto& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  co_return doc_written(req, id, outcome.rev, remove ? bhttp::status::ok : bhttp::status::created);
}

// ---- open_revs (§6.1): several revisions, as a JSON array or multipart/mixed ----

struct OpenRevs {
  std::vector<std::string> found;  // rendered docs
  std::vector<std::string> missing;
};

Response open_revs_response(const Request& req, OpenRevs&& result) {
  if (!accepts(req.header(bhttp::field::accept), "multipart/mixed")) {
    std::string body = "[";
    for (const auto& doc : result.found) {
      if (body.size() > 1) body.push_back(',');
      body += "{\"ok\":" + doc + "}";
    }
    for (const auto& rev : result.missing) {
      if (body.size() > 1) body.push_back(',');
      body += "{\"missing\":" + json_string(rev) + "}";
    }
    body.push_back(']');
    return json_response(bhttp::status::ok, std::move(body));
  }
  // The CouchDB replicator reads this form (Accept: multipart/mixed), one part per revision.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char boundary[33];
  snprintf(boundary, sizeof boundary, "%016llx%016llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng()));
  std::string body;
  for (const auto& doc : result.found) {
    body += "--" + std::string(boundary) + "\r\nContent-Type: application/json\r\n\r\n" + doc + "\r\n";
  }
  for (const auto& rev : result.missing) {
    body += "--" + std::string(boundary) +
            "\r\nContent-Type: application/json; error=\"true\"\r\n\r\n{\"missing\":" +
            json_string(rev) + "}\r\n";
  }
  body += "--" + std::string(boundary) + "--";
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "multipart/mixed; boundary=\"" + std::string(boundary) + "\"");
  res.body() = std::move(body);
  return res;
}

Task<Response> get_open_revs(Request& req, engine::Database& db, const std::string& id,
                             std::string_view open_revs, const ReadOptions& options) {
  auto latest = bool_param(req, "latest");
  if (!latest) co_return error_response(latest.error());
  bool all = open_revs == "all";
  std::vector<RevId> requested;
  if (!all) {
    auto json = parse_json(open_revs);
    if (!json) co_return error_response(json.error());
    if (!json->is_array()) co_return error_response({Code::kBadRequest, "Invalid rev format"});
    for (const auto& item : *json) {
      if (!item.is_string()) co_return error_response({Code::kBadRequest, reason::kBadRev});
      auto rev = parse_rev_text(item.get_ref<const std::string&>());
      if (!rev) co_return error_response(rev.error());
      requested.push_back(std::move(*rev));
    }
  }
  auto snapshot = db.snapshot();
  if (!snapshot) co_return error_response(snapshot.error());
  auto doc = snapshot->doc(id);
  OpenRevs result;
  if (!doc) {
    if (all) co_return error_response({Code::kNotFound, reason::kMissing});
    for (const auto& rev : requested) result.missing.push_back(rev.str());
    co_return open_revs_response(req, std::move(result));
  }
  // Each requested rev resolves to the revisions to send: itself, or with latest its leaves.
  std::vector<revtree::Leaf> to_send;
  auto add = [&](const revtree::Leaf& leaf) {
    for (const auto& seen : to_send) {
      if (seen.rev == leaf.rev) return;  // a leaf reachable from several requested revs goes once
    }
    to_send.push_back(leaf);
  };
  if (all) {
    for (const auto& leaf : doc->tree.leaves()) add(leaf);
  } else {
    for (const auto& rev : requested) {
      const auto* node = doc->tree.find(rev);
      if (*latest && node) {
        for (const auto& leaf : doc->tree.leaves_under(rev)) add(leaf);
      } else if (node && node->has_body) {
        add({rev, node->deleted});
      } else {
        result.missing.push_back(rev.str());
      }
    }
  }
  for (const auto& leaf : to_send) {
    auto rendered = read_revision(*snapshot, *doc, leaf.rev, leaf.deleted, options, db.revs_limit());
    if (rendered) {
      result.found.push_back(std::move(*rendered));
    } else {
      result.missing.push_back(leaf.rev.str());
    }
  }
  co_return open_revs_response(req, std::move(result));
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
  auto if_none_match = req.header(bhttp::field::if_none_match);
  if (if_none_match.empty() || if_none_match.find(rev.str()) == std::string_view::npos) {
    return std::nullopt;
  }
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
  auto found = db.doc_with_winner_body(id);
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
  if (!rev) co_return get_winner(req, **db, id, *options);

  auto snapshot = (*db)->snapshot();
  if (!snapshot) co_return error_response(snapshot.error());
  auto doc = snapshot->doc(id);
  if (!doc) co_return error_response(doc.error());
  const auto* node = doc->tree.find(*rev);
  if (!node || !node->has_body) co_return error_response({Code::kNotFound, reason::kMissing});
  options->revs_info = false;  // only for the winner
  options->conflicts = options->deleted_conflicts = false;  // ignored together with rev=
  if (auto unchanged = not_modified(req, *rev, *options)) co_return std::move(*unchanged);
  auto rendered =
      read_revision(*snapshot, *doc, *rev, node->deleted, *options, (*db)->revs_limit());
  if (!rendered) co_return error_response({Code::kNotFound, reason::kMissing});
  co_return doc_response(std::move(*rendered), *rev, *options);
}

Task<Response> handle_doc_put(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  std::string id = doc_id_from_path(req);
  if (auto ok = validate_doc_id(id); !ok) co_return error_response(ok.error());
  if (id.starts_with(kLocalPrefix)) co_return co_await write_local(req, **db, id, false);

  auto new_edits = bool_param(req, "new_edits", true);
  if (!new_edits) co_return error_response(new_edits.error());
  // PUT checks no content type: any body is parsed as JSON (http-api.md §1.1).
  auto json = parse_json_object(req.body(), "Document must be a JSON object");
  if (!json) co_return error_response(json.error());
  json->erase("_id");  // the URL id wins over any `_id` in the body
  auto doc = parse_incoming_doc(std::move(*json));
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
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(*update));
  auto result = co_await write(**db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const auto& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  if (req.param("batch") == "ok") {
    co_return json_response(bhttp::status::accepted, "{\"ok\":true,\"id\":" + json_string(id) + "}");
  }
  co_return doc_written(req, id, outcome.rev, deleted ? bhttp::status::ok : bhttp::status::created);
}

Task<Response> handle_doc_delete(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  std::string id = doc_id_from_path(req);
  if (auto ok = validate_doc_id(id); !ok) co_return error_response(ok.error());
  if (id.starts_with(kLocalPrefix)) co_return co_await write_local(req, **db, id, true);

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
  if (!rev) co_return error_response({Code::kConflict, reason::kConflict});
  engine::DocUpdate update;
  update.id = id;
  update.deleted = true;
  update.body = "{}";
  update.canonical_body = "{}";
  update.parent = std::move(rev);
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(update));
  auto result = co_await write(**db, std::move(ops));
  if (!result) co_return error_response(result.error());
  const auto& outcome = result->front();
  if (outcome.error) co_return error_response(*outcome.error);
  co_return doc_written(req, id, outcome.rev, bhttp::status::ok);
}

Task<Response> handle_attachment(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  // Attachments are stored by the attachments work (issue 4); until then no document has any.
  co_return error_response({Code::kNotFound, "Document is missing attachment"});
}

}  // namespace divan::http
