// Request: path splitting and per-segment decoding, query decoding (http-api.md §1.1), and the
// doc id a path names.
#include <doctest/doctest.h>

#include "http/server/handlers.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using Segments = std::vector<std::string>;

TEST_CASE("path: split on '/', then percent-decoded per segment") {
  CHECK(make_request("/").path().empty());
  CHECK(make_request("/db").path() == Segments{"db"});
  CHECK((make_request("/db/doc").path() == Segments{"db", "doc"}));
  // %2F inside a segment is data, not a separator.
  CHECK((make_request("/db/a%2Fb").path() == Segments{"db", "a/b"}));
  CHECK((make_request("/another%2F_replicator/x").path() == Segments{"another/_replicator", "x"}));
  CHECK((make_request("/db/_design/foo").path() == Segments{"db", "_design", "foo"}));
  CHECK((make_request("/db/a%20b").path() == Segments{"db", "a b"}));
  // `+` is a space only in the query string.
  CHECK((make_request("/db/a+b").path() == Segments{"db", "a+b"}));
  CHECK((make_request("/db/%C3%A9").path() == Segments{"db", "\xC3\xA9"}));
}

TEST_CASE("path: a trailing slash is dropped and remembered (§What matters most 4)") {
  Request with = make_request("/db/");
  Request without = make_request("/db");
  CHECK(with.path() == Segments{"db"});
  CHECK(without.path() == Segments{"db"});
  CHECK(with.trailing_slash());
  CHECK_FALSE(without.trailing_slash());
  CHECK((make_request("/db/doc/").path() == Segments{"db", "doc"}));
  CHECK_FALSE(make_request("/").trailing_slash());
}

TEST_CASE("regress: repeated slashes are dropped, as CouchDB routes PUT //db//doc as PUT /db/doc") {
  CHECK((make_request("//db//doc").path() == Segments{"db", "doc"}));
  CHECK((make_request("//db").path() == Segments{"db"}));
  CHECK((make_request("/db///doc//att").path() == Segments{"db", "doc", "att"}));
  CHECK((make_request("/db//_design//foo").path() == Segments{"db", "_design", "foo"}));
  CHECK(make_request("//").path().empty());
  CHECK(make_request("///").trailing_slash());
  CHECK((make_request("/db//").path() == Segments{"db"}));
  CHECK(make_request("/db//").trailing_slash());
  CHECK_FALSE(make_request("//db").trailing_slash());
  // An encoded slash is data: it neither splits a segment nor is dropped.
  CHECK((make_request("/db/a%2F%2Fb").path() == Segments{"db", "a//b"}));
  CHECK((make_request("//db?x=1").path() == Segments{"db"}));
  CHECK(*make_request("//db?x=1").param("x") == "1");
  CHECK((decode_path("//db//doc/") == std::vector<std::string>{"db", "doc"}));
  CHECK_FALSE(decode_path("db/doc").has_value());
}

TEST_CASE("path: a target that is not origin-form is invalid") {
  CHECK(make_request("/db").target_valid());
  CHECK_FALSE(make_request("db").target_valid());
  CHECK_FALSE(make_request("http//x").target_valid());
}

TEST_CASE("query: decoded, `+` as space, duplicates keep the last") {
  Request req = make_request("/db/_all_docs?q=a+b&x=%2B&flag&k=1&k=2&e=&j=%22a%20b%22");
  CHECK(req.param("q") == "a b");
  CHECK(req.param("x") == "+");
  CHECK(req.param("flag") == "");
  CHECK(req.param("k") == "2");
  CHECK(req.param("e") == "");
  CHECK(req.param("j") == "\"a b\"");
  CHECK_FALSE(req.param("missing").has_value());
  REQUIRE(req.params().size() == 7);
  CHECK((req.params()[3] == std::pair<std::string, std::string>{"k", "1"}));
  CHECK((req.params()[4] == std::pair<std::string, std::string>{"k", "2"}));
}

TEST_CASE("query: keys are decoded too") {
  Request req = make_request("/db?start%5Fkey=1&a+b=2");
  CHECK(req.param("start_key") == "1");
  CHECK(req.param("a b") == "2");
}

TEST_CASE("doc_id_from_path: _design/ and _local/ rejoin their two segments") {
  CHECK(doc_id_from_path(make_request("/db/doc")) == "doc");
  CHECK(doc_id_from_path(make_request("/db/a%2Fb")) == "a/b");
  CHECK(doc_id_from_path(make_request("/db/_design/foo")) == "_design/foo");
  CHECK(doc_id_from_path(make_request("/db/_design%2Ffoo")) == "_design/foo");
  CHECK(doc_id_from_path(make_request("/db/_local/b.c_d%3D%3D")) == "_local/b.c_d==");
  CHECK(doc_id_from_path(make_request("/db/_design/foo/att")) == "_design/foo");
}

TEST_CASE("headers: looked up case-insensitively, empty when absent") {
  RawRequest raw = raw_request(bhttp::verb::post, "/db", "{}", "application/json");
  raw.set("X-Couch-Full-Commit", "false");
  Request req(std::move(raw));
  CHECK(req.header(bhttp::field::content_type) == "application/json");
  CHECK(req.header("x-couch-full-commit") == "false");
  CHECK(req.header(bhttp::field::if_match).empty());
  CHECK(req.body() == "{}");
}

}  // namespace
}  // namespace divan::http::server::test
