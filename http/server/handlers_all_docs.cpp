// Id-ordered listings: GET|POST /{db}/_all_docs, /{db}/_design_docs (http-api.md §9) and
// /{db}/_local_docs (§8). The reply is built as text row by row (no JSON tree per row) from one
// snapshot, which is released before the response goes back to the session.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/numbers.h"
#include "changes/feed.h"
#include "http/server/doc_json.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace {

enum class Namespace { kAll, kDesign, kLocal };

// Every `_design/…` id sorts in ["_design/", "_design0"): '0' is the byte after '/'
// (couch_db ?FIRST_DDOC_KEY / ?LAST_DDOC_KEY).
constexpr std::string_view kDesignEnd = "_design0";

struct ListArgs {
  std::optional<Json> start_key;  // any JSON; only a string bounds the scan (see scan_range)
  std::optional<Json> end_key;
  std::optional<std::string> start_docid;
  std::optional<std::string> end_docid;
  std::optional<Json> keys;  // an array when set
  bool descending = false;
  bool inclusive_end = true;
  bool include_docs = false;
  bool conflicts = false;
  bool attachments = false;  // with include_docs: attachment bodies inline
  bool att_encoding_info = false;  // with include_docs: gzip-stored attachments say so
  bool update_seq = false;
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  uint64_t skip = 0;
};

// How CouchDB prints a bad value in query_parse_error reasons: strings quoted, the rest as JSON.
std::string quoted(const Json& value) {
  return value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump();
}

// Body fields arrive decoded: a JSON boolean, or the text "true"/"false" like the query string.
Result<bool> body_bool(const Json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value == "true") return true;
  if (value == "false") return false;
  return fail(Code::kQueryParseError, "Invalid boolean parameter: " + quoted(value));
}

Result<uint64_t> body_uint(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_string()) {
    if (auto n = parse_unsigned<uint64_t>(value.get_ref<const std::string&>())) return *n;
  }
  return fail(Code::kQueryParseError, "Invalid value for integer: " + quoted(value));
}

bool is_start_key(std::string_view name) { return name == "startkey" || name == "start_key"; }
bool is_end_key(std::string_view name) { return name == "endkey" || name == "end_key"; }
bool is_start_docid(std::string_view name) {
  return name == "startkey_docid" || name == "start_key_doc_id";
}
bool is_end_docid(std::string_view name) {
  return name == "endkey_docid" || name == "end_key_doc_id";
}

struct BoolParam {
  const char* name;
  bool ListArgs::*field;
};
const BoolParam kBoolParams[] = {
    {"descending", &ListArgs::descending},     {"inclusive_end", &ListArgs::inclusive_end},
    {"include_docs", &ListArgs::include_docs}, {"conflicts", &ListArgs::conflicts},
    {"update_seq", &ListArgs::update_seq},     {"attachments", &ListArgs::attachments},
    {"att_encoding_info", &ListArgs::att_encoding_info},
};

// The POST body's fields (everything but `keys`), applied first; the query string overrides them,
// as CouchDB's parse_body_and_query does.
Result<void> apply_body_params(ListArgs& args, const Json& body) {
  for (const auto& [name, value] : body.items()) {
    if (name == "key") {
      args.start_key = args.end_key = value;
    } else if (is_start_key(name)) {
      args.start_key = value;
    } else if (is_end_key(name)) {
      args.end_key = value;
    } else if (is_start_docid(name) || is_end_docid(name)) {
      if (!value.is_string()) {
        return fail(Code::kQueryParseError, is_start_docid(name)
                                                ? "`start_key_docid` must be a string."
                                                : "`end_key_docid` must be a string.");
      }
      (is_start_docid(name) ? args.start_docid : args.end_docid) = value.get<std::string>();
    } else if (name == "limit" || name == "skip") {
      auto n = body_uint(value);
      if (!n) return tl::unexpected(n.error());
      (name == "limit" ? args.limit : args.skip) = *n;
    } else {
      for (const BoolParam& param : kBoolParams) {
        if (name != param.name) continue;
        auto flag = body_bool(value);
        if (!flag) return tl::unexpected(flag.error());
        if (param.field) args.*param.field = *flag;
      }
    }
  }
  return {};
}

Result<void> apply_query_params(ListArgs& args, const Request& req) {
  // In request order: `key` sets both ends, so a later `startkey` overrides just one of them.
  for (const auto& [name, value] : req.params()) {
    if (name == "key" || is_start_key(name) || is_end_key(name)) {
      auto key = parse_json(value);  // json_body.h: the one place JSON from a request is parsed
      if (!key) return tl::unexpected(key.error());
      if (name != "key") {
        (is_start_key(name) ? args.start_key : args.end_key) = std::move(*key);
      } else {
        args.start_key = args.end_key = std::move(*key);
      }
    } else if (is_start_docid(name)) {
      args.start_docid = value;
    } else if (is_end_docid(name)) {
      args.end_docid = value;
    }
  }
  for (const BoolParam& param : kBoolParams) {
    bool fallback = param.field ? args.*param.field : false;
    auto flag = bool_param(req, param.name, fallback);
    if (!flag) return tl::unexpected(flag.error());
    if (param.field) args.*param.field = *flag;
  }
  for (auto [name, field] :
       {std::pair{"limit", &ListArgs::limit}, std::pair{"skip", &ListArgs::skip}}) {
    auto n = uint_param(req, name);
    if (!n) return tl::unexpected(n.error());
    if (*n) args.*field = **n;
  }
  return {};
}

// `keys` from the POST body, else from the query string; CouchDB words the error by its source.
Result<void> take_keys(ListArgs& args, const Request& req, Json* body) {
  if (body) {
    if (auto it = body->find("keys"); it != body->end()) {
      if (it->is_array()) {
        args.keys = std::move(*it);
      } else if (!it->is_null()) {
        return fail(Code::kBadRequest, "`keys` body member must be an array.");
      }
      body->erase(it);
      if (args.keys) return {};
    }
  }
  auto keys = json_param(req, "keys");
  if (!keys) return tl::unexpected(keys.error());
  if (*keys && !(*keys)->is_null()) {
    if (!(*keys)->is_array()) return fail(Code::kBadRequest, "`keys` parameter must be an array.");
    args.keys = std::move(**keys);
  }
  return {};
}

Result<ListArgs> parse_list_args(const Request& req) {
  ListArgs args;
  std::optional<Json> body;
  if (req.method() == bhttp::verb::post) {
    if (auto ok = require_json_content_type(req); !ok) return tl::unexpected(ok.error());
    auto parsed = parse_json_object(req.body());
    if (!parsed) return tl::unexpected(parsed.error());
    body = std::move(*parsed);
  }
  if (auto ok = take_keys(args, req, body ? &*body : nullptr); !ok) {
    return tl::unexpected(ok.error());
  }
  if (body) {
    if (auto ok = apply_body_params(args, *body); !ok) return tl::unexpected(ok.error());
  }
  if (auto ok = apply_query_params(args, req); !ok) return tl::unexpected(ok.error());
  if (args.keys && !args.keys->empty() && (args.start_key || args.end_key)) {
    return fail(Code::kQueryParseError,
                "`keys` is incompatible with `key`, `start_key` and `end_key`");
  }
  return args;
}

// CouchDB bounds an _all_docs scan by a key only when it is a string, and otherwise by the
// *_docid parameter (couch_mrview_util ad_skey_opts / ad_ekey_opts): `startkey=1` is no bound.
engine::IdRange scan_range(const ListArgs& args, Namespace ns) {
  auto bound = [](const std::optional<Json>& key, const std::optional<std::string>& docid) {
    if (key && key->is_string()) return std::optional<std::string>(key->get<std::string>());
    return docid;
  };
  engine::IdRange range;
  range.start = bound(args.start_key, args.start_docid);
  range.end = bound(args.end_key, args.end_docid);
  range.inclusive_end = args.inclusive_end;
  range.descending = args.descending;
  if (ns != Namespace::kDesign) return range;
  // _design_docs: the user's range intersected with the design-doc range (couch_db
  // set_design_doc_keys). In scan direction, the start moves forward and the end moves back.
  const std::string low(kDesignPrefix), high(kDesignEnd);
  const std::string& first = range.descending ? high : low;
  const std::string& last = range.descending ? low : high;
  auto before = [&](const std::string& a, const std::string& b) {
    return range.descending ? b < a : a < b;
  };
  if (!range.start || before(*range.start, first)) range.start = first;
  if (!range.end || before(last, *range.end)) {
    range.end = last;
    range.inclusive_end = false;  // neither "_design/" nor "_design0" is a legal doc id
  }
  return range;
}

void append_json(std::string& out, const Json& value) {
  if (value.is_string()) {
    append_json_string(out, value.get_ref<const std::string&>());
  } else {
    out += value.dump();
  }
}

void append_header(std::string& out, std::optional<uint64_t> total, std::optional<uint64_t> offset,
                   std::optional<uint64_t> update_seq) {
  out += "{\"total_rows\":";
  out += total ? std::to_string(*total) : "null";
  out += ",\"offset\":";
  out += offset ? std::to_string(*offset) : "null";
  if (update_seq) out += ",\"update_seq\":" + changes::seq_json(*update_seq);
  out += ",\"rows\":[";
}

// `{"id":…,"key":…,"value":{"rev":…` — the caller closes value and row.
void append_row_start(std::string& out, std::string_view id, std::string_view rev) {
  out += "{\"id\":";
  append_json_string(out, id);
  out += ",\"key\":";
  append_json_string(out, id);
  out += ",\"value\":{\"rev\":";
  append_json_string(out, rev);
}

void append_missing_row(std::string& out, const Json& key) {
  out += "{\"key\":";
  append_json(out, key);
  out += ",\"error\":\"not_found\"}";
}

std::string local_rev(const engine::LocalDoc& doc) {
  return "0-" + std::to_string(doc.rev_counter);
}

void append_local_row(std::string& out, const engine::LocalDoc& doc, bool include_docs) {
  std::string rev = local_rev(doc);
  append_row_start(out, doc.id, rev);
  out.push_back('}');
  if (include_docs) {
    out += ",\"doc\":";
    out += render_doc(doc.id, rev, false, doc.body);
  }
  out.push_back('}');
}

// A live winner with include_docs: the stored body spliced with `_id`/`_rev` (and `_conflicts`).
void append_winner_doc(std::string& out, engine::Snapshot& snapshot, const engine::DocRecord& doc,
                       const revtree::RevId& rev, const ListArgs& args, uint32_t revs_limit) {
  ReadOptions options;
  options.conflicts = args.conflicts;
  options.att_encoding_info = args.att_encoding_info;
  if (args.attachments) options.attachments = engine::AttachmentMode::kInline;
  auto rendered = read_revision(snapshot, doc, rev, false, options, revs_limit);
  out += rendered ? *rendered : "null";
}

// total_rows of _design_docs counts live design docs only (couch_db:get_design_doc_count).
uint64_t count_design_docs(engine::Snapshot& snapshot) {
  uint64_t n = 0;
  engine::IdRange range{std::string(kDesignPrefix), std::string(kDesignEnd), false};
  snapshot.scan_by_id(range, [&](const engine::DocRow& row) {
    n += row.id.starts_with(kDesignPrefix);
    return true;
  });
  return n;
}

// ---- the key-range listing ----

struct ScannedRow {
  std::string id;
  std::string rev;
  std::string tree;  // encoded tree; kept only when include_docs&conflicts need the leaves
};

std::string list_range(engine::Snapshot& snapshot, engine::Database& db, const ListArgs& args,
                       Namespace ns) {
  engine::IdRange range = scan_range(args, ns);
  std::string out;
  if (ns == Namespace::kLocal) {
    // Local docs have no index to count against: total_rows and offset are null (§8).
    append_header(out, std::nullopt, std::nullopt,
                  args.update_seq ? std::optional(db.update_seq()) : std::nullopt);
    uint64_t skipped = 0, sent = 0;
    if (args.limit > 0) {
      snapshot.scan_local(range, [&](const engine::LocalDoc& doc) {
        if (skipped < args.skip) {
          ++skipped;
          return true;
        }
        if (sent++) out.push_back(',');
        append_local_row(out, doc, args.include_docs);
        return sent < args.limit;
      });
    }
    out += "]}";
    return out;
  }

  engine::DbInfo info = db.info();
  uint64_t total = info.doc_count;
  if (ns == Namespace::kDesign) {
    total = count_design_docs(snapshot);
  }
  // Rows before the first returned one, skipped ones included, capped at total_rows as fabric
  // does (fabric_view_all_docs: min(Total, Offset + Skip)).
  uint64_t before = range.start ? snapshot.count_before(*range.start, range.descending) : 0;
  uint64_t offset = std::min(total, before + std::min(args.skip, total));
  append_header(out, total, offset,
                args.update_seq ? std::optional(info.update_seq) : std::nullopt);

  std::vector<ScannedRow> rows;
  if (args.limit > 0) {
    const bool keep_tree = args.include_docs && args.conflicts;
    uint64_t skipped = 0;
    snapshot.scan_by_id(range, [&](const engine::DocRow& row) {
      // The design range's descending start "_design0" is inclusive; ids outside the namespace
      // are illegal anyway, but never list one.
      if (ns == Namespace::kDesign && !row.id.starts_with(kDesignPrefix)) return true;
      if (skipped < args.skip) {
        ++skipped;
        return true;
      }
      rows.push_back({std::string(row.id), std::string(row.winner),
                      keep_tree ? std::string(row.tree_bytes) : std::string()});
      return rows.size() < args.limit;
    });
  }
  // Bodies are read after the scan so the scan's statement is never interleaved with point reads.
  for (size_t i = 0; i < rows.size(); ++i) {
    const ScannedRow& row = rows[i];
    if (i) out.push_back(',');
    append_row_start(out, row.id, row.rev);
    out.push_back('}');
    if (args.include_docs && args.attachments) {
      // Inline attachment bodies: the full read of the revision.
      out += ",\"doc\":";
      auto rev = revtree::parse_rev(row.rev);
      auto doc = snapshot.doc(row.id);
      if (rev && doc) {
        append_winner_doc(out, snapshot, *doc, *rev, args, db.revs_limit());
      } else {
        out += "null";
      }
    } else if (args.include_docs) {
      out += ",\"doc\":";
      auto rev = revtree::parse_rev(row.rev);
      auto body = rev ? snapshot.body(row.id, *rev, args.att_encoding_info) : std::nullopt;
      if (!body) {
        out += "null";
      } else {
        std::string extras;
        if (args.conflicts) {
          if (auto tree = revtree::RevTree::decode(row.tree)) {
            engine::DocRecord record{row.id, 0, std::move(*tree)};
            ReadOptions options;
            options.conflicts = true;
            extras = render_extras(record, *rev, options, db.revs_limit());
          }
        }
        out += render_doc(row.id, row.rev, false, *body, extras);
      }
    }
    out.push_back('}');
  }
  out += "]}";
  return out;
}

// ---- the `keys` listing: one row per key, in order (reversed when descending) ----

std::string list_keys(engine::Snapshot& snapshot, engine::Database& db, const ListArgs& args,
                      Namespace ns) {
  const Json& keys = *args.keys;
  std::string out;
  std::optional<uint64_t> total;
  if (ns == Namespace::kAll) {
    total = db.info().doc_count;
  } else if (ns == Namespace::kDesign) {
    total = count_design_docs(snapshot);
  }
  append_header(out, total, std::nullopt,
                args.update_seq ? std::optional(db.update_seq()) : std::nullopt);

  const uint64_t count = keys.size();
  const uint64_t first = std::min(args.skip, count);
  const uint64_t n = std::min(args.limit, count - first);
  for (uint64_t i = first; i < first + n; ++i) {
    const Json& key = keys[args.descending ? count - 1 - i : i];
    if (i != first) out.push_back(',');
    // Each listing reads its own store: _all_docs never shows a `_local/` doc, and _local_docs
    // shows nothing else.
    const bool local_key =
        key.is_string() &&
        std::string_view(key.get_ref<const std::string&>()).starts_with(kLocalPrefix);
    if (!key.is_string() || local_key != (ns == Namespace::kLocal)) {
      append_missing_row(out, key);
      continue;
    }
    const std::string& id = key.get_ref<const std::string&>();
    if (ns == Namespace::kLocal) {
      auto doc = snapshot.local(id);
      if (!doc) {
        append_missing_row(out, key);
      } else {
        append_local_row(out, *doc, args.include_docs);
      }
      continue;
    }
    auto doc = snapshot.doc(id);
    if (!doc) {
      append_missing_row(out, key);
      continue;
    }
    revtree::Leaf winner = doc->tree.winner();
    std::string rev = winner.rev.str();
    append_row_start(out, id, rev);
    if (winner.deleted) {
      out += ",\"deleted\":true}";
      if (args.include_docs) out += ",\"doc\":null";
    } else {
      out.push_back('}');
      if (args.include_docs) {
        out += ",\"doc\":";
        append_winner_doc(out, snapshot, *doc, winner.rev, args, db.revs_limit());
      }
    }
    out.push_back('}');
  }
  out += "]}";
  return out;
}

Task<Response> list_docs(Request& req, ServerContext& ctx, Namespace ns) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto args = parse_list_args(req);
  if (!args) co_return error_response(args.error());
  std::string body;
  {
    auto snapshot = (*db)->snapshot();
    if (!snapshot) co_return error_response(snapshot.error());
    body =
        args->keys ? list_keys(*snapshot, **db, *args, ns) : list_range(*snapshot, **db, *args, ns);
  }  // the read transaction ends here, before the reply is written
  co_return json_response(bhttp::status::ok, std::move(body));
}

}  // namespace

Task<Response> handle_all_docs(Request& req, ServerContext& ctx) {
  co_return co_await list_docs(req, ctx, Namespace::kAll);
}

Task<Response> handle_design_docs(Request& req, ServerContext& ctx) {
  co_return co_await list_docs(req, ctx, Namespace::kDesign);
}

Task<Response> handle_local_docs(Request& req, ServerContext& ctx) {
  co_return co_await list_docs(req, ctx, Namespace::kLocal);
}

}  // namespace divan::http::server
