// The pull's two large answers read with simdjson (replicator/answer_scan.h): every `_bulk_get`
// document must come out as the same replicated write as through the nlohmann path
// (doc_wire::parse_fetched), and a changes page as HttpPeer always read it. spec:
// replication-protocol.md §3.6, §3.8.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "replicator/answer_scan.h"
#include "replicator/doc_wire.h"

using namespace divan;
using namespace divan::replicator;
using Json = engine::Json;

namespace {

// A `_bulk_get` answer with one result per doc text, each {"docs":[{"ok":<doc>}]}.
std::string bulk_get_answer(const std::vector<std::string>& docs) {
  std::string out = R"({"results":[)";
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i) out += ',';
    out += R"({"id":"x","docs":[{"ok":)" + docs[i] + "}]}";
  }
  return out + "]}";
}

// The single document of a one-result answer, read by answer_scan.
Result<engine::DocUpdate> scanned(const std::string& doc) {
  auto results = answer_scan::bulk_get(bulk_get_answer({doc}), 1);
  REQUIRE(results);
  REQUIRE(results->size() == 1);
  REQUIRE((*results)[0].docs.size() == 1);
  return std::move((*results)[0].docs[0]);
}

// One document text through both paths: nlohmann's (doc_wire::parse_fetched) and answer_scan's.
struct BothPaths {
  Result<engine::DocUpdate> expected;
  Result<engine::DocUpdate> got;
};
BothPaths both_paths(const std::string& text) {
  return {doc_wire::parse_fetched(Json::parse(text)), scanned(text)};
}

std::vector<std::string> attachment_names(const engine::DocUpdate& update) {
  std::vector<std::string> names;
  for (const auto& att : update.attachments()) names.push_back(att.name);
  return names;
}

}  // namespace

TEST_CASE("answer_scan::bulk_get: each document is the write the nlohmann path makes") {
  const std::vector<std::string> docs = {
      // The common replicated document.
      R"({"_id":"a","_rev":"2-bb","type":"bench","n":1,"tags":["x","y"],"_revisions":{"start":2,"ids":["bb","aa"]}})",
      // Nested values, escapes, unicode, numbers of every kind, an empty key.
      R"({"_id":"b","_rev":"1-aa","s":"q\"uo\\te\n\u00e9\ud83d\ude00","o":{"z":1,"a":[null,true,false]},"f":1.5,"e":1e3,"neg":-0.25,"big":18446744073709551615,"":0,"_revisions":{"start":1,"ids":["aa"]}})",
      // Whitespace everywhere.
      "{ \"_id\" : \"c\" ,\n \"_rev\":\"1-cc\", \"v\" : [ 1 , 2 ] ,\"_revisions\":{\"start\":1,\"ids\":[\"cc\"]} }",
      // A deletion, and an upper-case rev id (canonicalised by the engine's rules).
      R"({"_id":"d","_rev":"3-DD","_deleted":true,"_revisions":{"start":3,"ids":["DD","cc","bb"]}})",
      // Attachments: inline data and a stub.
      R"({"_id":"e","_rev":"2-ee","k":1,"_attachments":{"a.txt":{"content_type":"text/plain","revpos":2,"data":"aGVsbG8="},"b.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"md5-XrY7u+Ae7tCTyyK7j1rNww==","length":5,"stub":true}},"_revisions":{"start":2,"ids":["ee","dd"]}})",
      // Ignored specials (`_conflicts`) and only `_rev`, no `_revisions`.
      R"({"_id":"f","_rev":"1-ff","_conflicts":["1-aa"],"x":"y"})",
      // Cases the split declines: a repeated member, a kept `_` member, past 64 bits.
      R"({"_id":"g","_rev":"1-aa","x":1,"x":2,"_revisions":{"start":1,"ids":["aa"]}})",
      R"({"_id":"j","_rev":"1-aa","o":[{"x":1,"x":2}],"_revisions":{"start":1,"ids":["aa"]}})",
      R"({"_id":"h","_rev":"1-aa","_access":["u"],"x":1,"_revisions":{"start":1,"ids":["aa"]}})",
      R"({"_id":"i","_rev":"1-aa","huge":123456789012345678901234567890,"_revisions":{"start":1,"ids":["aa"]}})",
  };
  for (const auto& text : docs) {
    CAPTURE(text);
    auto [expected, got] = both_paths(text);
    REQUIRE(expected);
    REQUIRE(got);
    CHECK(got->id() == expected->id());
    CHECK(got->deleted() == expected->deleted());
    CHECK(got->revisions()->start == expected->revisions()->start);
    CHECK(got->revisions()->ids == expected->revisions()->ids);
    CHECK(attachment_names(*got) == attachment_names(*expected));
    // The same value, in the same member order (ordered_json compares order too), written as
    // nlohmann writes it: one member per name, numbers and escapes alike.
    CHECK(Json::parse(got->body()) == Json::parse(expected->body()));
    CHECK(got->body() == expected->body());
  }
}

TEST_CASE("answer_scan::bulk_get: a compact body is stored byte for byte as nlohmann dumps it") {
  const std::string text =
      R"({"_id":"a","_rev":"1-aa","type":"bench","n":1,"name":"user-1","tags":["a","b"],"o":{"k":null},"_revisions":{"start":1,"ids":["aa"]}})";
  auto got = scanned(text);
  REQUIRE(got);
  CHECK(got->body() == R"({"type":"bench","n":1,"name":"user-1","tags":["a","b"],"o":{"k":null}})");
  CHECK(got->body() == doc_wire::parse_fetched(Json::parse(text))->body());
}

TEST_CASE("answer_scan::bulk_get: the errors of the nlohmann path") {
  // Each refused exactly as doc_wire::parse_fetched refuses it.
  const std::vector<std::string> bad = {
      R"({"_rev":"1-aa","x":1})",                                   // no _id
      R"({"_id":"_local/x","_rev":"1-aa"})",                        // a local doc
      R"({"_id":"a","_rev":"bad"})",                                // a bad rev
      R"({"_id":"a","_rev":"1-aa","_unknown":1})",                  // an unknown special
      R"({"_id":"a","_rev":"1-aa","_revisions":{"start":1,"ids":[7]}})",  // a bad path
      R"({"_id":"a","_rev":"1-aa","_attachments":{"x":{"data":"!!"}}})",  // bad base64
      R"("not an object")",
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    auto [expected, got] = both_paths(text);
    REQUIRE_FALSE(expected);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == expected.error().code);
    CHECK(got.error().reason == expected.error().reason);
  }
  // Too large a body: document_too_large, as DocUpdate::replicated says.
  const std::string large = R"({"_id":"a","_rev":"1-aa","x":")" +
                            std::string(engine::kMaxDocumentSize, 'x') + "\"}";
  auto got = scanned(large);
  REQUIRE_FALSE(got);
  CHECK(got.error().code == Code::kDocumentTooLarge);
}

TEST_CASE("answer_scan::bulk_get: result shapes") {
  const std::string answer = R"({"results":[
    {"id":"a","docs":[{"ok":{"_id":"a","_rev":"1-aa"}},{"ok":{"_id":"a","_rev":"1-bb"}}]},
    {"id":"b","docs":[{"error":{"id":"b","rev":"1-aa","error":"not_found","reason":"missing"}}]},
    {"id":"c","docs":[{"error":{"id":"c","rev":"1-aa","error":"forbidden","reason":"no"}}]},
    {"id":"d","docs":[]},
    {"id":"e"},
    7,
    {"id":"f","docs":[{"ok":{"_id":"f","_rev":"1-aa"}},{"error":{"error":"not_found"}},"odd"]}]})";
  auto results = answer_scan::bulk_get(answer, 7);
  REQUIRE(results);
  REQUIRE(results->size() == 7);
  const auto& r = *results;
  CHECK((r[0].has_docs && r[0].docs.size() == 2 && r[0].not_found == 0 && !r[0].other));
  CHECK((r[1].has_docs && r[1].docs.empty() && r[1].not_found == 1 && !r[1].other));
  CHECK((r[2].has_docs && r[2].docs.empty() && r[2].other));
  CHECK_FALSE(r[3].has_docs);
  CHECK_FALSE(r[4].has_docs);
  CHECK_FALSE(r[5].has_docs);
  CHECK((r[6].has_docs && r[6].docs.size() == 1 && r[6].not_found == 1 && r[6].other));

  // Not exactly {"results":[…]} with one result per entry: not usable.
  CHECK_FALSE(answer_scan::bulk_get(answer, 6));
  CHECK_FALSE(answer_scan::bulk_get(R"({"results":[],"more":1})", 0));
  CHECK_FALSE(answer_scan::bulk_get(R"([])", 0));
  CHECK_FALSE(answer_scan::bulk_get(R"({"results":{}})", 0));
  CHECK_FALSE(answer_scan::bulk_get(R"({"results":[)", 0));
  CHECK_FALSE(answer_scan::bulk_get("", 0));
  // What nlohmann reads, this reads too: a byte order mark.
  CHECK(answer_scan::bulk_get("\xEF\xBB\xBF" R"({"results":[]})", 0));
}

TEST_CASE("answer_scan::changes_page: rows, last_seq and pending") {
  const std::string answer = "\n\n" R"({"results":[
    {"seq":"1-g1AAAA","id":"a","changes":[{"rev":"1-aa"},{"rev":"2-bb"}]},
    {"seq":2,"id":"b","changes":[{"rev":"3-cc"}],"deleted":true},
    {"seq":3,"id":"c","changes":[{"rev":"1-aa"},{"rev":"1-bb"}],"removed":true},
    {"seq":4,"id":"","changes":[{"rev":"1-aa"}]}],
    "last_seq":"4-g1AAAA","pending":12})";
  auto page = answer_scan::changes_page(answer, Json(0));
  REQUIRE(page);
  REQUIRE(page->rows.size() == 3);  // the empty id is skipped
  CHECK(page->rows[0].seq == Json("1-g1AAAA"));
  CHECK(page->rows[0].id == "a");
  CHECK(page->rows[0].revs.size() == 2);
  CHECK(page->rows[0].revs[1].str() == "2-bb");
  CHECK_FALSE(page->rows[0].deleted);
  CHECK(page->rows[1].seq == Json(2));
  CHECK(page->rows[1].deleted);
  REQUIRE(page->rows[2].revs.size() == 1);  // removed: its first rev dropped
  CHECK(page->rows[2].revs[0].str() == "1-bb");
  CHECK(page->last_seq == Json("4-g1AAAA"));
  CHECK(page->pending == 12u);

  // No last_seq: the last row's (a skipped one's included); no rows either: since.
  auto no_last = answer_scan::changes_page(
      R"({"results":[{"seq":9,"id":"","changes":[{"rev":"1-aa"}]}],"pending":-1})", Json(0));
  REQUIRE(no_last);
  CHECK(no_last->last_seq == Json(9));
  CHECK_FALSE(no_last->pending);
  auto empty = answer_scan::changes_page(R"({"results":[],"last_seq":null})", Json("7-x"));
  REQUIRE(empty);
  CHECK(empty->last_seq == Json("7-x"));
  CHECK(empty->rows.empty());
}

TEST_CASE("answer_scan::changes_page: malformed answers") {
  auto problem = [](const std::string& body) {
    auto page = answer_scan::changes_page(body, Json(0));
    return page ? std::string("ok") : page.error();
  };
  CHECK(problem("not json") == "no results array");
  CHECK(problem(R"({"last_seq":1})") == "no results array");
  CHECK(problem(R"({"results":{}})") == "no results array");
  CHECK(problem(R"({"results":[{"id":"a","changes":[]}]})") == "a row without seq");
  CHECK(problem(R"({"results":[7]})") == "a row without seq");
  CHECK(problem(R"({"results":[{"seq":1,"id":"a"}]})") == "a row without changes");
  CHECK(problem(R"({"results":[{"seq":1,"id":"a","changes":[{"rev":"x"}]}]})") == "a bad rev");
  CHECK(problem(R"({"results":[{"seq":1,"id":"a","changes":[{}]}]})") == "a bad rev");
  CHECK(problem(R"({"results":[{"seq":1,"id":"a","changes":[]}]})") == "ok");
}
