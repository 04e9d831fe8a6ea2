// POST /{db}/_bulk_get (http-api.md §11; revision-trees.md §8), run through the route table.
#include <doctest/doctest.h>

#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::status;

// a: 1-y → 2-x ; b: 1-o → {2-p, 2-q} ; del: 1-s → 2-t (deleted) ; stub: 2-k over a body-less 1-j
struct BulkGetFixture : Node {
  BulkGetFixture() {
    replicate("a", 2, {"x", "y"}, R"({"v":"a"})");
    replicate("b", 2, {"p", "o"}, R"({"v":"p"})");
    replicate("b", 2, {"q", "o"}, R"({"v":"q"})");
    replicate("del", 2, {"t", "s"}, "{}", /*deleted=*/true);
    replicate("stub", 2, {"k", "j"}, R"({"v":"k"})");
  }
  Response bulk_get(std::string docs, std::string_view query = "") {
    return post("/db/_bulk_get" + std::string(query.empty() ? "" : "?") + std::string(query),
                R"({"docs":)" + docs + "}");
  }
  std::string results(std::string docs, std::string_view query = "") {
    Response res = bulk_get(std::move(docs), query);
    CHECK(res.result() == status::ok);
    CHECK(res[bhttp::field::content_type] == "application/json");
    return body_text(res);
  }
};

TEST_CASE_FIXTURE(BulkGetFixture, "§11 shape: only `results`, one element per entry, in request order") {
  CHECK(results(R"([{"id":"b","rev":"2-q"},{"id":"a","rev":"2-x"},{"id":"a","rev":"2-x"}])") ==
        R"({"results":[)"
        R"({"id":"b","docs":[{"ok":{"_id":"b","_rev":"2-q","v":"q"}}]},)"
        R"({"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a"}}]},)"
        R"({"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a"}}]}]})");
  CHECK(results("[]") == R"({"results":[]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 rev omitted: every leaf, deleted ones with _deleted") {
  CHECK(
      results(R"([{"id":"b"},{"id":"del"}])") ==
      R"({"results":[)"
      R"({"id":"b","docs":[{"ok":{"_id":"b","_rev":"2-q","v":"q"}},{"ok":{"_id":"b","_rev":"2-p","v":"p"}}]},)"
      R"({"id":"del","docs":[{"ok":{"_id":"del","_rev":"2-t","_deleted":true}}]}]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 missing docs and revisions") {
  CHECK(
      results(
          R"([{"id":"nope"},{"id":"a","rev":"1-z"},{"id":"nope","rev":"3-k"},{"id":"stub","rev":"1-j"}])") ==
      R"({"results":[)"
      R"({"id":"nope","docs":[{"error":{"id":"nope","rev":"undefined","error":"not_found","reason":"missing"}}]},)"
      R"({"id":"a","docs":[{"error":{"id":"a","rev":"1-z","error":"not_found","reason":"missing"}}]},)"
      R"({"id":"nope","docs":[{"error":{"id":"nope","rev":"3-k","error":"not_found","reason":"missing"}}]},)"
      R"({"id":"stub","docs":[{"error":{"id":"stub","rev":"1-j","error":"not_found","reason":"missing"}}]}]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 bad entries become error items, the others are answered") {
  std::string body = results(
      R"([5,{"rev":"1-a"},{"id":"_bad"},{"id":7},{"id":"a","rev":"abc"},{"id":"a","rev":3},)"
      R"({"id":"a","atts_since":"1-y"},{"id":"a","atts_since":["1-y","zz"]},{"id":"a","rev":"2-x"}])");
  CHECK(
      body ==
      R"({"results":[)"
      R"({"id":null,"docs":[{"error":{"id":null,"rev":null,"error":"bad_request","reason":"document must be a JSON object"}}]},)"
      R"({"id":null,"docs":[{"error":{"id":null,"rev":null,"error":"bad_request","reason":"document id missed"}}]},)"
      R"({"id":"_bad","docs":[{"error":{"id":"_bad","rev":null,"error":"illegal_docid","reason":"Only reserved document ids may start with underscore."}}]},)"
      R"({"id":7,"docs":[{"error":{"id":7,"rev":null,"error":"illegal_docid","reason":"Document id must be a string"}}]},)"
      R"({"id":"a","docs":[{"error":{"id":"a","rev":"abc","error":"bad_request","reason":"Invalid rev format"}}]},)"
      R"({"id":"a","docs":[{"error":{"id":"a","rev":3,"error":"bad_request","reason":"Invalid rev format"}}]},)"
      R"({"id":"a","docs":[{"error":{"id":"a","rev":"1-y","error":"bad_request","reason":"att_since value must be array of revs."}}]},)"
      R"({"id":"a","docs":[{"error":{"id":"a","rev":"zz","error":"bad_request","reason":"Invalid rev format"}}]},)"
      R"({"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a"}}]}]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 atts_since is accepted (no attachments to filter yet)") {
  CHECK(results(R"([{"id":"a","rev":"2-x","atts_since":["1-y"]},{"id":"a","atts_since":[]}])") ==
        R"({"results":[{"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a"}}]},)"
        R"({"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a"}}]}]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 revs=true adds _revisions, deleted revisions included") {
  CHECK(
      results(R"([{"id":"a","rev":"2-x"},{"id":"del"}])", "revs=true") ==
      R"({"results":[)"
      R"({"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-x","v":"a","_revisions":{"start":2,"ids":["x","y"]}}}]},)"
      R"({"id":"del","docs":[{"ok":{"_id":"del","_rev":"2-t","_deleted":true,"_revisions":{"start":2,"ids":["t","s"]}}}]}]})");
}

TEST_CASE_FIXTURE(BulkGetFixture, "rt §8 latest=true: each rev becomes the leaves under it") {
  Json body = body_json(bulk_get(
      R"([{"id":"b","rev":"1-o"},{"id":"a","rev":"1-y"},{"id":"stub","rev":"1-j"},{"id":"a","rev":"9-z"}])",
      "latest=true"));
  auto revs = [&](size_t i) {
    std::vector<std::string> out;
    for (const auto& d : body["results"][i]["docs"]) {
      out.push_back(d.contains("ok") ? d["ok"]["_rev"].get<std::string>()
                                     : "missing " + d["error"]["rev"].get<std::string>());
    }
    return out;
  };
  CHECK((revs(0) == std::vector<std::string>{"2-q", "2-p"}));
  CHECK((revs(1) == std::vector<std::string>{"2-x"}));
  CHECK((revs(2) == std::vector<std::string>{"2-k"}));  // a body-less inner node leads to its leaf
  CHECK((revs(3) == std::vector<std::string>{"missing 9-z"}));
  // Without latest an inner rev with a body is itself; the stored 1-o has none (replicated path).
  body = body_json(bulk_get(R"([{"id":"b","rev":"1-o"}])"));
  CHECK(body["results"][0]["docs"][0]["error"]["reason"] == "missing");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 options repeated in the body are ignored") {
  Response res =
      post("/db/_bulk_get?revs=true&latest=true",
           R"({"docs":[{"id":"a","rev":"2-x"}],"revs":true,"latest":true,"attachments":false})");
  CHECK(res.result() == status::ok);
  Json body = body_json(res);
  CHECK(body.size() == 1);
  CHECK(body["results"][0]["docs"][0]["ok"]["_revisions"]["start"] == 2);
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 forbidden query params are 400, first one in request order") {
  for (auto [param, value] :
       {std::pair{"rev", "1-a"}, std::pair{"open_revs", "all"}, std::pair{"atts_since", "%5B%5D"},
        std::pair{"new_edits", "false"}, std::pair{"w", "1"}}) {
    CAPTURE(param);
    check_error(bulk_get(R"([{"id":"a"}])", std::string(param) + "=" + value), status::bad_request,
                "bad_request", "\"" + std::string(param) + "\" query parameter is not acceptable");
  }
  check_error(bulk_get("[]", "revs=true&w=1&rev=1-a"), status::bad_request, "bad_request",
              "\"w\" query parameter is not acceptable");
  check_error(bulk_get("[]", "revs=maybe"), status::bad_request, "query_parse_error",
              "Invalid boolean parameter: \"maybe\"");
}

TEST_CASE_FIXTURE(BulkGetFixture, "§11 request errors: no docs list, not an object, content type, method") {
  check_error(post("/db/_bulk_get", "{}"), status::bad_request, "bad_request",
              "Missing JSON list of 'docs'.");
  check_error(post("/db/_bulk_get", R"({"docs":{"id":"a"}})"), status::bad_request, "bad_request",
              "Missing JSON list of 'docs'.");
  check_error(post("/db/_bulk_get", "[]"), status::bad_request, "bad_request",
              "Request body must be a JSON object");
  check_error(post("/db/_bulk_get", R"({"docs":[]})", "text/plain"), status::unsupported_media_type,
              "bad_content_type", "Content-Type must be application/json");
  check_error(get("/db/_bulk_get"), status::method_not_allowed, "method_not_allowed",
              "Only POST allowed");
  check_error(post("/nope/_bulk_get", R"({"docs":[]})"), status::not_found, "not_found",
              "Database does not exist.");
}

}  // namespace
}  // namespace divan::http::server::test
