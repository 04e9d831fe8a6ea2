// decode_body: the codings, their failures and the size limit, without sockets.
#include <string>

#include <doctest/doctest.h>

#include "client_test_util.h"
#include "http/client/content_coding.h"

namespace divan::http::client::test {
namespace {

using detail::decode_body;
using detail::DecodeError;

TEST_CASE("decode_body: identity and absent codings leave the body alone") {
  for (const char* coding : {"", "identity", " identity , ", "IDENTITY"}) {
    CAPTURE(coding);
    std::string body = "as is";
    CHECK(detail::is_identity(coding));
    REQUIRE(decode_body(coding, body, 100));
    CHECK(body == "as is");
  }
  CHECK_FALSE(detail::is_identity("gzip"));
}

TEST_CASE("decode_body: gzip, case-insensitive, several members, and stacked codings") {
  std::string body = gzip("hello ");
  REQUIRE(decode_body("GZip", body, 100));
  CHECK(body == "hello ");

  body = gzip("hello ") + gzip("world");  // RFC 1952 §2.2: members concatenate
  REQUIRE(decode_body("gzip", body, 100));
  CHECK(body == "hello world");

  body = gzip(zlib_deflate("twice"));  // applied deflate then gzip: undone in reverse
  REQUIRE(decode_body("deflate, gzip", body, 100));
  CHECK(body == "twice");
}

TEST_CASE("decode_body: empty input of a real coding is corrupt") {
  std::string body;
  auto result = decode_body("gzip", body, 100);
  REQUIRE_FALSE(result);
  CHECK(result.error() == DecodeError::kCorrupt);
}

TEST_CASE("decode_body: truncated, trailing garbage and unknown codings fail") {
  const std::string whole = gzip(std::string(10000, 'z') + "end");
  std::string truncated = whole.substr(0, whole.size() - 5);
  auto result = decode_body("gzip", truncated, 1 << 20);
  REQUIRE_FALSE(result);
  CHECK(result.error() == DecodeError::kCorrupt);

  std::string trailing = zlib_deflate("abc") + "junk";
  result = decode_body("deflate", trailing, 100);
  REQUIRE_FALSE(result);
  CHECK(result.error() == DecodeError::kCorrupt);

  std::string brotli = "whatever";
  result = decode_body("br", brotli, 100);
  REQUIRE_FALSE(result);
  CHECK(result.error() == DecodeError::kUnsupported);
}

TEST_CASE("decode_body: the limit counts decoded bytes, at every step") {
  const std::string data(100000, 'q');
  std::string body = gzip(data);
  REQUIRE(decode_body("gzip", body, data.size()));  // exactly the limit is fine
  CHECK(body == data);
  body = gzip(data);
  auto result = decode_body("gzip", body, data.size() - 1);
  REQUIRE_FALSE(result);
  CHECK(result.error() == DecodeError::kTooLarge);
}

}  // namespace
}  // namespace divan::http::client::test
