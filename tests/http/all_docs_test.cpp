// _all_docs / _design_docs (http-api.md §9) and _local_docs (§8), run through the route table.
#include <doctest/doctest.h>

#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::status;

// Live docs in byte order: "_design/x" < "a" < "b" < "c" < "conf" ("conf" is conflicted: winner
// 2-c, loser 2-b); "del" is deleted; two _local docs.
struct AllDocsFixture : Node {
  AllDocsFixture() {
    replicate("b", 2, {"b2", "b1"}, R"({"v":"b"})");
    replicate("a", 1, {"a1"}, R"({"v":"a","n":[1,{"x":null}]})");
    replicate("c", 1, {"c1"});
    replicate("_design/x", 1, {"d1"}, R"({"views":{}})");
    replicate("conf", 2, {"b", "a"}, R"({"v":"b"})");
    replicate("conf", 2, {"c", "a"}, R"({"v":"c"})");
    replicate("del", 1, {"s"}, R"({"v":"s"})");
    replicate("del", 2, {"t", "s"}, "{}", /*deleted=*/true);
    put_local("_local/l1", R"({"l":1})");
    put_local("_local/l2", R"({"l":2})", 4);  // stored as 0-5
  }

  std::string all_docs(std::string_view query = "") {
    Response res =
        get("/db/_all_docs" + std::string(query.empty() ? "" : "?") + std::string(query));
    CHECK(res.result() == status::ok);
    CHECK(res[bhttp::field::content_type] == "application/json");
    return body_text(res);
  }
  std::vector<std::string> ids(std::string_view query = "") {
    Json body = Json::parse(all_docs(query));
    std::vector<std::string> out;
    for (const auto& row : body["rows"]) out.push_back(row["id"].get<std::string>());
    return out;
  }
  Json listing(std::string_view query) { return Json::parse(all_docs(query)); }
};

std::string row(std::string_view id, std::string_view rev) {
  return R"({"id":")" + std::string(id) + R"(","key":")" + std::string(id) +
         R"(","value":{"rev":")" + std::string(rev) + R"("}})";
}

using Ids = std::vector<std::string>;

TEST_CASE_FIXTURE(AllDocsFixture, "§9 full listing: live docs in byte order, exact shape") {
  CHECK(all_docs() == R"({"total_rows":5,"offset":0,"rows":[)" + row("_design/x", "1-d1") + "," +
                          row("a", "1-a1") + "," + row("b", "2-b2") + "," + row("c", "1-c1") + "," +
                          row("conf", "2-c") + "]}");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 startkey/endkey/inclusive_end and their spellings") {
  CHECK((ids("startkey=%22a%22&endkey=%22c%22") == Ids{"a", "b", "c"}));
  CHECK((ids("start_key=%22a%22&end_key=%22c%22") == Ids{"a", "b", "c"}));
  CHECK((ids("startkey=%22a%22&endkey=%22c%22&inclusive_end=false") == Ids{"a", "b"}));
  CHECK((ids("endkey=%22b%22") == Ids{"_design/x", "a", "b"}));
  CHECK((ids("startkey=%22b0%22") == Ids{"c", "conf"}));
  Json body = listing("startkey=%22a%22&endkey=%22c%22");
  CHECK(body["offset"] == 1);
  CHECK(body["total_rows"] == 5);
  // Past the end: no rows, offset = every row.
  body = listing("startkey=%22zz%22");
  CHECK(body["rows"].empty());
  CHECK(body["offset"] == 5);
  // A reversed range is empty (all_docs does not reject it).
  CHECK(ids("startkey=%22c%22&endkey=%22a%22").empty());
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 descending: start and end are read in scan direction") {
  CHECK((ids("descending=true") == Ids{"conf", "c", "b", "a", "_design/x"}));
  CHECK(listing("descending=true")["offset"] == 0);
  CHECK((ids("descending=true&startkey=%22c%22&endkey=%22a%22") == Ids{"c", "b", "a"}));
  CHECK((ids("descending=true&startkey=%22c%22&endkey=%22a%22&inclusive_end=false") ==
         Ids{"c", "b"}));
  Json body = listing("descending=true&startkey=%22c%22");
  CHECK(body["offset"] == 1);  // "conf" sorts before "c" going down
  CHECK((ids("descending=true&skip=1&limit=1") == Ids{"c"}));
  CHECK(listing("descending=true&skip=1&limit=1")["offset"] == 1);
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 skip and limit; offset counts skipped rows, capped at total_rows") {
  CHECK((ids("skip=1&limit=2") == Ids{"a", "b"}));
  CHECK(listing("skip=1&limit=2")["offset"] == 1);
  CHECK((ids("startkey=%22b%22&skip=1") == Ids{"c", "conf"}));
  CHECK(listing("startkey=%22b%22&skip=1")["offset"] == 3);
  CHECK(all_docs("limit=0") == R"({"total_rows":5,"offset":0,"rows":[]})");
  CHECK(all_docs("skip=100") == R"({"total_rows":5,"offset":5,"rows":[]})");
  CHECK(ids("limit=1").size() == 1);
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 key: one id, or nothing") {
  CHECK(all_docs("key=%22b%22") ==
        R"({"total_rows":5,"offset":2,"rows":[)" + row("b", "2-b2") + "]}");
  CHECK(ids("key=%22zz%22").empty());
  CHECK(ids("key=%22del%22").empty());
  CHECK(ids("key=%22b%22&inclusive_end=false").empty());
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 only string keys bound the scan; otherwise the *_docid bound applies") {
  // couch_mrview_util ad_skey_opts: a non-string startkey falls back to startkey_docid.
  CHECK(ids("startkey=1").size() == 5);
  CHECK((ids("startkey=1&startkey_docid=c") == Ids{"c", "conf"}));
  CHECK((ids("startkey_docid=c") == Ids{"c", "conf"}));
  CHECK((ids("endkey=null&endkey_docid=a") == Ids{"_design/x", "a"}));
  CHECK((ids("start_key_doc_id=conf") == Ids{"conf"}));
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 include_docs renders the winner; conflicts adds _conflicts") {
  Json body = listing("include_docs=true&startkey=%22c%22");
  REQUIRE(body["rows"].size() == 2);
  CHECK(body["rows"][0]["doc"].dump() == R"({"_id":"c","_rev":"1-c1"})");
  CHECK(body["rows"][1]["doc"].dump() == R"({"_id":"conf","_rev":"2-c","v":"c"})");
  CHECK(all_docs("include_docs=true&key=%22a%22") ==
        R"({"total_rows":5,"offset":1,"rows":[{"id":"a","key":"a","value":{"rev":"1-a1"},)"
        R"("doc":{"_id":"a","_rev":"1-a1","v":"a","n":[1,{"x":null}]}}]})");
  body = listing("include_docs=true&conflicts=true&startkey=%22c%22");
  CHECK(body["rows"][0]["doc"].dump() == R"({"_id":"c","_rev":"1-c1"})");
  CHECK(body["rows"][1]["doc"].dump() ==
        R"({"_id":"conf","_rev":"2-c","v":"c","_conflicts":["2-b"]})");
  // conflicts without include_docs changes nothing.
  CHECK(all_docs("conflicts=true&key=%22conf%22") ==
        R"({"total_rows":5,"offset":4,"rows":[)" + row("conf", "2-c") + "]}");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 update_seq=true adds update_seq after offset") {
  std::string seq = "\"" + std::to_string(db->update_seq()) + "\"";  // seqs are strings
  CHECK(all_docs("update_seq=true&limit=0") ==
        R"({"total_rows":5,"offset":0,"update_seq":)" + seq + R"(,"rows":[]})");
  CHECK(all_docs("update_seq=false&limit=0") == R"({"total_rows":5,"offset":0,"rows":[]})");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 keys: request order, duplicates, not_found, deleted, offset null") {
  std::string keys = qs(R"(["b","zz","a","b","del","_local/l1",5])");
  CHECK(all_docs("keys=" + keys) ==
        R"({"total_rows":5,"offset":null,"rows":[)" + row("b", "2-b2") + "," +
            R"({"key":"zz","error":"not_found"},)" + row("a", "1-a1") + "," + row("b", "2-b2") +
            R"(,{"id":"del","key":"del","value":{"rev":"2-t","deleted":true}})"
            R"(,{"key":"_local/l1","error":"not_found"},{"key":5,"error":"not_found"}]})");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 keys by POST with include_docs: deleted rows get doc null") {
  Response res = post("/db/_all_docs?include_docs=true", R"({"keys":["del","a","nope","conf"]})");
  CHECK(res.result() == status::ok);
  CHECK(
      body_text(res) ==
      R"({"total_rows":5,"offset":null,"rows":[)"
      R"({"id":"del","key":"del","value":{"rev":"2-t","deleted":true},"doc":null},)"
      R"({"id":"a","key":"a","value":{"rev":"1-a1"},"doc":{"_id":"a","_rev":"1-a1","v":"a","n":[1,{"x":null}]}},)"
      R"({"key":"nope","error":"not_found"},)"
      R"({"id":"conf","key":"conf","value":{"rev":"2-c"},"doc":{"_id":"conf","_rev":"2-c","v":"c"}}]})");
  res = post("/db/_all_docs?include_docs=true&conflicts=true", R"({"keys":["conf"]})");
  CHECK(body_json(res)["rows"][0]["doc"]["_conflicts"] == Json::array({"2-b"}));
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 keys: skip/limit apply to the list; descending reverses it") {
  std::string body = R"({"keys":["c","b","a","conf"]})";
  auto key_ids = [](const Response& res) {
    Ids out;
    Json json = body_json(res);  // named: a range-for over a temporary's member would dangle
    for (const auto& r : json["rows"]) out.push_back(r["key"].get<std::string>());
    return out;
  };
  CHECK((key_ids(post("/db/_all_docs?skip=1&limit=2", body)) == Ids{"b", "a"}));
  CHECK((key_ids(post("/db/_all_docs?descending=true", body)) == Ids{"conf", "a", "b", "c"}));
  CHECK((key_ids(post("/db/_all_docs?descending=true&skip=1&limit=2", body)) == Ids{"a", "b"}));
  CHECK(key_ids(post("/db/_all_docs?skip=9", body)).empty());
  CHECK(body_text(post("/db/_all_docs", R"({"keys":[]})")) ==
        R"({"total_rows":5,"offset":null,"rows":[]})");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 POST body carries params; the query string overrides them") {
  Json body = body_json(post("/db/_all_docs", R"({"limit":1,"descending":true})"));
  REQUIRE(body["rows"].size() == 1);
  CHECK(body["rows"][0]["id"] == "conf");
  body = body_json(post("/db/_all_docs?limit=2", R"({"limit":1,"descending":"true"})"));
  CHECK(body["rows"].size() == 2);
  CHECK(body["rows"][0]["id"] == "conf");
  body = body_json(post("/db/_all_docs", R"({"startkey":"c","include_docs":true,"keys":null})"));
  CHECK(body["offset"] == 3);
  CHECK(body["rows"][0]["doc"]["_id"] == "c");
  body = body_json(post("/db/_all_docs", R"({"key":"b","attachments":false,"unknown":[1]})"));
  CHECK(body["rows"].size() == 1);
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 keys must be an array, worded by where it came from") {
  check_error(get("/db/_all_docs?keys=%22a%22"), status::bad_request, "bad_request",
              "`keys` parameter must be an array.");
  check_error(post("/db/_all_docs", R"({"keys":"a"})"), status::bad_request, "bad_request",
              "`keys` body member must be an array.");
  check_error(post("/db/_all_docs", R"({"keys":{"a":1}})"), status::bad_request, "bad_request",
              "`keys` body member must be an array.");
  check_error(get("/db/_all_docs?keys=%5B%22a%22%5D&key=%22a%22"), status::bad_request,
              "query_parse_error", "`keys` is incompatible with `key`, `start_key` and `end_key`");
  check_error(post("/db/_all_docs?startkey=%22a%22", R"({"keys":["a"]})"), status::bad_request,
              "query_parse_error", "`keys` is incompatible with `key`, `start_key` and `end_key`");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 invalid params are 400 query_parse_error or bad_request") {
  check_error(get("/db/_all_docs?limit=abc"), status::bad_request, "query_parse_error",
              "Invalid value for integer: \"abc\"");
  check_error(get("/db/_all_docs?skip=-1"), status::bad_request, "query_parse_error",
              "Invalid value for integer: \"-1\"");
  check_error(get("/db/_all_docs?descending=maybe"), status::bad_request, "query_parse_error",
              "Invalid boolean parameter: \"maybe\"");
  check_error(get("/db/_all_docs?include_docs=yes"), status::bad_request, "query_parse_error",
              "Invalid boolean parameter: \"yes\"");
  check_error(get("/db/_all_docs?attachments=1"), status::bad_request, "query_parse_error",
              "Invalid boolean parameter: \"1\"");
  check_error(post("/db/_all_docs", R"({"include_docs":"yes"})"), status::bad_request,
              "query_parse_error", "Invalid boolean parameter: \"yes\"");
  check_error(post("/db/_all_docs", R"({"limit":-1})"), status::bad_request, "query_parse_error",
              "Invalid value for integer: -1");
  check_error(post("/db/_all_docs", R"({"startkey_docid":1})"), status::bad_request,
              "query_parse_error", "`start_key_docid` must be a string.");
  for (auto query : {"startkey=notjson", "key=%7B", "keys=%5B1", "endkey="}) {
    CAPTURE(query);
    check_error(get("/db/_all_docs?" + std::string(query)), status::bad_request, "bad_request",
                "invalid UTF-8 JSON");
  }
}

TEST_CASE_FIXTURE(AllDocsFixture, "§1.1 POST needs a JSON object body with a JSON content type") {
  check_error(post("/db/_all_docs", R"({"keys":["a"]})", "text/plain"),
              status::unsupported_media_type, "bad_content_type",
              "Content-Type must be application/json");
  check_error(post("/db/_all_docs", "[]"), status::bad_request, "bad_request",
              "Request body must be a JSON object");
  check_error(post("/db/_all_docs", "{"), status::bad_request, "bad_request", "invalid UTF-8 JSON");
}

TEST_CASE_FIXTURE(AllDocsFixture, "§9 a missing database is 404; other methods are 405") {
  check_error(get("/nope/_all_docs"), status::not_found, "not_found", "Database does not exist.");
  Response res = call(bhttp::verb::put, "/db/_all_docs", "{}");
  check_error(res, status::method_not_allowed, "method_not_allowed", "Only GET,HEAD,POST allowed");
  CHECK(res[bhttp::field::allow] == "GET,HEAD,POST");
}

TEST_CASE("§9 an empty database") {
  Node node;
  CHECK(body_text(node.get("/db/_all_docs")) == R"({"total_rows":0,"offset":0,"rows":[]})");
  CHECK(body_text(node.get("/db/_design_docs")) == R"({"total_rows":0,"offset":0,"rows":[]})");
  CHECK(body_text(node.get("/db/_local_docs")) == R"({"total_rows":null,"offset":null,"rows":[]})");
}

// ---- _design_docs ----

TEST_CASE_FIXTURE(AllDocsFixture, "§9 _design_docs lists design docs only; total_rows counts them") {
  replicate("_design/y", 1, {"e1"});
  replicate("_design0", 1, {"z1"});  // sorts right after every design doc; not one itself
  Response res = get("/db/_design_docs");
  CHECK(res.result() == status::ok);
  CHECK(body_text(res) == R"({"total_rows":2,"offset":0,"rows":[)" + row("_design/x", "1-d1") +
                              "," + row("_design/y", "1-e1") + "]}");
  Json body = body_json(get("/db/_design_docs?descending=true"));
  CHECK(body["rows"].size() == 2);
  CHECK(body["rows"][0]["id"] == "_design/y");
  body = body_json(get("/db/_design_docs?startkey=%22_design%2Fy%22&include_docs=true"));
  REQUIRE(body["rows"].size() == 1);
  CHECK(body["rows"][0]["doc"].dump() == R"({"_id":"_design/y","_rev":"1-e1"})");
  CHECK(body_json(get("/db/_design_docs?startkey=%22a%22"))["rows"].empty());
  CHECK(body_json(get("/db/_design_docs?endkey=%22_design%2Fx%22"))["rows"].size() == 1);
  body = body_json(get("/db/_design_docs?keys=" + qs(R"(["_design/y","_design/q"])")));
  CHECK(body["rows"][0]["value"]["rev"] == "1-e1");
  CHECK(body["rows"][1]["error"] == "not_found");
  CHECK(body["offset"].is_null());
}

// ---- _local_docs (§8) ----

TEST_CASE_FIXTURE(AllDocsFixture, "§8 _local_docs: total_rows and offset are null; revs are 0-N") {
  Response res = get("/db/_local_docs");
  CHECK(res.result() == status::ok);
  CHECK(body_text(res) == R"({"total_rows":null,"offset":null,"rows":[)"
                          R"({"id":"_local/l1","key":"_local/l1","value":{"rev":"0-1"}},)"
                          R"({"id":"_local/l2","key":"_local/l2","value":{"rev":"0-5"}}]})");
  CHECK(body_text(get("/db/_local_docs?include_docs=true&descending=true&limit=1")) ==
        R"({"total_rows":null,"offset":null,"rows":[)"
        R"({"id":"_local/l2","key":"_local/l2","value":{"rev":"0-5"},)"
        R"("doc":{"_id":"_local/l2","_rev":"0-5","l":2}}]})");
  Json body = body_json(get("/db/_local_docs?startkey=%22_local%2Fl2%22"));
  CHECK(body["rows"].size() == 1);
  CHECK(body_json(get("/db/_local_docs?skip=1"))["rows"][0]["id"] == "_local/l2");
  body = body_json(
      post("/db/_local_docs?include_docs=true", R"({"keys":["_local/l2","_local/zz","a"]})"));
  CHECK(
      body.dump() ==
      R"({"total_rows":null,"offset":null,"rows":[)"
      R"({"id":"_local/l2","key":"_local/l2","value":{"rev":"0-5"},"doc":{"_id":"_local/l2","_rev":"0-5","l":2}},)"
      R"({"key":"_local/zz","error":"not_found"},{"key":"a","error":"not_found"}]})");
}

// ---- hostile input ----

// nlohmann parses and destroys deep values iteratively, but dump() recurses, so echoing a
// 100000-deep key or id would overflow the stack: params.cpp caps JSON nesting, and these are 400s.
TEST_CASE("regress: deeply nested JSON is refused, not a stack overflow") {
  Node node;
  const size_t depth = 100'000;
  std::string deep = std::string(depth, '[') + std::string(depth, ']');
  auto refused = [](const Response& res) { return res.result() == status::bad_request; };
  CHECK(refused(node.post("/db/_all_docs", R"({"keys":[)" + deep + "]}")));
  CHECK(refused(node.post("/db/_all_docs", R"({"limit":)" + deep + "}")));
  CHECK(refused(node.get("/db/_all_docs?keys=" + qs("[" + deep + "]"))));
  CHECK(refused(node.post("/db/_bulk_get", R"({"docs":[{"id":)" + deep + "}]}")));
  CHECK(refused(node.post("/db/_bulk_get", R"({"docs":[{"id":"a","rev":)" + deep + "}]}")));
}

}  // namespace
}  // namespace divan::http::server::test
