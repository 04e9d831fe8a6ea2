// Header value helpers (header_values.h): ETag lists, Content-Encoding, control characters.
#include <doctest/doctest.h>

#include "http/server/header_values.h"

namespace divan::http::server {
namespace {

TEST_CASE("etag_list_matches: a list of entity tags, W/ and *, never a substring") {
  CHECK(etag_list_matches("\"abc\"", "abc"));
  CHECK(etag_list_matches("W/\"abc\"", "abc"));
  CHECK(etag_list_matches("\"x\", \"abc\"", "abc"));
  CHECK(etag_list_matches("\"x\",W/\"abc\" ,\"y\"", "abc"));
  CHECK(etag_list_matches("*", "abc"));
  CHECK(etag_list_matches("abc", "abc"));  // unquoted, as some clients send it
  CHECK_FALSE(etag_list_matches("", "abc"));
  CHECK_FALSE(etag_list_matches("\"xabcx\"", "abc"));  // the old substring search matched these
  CHECK_FALSE(etag_list_matches("\"ab\"", "abc"));
  CHECK_FALSE(etag_list_matches("\"1-abc\"", "abc"));
  CHECK_FALSE(etag_list_matches("\"abc\"", "1-abc"));
  CHECK_FALSE(etag_list_matches(",,", "abc"));
}

TEST_CASE("gzip_content_encoding: identity, gzip, else 415") {
  CHECK(gzip_content_encoding("").value() == false);
  CHECK(gzip_content_encoding(" identity ").value() == false);
  CHECK(gzip_content_encoding("GZip").value() == true);
  CHECK(gzip_content_encoding("\tgzip").value() == true);
  for (std::string_view other : {"br", "deflate", "gzip, br", "x-gzip"}) {
    auto refused = gzip_content_encoding(other);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Code::kBadContentType);
  }
}

TEST_CASE("control characters; content types written into headers") {
  CHECK(has_control_char("a\r\nb"));
  CHECK(has_control_char(std::string_view("a\0b", 3)));
  CHECK_FALSE(has_control_char("text/plain;\tcharset=utf-8"));  // a tab may be in a field value
  CHECK(has_control_char("\x7f"));
  CHECK_FALSE(has_control_char("text/plain; charset=\"utf-8\" é"));
  CHECK(header_content_type("") == kOctetStream);
  CHECK(header_content_type("text/plain\r\nX-Injected: yes") == kOctetStream);
  CHECK(header_content_type("text/plain") == "text/plain");
  CHECK(trim_ows(" \t a b \t") == "a b");
  CHECK(unquote_etag("W/\"x\"") == "x");
}

}  // namespace
}  // namespace divan::http::server
