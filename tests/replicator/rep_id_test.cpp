// spec: replication-protocol.md §3.3 ("Ours"), §12 "Rep id: stable across restart; unchanged by
// password change; changed by source/target/doc_ids/selector/filter/query_params change;
// +continuous/+create_target only in the job id; checkpoint id _local/<BaseId>".
#include <doctest/doctest.h>

#include "replicator/rep_id.h"
#include "revtree/rev_hash.h"

using namespace divan;
using namespace divan::replicator;

namespace {

constexpr const char* kUuid = "0123456789abcdef0123456789abcdef";

ReplicationSpec spec(Json extra = Json::object()) {
  Json b = {{"source", "http://adm:secret@a.example:5984/src"}, {"target", "tgt"}};
  for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
  auto s = parse_replicate_body(b);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().reason));
  return *s;
}

std::string base(Json extra = Json::object(), std::string_view uuid = kUuid) {
  return replication_id(uuid, spec(std::move(extra))).base;
}

bool is_lower_hex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TEST_CASE("§3.3 rep id: the hashed text is frozen") {
  // If this fails, every existing replication restarts from sequence 0: see rep_id.h.
  const std::string text =
      R"(["0123456789abcdef0123456789abcdef",)"
      R"({"headers":[],"host":"a.example","path":"/src/","port":5984,"query":"","scheme":"http","user":"adm"},)"
      R"({"local":"tgt"},null,false,null])";
  CHECK(revtree::canonical_json(replication_id_input(kUuid, spec())) == text);
  const ReplicationId id = replication_id(kUuid, spec());
  CHECK(id.base == revtree::md5_hex(text));
  CHECK(is_lower_hex32(id.base));
  CHECK(id.extension.empty());
  CHECK(id.full() == id.base);
  CHECK(id.checkpoint_doc_id() == "_local/" + id.base);
}

TEST_CASE("§12 rep id: stable across restarts (same inputs, same id)") {
  // A "restart" is a fresh parse of the same document with the same persisted node uuid.
  CHECK(base() == base());
  CHECK(base({{"doc_ids", {"b", "a"}}}) == base({{"doc_ids", {"b", "a"}}}));
}

TEST_CASE("§12 rep id: unchanged by a password change, in any credential form") {
  const std::string a = base();
  CHECK(base({{"source", "http://adm:other@a.example:5984/src"}}) == a);
  CHECK(base({{"source", {{"url", "http://a.example:5984/src"},
                          {"auth", {{"basic", {{"username", "adm"}, {"password", "x"}}}}}}}}) == a);
  CHECK(base({{"source", {{"url", "http://a.example:5984/src/"},
                          {"headers", {{"Authorization", "Basic YWRtOnk="}}}}}}) == a);  // adm:y
}

TEST_CASE("§12 rep id: +continuous / +create_target only in the job id") {
  const ReplicationId plain = replication_id(kUuid, spec());
  const ReplicationId cont = replication_id(kUuid, spec({{"continuous", true}}));
  const ReplicationId create = replication_id(kUuid, spec({{"create_target", true}}));
  const ReplicationId both =
      replication_id(kUuid, spec({{"create_target", true}, {"continuous", true}}));
  CHECK(cont.base == plain.base);
  CHECK(create.base == plain.base);
  CHECK(both.base == plain.base);
  CHECK(cont.full() == plain.base + "+continuous");
  CHECK(create.full() == plain.base + "+create_target");
  CHECK(both.full() == plain.base + "+continuous+create_target");  // always in this order
  CHECK(both.checkpoint_doc_id() == plain.checkpoint_doc_id());
  // Tuning and ownership change nothing either.
  CHECK(base({{"worker_processes", 1}, {"checkpoint_interval", 1000}, {"use_checkpoints", false},
              {"owner", "x"}, {"user_ctx", {{"name", "x"}}}}) == plain.base);
}

TEST_CASE("§12 rep id: changed by what is replicated (table)") {
  const std::string a = base();
  const Json changes[] = {
      {{"source", "http://adm:secret@a.example:5984/other"}},
      {{"source", "http://adm:secret@b.example:5984/src"}},
      {{"source", "http://adm:secret@a.example:5985/src"}},
      {{"source", "https://adm:secret@a.example:5984/src"}},
      {{"source", "http://eve:secret@a.example:5984/src"}},
      {{"source", {{"url", "http://adm:secret@a.example:5984/src"}, {"headers", {{"X-T", "1"}}}}}},
      {{"target", "tgt2"}},
      {{"target", "http://a.example:5984/tgt"}},
      {{"doc_ids", {"a"}}},
      {{"doc_ids", Json::array()}},
      {{"selector", {{"type", "x"}}}},
      {{"filter", "_design"}},
      {{"filter", "app/f"}},
      {{"filter", "app/f"}, {"query_params", {{"k", "v"}}}},
      {{"since_seq", 10}},
      {{"winning_revs_only", true}},
  };
  for (const auto& c : changes) {
    CAPTURE(c.dump());
    CHECK(base(c) != a);
  }
  CHECK(base(Json::object(), "ffffffffffffffffffffffffffffffff") != a);  // another node
}

TEST_CASE("rep id: each filter input matters; order and duplicates do not") {
  CHECK(base({{"doc_ids", {"a"}}}) != base({{"doc_ids", {"b"}}}));
  CHECK(base({{"doc_ids", {"b", "a", "a"}}}) == base({{"doc_ids", {"a", "b"}}}));
  CHECK(base({{"doc_ids", {"a%2Fb"}}}) == base({{"doc_ids", {"a/b"}}}));
  CHECK(base({{"selector", {{"a", 1}, {"b", 2}}}}) == base({{"selector", {{"b", 2}, {"a", 1}}}}));
  CHECK(base({{"selector", {{"a", 1}}}}) != base({{"selector", {{"a", 2}}}}));
  CHECK(base({{"filter", "app/f"}, {"query_params", {{"k", "v"}, {"j", "w"}}}}) ==
        base({{"filter", "app/f"}, {"query_params", {{"j", "w"}, {"k", "v"}}}}));
  CHECK(base({{"filter", "app/f"}, {"query_params", {{"k", "v"}}}}) !=
        base({{"filter", "app/f"}, {"query_params", {{"k", "w"}}}}));
  CHECK(base({{"since_seq", "1-a"}}) != base({{"since_seq", "2-a"}}));
  // A design doc filter's function text is part of it (editing the function changes what is
  // replicated); surrounding whitespace is not.
  const ReplicationSpec f = spec({{"filter", "app/f"}});
  const std::string v1 = replication_id(kUuid, f, "function(doc) { return true; }").base;
  CHECK(replication_id(kUuid, f, "function(doc) { return false; }").base != v1);
  CHECK(replication_id(kUuid, f, "\n  function(doc) { return true; }  \n").base == v1);
  // ... and ignored for every other filter kind.
  const ReplicationSpec d = spec({{"doc_ids", {"a"}}});
  CHECK(replication_id(kUuid, d, "x").base == replication_id(kUuid, d).base);
}
