// spec: replication-protocol.md §4 (options, filters, type errors, mutual exclusion), §8 (the
// `_replicate` body, cancel), §9.1 (`_replicator` documents: same fields, no cancel, 403).
#include <doctest/doctest.h>

#include "replicator/spec.h"

using namespace divan;
using namespace divan::replicator;

namespace {

Json body(Json extra = Json::object()) {
  Json b = {{"source", "http://a/src"}, {"target", "http://b/tgt"}};
  for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
  return b;
}

ReplicationSpec must_parse_spec(const Json& b) {
  auto spec = parse_replicate_body(b);
  REQUIRE_MESSAGE(spec.has_value(), (spec ? "" : spec.error().reason));
  return *spec;
}

}  // namespace

TEST_CASE("spec: defaults are CouchDB's (tuning.h)") {
  const ReplicationSpec s = must_parse_spec(body());
  CHECK(s.source.url() == "http://a/src/");
  CHECK(s.target.url() == "http://b/tgt/");
  CHECK_FALSE(s.continuous);
  CHECK_FALSE(s.create_target);
  CHECK(s.create_target_params == Json::object());
  CHECK(s.filter.kind == Filter::Kind::kNone);
  CHECK_FALSE(s.since_seq.has_value());
  CHECK_FALSE(s.winning_revs_only);
  CHECK(s.use_checkpoints);
  CHECK(s.checkpoint_interval == std::chrono::milliseconds(30000));
  CHECK(s.worker_batch_size == 500);
  CHECK(s.worker_processes == 4);
  CHECK(s.http_connections == 20);
  CHECK(s.connection_timeout == std::chrono::milliseconds(30000));
  CHECK(s.retries_per_request == 5);
  CHECK(s.use_bulk_get);
  CHECK_FALSE(s.cancel);
  CHECK_FALSE(s.replication_id.has_value());
  CHECK_FALSE(s.user_ctx.has_value());
  CHECK_FALSE(s.owner.has_value());
}

TEST_CASE("spec: every option is read (table of accepted values)") {
  const ReplicationSpec s = must_parse_spec(body({
      {"continuous", true},
      {"create_target", true},
      {"create_target_params", {{"q", 1}, {"n", 1}}},
      {"since_seq", "12-g1AAAA"},
      {"winning_revs_only", true},
      {"use_checkpoints", false},
      {"checkpoint_interval", 5000},
      {"worker_batch_size", "100"},  // CouchDB's to_integer takes digit strings
      {"worker_processes", 2},
      {"http_connections", 5},
      {"connection_timeout", 60000},
      {"retries_per_request", 0},
      {"use_bulk_get", false},
      {"user_ctx", {{"name", "bob"}, {"roles", {"r1"}}}},
      {"owner", "bob"},
      {"unknown_option", "ignored"},
  }));
  CHECK(s.continuous);
  CHECK(s.create_target);
  CHECK(s.create_target_params == Json{{"q", 1}, {"n", 1}});
  REQUIRE(s.since_seq.has_value());
  CHECK(*s.since_seq == "12-g1AAAA");
  CHECK(s.winning_revs_only);
  CHECK_FALSE(s.use_checkpoints);
  CHECK(s.checkpoint_interval == std::chrono::milliseconds(5000));
  CHECK(s.worker_batch_size == 100);
  CHECK(s.worker_processes == 2);
  CHECK(s.http_connections == 5);
  CHECK(s.connection_timeout == std::chrono::milliseconds(60000));
  CHECK(s.retries_per_request == 0);
  CHECK_FALSE(s.use_bulk_get);
  REQUIRE(s.user_ctx.has_value());
  CHECK(s.user_ctx->name == "bob");
  CHECK(s.user_ctx->roles == std::vector<std::string>{"r1"});
  CHECK(s.owner == "bob");
}

TEST_CASE("spec: batch_size is PouchDB's worker_batch_size; the CouchDB name wins") {
  CHECK(must_parse_spec(body({{"batch_size", 50}})).worker_batch_size == 50);
  CHECK(must_parse_spec(body({{"batch_size", 50}, {"worker_batch_size", 70}})).worker_batch_size == 70);
  CHECK(must_parse_spec(body({{"worker_batch_size", 70}, {"batch_size", 50}})).worker_batch_size == 70);
}

TEST_CASE("spec: doc_ids are percent-decoded, sorted and deduplicated; null is none") {
  const ReplicationSpec s = must_parse_spec(body({{"doc_ids", {"c", "a%2Fb", "a/b", "+1555", "c"}}}));
  CHECK(s.filter.kind == Filter::Kind::kDocIds);
  CHECK(s.filter.doc_ids == std::vector<std::string>{"+1555", "a/b", "c"});
  CHECK(must_parse_spec(body({{"doc_ids", nullptr}})).filter.kind == Filter::Kind::kNone);
  CHECK(must_parse_spec(body({{"doc_ids", Json::array()}})).filter.kind == Filter::Kind::kDocIds);
}

TEST_CASE("spec: filters") {
  const ReplicationSpec sel = must_parse_spec(body({{"selector", {{"type", "post"}}}}));
  CHECK(sel.filter.kind == Filter::Kind::kSelector);
  CHECK(sel.filter.selector == Json{{"type", "post"}});

  const ReplicationSpec dd =
      must_parse_spec(body({{"filter", "app/by_user"}, {"query_params", {{"user", "bob"}}}}));
  CHECK(dd.filter.kind == Filter::Kind::kDesignDoc);
  CHECK(dd.filter.ddoc == "app");
  CHECK(dd.filter.function == "by_user");
  CHECK(dd.filter.query_params == Json{{"user", "bob"}});
  CHECK(needs_javascript(dd.filter));
  auto refused = check_filter_supported(dd);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Code::kBadRequest);
  CHECK(refused.error().reason ==
        "filter `app/by_user` is a design document filter, which needs a JavaScript engine; "
        "Divan has none. Use `doc_ids` or `selector` instead.");

  // CouchDB splits at the first '/': the function name may contain more.
  const ReplicationSpec nested = must_parse_spec(body({{"filter", "a/b/c"}}));
  CHECK(nested.filter.ddoc == "a");
  CHECK(nested.filter.function == "b/c");

  const ReplicationSpec design = must_parse_spec(body({{"filter", "_design"}}));
  CHECK(design.filter.kind == Filter::Kind::kBuiltin);
  CHECK_FALSE(needs_javascript(design.filter));
  CHECK(check_filter_supported(design).has_value());

  const ReplicationSpec view =
      must_parse_spec(body({{"filter", "_view"}, {"query_params", {{"view", "d/v"}}}}));
  CHECK(view.filter.kind == Filter::Kind::kBuiltin);
  CHECK(needs_javascript(view.filter));
  CHECK_FALSE(check_filter_supported(view).has_value());

  CHECK_FALSE(check_filter_supported(must_parse_spec(body({{"filter", "_nope"}}))).has_value());
  CHECK(check_filter_supported(must_parse_spec(body())).has_value());
  CHECK(check_filter_supported(sel).has_value());
  CHECK(check_filter_supported(must_parse_spec(body({{"doc_ids", {"a"}}}))).has_value());
}

TEST_CASE("spec: bad _replicate bodies get 400 with CouchDB's reasons (table)") {
  struct Row {
    Json extra;
    const char* reason;
  };
  const Row rows[] = {
      {{{"continuous", "true"}}, "parameter `continuous` must be a boolean"},
      {{{"create_target", 1}}, "parameter `create_target` must be a boolean"},
      {{{"cancel", "yes"}}, "parameter `cancel` must be a boolean"},
      {{{"winning_revs_only", "foo"}}, "parameter `winning_revs_only` must be a boolean"},
      {{{"use_bulk_get", 0}}, "parameter `use_bulk_get` must be a boolean"},
      {{{"use_checkpoints", "false"}}, "parameter `use_checkpoints` must be a boolean"},
      {{{"doc_ids", "a"}}, "parameter `doc_ids` must be an array"},
      {{{"doc_ids", {1}}}, "parameter `doc_ids` must be an array of strings"},
      {{{"selector", {1, 2}}}, "parameter `selector` must be a JSON object"},
      {{{"selector", nullptr}}, "parameter `selector` must be a JSON object"},
      {{{"query_params", 42}}, "parameter `query_params` must be an object"},
      {{{"query_params", {{"k", 1}}}}, "k value must be a string."},
      {{{"create_target_params", "q=1"}}, "parameter `create_target_params` must be a JSON object"},
      {{{"doc_ids", {"a"}}, {"filter", "d/f"}}, "`doc_ids`,`filter`,`selector` are mutually exclusive"},
      {{{"doc_ids", {"a"}}, {"selector", Json::object()}},
       "`doc_ids`,`filter`,`selector` are mutually exclusive"},
      {{{"filter", "d/f"}, {"selector", Json::object()}},
       "`doc_ids`,`filter`,`selector` are mutually exclusive"},
      {{{"proxy", "http://p"}, {"source_proxy", "http://q"}},
       "`proxy` is mutually exclusive with `source_proxy`"},
      {{{"proxy", "http://p"}, {"target_proxy", "http://q"}},
       "`proxy` is mutually exclusive with `target_proxy`"},
      {{{"filter", "nofunction"}}, "Invalid filter. Must match `ddocname/filtername`."},
      {{{"filter", ""}}, "Invalid filter. Must match `ddocname/filtername`."},
      {{{"filter", 7}}, "Invalid filter. Must match `ddocname/filtername`."},
      {{{"filter", "_view"}}, "Invalid `view` parameter."},
      {{{"filter", "_view"}, {"query_params", {{"view", "noslash"}}}}, "Invalid `view` parameter."},
      {{{"worker_processes", 0}}, "parameter `worker_processes` must be a positive integer"},
      {{{"worker_processes", "four"}}, "parameter `worker_processes` must be a positive integer"},
      {{{"worker_batch_size", 1.5}}, "parameter `worker_batch_size` must be a positive integer"},
      {{{"http_connections", -1}}, "parameter `http_connections` must be a positive integer"},
      {{{"connection_timeout", true}}, "parameter `connection_timeout` must be a positive integer"},
      {{{"checkpoint_interval", 0}}, "parameter `checkpoint_interval` must be a positive integer"},
      {{{"retries_per_request", -1}},
       "parameter `retries_per_request` must be a non-negative integer"},
      {{{"user_ctx", "bob"}}, "The `user_ctx` property must be a non-null object."},
      {{{"user_ctx", {{"name", ""}}}},
       "The `user_ctx.name` property must be a non-empty string or null."},
      {{{"user_ctx", {{"roles", "admin"}}}},
       "The `user_ctx.roles` property must be an array of strings."},
      {{{"source", nullptr}}, "Missing replicator database"},
      {{{"target", "ftp://x/y"}}, "endpoint has an invalid url"},
      {{{"selector", {{"a", {{"$bogus", 1}}}}}}, nullptr},  // the selector parser's own reason
  };
  for (const auto& r : rows) {
    CAPTURE(r.extra.dump());
    auto spec = parse_replicate_body(body(r.extra));
    REQUIRE_FALSE(spec.has_value());
    CHECK(spec.error().code == Code::kBadRequest);
    if (r.reason != nullptr) CHECK(spec.error().reason == r.reason);
  }
  auto missing_target = parse_replicate_body(Json{{"source", "http://a/db"}});
  REQUIRE_FALSE(missing_target.has_value());
  CHECK(missing_target.error().reason == "Missing replicator database");
  CHECK_FALSE(parse_replicate_body(Json::array()).has_value());
}

TEST_CASE("spec: the first bad option in body order is the one reported (CouchDB's order)") {
  // Options are checked in the order the body lists them, before the endpoints.
  auto a = parse_replicate_body(
      Json{{"continuous", 1}, {"create_target", 1}, {"source", nullptr}});
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().reason == "parameter `continuous` must be a boolean");
  auto b = parse_replicate_body(
      Json{{"create_target", 1}, {"continuous", 1}, {"source", nullptr}});
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().reason == "parameter `create_target` must be a boolean");
  // query_params values are checked before everything else (validate_rep_props).
  auto c = parse_replicate_body(Json{{"continuous", 1}, {"query_params", {{"k", 1}}}});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().reason == "k value must be a string.");
  // Mutual exclusion comes after the type checks, the endpoints after both.
  auto d = parse_replicate_body(Json{{"doc_ids", {"a"}}, {"selector", Json::object()}});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().reason == "`doc_ids`,`filter`,`selector` are mutually exclusive");
}

TEST_CASE("spec: cancel by body or by replication id (§8)") {
  const ReplicationSpec by_body = must_parse_spec(body({{"cancel", true}, {"continuous", true}}));
  CHECK(by_body.cancel);
  CHECK(by_body.source.url() == "http://a/src/");
  for (const char* key : {"replication_id", "_local_id", "id"}) {
    CAPTURE(key);
    const ReplicationSpec by_id = must_parse_spec(Json{{"cancel", true}, {key, "abc+continuous"}});
    CHECK(by_id.cancel);
    CHECK(by_id.replication_id == "abc+continuous");
  }
  // Without cancel, an id does not replace the endpoints.
  CHECK_FALSE(parse_replicate_body(Json{{"replication_id", "abc"}}).has_value());
}

TEST_CASE("spec: local endpoints") {
  const ReplicationSpec s = must_parse_spec(Json{{"source", "notes"}, {"target", "http://h/notes"}});
  CHECK(s.source.is_local());
  CHECK(s.source.db_name() == "notes");
  CHECK_FALSE(s.target.is_local());
  auto bad = parse_replicate_body(Json{{"source", "Notes"}, {"target", "x"}});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Code::kIllegalDatabaseName);
}

TEST_CASE("spec: _replicator documents: same fields, 403 forbidden, no cancel (§9.1)") {
  const Json doc = {{"_id", "my_rep"},
                    {"_rev", "3-abc"},
                    {"source", "http://a/src"},
                    {"target", "http://b/tgt"},
                    {"continuous", true},
                    {"owner", "bob"},
                    {"_replication_state", "triggered"},
                    {"_replication_state_time", "2017-04-05T19:18:15Z"},
                    {"_replication_stats", {{"docs_read", 1}}},
                    {"_replication_id", "x"}};
  auto spec = parse_replicator_doc(doc);
  REQUIRE(spec.has_value());
  CHECK(spec->doc_id == "my_rep");
  CHECK(spec->continuous);
  CHECK(spec->owner == "bob");

  struct Row {
    Json doc;
    const char* reason;
  };
  const Row rows[] = {
      {body({{"continuous", "yes"}}), "parameter `continuous` must be a boolean"},
      {body({{"doc_ids", {"a"}}, {"selector", Json::object()}}),
       "`doc_ids`,`filter`,`selector` are mutually exclusive"},
      {Json{{"source", "http://a/x"}}, "Missing replicator database"},
      {Json{{"source", {{"junk", 42}}}, {"target", "http://b/y"}}, "endpoint has an invalid url"},
      {body({{"cancel", true}}),
       "parameter `cancel` is not allowed in a _replicator document; delete the document to cancel "
       "its replication"},
      {body({{"query_params", {{"k", 1}}}}), "k value must be a string."},
      {Json::array(), "Document must be a JSON object"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.doc.dump());
    auto bad = parse_replicator_doc(r.doc);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == Code::kForbidden);
    CHECK(bad.error().reason == r.reason);
  }
  // An illegal local name is forbidden too, with the name rule's reason.
  auto local = parse_replicator_doc(Json{{"source", "Bad"}, {"target", "ok"}});
  REQUIRE_FALSE(local.has_value());
  CHECK(local.error().code == Code::kForbidden);
  CHECK(local.error().reason.starts_with("Name: 'Bad'."));
}
