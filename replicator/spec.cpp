// Replication spec parsing. spec: replication-protocol.md §4, §8, §9.1. The order of the checks
// and the reason texts follow couch_replicator_parse, couch_replicator_filters and
// couch_replicator_httpd_util (CouchDB 3.5); texts marked "ours" are for inputs CouchDB crashes on.
#include "replicator/spec.h"

#include <algorithm>
#include <string_view>

#include "base/numbers.h"
#include "changes/selector.h"

namespace divan::replicator {
namespace {

using std::chrono::milliseconds;

tl::unexpected<Error> bad(std::string reason) { return fail(Code::kBadRequest, std::move(reason)); }

std::string param(std::string_view name) { return "parameter `" + std::string(name) + "`"; }

// CouchDB's couch_util:to_integer takes a JSON integer or a string of digits; it crashes on
// anything else, and does not check the range. Ours: an integer >= `min`.
Result<unsigned> to_count(std::string_view name, const Json& v, unsigned min) {
  int64_t n = -1;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string()) {
    // Digits only; anything else (a sign too) stays -1 and is refused below.
    const auto digits = parse_unsigned<uint32_t>(v.get_ref<const std::string&>());
    if (digits) n = *digits;
  }
  if (n < static_cast<int64_t>(min) || n > int64_t{1} << 31) {
    return bad(param(name) + (min == 0 ? " must be a non-negative integer"
                                        : " must be a positive integer"));
  }
  return static_cast<unsigned>(n);
}

Result<bool> to_bool(std::string_view name, const Json& v) {
  if (!v.is_boolean()) return bad(param(name) + " must be a boolean");
  return v.get<bool>();
}

// validate_rep_props: every query_params value must be a string (CouchDB checks this for
// `_replicate` bodies; we check documents too, since the values become query arguments).
Result<void> check_query_param_values(const Json& body) {
  auto qp = body.find("query_params");
  if (qp == body.end() || !qp->is_object()) return {};
  for (auto it = qp->begin(); it != qp->end(); ++it) {
    if (!it.value().is_string()) return bad(it.key() + " value must be a string.");
  }
  return {};
}

// parse_proxy_settings: `proxy` sets both sides and excludes the per-side ones.
Result<void> parse_proxies(const Json& body, ReplicationSpec& spec) {
  auto text = [&](const char* key) -> std::string {
    auto it = body.find(key);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string proxy = text("proxy");
  spec.source_proxy = text("source_proxy");
  spec.target_proxy = text("target_proxy");
  if (!proxy.empty()) {
    if (!spec.source_proxy.empty()) return bad("`proxy` is mutually exclusive with `source_proxy`");
    if (!spec.target_proxy.empty()) return bad("`proxy` is mutually exclusive with `target_proxy`");
    spec.source_proxy = spec.target_proxy = proxy;
  }
  return {};
}

Result<UserCtx> parse_user_ctx(const Json& v) {
  // CouchDB 3.5 crashes on a malformed user_ctx; these are the texts of its former
  // `_replicator` validate_doc_update function.
  if (!v.is_object()) return bad("The `user_ctx` property must be a non-null object.");
  UserCtx ctx;
  if (auto name = v.find("name"); name != v.end() && !name->is_null()) {
    if (!name->is_string() || name->get_ref<const std::string&>().empty()) {
      return bad("The `user_ctx.name` property must be a non-empty string or null.");
    }
    ctx.name = name->get<std::string>();
  }
  if (auto roles = v.find("roles"); roles != v.end() && !roles->is_null()) {
    if (!roles->is_array()) return bad("The `user_ctx.roles` property must be an array of strings.");
    for (const auto& role : *roles) {
      if (!role.is_string()) {
        return bad("The `user_ctx.roles` property must be an array of strings.");
      }
      ctx.roles.push_back(role.get<std::string>());
    }
  }
  return ctx;
}

// convert_options: one option, in the order the body lists them. Unknown keys are ignored.
Result<void> convert_option(const std::string& key, const Json& v, ReplicationSpec& spec,
                            bool& has_doc_ids, bool& has_filter, bool& has_selector) {
  if (key == "cancel") {
    auto b = to_bool(key, v);
    if (!b) return tl::unexpected(b.error());
    spec.cancel = *b;
  } else if (key == "_local_id" || key == "replication_id" || key == "id") {
    if (!v.is_string()) return bad(param(key) + " must be a string");  // ours
    spec.replication_id = v.get<std::string>();
  } else if (key == "create_target" || key == "continuous" || key == "winning_revs_only" ||
             key == "use_bulk_get" || key == "use_checkpoints" || key == "bidirectional") {
    // use_checkpoints: CouchDB takes any value and crashes later on a non-boolean; we refuse it
    // with the same text as its siblings.
    auto b = to_bool(key, v);
    if (!b) return tl::unexpected(b.error());
    if (key == "create_target") spec.create_target = *b;
    if (key == "continuous") spec.continuous = *b;
    if (key == "winning_revs_only") spec.winning_revs_only = *b;
    if (key == "use_bulk_get") spec.use_bulk_get = *b;
    if (key == "use_checkpoints") spec.use_checkpoints = *b;
    if (key == "bidirectional") spec.bidirectional = *b;
  } else if (key == "create_target_params") {
    if (!v.is_object()) return bad(param(key) + " must be a JSON object");
    spec.create_target_params = v;
  } else if (key == "filter") {
    if (v.is_null()) return {};
    has_filter = true;
    spec.filter.name = v.is_string() ? v.get<std::string>() : std::string();
    spec.filter.kind = !spec.filter.name.empty() && spec.filter.name.front() == '_'
                           ? Filter::Kind::kBuiltin
                           : Filter::Kind::kDesignDoc;
    if (!v.is_string()) spec.filter.name = v.dump();  // refused as an invalid filter later
  } else if (key == "query_params") {
    if (!v.is_object()) return bad(param(key) + " must be an object");
    spec.filter.query_params = v;
  } else if (key == "doc_ids") {
    if (v.is_null()) return {};
    if (!v.is_array()) return bad(param(key) + " must be an array");
    has_doc_ids = true;
    std::vector<std::string> ids;
    for (const auto& id : v) {
      if (!id.is_string()) return bad(param(key) + " must be an array of strings");  // ours
      // CouchDB un-percent-encodes each id (the old replicator took encoded ids), then usorts.
      ids.push_back(percent_decode_lenient(id.get_ref<const std::string&>()));
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    spec.filter.doc_ids = std::move(ids);
  } else if (key == "selector") {
    if (!v.is_object()) return bad(param(key) + " must be a JSON object");
    has_selector = true;
    spec.filter.selector = v;
  } else if (key == "worker_processes" || key == "worker_batch_size" || key == "batch_size" ||
             key == "http_connections" || key == "retries_per_request") {
    auto n = to_count(key, v, key == "retries_per_request" ? 0 : 1);
    if (!n) return tl::unexpected(n.error());
    if (key == "worker_processes") spec.worker_processes = *n;
    if (key == "worker_batch_size") spec.worker_batch_size = *n;
    if (key == "http_connections") spec.http_connections = *n;
    if (key == "retries_per_request") spec.retries_per_request = *n;
  } else if (key == "connection_timeout" || key == "checkpoint_interval") {
    auto n = to_count(key, v, 1);
    if (!n) return tl::unexpected(n.error());
    (key == "connection_timeout" ? spec.connection_timeout : spec.checkpoint_interval) =
        milliseconds(*n);
  } else if (key == "since_seq") {
    if (!v.is_null()) spec.since_seq = v;
  } else if (key == "user_ctx") {
    if (v.is_null()) return {};
    auto ctx = parse_user_ctx(v);
    if (!ctx) return tl::unexpected(ctx.error());
    spec.user_ctx = std::move(*ctx);
  } else if (key == "owner") {
    if (v.is_null()) return {};
    if (!v.is_string()) return bad(param(key) + " must be a string");  // ours
    spec.owner = v.get<std::string>();
  }
  return {};
}

// parse_rep_doc_without_id, for both entry points; errors are bad_request here.
Result<ReplicationSpec> parse_common(const Json& body) {
  if (!body.is_object()) return bad("Request body must be a JSON object");
  ReplicationSpec spec;

  if (auto ok = check_query_param_values(body); !ok) return tl::unexpected(ok.error());
  if (auto ok = parse_proxies(body, spec); !ok) return tl::unexpected(ok.error());

  bool has_doc_ids = false;
  bool has_filter = false;
  bool has_selector = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    auto ok = convert_option(it.key(), it.value(), spec, has_doc_ids, has_filter, has_selector);
    if (!ok) return tl::unexpected(ok.error());
  }
  // `batch_size` is PouchDB's name for worker_batch_size; the CouchDB name wins when both are given.
  if (body.contains("batch_size") && !body.contains("worker_batch_size")) {
    if (auto n = to_count("batch_size", body.at("batch_size"), 1)) spec.worker_batch_size = *n;
  }
  if (int(has_doc_ids) + int(has_filter) + int(has_selector) > 1) {
    return bad("`doc_ids`,`filter`,`selector` are mutually exclusive");
  }
  if (has_doc_ids) spec.filter.kind = Filter::Kind::kDocIds;
  if (has_selector) spec.filter.kind = Filter::Kind::kSelector;

  // A cancel by id names no endpoints.
  if (spec.cancel && spec.replication_id) return spec;

  auto source = Endpoint::parse(body.contains("source") ? body["source"] : Json());
  if (!source) return tl::unexpected(source.error());
  spec.source = std::move(*source);
  auto target = Endpoint::parse(body.contains("target") ? body["target"] : Json());
  if (!target) return tl::unexpected(target.error());
  spec.target = std::move(*target);

  // couch_replicator_filters:view_type, then parse.
  Filter& f = spec.filter;
  if (f.kind == Filter::Kind::kBuiltin && f.name == "_view") {
    auto view = f.query_params.find("view");
    const std::string name = view != f.query_params.end() && view->is_string()
                                 ? view->get<std::string>()
                                 : std::string();
    const size_t slash = name.find('/');
    if (slash == std::string::npos || name.find('/', slash + 1) != std::string::npos) {
      return bad("Invalid `view` parameter.");
    }
  }
  if (f.kind == Filter::Kind::kDesignDoc) {
    const size_t slash = f.name.find('/');
    if (!body.at("filter").is_string() || slash == std::string::npos) {
      return bad("Invalid filter. Must match `ddocname/filtername`.");
    }
    f.ddoc = f.name.substr(0, slash);
    f.function = f.name.substr(slash + 1);
  }
  if (f.kind == Filter::Kind::kSelector) {
    auto parsed = changes::Selector::parse(f.selector);
    if (!parsed) return bad(parsed.error().reason);
  }
  return spec;
}

}  // namespace

Result<ReplicationSpec> parse_replicate_body(const Json& body) { return parse_common(body); }

Result<ReplicationSpec> parse_replicator_doc(const Json& doc) {
  if (!doc.is_object()) return fail(Code::kForbidden, "Document must be a JSON object");
  // The replicator's own state fields and the document's metadata are not options.
  Json body = Json::object();
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!it.key().empty() && it.key().front() == '_') continue;
    body[it.key()] = it.value();
  }
  auto spec = parse_common(body);
  if (!spec) return fail(Code::kForbidden, spec.error().reason);
  if (spec->cancel) {
    return fail(Code::kForbidden,  // ours: CouchDB 3 has no such check
                "parameter `cancel` is not allowed in a _replicator document; delete the "
                "document to cancel its replication");
  }
  if (auto id = doc.find("_id"); id != doc.end() && id->is_string()) spec->doc_id = *id;
  return spec;
}

bool needs_javascript(const Filter& filter) {
  return filter.kind == Filter::Kind::kDesignDoc ||
         (filter.kind == Filter::Kind::kBuiltin && filter.name == "_view");
}

Result<void> check_filter_supported(const ReplicationSpec& spec) {
  const Filter& f = spec.filter;
  if (f.kind == Filter::Kind::kDesignDoc) {
    return bad("filter `" + f.name +
               "` is a design document filter, which needs a JavaScript engine; Divan has none. "
               "Use `doc_ids` or `selector` instead.");
  }
  if (f.kind == Filter::Kind::kBuiltin) {
    if (f.name == "_view") {
      return bad("filter `_view` needs map/reduce views; Divan has none. Use `selector` instead.");
    }
    if (f.name != "_design" && f.name != "_doc_ids" && f.name != "_selector") {
      return bad("filter `" + f.name + "` is not a filter Divan knows");
    }
  }
  return {};
}

}  // namespace divan::replicator
