// Multipart documents (http-api.md §6.1, §7.4): the gzip decoder, reading a multipart/related PUT
// body, and the shape of multipart answers. End-to-end cases over sockets are in
// tests/integration/test_multipart.py.
#include "engine/attachments.h"
#include "http/multipart/multipart.h"
#include "engine/gzip.h"
#include "http/server/multipart_doc.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

// Decodes `encoded` fed `piece` bytes at a time.
Result<std::string> gunzip(std::string_view encoded, size_t piece) {
  std::string out;
  engine::GzipDecoder decoder([&](std::string_view bytes) -> Result<void> {
    out += bytes;
    return {};
  });
  for (size_t i = 0; i < encoded.size(); i += piece) {
    auto ok = decoder.feed(encoded.substr(i, piece));
    if (!ok) return tl::unexpected(ok.error());
  }
  auto ok = decoder.finish();
  if (!ok) return tl::unexpected(ok.error());
  return out;
}

std::string pseudo_random_bytes(size_t n) {
  std::mt19937 rng(7);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() % 16);  // compressible, but not trivially
  return out;
}

template <typename T>
T run(Task<T> task) {
  boost::asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    out = std::move(value);
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
  REQUIRE(out.has_value());
  return std::move(*out);
}

}  // namespace

TEST_CASE("gzip: decodes whatever the piece size; refuses truncated, corrupt and trailing bytes") {
  const std::string plain = pseudo_random_bytes(300'000);  // several 64 KiB output buffers
  const std::string encoded = gzip(plain);
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, encoded.size()}) {
    if (piece == 1 && encoded.size() > 20'000) continue;  // 1-byte pieces: covered below
    auto decoded = gunzip(encoded, piece);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == plain);
  }
  auto small = gzip("hello, gzip");
  CHECK(gunzip(small, 1).value() == "hello, gzip");
  CHECK_FALSE(gunzip(small.substr(0, small.size() - 3), 64).has_value());
  std::string corrupt = small;
  corrupt[12] ^= 0x5a;
  CHECK_FALSE(gunzip(corrupt, 64).has_value());
  CHECK_FALSE(gunzip(small + "x", 64).has_value());
  CHECK_FALSE(gunzip("not gzip at all", 64).has_value());
}

TEST_CASE("multipart/related PUT body: the JSON part, identity and gzip parts, sent digests") {
  Node node;
  const std::string text = "hello, attachment";
  const std::string big = pseudo_random_bytes(1'500'000);  // past the spool's memory limit
  const std::string big_gz = gzip(big);
  const std::string b = "abc123";
  std::string body = "--" + b + "\r\nContent-Type: application/json\r\n\r\n" +
                     R"({"_id":"d","_attachments":{"a.txt":{"follows":true},"b.bin":{"follows":true}}})" +
                     "\r\n--" + b + "\r\nContent-Type: text/plain\r\n\r\n" + text + "\r\n--" + b +
                     "\r\nContent-Encoding: gzip\r\n\r\n" + big_gz + "\r\n--" + b + "--";
  Request req(raw_request(bhttp::verb::put, "/db/d", body,
                          "multipart/related; boundary=\"" + b + "\""));
  auto doc = run(read_multipart_related(req, node.ctx));
  REQUIRE(doc.has_value());
  CHECK(doc->doc["_id"] == "d");
  REQUIRE(doc->parts.size() == 2);
  CHECK(doc->parts[0].body->length() == text.size());
  CHECK(doc->parts[0].sent_length == text.size());
  CHECK(doc->parts[0].body->digest() == engine::md5_digest(text));
  CHECK(doc->parts[0].sent_digest == engine::md5_digest(text));
  // A gzip part is stored as sent (decoded only to be checked and counted).
  CHECK(doc->parts[1].body->gzip());
  CHECK(doc->parts[1].body->length() == big_gz.size());
  CHECK(doc->parts[1].body->identity_length() == big.size());
  CHECK(doc->parts[1].sent_length == big_gz.size());
  CHECK(doc->parts[1].body->digest() == engine::md5_digest(big_gz));
  CHECK(doc->parts[1].sent_digest == engine::md5_digest(big_gz));
  std::string back(big_gz.size(), '\0');
  CHECK(doc->parts[1].body->read(0, back.data(), back.size()) == big_gz.size());
  CHECK(back == big_gz);
}

TEST_CASE("multipart/related PUT body: malformed bodies are 400, other encodings 415") {
  Node node;
  auto read = [&](std::string body, std::string type = "multipart/related; boundary=B") {
    Request req(raw_request(bhttp::verb::put, "/db/d", std::move(body), type));
    return run(read_multipart_related(req, node.ctx));
  };
  const std::string json = "--B\r\nContent-Type: application/json\r\n\r\n{}\r\n";
  CHECK(read(json + "--B--").has_value());
  CHECK(read(json).error().code == Code::kBadRequest);  // no close delimiter
  CHECK(read("--B--").error().code == Code::kBadRequest);  // no document part
  CHECK(read("--B\r\n\r\n[1]\r\n--B--").error().code == Code::kBadRequest);
  CHECK(read(json + "--B--", "multipart/related").error().code == Code::kBadRequest);
  const std::string follows = "--B\r\nContent-Type: application/json\r\n\r\n"
                              R"({"_attachments":{"a":{"follows":true}}})" "\r\n";
  CHECK(read(follows + "--B\r\nContent-Encoding: br\r\n\r\nxx\r\n--B--").error().code ==
        Code::kBadContentType);
  CHECK(read(follows + "--B\r\nContent-Encoding: gzip\r\n\r\nxx\r\n--B--").error().code ==
        Code::kBadRequest);
  // A part the JSON did not announce is refused as it begins (review: 3,000 unasked parts were
  // spooled and the PUT answered 201).
  auto extra = read(json + "--B\r\n\r\nxx\r\n--B--");
  REQUIRE_FALSE(extra.has_value());
  CHECK(extra.error().reason ==
        "multipart: more attachment parts than `follows` entries in the document");
}

TEST_CASE("multipart/mixed open_revs answer: plain JSON parts and error parts") {
  Node node;
  Request req(raw_request(bhttp::verb::get, "/db/d?open_revs=all"));
  std::vector<FollowsRevision> found;
  found.push_back({R"({"_id":"d","_rev":"1-a"})", {}});
  auto res = run(send_open_revs_multipart(req, *node.db, std::move(found), {"2-b"}));
  REQUIRE(res.result() == bhttp::status::ok);
  auto type = multipart::parse_content_type(res[bhttp::field::content_type]);
  REQUIRE(type.has_value());
  CHECK(type->media_type == "multipart/mixed");
  auto parsed = multipart::parse_all(res.body(), type->boundary);
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 2);
  CHECK(parsed.parts[0].body == R"({"_id":"d","_rev":"1-a"})");
  CHECK(multipart::find_header(parsed.parts[1].headers, "content-type") ==
        "application/json; error=\"true\"");
  CHECK(parsed.parts[1].body == R"({"missing":"2-b"})");
}

}  // namespace divan::http::server::test
