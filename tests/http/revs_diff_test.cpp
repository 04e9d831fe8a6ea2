// POST /{db}/_revs_diff (http-api.md §12; revision-trees.md §10, §13.10, §13.11).
#include <doctest/doctest.h>

#include <algorithm>

#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::status;

struct Forest : Node {
  // revision-trees.md §13.11: 1: a → {b → c, d(D)}
  Forest() {
    replicate("doc", 3, {"c", "b", "a"});
    replicate("doc", 2, {"d", "a"}, "{}", /*deleted=*/true);
  }
  std::string diff(std::string body) {
    Response res = post("/db/_revs_diff", std::move(body));
    CHECK(res.result() == status::ok);
    CHECK(res[bhttp::field::content_type] == "application/json");
    return body_text(res);
  }
};

TEST_CASE_FIXTURE(Forest, "rt §13.11 _revs_diff and possible_ancestors") {
  Json body = Json::parse(diff(R"({"doc":["1-a","2-b","2-d","3-c","3-z","4-q","1-zz"]})"));
  REQUIRE(body.size() == 1);
  std::vector<std::string> missing = body["doc"]["missing"];
  std::sort(missing.begin(), missing.end());
  CHECK((missing == std::vector<std::string>{"1-zz", "3-z", "4-q"}));
  CHECK(body["doc"]["possible_ancestors"] == Json::array({"3-c", "2-d"}));
  CHECK(diff(R"({"doc":["2-z"]})") == R"({"doc":{"missing":["2-z"]}})");
  CHECK(diff(R"({"doc":["4-q"]})") ==
        R"({"doc":{"missing":["4-q"],"possible_ancestors":["3-c","2-d"]}})");
}

TEST_CASE_FIXTURE(Forest, "§12 complete docs are omitted; {} when nothing is missing") {
  CHECK(diff(R"({"doc":["2-b","3-c"]})") == "{}");
  CHECK(diff("{}") == "{}");
  CHECK(diff(R"({"doc":[]})") == "{}");
  CHECK(diff(R"({"doc":["1-a"],"other":["1-a"]})") == R"({"other":{"missing":["1-a"]}})");
}

TEST_CASE_FIXTURE(Forest, "§12 unknown doc: every rev missing, no possible_ancestors") {
  CHECK(
      diff(R"({"ghost":["1-a","2-b"],"doc":["5-e"],"g2":["1-x"]})") ==
      R"({"ghost":{"missing":["1-a","2-b"]},"doc":{"missing":["5-e"],"possible_ancestors":["3-c","2-d"]},)"
      R"("g2":{"missing":["1-x"]}})");
}

TEST_CASE("rt §13.10 a body-less ancestor counts as present") {
  Node node;
  node.replicate("u", 2, {"b", "a"});
  node.replicate("u", 3, {"c", "q"});
  CHECK(body_text(node.post("/db/_revs_diff", R"({"u":["2-q","3-c","1-a","4-n"]})")) ==
        R"({"u":{"missing":["4-n"],"possible_ancestors":["3-c","2-b"]}})");
}

TEST_CASE("rt §1 uppercase hex is the same revision") {
  Node node;
  std::string low = "abcdef0123456789abcdef0123456789";
  node.replicate("h", 1, {low});
  CHECK(body_text(node.post("/db/_revs_diff", R"({"h":["1-ABCDEF0123456789ABCDEF0123456789"]})")) ==
        "{}");
}

TEST_CASE_FIXTURE(Forest, "§12 invalid input is 400") {
  check_error(post("/db/_revs_diff", R"({"d":["abc"]})"), status::bad_request, "bad_request",
              "Invalid rev format");
  check_error(post("/db/_revs_diff", R"({"d":[1]})"), status::bad_request, "bad_request",
              "Invalid rev format");
  check_error(post("/db/_revs_diff", R"({"d":"1-a"})"), status::bad_request, "bad_request",
              "Invalid list of revisions");
  check_error(post("/db/_revs_diff", R"({"ok":["1-a"],"d":null})"), status::bad_request,
              "bad_request", "Invalid list of revisions");
  check_error(post("/db/_revs_diff", "[1]"), status::bad_request, "bad_request",
              "Request body must be a JSON object");
  check_error(post("/db/_revs_diff", "{\"d\":"), status::bad_request, "bad_request",
              "invalid UTF-8 JSON");
  check_error(post("/db/_revs_diff", "{}", "text/plain"), status::unsupported_media_type,
              "bad_content_type", "Content-Type must be application/json");
  check_error(get("/db/_revs_diff"), status::method_not_allowed, "method_not_allowed",
              "Only POST allowed");
}

}  // namespace
}  // namespace divan::http::server::test
