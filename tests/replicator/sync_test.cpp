// replicator/sync.h: how a bidirectional spec splits into its two one-way jobs.
#include <doctest/doctest.h>

#include "replicator/rep_id.h"
#include "replicator/spec.h"
#include "replicator/sync.h"

using namespace divan;
using namespace divan::replicator;

TEST_CASE("sync: a bidirectional spec is two one-way specs, mirrored") {
  auto spec = parse_replicate_body(Json{{"source", "http://a/src"},
                                        {"target", "http://b/tgt"},
                                        {"bidirectional", true},
                                        {"continuous", true},
                                        {"create_target", true},
                                        {"create_target_params", {{"q", 1}}},
                                        {"since_seq", "7-abc"},
                                        {"source_proxy", "http://proxy-a"},
                                        {"selector", {{"type", "x"}}}});
  REQUIRE(spec.has_value());
  CHECK(spec->bidirectional);
  auto [forward, reverse] = split_bidirectional(*spec);

  CHECK_FALSE(forward.bidirectional);
  CHECK(forward.source.url() == "http://a/src/");
  CHECK(forward.target.url() == "http://b/tgt/");
  CHECK(forward.create_target);
  CHECK(forward.since_seq == Json("7-abc"));
  CHECK(forward.source_proxy == "http://proxy-a");

  CHECK_FALSE(reverse.bidirectional);
  CHECK(reverse.source.url() == "http://b/tgt/");
  CHECK(reverse.target.url() == "http://a/src/");
  CHECK_FALSE(reverse.create_target);  // its target is the source, which exists
  CHECK(reverse.create_target_params == Json::object());
  CHECK_FALSE(reverse.since_seq.has_value());  // a seq of the other database
  CHECK(reverse.target_proxy == "http://proxy-a");
  CHECK(reverse.source_proxy.empty());
  CHECK(reverse.continuous);
  CHECK(reverse.filter.kind == Filter::Kind::kSelector);  // the filter applies both ways

  // Two jobs, two ids; the forward one is the plain one-way job's, so a one-way replication and
  // the forward half of a sync share their checkpoints.
  const std::string uuid = "0123456789abcdef0123456789abcdef";
  CHECK(replication_id(uuid, forward).full() != replication_id(uuid, reverse).full());
  ReplicationSpec one_way = *spec;
  one_way.bidirectional = false;
  CHECK(replication_id(uuid, one_way).full() == replication_id(uuid, forward).full());
}

TEST_CASE("sync: `bidirectional` must be a boolean, in _replicate bodies and _replicator docs") {
  auto bad = parse_replicate_body(
      Json{{"source", "http://a/x"}, {"target", "http://b/y"}, {"bidirectional", 1}});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().reason == "parameter `bidirectional` must be a boolean");
  auto doc = parse_replicator_doc(
      Json{{"source", "http://a/x"}, {"target", "http://b/y"}, {"bidirectional", true}});
  REQUIRE(doc.has_value());
  CHECK(doc->bidirectional);
  auto bad_doc = parse_replicator_doc(
      Json{{"source", "http://a/x"}, {"target", "http://b/y"}, {"bidirectional", "yes"}});
  REQUIRE_FALSE(bad_doc.has_value());
  CHECK(bad_doc.error().code == Code::kForbidden);
}
