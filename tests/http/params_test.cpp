// params.h: typed query parameters and JSON bodies, with CouchDB's errors (http-api.md §1.1, §9).
#include "http/server/params.h"

#include <doctest/doctest.h>

#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

void check_fails(const Error& error, Code code, std::string_view reason) {
  CHECK(error.code == code);
  CHECK(error.reason == reason);
}

TEST_CASE("bool_param: true/false, the fallback when absent, query_parse_error otherwise") {
  Request req = make_request("/db?a=true&b=false&c=yes&d=&e=TRUE&f=1&g=false&g=true");
  CHECK(*bool_param(req, "a") == true);
  CHECK(*bool_param(req, "b", true) == false);
  CHECK(*bool_param(req, "absent") == false);
  CHECK(*bool_param(req, "absent", true) == true);
  CHECK(*bool_param(req, "g") == true);  // the last duplicate wins
  check_fails(bool_param(req, "c").error(), Code::kQueryParseError,
              "Invalid boolean parameter: \"yes\"");
  check_fails(bool_param(req, "d").error(), Code::kQueryParseError,
              "Invalid boolean parameter: \"\"");
  check_fails(bool_param(req, "e").error(), Code::kQueryParseError,
              "Invalid boolean parameter: \"TRUE\"");
  check_fails(bool_param(req, "f").error(), Code::kQueryParseError,
              "Invalid boolean parameter: \"1\"");
}

TEST_CASE("uint_param: non-negative integers, query_parse_error otherwise") {
  Request req = make_request("/db?a=0&b=18446744073709551615&c=-1&d=abc&e=&f=1x&g=%2B1&h=1.5");
  CHECK(*uint_param(req, "a") == std::optional<uint64_t>(0));
  CHECK(*uint_param(req, "b") == std::optional<uint64_t>(18446744073709551615ull));
  CHECK_FALSE(uint_param(req, "absent")->has_value());
  for (auto [key, text] : {std::pair{"c", "-1"}, std::pair{"d", "abc"}, std::pair{"e", ""},
                           std::pair{"f", "1x"}, std::pair{"g", "+1"}, std::pair{"h", "1.5"}}) {
    CAPTURE(key);
    auto result = uint_param(req, key);
    REQUIRE_FALSE(result.has_value());
    check_fails(result.error(), Code::kQueryParseError,
                "Invalid value for integer: \"" + std::string(text) + "\"");
  }
  Request big = make_request("/db?n=18446744073709551616");
  CHECK_FALSE(uint_param(big, "n").has_value());
}

TEST_CASE("json_param: URL-encoded JSON text; bad JSON is 400 invalid UTF-8 JSON") {
  Request req = make_request("/db?keys=%5B%22a%22%2C%22b%22%5D&k=%22a+b%22&n=null&bad=%5B1&s=abc");
  CHECK((**json_param(req, "keys") == Json::array({"a", "b"})));
  CHECK(**json_param(req, "k") == "a b");
  CHECK((**json_param(req, "n")).is_null());
  CHECK_FALSE(json_param(req, "absent")->has_value());
  check_fails(json_param(req, "bad").error(), Code::kBadRequest, "invalid UTF-8 JSON");
  check_fails(json_param(req, "s").error(), Code::kBadRequest, "invalid UTF-8 JSON");
}

TEST_CASE("parse_json_object: missing, malformed and non-object bodies") {
  CHECK(parse_json_object(R"({"a":1})")->at("a") == 1);
  check_fails(parse_json_object("").error(), Code::kBadRequest, "Missing request body");
  check_fails(parse_json_object(" \r\n").error(), Code::kBadRequest, "Missing request body");
  check_fails(parse_json_object("{").error(), Code::kBadRequest, "invalid UTF-8 JSON");
  check_fails(parse_json_object("[1]").error(), Code::kBadRequest,
              "Request body must be a JSON object");
  check_fails(parse_json_object("5", "Document must be a JSON object").error(), Code::kBadRequest,
              "Document must be a JSON object");
  check_fails(parse_json("{\"a\":").error(), Code::kBadRequest, "invalid UTF-8 JSON");
  CHECK((*parse_json("[1,2]") == Json::array({1, 2})));
}

TEST_CASE("regress: parse_json refuses what nlohmann alone would misread (a BOM, a NUL byte)") {
  using namespace std::string_view_literals;
  // nlohmann skips a leading UTF-8 byte order mark and stops at a NUL byte; CouchDB refuses both.
  for (std::string_view text : {"\xEF\xBB\xBF{\"a\":1}"sv, "{\"a\":1}\0garbage"sv, "{\"a\":1}\0"sv,
                                "\0{\"a\":1}"sv, "[1]\0"sv, "1\0"sv, "\xEF\xBB\xBF[]"sv,
                                "{\"a\":\"x\0y\"}"sv}) {
    CAPTURE(text);
    auto parsed = parse_json(text);
    REQUIRE_FALSE(parsed.has_value());
    check_fails(parsed.error(), Code::kBadRequest, "invalid UTF-8 JSON");
    auto object = parse_json_object(text);
    REQUIRE_FALSE(object.has_value());
    check_fails(object.error(), Code::kBadRequest, "invalid UTF-8 JSON");
  }
  // Invalid UTF-8 inside strings, as CouchDB: overlong forms, surrogates, truncated sequences.
  for (std::string_view text : {"{\"a\":\"\xff\"}"sv, "{\"a\":\"\xc0\xaf\"}"sv,
                                "{\"a\":\"\xed\xa0\x80\"}"sv, "{\"\xfe\":1}"sv,
                                "{\"a\":\"\xe2\x82\"}"sv, "{\"a\":\"\xf4\x90\x80\x80\"}"sv}) {
    CAPTURE(text);
    auto parsed = parse_json(text);
    REQUIRE_FALSE(parsed.has_value());
    check_fails(parsed.error(), Code::kBadRequest, "invalid UTF-8 JSON");
  }
  // An escaped NUL and a BOM inside a string are data, not framing.
  CHECK(parse_json(R"({"a":"x\u0000y"})")->at("a") == std::string("x\0y", 3));
  CHECK(parse_json("{\"a\":\"\xEF\xBB\xBF\"}")->at("a") == "\xEF\xBB\xBF");
  CHECK(parse_json(" {\"a\":1} \r\n")->at("a") == 1);
}

TEST_CASE("parse_json: at most 512 levels of arrays and objects; brackets in strings don't count") {
  auto nested = [](size_t depth, std::string_view open, std::string_view close) {
    std::string text;
    for (size_t i = 0; i < depth; ++i) text += open;
    for (size_t i = 0; i < depth; ++i) text += close;
    return text;
  };
  CHECK(parse_json(nested(512, "[", "]")).has_value());
  CHECK(parse_json(nested(256, "{\"a\":[", "]}")).has_value());  // objects count too: 512 levels
  check_fails(parse_json(nested(257, "{\"a\":[", "]}")).error(), Code::kBadRequest,
              "JSON nested too deeply");
  check_fails(parse_json(nested(513, "[", "]")).error(), Code::kBadRequest, "JSON nested too deeply");
  check_fails(parse_json(nested(100000, "[", "]")).error(), Code::kBadRequest,
              "JSON nested too deeply");
  check_fails(parse_json_object("{\"a\":" + nested(512, "[", "]") + "}").error(),
              Code::kBadRequest, "JSON nested too deeply");
  // Closed and reopened: the depth is the deepest point, not the number of brackets.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += (i ? "," : "") + nested(100, "[", "]");
  CHECK(parse_json(wide + "]").has_value());
  CHECK(parse_json("[\"" + std::string(2000, '[') + "\"]").has_value());
}

TEST_CASE("parse_json: keeps integers exact and key order") {
  auto json = parse_json(R"({"z":9007199254740993,"a":-9223372036854775808,"m":1.5})");
  REQUIRE(json.has_value());
  CHECK((json->dump() == R"({"z":9007199254740993,"a":-9223372036854775808,"m":1.5})"));
}

TEST_CASE("require_json_content_type: application/json with parameters; absent is lenient") {
  auto with_type = [](std::string_view type) {
    return Request(raw_request(bhttp::verb::post, "/db", "{}", type));
  };
  CHECK(require_json_content_type(with_type("application/json")).has_value());
  CHECK(require_json_content_type(with_type("application/json; charset=utf-8")).has_value());
  CHECK(require_json_content_type(with_type("")).has_value());
  // regress (issue 12 part 8): the media type is compared whole and case-insensitively.
  CHECK(require_json_content_type(with_type("Application/JSON;charset=utf-8")).has_value());
  CHECK_FALSE(require_json_content_type(with_type("application/jsonx")).has_value());
  CHECK_FALSE(require_json_content_type(with_type("application/json-seq")).has_value());
  auto bad = require_json_content_type(with_type("text/plain"));
  REQUIRE_FALSE(bad.has_value());
  check_fails(bad.error(), Code::kBadContentType, "Content-Type must be application/json");
  CHECK_FALSE(require_json_content_type(with_type("multipart/related; boundary=x")).has_value());
}

}  // namespace
}  // namespace divan::http::server::test
