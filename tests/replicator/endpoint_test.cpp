// spec: replication-protocol.md §1 (endpoint forms), §3.1 (credentials, redaction, trailing '/'),
// §3.3 (the endpoint part of the replication id).
#include <doctest/doctest.h>

#include "base/base64.h"
#include "replicator/endpoint.h"

using namespace divan;
using namespace divan::replicator;

namespace {

Endpoint must_parse_endpoint(const Json& v) {
  auto ep = Endpoint::parse(v);
  REQUIRE_MESSAGE(ep.has_value(), (ep ? "" : ep.error().reason));
  return *ep;
}

std::string header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("endpoint: URL strings are normalised (table)") {
  struct Row {
    const char* input;
    bool tls;
    const char* host;
    uint16_t port;
    const char* path;
    const char* url;
  };
  const Row rows[] = {
      {"http://host/db", false, "host", 80, "/db/", "http://host/db/"},
      {"http://host/db/", false, "host", 80, "/db/", "http://host/db/"},
      {"https://Host.Example.COM/db", true, "host.example.com", 443, "/db/",
       "https://host.example.com/db/"},
      {"HTTP://host:5984/db", false, "host", 5984, "/db/", "http://host:5984/db/"},
      {"http://host:80/db", false, "host", 80, "/db/", "http://host/db/"},
      {"https://host:443/db", true, "host", 443, "/db/", "https://host/db/"},
      {"https://host:80/db", true, "host", 80, "/db/", "https://host:80/db/"},
      {"http://127.0.0.1:5984/a%2fb", false, "127.0.0.1", 5984, "/a%2Fb/",
       "http://127.0.0.1:5984/a%2Fb/"},
      {"http://[::1]:5984/db", false, "::1", 5984, "/db/", "http://[::1]:5984/db/"},
      {"http://host/some/prefix/db", false, "host", 80, "/some/prefix/db/",
       "http://host/some/prefix/db/"},
      {"http://host/a%2Fb/", false, "host", 80, "/a%2Fb/", "http://host/a%2Fb/"},
      {"http://host/a%2f%62", false, "host", 80, "/a%2Fb/", "http://host/a%2Fb/"},
      {"http://host/db$x", false, "host", 80, "/db$x/", "http://host/db$x/"},
      {"http://host", false, "host", 80, "/", "http://host/"},
      {"http://host:/db", false, "host", 80, "/db/", "http://host/db/"},
      {"http://host:65535/db", false, "host", 65535, "/db/", "http://host:65535/db/"},
      {"http://host/db%24x", false, "host", 80, "/db$x/", "http://host/db$x/"},
      {"http://host/db(1)+x", false, "host", 80, "/db(1)+x/", "http://host/db(1)+x/"},
      {"http://host/a%20b", false, "host", 80, "/a%20b/", "http://host/a%20b/"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.input);
    const Endpoint ep = must_parse_endpoint(r.input);
    CHECK_FALSE(ep.is_local());
    // The HTTP client's own Origin: what HttpPeer hands to Client::send as it is.
    CHECK(ep.origin() == http::client::Origin{r.tls, r.host, r.port});
    CHECK(ep.path() == r.path);
    CHECK(ep.url() == r.url);
    CHECK(ep.redacted_url() == r.url);  // no credentials: nothing to hide
    CHECK_FALSE(ep.credentials().has_value());
    CHECK(ep.request_headers().empty());
  }
}

TEST_CASE("endpoint: a query string is kept verbatim") {
  const Endpoint ep = must_parse_endpoint("http://host/db?x=1");
  CHECK(ep.path() == "/db/");
  CHECK(ep.query() == "x=1");
  CHECK(ep.url() == "http://host/db/?x=1");
}

TEST_CASE("endpoint: userinfo credentials are percent-decoded and never shown") {
  const Endpoint ep = must_parse_endpoint("http://adm:pa%40ss%3Aw@localhost:5984/bar");
  REQUIRE(ep.credentials().has_value());
  CHECK(ep.credentials()->username == "adm");
  CHECK(ep.credentials()->password == "pa@ss:w");
  CHECK(ep.url() == "http://localhost:5984/bar/");
  // CouchDB's redaction (couch_util:url_strip_password), as _scheduler/jobs shows it.
  CHECK(ep.redacted_url() == "http://adm:*****@localhost:5984/bar/");
  CHECK(ep.redacted_url().find("pa") == std::string::npos);
  CHECK(header(ep.request_headers(), "Authorization") ==
        "Basic " + base64_encode("adm:pa@ss:w"));
}

TEST_CASE("endpoint: a user without a password has an empty password") {
  const Endpoint ep = must_parse_endpoint("http://bob@host/db");
  REQUIRE(ep.credentials().has_value());
  CHECK(ep.credentials()->username == "bob");
  CHECK(ep.credentials()->password.empty());
  CHECK(ep.redacted_url() == "http://bob:*****@host/db/");
}

TEST_CASE("endpoint: object form with headers and auth.basic") {
  const Json v = {{"url", "https://db.example.com/shop"},
                  {"headers", {{"X-Trace", "1"}, {"Accept-Language", "fr"}}},
                  {"auth", {{"basic", {{"username", "u"}, {"password", "p w"}}}}}};
  const Endpoint ep = must_parse_endpoint(v);
  CHECK(ep.url() == "https://db.example.com/shop/");
  CHECK(ep.redacted_url() == "https://u:*****@db.example.com/shop/");
  REQUIRE(ep.credentials().has_value());
  CHECK(ep.credentials()->password == "p w");
  // Sorted by lower-cased name.
  REQUIRE(ep.headers().size() == 2);
  CHECK(ep.headers()[0].first == "Accept-Language");
  CHECK(ep.headers()[1].first == "X-Trace");
  const Headers sent = ep.request_headers();
  REQUIRE(sent.size() == 3);
  CHECK(sent[0] == std::pair<std::string, std::string>("Authorization", "Basic dTpwIHc="));
  CHECK(sent[1].first == "Accept-Language");
  CHECK(sent[2].first == "X-Trace");
}

TEST_CASE("endpoint: an Authorization: Basic header becomes credentials") {
  const Json v = {{"url", "http://h/db"},
                  {"headers",
                   {{"authorization", "bAsIc " + base64_encode("user:secret")},
                    {"X-A", "a"}}}};
  const Endpoint ep = must_parse_endpoint(v);
  REQUIRE(ep.credentials().has_value());
  CHECK(ep.credentials()->username == "user");
  CHECK(ep.credentials()->password == "secret");
  REQUIRE(ep.headers().size() == 1);
  CHECK(ep.headers()[0].first == "X-A");
  CHECK(ep.redacted_url() == "http://user:*****@h/db/");
}

TEST_CASE("endpoint: an undecodable Basic header is dropped without credentials (CouchDB)") {
  const Endpoint ep = must_parse_endpoint(Json{{"url", "http://h/db"},
                                      {"headers", {{"Authorization", "Basic %%%"}}}});
  CHECK_FALSE(ep.credentials().has_value());
  CHECK(ep.headers().empty());
}

TEST_CASE("endpoint: credentials precedence is auth.basic, then userinfo, then header") {
  const std::string hdr = "Basic " + base64_encode("h:hp");
  const Json auth = {{"basic", {{"username", "a"}, {"password", "ap"}}}};
  struct Row {
    Json value;
    const char* user;
  };
  const Row rows[] = {
      {Json{{"url", "http://u:up@h/db"}, {"auth", auth}, {"headers", {{"Authorization", hdr}}}},
       "a"},
      {Json{{"url", "http://u:up@h/db"}, {"headers", {{"Authorization", hdr}}}}, "u"},
      {Json{{"url", "http://h/db"}, {"headers", {{"Authorization", hdr}}}}, "h"},
      // A half-filled auth.basic is ignored, as CouchDB does.
      {Json{{"url", "http://u:up@h/db"}, {"auth", {{"basic", {{"username", "a"}}}}}}, "u"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.value.dump());
    const Endpoint ep = must_parse_endpoint(r.value);
    REQUIRE(ep.credentials().has_value());
    CHECK(ep.credentials()->username == r.user);
    CHECK(ep.headers().empty());  // the Basic header never stays
  }
}

TEST_CASE("endpoint: a non-Basic Authorization header stays a header, unless credentials exist") {
  const Endpoint bearer =
      must_parse_endpoint(Json{{"url", "http://h/db"}, {"headers", {{"Authorization", "Bearer t0k"}}}});
  CHECK_FALSE(bearer.credentials().has_value());
  CHECK(header(bearer.request_headers(), "Authorization") == "Bearer t0k");

  const Endpoint both = must_parse_endpoint(
      Json{{"url", "http://u:p@h/db"}, {"headers", {{"Authorization", "Bearer t0k"}}}});
  const Headers sent = both.request_headers();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].second == "Basic " + base64_encode("u:p"));
}

TEST_CASE("endpoint: local database names") {
  for (const char* name : {"mydb", "a/b", "db$(1)+-_", "_users", "_replicator", "x/_replicator"}) {
    CAPTURE(name);
    const Endpoint ep = must_parse_endpoint(name);
    CHECK(ep.is_local());
    CHECK(ep.db_name() == name);
    CHECK(ep.url() == name);
    CHECK(ep.redacted_url() == name);
    CHECK(ep.id_key() == Json{{"local", name}});
    CHECK(ep.request_headers().empty());
  }
  const Endpoint obj = must_parse_endpoint(Json{{"url", "mydb"}});
  CHECK(obj.is_local());
}

TEST_CASE("endpoint: bad values get CouchDB's reasons (table)") {
  struct Row {
    Json value;
    Code code;
    const char* reason;
  };
  const Row rows[] = {
      {Json(), Code::kBadRequest, "Missing replicator database"},
      {Json(42), Code::kBadRequest, "endpoint has an invalid url"},
      {Json::array(), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("ftp://h/db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("localhost:5984/db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http://h/db#top"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http:///db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http://h:0/db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http://h:99999/db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http://h:65536/db"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json("http://h db/x"), Code::kBadRequest, "endpoint has an invalid url"},
      {Json::object(), Code::kBadRequest, "endpoint has an invalid url"},
      {Json{{"url", 1}}, Code::kBadRequest, "endpoint has an invalid url"},
      {Json{{"junk", 42}}, Code::kBadRequest, "endpoint has an invalid url"},
      {Json{{"url", "http://h/db"}, {"headers", "x"}}, Code::kBadRequest,
       "endpoint `headers` must be an object of strings"},
      {Json{{"url", "http://h/db"}, {"headers", {{"X", 1}}}}, Code::kBadRequest,
       "endpoint `headers` must be an object of strings"},
      {Json{{"url", "http://h/db"}, {"auth", "x"}}, Code::kBadRequest,
       "endpoint `auth` must be an object"},
      {Json("Bad"), Code::kIllegalDatabaseName,
       "Name: 'Bad'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, "
       "$, (, ), +, -, and / are allowed. Must begin with a letter."},
      {Json(""), Code::kIllegalDatabaseName,
       "Name: ''. Only lowercase characters (a-z), digits (0-9), and any of the characters _, "
       "$, (, ), +, -, and / are allowed. Must begin with a letter."},
  };
  for (const auto& r : rows) {
    CAPTURE(r.value.dump());
    auto ep = Endpoint::parse(r.value);
    REQUIRE_FALSE(ep.has_value());
    CHECK(ep.error().code == r.code);
    CHECK(ep.error().reason == r.reason);
  }
}

TEST_CASE("endpoint: id_key has no secrets; a password change keeps it") {
  const Endpoint a = must_parse_endpoint("http://adm:one@host:5984/db");
  const Endpoint b = must_parse_endpoint("http://adm:two@host:5984/db");
  CHECK(a.id_key() == b.id_key());
  CHECK(a.id_key().dump().find("one") == std::string::npos);
  CHECK(a.id_key()["user"] == "adm");
  CHECK(a.id_key()["port"] == 5984);
  // The user is part of it: replicating as someone else is another replication.
  CHECK(must_parse_endpoint("http://eve:one@host:5984/db").id_key() != a.id_key());
  // Default ports are effective ports: spelled or not, the same key.
  CHECK(must_parse_endpoint("http://host/db").id_key() == must_parse_endpoint("http://host:80/db/").id_key());
  // Credential headers (any Authorization, Cookie) are not part of it; other headers are,
  // by lower-cased name.
  const Endpoint t1 = must_parse_endpoint(Json{
      {"url", "http://h/db"}, {"headers", {{"Authorization", "Bearer 1"}, {"Cookie", "a=1"}}}});
  const Endpoint t2 = must_parse_endpoint(Json{
      {"url", "http://h/db"}, {"headers", {{"Authorization", "Bearer 2"}, {"Cookie", "a=2"}}}});
  CHECK(t1.id_key() == t2.id_key());
  CHECK(t1.id_key()["headers"] == Json::array());
  const Endpoint x1 = must_parse_endpoint(Json{{"url", "http://h/db"}, {"headers", {{"X-Tenant", "a"}}}});
  const Endpoint x2 = must_parse_endpoint(Json{{"url", "http://h/db"}, {"headers", {{"x-tenant", "a"}}}});
  const Endpoint x3 = must_parse_endpoint(Json{{"url", "http://h/db"}, {"headers", {{"X-Tenant", "b"}}}});
  CHECK(x1.id_key() == x2.id_key());
  CHECK(x1.id_key() != x3.id_key());
  CHECK(x1.id_key()["headers"] == Json::array({Json::array({"x-tenant", "a"})}));
}

TEST_CASE("percent_decode_lenient: decodes valid escapes only; '+' stays '+'") {
  CHECK(percent_decode_lenient("a%2Fb") == "a/b");
  CHECK(percent_decode_lenient("a%2fb") == "a/b");
  CHECK(percent_decode_lenient("a+b") == "a+b");
  CHECK(percent_decode_lenient("100%") == "100%");
  CHECK(percent_decode_lenient("%zz") == "%zz");
  CHECK(percent_decode_lenient("plain") == "plain");
  CHECK(percent_decode_lenient("%C3%A9") == "\xC3\xA9");
}
