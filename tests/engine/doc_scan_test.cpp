// engine/doc_scan.h: a document object split into its `_` members (a nlohmann object) and its
// body as stored compact text; declined where nlohmann's reading could differ.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>
#include <variant>

#include "engine/doc_scan.h"

using namespace divan;
using engine::Json;

namespace {

std::optional<engine::SplitDoc> split(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  return engine::split_doc(doc);
}

}  // namespace

TEST_CASE("split_doc: `_` members apart, the body as nlohmann dumps it") {
  auto doc = split(
      R"({ "_id":"a", "b":[1, 2.5, "\u00e9\n"], "_rev":"1-x", "a":{"z":null}, "_deleted":false })");
  REQUIRE(doc);
  CHECK(doc->specials == Json::parse(R"({"_id":"a","_rev":"1-x","_deleted":false})"));
  CHECK(doc->body == R"({"b":[1,2.5,"é\n"],"a":{"z":null}})");
  CHECK(doc->body == Json::parse(R"({"b":[1,2.5,"\u00e9\n"],"a":{"z":null}})").dump());

  auto empty = split(R"({"_id":"a"})");
  REQUIRE(empty);
  CHECK(empty->body == "{}");
}

TEST_CASE("split_doc: declines what nlohmann reads differently") {
  CHECK_FALSE(split(R"([1])"));
  CHECK_FALSE(split(R"({"x":1,"x":2})"));           // nlohmann keeps one `x`
  CHECK_FALSE(split(R"({"_id":"a","_id":"b"})"));
  CHECK_FALSE(split(R"({"_access":["u"],"x":1})"));  // a `_` member the body keeps
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(split(many + "\"last\":0}"));
  CHECK_FALSE(split(many + "\"k7\":0}"));  // a repeat found by the hash set
}

TEST_CASE("to_nlohmann: scalars and containers") {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(std::string(R"(["s",-3,18446744073709551615,1.5,true,null,{"a":[1]}])"))
              .get(doc) == simdjson::SUCCESS);
  simdjson::dom::array items;
  REQUIRE(doc.get_array().get(items) == simdjson::SUCCESS);
  Json got = Json::array();
  for (auto element : items) got.push_back(engine::to_nlohmann(element));
  CHECK(got[2].is_number_unsigned());  // as nlohmann's parser types it
  CHECK(got[1].is_number_integer());
  CHECK(got == Json::parse(R"(["s",-3,18446744073709551615,1.5,true,null,{"a":[1]}])"));
}

TEST_CASE("scan_replicated_bulk: replicated requests only, and only what reads the same") {
  auto docs = engine::scan_replicated_bulk(
      R"({"docs":[{"_id":"a","_rev":"1-aa","x":1},{"_id":"_local/c","v":2},)"
      R"({"_id":"b","_rev":"1-bb","y":1,"y":2}],"new_edits":false})");
  REQUIRE(docs);
  REQUIRE(docs->size() == 3);
  REQUIRE(std::holds_alternative<engine::SplitDoc>((*docs)[0]));
  CHECK(std::get<engine::SplitDoc>((*docs)[0]).body == R"({"x":1})");
  // A `_local/` doc and a repeated member: as nlohmann values, for the usual path.
  REQUIRE(std::holds_alternative<Json>((*docs)[1]));
  CHECK(std::get<Json>((*docs)[1]) == Json::parse(R"({"_id":"_local/c","v":2})"));
  REQUIRE(std::holds_alternative<Json>((*docs)[2]));

  const std::string ok_docs = R"("docs":[{"_id":"a","_rev":"1-aa"}])";
  CHECK(engine::scan_replicated_bulk("{" + ok_docs + R"(,"new_edits":false})"));
  // Interactive requests, other shapes, and what the strict parser may read otherwise.
  CHECK_FALSE(engine::scan_replicated_bulk("{" + ok_docs + "}"));
  CHECK_FALSE(engine::scan_replicated_bulk("{" + ok_docs + R"(,"new_edits":true})"));
  CHECK_FALSE(engine::scan_replicated_bulk("{" + ok_docs + R"(,"new_edits":"false"})"));
  CHECK_FALSE(engine::scan_replicated_bulk(R"({"new_edits":false,"docs":{}})"));
  CHECK_FALSE(engine::scan_replicated_bulk(R"([{"new_edits":false}])"));
  CHECK_FALSE(
      engine::scan_replicated_bulk("{" + ok_docs + R"(,"new_edits":false,"new_edits":true})"));
  CHECK_FALSE(engine::scan_replicated_bulk("\xEF\xBB\xBF{" + ok_docs + R"(,"new_edits":false})"));
  CHECK_FALSE(engine::scan_replicated_bulk(
      std::string("{" + ok_docs + R"(,"new_edits":false})") + std::string(1, '\0') + "x"));
  CHECK_FALSE(engine::scan_replicated_bulk(
      R"({"new_edits":false,"docs":[{"_id":"a","_rev":"1-aa","s":"\udc00"}]})"));
  CHECK_FALSE(engine::scan_replicated_bulk(R"({"new_edits":false,"docs":[)"));
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  CHECK_FALSE(engine::scan_replicated_bulk(
      R"({"new_edits":false,"docs":[{"_id":"a","_rev":"1-aa","d":)" + deep + "}]}"));
  const std::string shallow = std::string(200, '[') + std::string(200, ']');
  CHECK(engine::scan_replicated_bulk(
      R"({"new_edits":false,"docs":[{"_id":"a","_rev":"1-aa","d":)" + shallow + "}]}"));
}

TEST_CASE("split_doc: a member named twice deep inside the body declines too") {
  CHECK_FALSE(split(R"({"_id":"a","o":{"k":{"x":1,"x":2}}})"));
  CHECK_FALSE(split(R"({"_id":"a","l":[1,[{"x":1,"x":2}]]})"));
  CHECK(split(R"({"_id":"a","o":{"x":{"x":1}},"l":[{"x":1},{"x":2}]})"));
}
