// Attachments through the route table (http-api.md §7): the standalone endpoints (§7.2),
// documents carrying `_attachments` (§6.1, §6.2, §10, §11), without sockets.
#include <doctest/doctest.h>

#include "base/base64.h"
#include "engine/attachments.h"
#include "engine/gzip.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::field;
using bhttp::status;
using bhttp::verb;

Response with_header(Node& node, verb method, std::string_view target, field name,
                     std::string_view value, std::string body = {},
                     std::string_view content_type = "application/json") {
  RawRequest raw = raw_request(method, target, std::move(body), content_type);
  raw.set(name, value);
  return node.run(std::move(raw));
}

Response put_att(Node& node, std::string_view target, std::string bytes,
                 std::string_view type = "text/plain") {
  return node.call(verb::put, target, std::move(bytes), type);
}

std::string rev_of(const Response& res) { return body_json(res)["rev"].get<std::string>(); }

// base64 of the MD5 of "hello" as a text/plain attachment stores it: gzip at CouchDB's level 8.
const std::string kHelloMd5 = engine::md5_digest(engine::gzip_bytes("hello", 8)).substr(4);

TEST_CASE("§7.2 PUT creates the doc, GET returns the bytes with type, ETag and Accept-Ranges") {
  // text/plain: stored gzip, served decoded to a client that does not accept gzip, no ranges.
  Node node;
  Response put = put_att(node, "/db/doc/a.txt", "hello");
  REQUIRE(put.result() == status::created);
  CHECK(rev_of(put).starts_with("1-"));
  CHECK(put[field::location] == "http://localhost:5984/db/doc/a.txt");
  CHECK(put[field::etag] == "\"" + rev_of(put) + "\"");

  Response get = node.get("/db/doc/a.txt");
  CHECK(get.result() == status::ok);
  CHECK(get.body() == "hello");
  CHECK(get[field::content_type] == "text/plain");
  CHECK(get[field::etag] == "\"" + std::string(kHelloMd5) + "\"");
  CHECK(get[field::accept_ranges] == "none");
  CHECK(get[field::content_encoding].empty());

  Json doc = body_json(node.get("/db/doc"));
  CHECK(doc["_attachments"]["a.txt"]["stub"] == true);
  CHECK(doc["_attachments"]["a.txt"]["length"] == 5);
  CHECK(doc["_attachments"]["a.txt"]["revpos"] == 1);
  CHECK(doc["_attachments"]["a.txt"]["digest"] == "md5-" + std::string(kHelloMd5));
  CHECK(doc["_attachments"]["a.txt"]["content_type"] == "text/plain");

  // If-None-Match with the digest: 304.
  Response again = with_header(node, verb::get, "/db/doc/a.txt", field::if_none_match,
                               "\"" + std::string(kHelloMd5) + "\"");
  CHECK(again.result() == status::not_modified);
  CHECK(again.body().empty());
}

TEST_CASE("§7.2 GET: missing doc, rev, attachment; deleted doc") {
  Node node;
  check_error(node.get("/db/nodoc/a"), status::not_found, "not_found", "missing");
  std::string rev1 = rev_of(put_att(node, "/db/doc/a", "x"));
  check_error(node.get("/db/doc/b"), status::not_found, "not_found",
              "Document is missing attachment");
  check_error(node.get("/db/doc/a?rev=1-ffffffffffffffffffffffffffffffff"), status::not_found,
              "not_found", "missing");
  check_error(node.get("/db/doc/a?rev=bad"), status::bad_request, "bad_request",
              "Invalid rev format");
  CHECK(node.get("/db/doc/a?rev=" + rev1).body() == "x");
  REQUIRE(node.call(verb::delete_, "/db/doc?rev=" + rev1).result() == status::ok);
  check_error(node.get("/db/doc/a"), status::not_found, "not_found", "deleted");
}

// GET without ?rev= reads the winner's stubs in one statement (no tree decoded): it must pick the
// same revision the tree does, and ?rev= still reaches a losing leaf.
TEST_CASE("§7.2 GET: the winner's attachment among conflicts; ?rev= reads a losing leaf") {
  Node node;
  const std::string loser = "1-" + std::string(32, 'a');
  const std::string winner = "1-" + std::string(32, 'b');
  Response bulk = node.call(
      verb::post, "/db/_bulk_docs",
      R"({"new_edits":false,"docs":[{"_id":"c","_rev":")" + loser +
          R"(","_attachments":{"a":{"content_type":"text/plain","data":"bG9zZXI="}}},)"
          R"({"_id":"c","_rev":")" + winner +
          R"(","_attachments":{"a":{"content_type":"text/plain","data":"d2lubmVy"}}}]})");
  REQUIRE(bulk.result() == status::created);
  CHECK(node.get("/db/c/a").body() == "winner");
  CHECK(node.get("/db/c/a?rev=" + loser).body() == "loser");
  CHECK(node.get("/db/c/a?rev=" + winner).body() == "winner");
  // The winner deleted: the live loser wins, and its attachment is served.
  Response del = node.call(verb::delete_, "/db/c?rev=" + winner);
  REQUIRE(del.result() == status::ok);
  CHECK(node.get("/db/c/a").body() == "loser");
  // A winner without the attachment: 404 for the name, though a loser has it.
  Response edit = node.call(verb::put, "/db/c?rev=" + loser, R"({"v":2})");
  REQUIRE(edit.result() == status::created);
  check_error(node.get("/db/c/a"), status::not_found, "not_found",
              "Document is missing attachment");
}

TEST_CASE("§7.2 Range: one range 206, several multipart/byteranges, 416, bytes=0- is 200") {
  Node node;
  REQUIRE(put_att(node, "/db/doc/r.bin", "0123456789", "application/x-test").result() ==
          status::created);
  Response one = with_header(node, verb::get, "/db/doc/r.bin", field::range, "bytes=2-4");
  CHECK(one.result() == status::partial_content);
  CHECK(one.body() == "234");
  CHECK(one[field::content_range] == "bytes 2-4/10");

  Response suffix = with_header(node, verb::get, "/db/doc/r.bin", field::range, "bytes=-3");
  CHECK(suffix.result() == status::partial_content);
  CHECK(suffix.body() == "789");

  Response whole = with_header(node, verb::get, "/db/doc/r.bin", field::range, "bytes=0-");
  CHECK(whole.result() == status::ok);
  CHECK(whole.body() == "0123456789");

  Response bad = with_header(node, verb::get, "/db/doc/r.bin", field::range, "bytes=20-");
  check_error(bad, status::range_not_satisfiable, "requested_range_not_satisfiable",
              "Requested range not satisfiable");

  Response many = with_header(node, verb::get, "/db/doc/r.bin", field::range, "bytes=0-1,8-");
  CHECK(many.result() == status::partial_content);
  std::string type(many[field::content_type]);
  REQUIRE(type.starts_with("multipart/byteranges; boundary=\""));
  std::string boundary = type.substr(type.find('"') + 1);
  boundary.pop_back();
  CHECK(many.body() == "--" + boundary +
                           "\r\nContent-Type: application/x-test\r\nContent-Range: bytes "
                           "0-1/10\r\n\r\n01\r\n--" +
                           boundary +
                           "\r\nContent-Type: application/x-test\r\nContent-Range: bytes "
                           "8-9/10\r\n\r\n89\r\n--" +
                           boundary + "--");

  // Ten ranges or more: the whole body.
  Response ten = with_header(node, verb::get, "/db/doc/r.bin", field::range,
                             "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9");
  CHECK(ten.result() == status::ok);
  CHECK(ten.body() == "0123456789");
}

TEST_CASE("§7.2 PUT with rev keeps the other attachments and the body; no rev on a live doc 409") {
  Node node;
  Response created =
      node.call(verb::put, "/db/doc", R"({"v":1,"_attachments":{"a":{"data":"aGVsbG8="}}})");
  REQUIRE(created.result() == status::created);
  std::string rev1 = rev_of(created);

  check_error(put_att(node, "/db/doc/b", "bee"), status::conflict, "conflict",
              "Document update conflict.");
  Response second = put_att(node, "/db/doc/b?rev=" + rev1, "bee");
  REQUIRE(second.result() == status::created);
  std::string rev2 = rev_of(second);
  CHECK(rev2.starts_with("2-"));

  Json doc = body_json(node.get("/db/doc"));
  CHECK(doc["v"] == 1);
  CHECK(doc["_attachments"]["a"]["revpos"] == 1);
  CHECK(doc["_attachments"]["b"]["revpos"] == 2);
  CHECK(node.get("/db/doc/a").body() == "hello");
  CHECK(node.get("/db/doc/b").body() == "bee");

  // Stale rev: 409. Unknown rev: 404.
  check_error(put_att(node, "/db/doc/c?rev=" + rev1, "c"), status::conflict, "conflict",
              "Document update conflict.");
  check_error(put_att(node, "/db/doc/c?rev=1-ffffffffffffffffffffffffffffffff", "c"),
              status::not_found, "not_found", "missing");
  // If-Match supplies the rev.
  Response if_match = with_header(node, verb::put, "/db/doc/c", field::if_match,
                                  "\"" + rev2 + "\"", "c", "text/plain");
  CHECK(if_match.result() == status::created);
}

TEST_CASE("§7.2 PUT: names, encodings") {
  Node node;
  check_error(put_att(node, "/db/doc/_x", "x"), status::bad_request, "bad_request",
              "Attachment name '_x' starts with prohibited character '_'");
  check_error(with_header(node, verb::put, "/db/doc/a", field::content_encoding, "deflate", "x",
                          "text/plain"),
              status::unsupported_media_type, "bad_content_type",
              "Only gzip and identity content-encodings are supported");
  Response gz = with_header(node, verb::put, "/db/doc/z.txt", field::content_encoding, "gzip",
                            gzip("squeezed"), "text/plain");
  REQUIRE(gz.result() == status::created);
  CHECK(node.get("/db/doc/z.txt").body() == "squeezed");
  Response corrupt = with_header(node, verb::put, "/db/doc2/z.txt", field::content_encoding,
                                "gzip", "not gzip at all", "text/plain");
  CHECK(corrupt.result() == status::bad_request);
  CHECK(body_json(corrupt)["error"] == "bad_request");
  // No Content-Type: application/octet-stream.
  Response untyped = node.call(verb::put, "/db/doc3/raw", "bytes", "");
  REQUIRE(untyped.result() == status::created);
  CHECK(node.get("/db/doc3/raw")[field::content_type] == "application/octet-stream");
  // A slash in the name, in a design doc; %2F and '/' name the same attachment.
  REQUIRE(put_att(node, "/db/_design/d/dir/f.txt", "in a dir").result() == status::created);
  CHECK(node.get("/db/_design/d/dir%2Ff.txt").body() == "in a dir");
  Json ddoc = body_json(node.get("/db/_design/d"));
  CHECK(ddoc["_attachments"].contains("dir/f.txt"));
  // _local docs have none.
  check_error(node.get("/db/_local/x/y"), status::bad_request, "bad_request",
              "_local documents do not accept attachments.");
}

TEST_CASE("§7.2 DELETE: presence first, then the rev") {
  Node node;
  std::string rev1 = rev_of(node.call(
      verb::put, "/db/doc", R"({"_attachments":{"a":{"data":"YQ=="},"b":{"data":"Yg=="}}})"));
  std::string rev2 = rev_of(put_att(node, "/db/doc/c?rev=" + rev1, "c"));
  check_error(node.call(verb::delete_, "/db/doc/zzz?rev=" + rev2), status::not_found, "not_found",
              "Document is missing attachment");
  check_error(node.call(verb::delete_, "/db/doc/a"), status::conflict, "conflict",
              "Document update conflict.");
  check_error(node.call(verb::delete_, "/db/doc/a?rev=" + rev1), status::conflict, "conflict",
              "Document update conflict.");
  // A stale rev's body is kept until compaction, so presence is checked there first (CouchDB
  // opens that revision): `c` is not in rev1.
  check_error(node.call(verb::delete_, "/db/doc/c?rev=" + rev1), status::not_found, "not_found",
              "Document is missing attachment");
  check_error(node.call(verb::delete_, "/db/nodoc/a"), status::not_found, "not_found", "missing");
  Response deleted = node.call(verb::delete_, "/db/doc/a?rev=" + rev2);
  REQUIRE(deleted.result() == status::ok);
  CHECK(rev_of(deleted).starts_with("3-"));
  Json doc = body_json(node.get("/db/doc"));
  CHECK_FALSE(doc["_attachments"].contains("a"));
  CHECK(doc["_attachments"].contains("b"));
  CHECK(doc["_attachments"].contains("c"));
  check_error(node.get("/db/doc/a"), status::not_found, "not_found",
              "Document is missing attachment");
}

TEST_CASE("§6.1 GET attachments=true / atts_since inline data for a JSON client") {
  Node node;
  std::string rev1 = rev_of(
      node.call(verb::put, "/db/doc", R"({"v":1,"_attachments":{"a":{"data":"aGVsbG8="}}})"));
  std::string rev2 = rev_of(put_att(node, "/db/doc/b?rev=" + rev1, "bee"));
  Json inlined = body_json(with_header(node, verb::get, "/db/doc?attachments=true", field::accept,
                                       "application/json"));
  CHECK(inlined["_attachments"]["a"]["data"] == "aGVsbG8=");
  CHECK(inlined["_attachments"]["b"]["data"] == base64_encode("bee"));
  CHECK_FALSE(inlined["_attachments"]["a"].contains("stub"));

  Json since = body_json(with_header(node, verb::get,
                                     "/db/doc?atts_since=" + qs("[\"" + rev1 + "\"]"),
                                     field::accept, "application/json"));
  CHECK(since["_attachments"]["a"]["stub"] == true);
  CHECK(since["_attachments"]["b"]["data"] == base64_encode("bee"));

  check_error(node.get("/db/doc?atts_since=" + qs("[\"bad\"]")), status::bad_request,
              "bad_request", "Invalid rev format");
  // Without attachments=true: stubs.
  CHECK(body_json(node.get("/db/doc"))["_attachments"]["a"]["stub"] == true);
  // open_revs in JSON form honours attachments=true.
  Json revs = body_json(with_header(node, verb::get,
                                    "/db/doc?attachments=true&open_revs=" +
                                        qs("[\"" + rev2 + "\"]"),
                                    field::accept, "application/json"));
  CHECK(revs[0]["ok"]["_attachments"]["b"]["data"] == base64_encode("bee"));
}

TEST_CASE("§10 _bulk_docs: inline attachments; an unresolvable stub fails the request 412") {
  Node node;
  Response ok = node.post("/db/_bulk_docs",
                          R"({"docs":[{"_id":"a","_attachments":{"x":{"data":"eHg="}}}]})");
  REQUIRE(ok.result() == status::created);
  CHECK(node.get("/db/a/x").body() == "xx");
  Response stub = node.post(
      "/db/_bulk_docs",
      R"({"docs":[{"_id":"b","_attachments":{"y":{"stub":true}}}]})");
  CHECK(stub.result() == status::precondition_failed);
  CHECK(body_json(stub)["error"] == "missing_stub");
}

TEST_CASE("§11 _bulk_get: attachments=true inlines, per-entry atts_since") {
  Node node;
  std::string rev1 = rev_of(
      node.call(verb::put, "/db/doc", R"({"_attachments":{"a":{"data":"aGVsbG8="}}})"));
  std::string rev2 = rev_of(put_att(node, "/db/doc/b?rev=" + rev1, "bee"));
  Json all = body_json(node.post("/db/_bulk_get?attachments=true", R"({"docs":[{"id":"doc"}]})"));
  Json atts = all["results"][0]["docs"][0]["ok"]["_attachments"];
  CHECK(atts["a"]["data"] == "aGVsbG8=");
  CHECK(atts["b"]["data"] == base64_encode("bee"));

  Json since = body_json(node.post(
      "/db/_bulk_get", R"({"docs":[{"id":"doc","atts_since":[")" + rev1 + R"("]}]})"));
  atts = since["results"][0]["docs"][0]["ok"]["_attachments"];
  CHECK(atts["a"]["stub"] == true);
  CHECK(atts["b"]["data"] == base64_encode("bee"));

  Json plain = body_json(node.post("/db/_bulk_get", R"({"docs":[{"id":"doc"}]})"));
  CHECK(plain["results"][0]["docs"][0]["ok"]["_attachments"]["b"]["stub"] == true);
}

TEST_CASE("§9 _all_docs include_docs&attachments=true inlines") {
  Node node;
  REQUIRE(node.call(verb::put, "/db/doc", R"({"_attachments":{"a":{"data":"aGVsbG8="}}})")
              .result() == status::created);
  Json rows = body_json(node.get("/db/_all_docs?include_docs=true&attachments=true"));
  CHECK(rows["rows"][0]["doc"]["_attachments"]["a"]["data"] == "aGVsbG8=");
  Json keys = body_json(
      node.get("/db/_all_docs?include_docs=true&attachments=true&keys=" + qs(R"(["doc"])")));
  CHECK(keys["rows"][0]["doc"]["_attachments"]["a"]["data"] == "aGVsbG8=");
  Json stubs = body_json(node.get("/db/_all_docs?include_docs=true"));
  CHECK(stubs["rows"][0]["doc"]["_attachments"]["a"]["stub"] == true);
}

// ---- Regressions from the attachments review ----

std::string multipart_body(std::string_view boundary, std::string_view json,
                           std::initializer_list<std::pair<std::string, std::string>> parts) {
  std::string b(boundary);
  std::string body = "--" + b + "\r\nContent-Type: application/json\r\n\r\n" + std::string(json);
  for (const auto& [headers, bytes] : parts) body += "\r\n--" + b + "\r\n" + headers + "\r\n" + bytes;
  return body + "\r\n--" + b + "--";
}

TEST_CASE("header injection: control characters in content types and names are refused (400)") {
  Node node;
  // The standalone PUT's Content-Type.
  check_error(put_att(node, "/db/doc/a.txt", "x", "text/plain\r\nX-Injected: yes"),
              status::bad_request, "bad_request",
              "Attachment content_type must not contain control characters");
  // A name from the path (percent-decoded), PUT and DELETE alike.
  Response crlf = put_att(node, "/db/doc/a%0D%0AX-Injected:%20yes", "x");
  CHECK(crlf.result() == status::bad_request);
  CHECK(body_json(crlf)["reason"].get<std::string>().starts_with("Attachment name "));
  CHECK(node.call(verb::delete_, "/db/doc/a%0A?rev=1-abc").result() == status::bad_request);
  // JSON `_attachments`, through PUT and _bulk_docs.
  Response json = node.call(
      verb::put, "/db/d2",
      R"({"_attachments":{"a":{"content_type":"text/plain\r\nX-Injected: yes","data":"eA=="}}})");
  CHECK(json.result() == status::bad_request);
  Response bulk = node.post("/db/_bulk_docs",
                            R"({"docs":[{"_id":"d3","_attachments":{"a\nb":{"data":"eA=="}}}]})");
  CHECK(bulk.result() == status::bad_request);
  CHECK(body_json(bulk)["reason"].get<std::string>().starts_with("Attachment name "));
  // A multipart/related PUT: the JSON part names and types the parts.
  Response related = node.call(
      verb::put, "/db/d4",
      multipart_body("B", R"({"_attachments":{"a":{"follows":true,"content_type":"a\r\nb: c"}}})",
                     {{"", "xx"}}),
      "multipart/related; boundary=B");
  CHECK(related.result() == status::bad_request);
  CHECK(node.get("/db/d4").result() == status::not_found);
}

TEST_CASE("an empty Content-Type is stored as application/octet-stream") {
  Node node;
  REQUIRE(node.call(verb::put, "/db/doc/raw", "bytes", "").result() == status::created);
  Json doc = body_json(node.get("/db/doc"));
  CHECK(doc["_attachments"]["raw"]["content_type"] == "application/octet-stream");
}

TEST_CASE("max_attachment_size counts decoded bytes: a small gzip upload cannot inflate past it") {
  Node node;
  node.ctx.max_attachment_size = 1 << 20;
  const std::string zeros(3 << 20, '\0');
  const std::string bomb = gzip(zeros);
  REQUIRE(bomb.size() < 20'000);
  check_error(with_header(node, verb::put, "/db/doc/z", field::content_encoding, "gzip", bomb,
                          "application/octet-stream"),
              status::payload_too_large, "too_large",
              "Attachment data exceeds the server's max_attachment_size");
  CHECK(node.get("/db/doc").result() == status::not_found);
  // Identity bytes count the same; at the limit is fine.
  CHECK(put_att(node, "/db/doc/big", std::string((1 << 20) + 1, 'x')).result() ==
        status::payload_too_large);
  CHECK(put_att(node, "/db/doc/fits", std::string(1 << 20, 'x')).result() == status::created);

  // multipart/related: one budget for the whole request, gzip parts decoded.
  Response part = node.call(
      verb::put, "/db/mp1",
      multipart_body("B", R"({"_attachments":{"a":{"follows":true}}})",
                     {{"Content-Encoding: gzip\r\n", bomb}}),
      "multipart/related; boundary=B");
  CHECK(part.result() == status::payload_too_large);
  const std::string half((600 << 10), 'y');
  Response two = node.call(
      verb::put, "/db/mp2",
      multipart_body("B", R"({"_attachments":{"a":{"follows":true},"b":{"follows":true}}})",
                     {{"", half}, {"", half}}),
      "multipart/related; boundary=B");
  CHECK(two.result() == status::payload_too_large);
}

TEST_CASE("multipart/related PUT: a part beyond the `follows` entries is 400, not spooled") {
  Node node;
  Response extra = node.call(
      verb::put, "/db/d",
      multipart_body("B", R"({"_attachments":{"a":{"follows":true}}})",
                     {{"", "aa"}, {"Content-Encoding: gzip\r\n", gzip("extra")}}),
      "multipart/related; boundary=B");
  check_error(extra, status::bad_request, "bad_request",
              "multipart: more attachment parts than `follows` entries in the document");
  Response none = node.call(verb::put, "/db/d", multipart_body("B", R"({"x":1})", {{"", "aa"}}),
                            "multipart/related; boundary=B");
  CHECK(none.result() == status::bad_request);
  Response exact = node.call(
      verb::put, "/db/d",
      multipart_body("B", R"({"_attachments":{"a":{"follows":true}}})", {{"", "aa"}}),
      "multipart/related; boundary=B");
  CHECK(exact.result() == status::created);
}

TEST_CASE("multipart/related is recognised by its media type alone, as the router does") {
  Node node;
  const std::string body =
      multipart_body("BB", R"({"_attachments":{"a":{"follows":true}}})", {{"", "aa"}});
  Response tab = node.call(verb::put, "/db/d", body, "multipart/related\t; boundary=BB");
  CHECK(tab.result() == status::created);
  CHECK(node.get("/db/d/a").body() == "aa");
  CHECK(streams_request_body(
      raw_request(verb::put, "/db/d", "x", "multipart/related\t; boundary=BB").base()));
  // No boundary: still multipart by its type, so a 400 about the type, not a JSON parse error.
  check_error(node.call(verb::put, "/db/e", body, "Multipart/Related"), status::bad_request,
              "bad_request", "Invalid multipart/related Content-Type");
}

TEST_CASE("_local documents sent as multipart/related are 400, not stored without attachments") {
  Node node;
  const std::string body =
      multipart_body("B", R"({"_attachments":{"a":{"follows":true}}})", {{"", "aa"}});
  check_error(node.call(verb::put, "/db/_local/l", body, "multipart/related; boundary=B"),
              status::bad_request, "bad_request", "_local documents do not accept attachments.");
  CHECK(node.get("/db/_local/l").result() == status::not_found);
}

TEST_CASE("If-None-Match is a list of entity tags, not a substring search") {
  Node node;
  put_att(node, "/db/doc/a.txt", "hello");
  const std::string etag = "\"" + std::string(kHelloMd5) + "\"";
  auto get = [&](std::string_view if_none_match) {
    return with_header(node, verb::get, "/db/doc/a.txt", field::if_none_match, if_none_match);
  };
  CHECK(get(etag).result() == status::not_modified);
  CHECK(get("\"other\", W/" + etag).result() == status::not_modified);
  CHECK(get("*").result() == status::not_modified);
  CHECK(get("\"x" + std::string(kHelloMd5) + "x\"").result() == status::ok);
  CHECK(get(std::string(kHelloMd5).substr(0, 8)).result() == status::ok);

  // The document GET reads the header the same way.
  std::string rev = rev_of(node.call(verb::put, "/db/d", "{}"));
  auto get_doc = [&](std::string_view if_none_match) {
    return with_header(node, verb::get, "/db/d", field::if_none_match, if_none_match);
  };
  CHECK(get_doc("\"" + rev + "\"").result() == status::not_modified);
  CHECK(get_doc("\"a\", \"" + rev + "\"").result() == status::not_modified);
  CHECK(get_doc("\"" + rev + "0\"").result() == status::ok);
  CHECK(get_doc("\"" + rev.substr(2) + "\"").result() == status::ok);
}

// A stub against a deleted winner's attachment: the PUT resolves it (201), and _bulk_docs now
// judges by the writer's own rule (Snapshot::check_stubs) instead of a drifted copy (was 412).
TEST_CASE("_bulk_docs judges stubs as the writer does (a deleted winner's attachment)") {
  Node node;
  for (const char* id : {"p", "b"}) {
    std::string rev1 = rev_of(node.call(verb::put, std::string("/db/") + id,
                                        R"({"_attachments":{"a":{"data":"eHg="}}})"));
    Response del = node.call(verb::put, std::string("/db/") + id,
                             R"({"_rev":")" + rev1 +
                                 R"(","_deleted":true,"_attachments":{"a":{"stub":true}}})");
    REQUIRE(del.result() == status::ok);
  }
  Response put = node.call(verb::put, "/db/p", R"({"_attachments":{"a":{"stub":true}}})");
  Response bulk = node.post("/db/_bulk_docs",
                            R"({"docs":[{"_id":"b","_attachments":{"a":{"stub":true}}}]})");
  CHECK(put.result() == status::created);
  CHECK(bulk.result() == status::created);
  CHECK(body_json(bulk)[0]["ok"] == true);
  CHECK(body_json(put)["rev"] == body_json(bulk)[0]["rev"]);
}

}  // namespace
}  // namespace divan::http::server::test

namespace divan::http::server::test {
namespace {

// Restores the node-wide compression setting when a test that changed it ends.
struct CompressionSetting {
  engine::AttachmentCompression saved = engine::attachment_compression();
  explicit CompressionSetting(engine::AttachmentCompression c) {
    engine::set_attachment_compression(std::move(c));
  }
  ~CompressionSetting() { engine::set_attachment_compression(saved); }
};

TEST_CASE("a text attachment stored identity (a database from before gzip storage) reads as before") {
  Node node;
  std::string rev;
  {
    // Compression off, as every Divan was before: text/plain is stored as it came.
    CompressionSetting off({engine::AttachmentCompression().types, 0});
    Response put = put_att(node, "/db/doc/old.txt", "hello, old world");
    REQUIRE(put.result() == status::created);
    rev = rev_of(put);
  }
  const std::string md5 = engine::md5_digest("hello, old world");
  Json stub = body_json(node.get("/db/doc?att_encoding_info=true"))["_attachments"]["old.txt"];
  CHECK(stub["digest"] == md5);
  CHECK_FALSE(stub.contains("encoding"));
  // Identity served whatever the client accepts, ranges still answered.
  Response gz = with_header(node, verb::get, "/db/doc/old.txt", field::accept_encoding, "gzip");
  CHECK(gz.body() == "hello, old world");
  CHECK(gz[field::content_encoding].empty());
  CHECK(gz[field::accept_ranges] == "bytes");
  Response part = with_header(node, verb::get, "/db/doc/old.txt", field::range, "bytes=0-4");
  CHECK(part.result() == status::partial_content);
  CHECK(part.body() == "hello");
  // A new revision keeps it as a stub, stored as it was; a new text attachment beside it is gzip.
  Response next = put_att(node, "/db/doc/new.txt?rev=" + rev, "hello, new world");
  REQUIRE(next.result() == status::created);
  Json atts = body_json(node.get("/db/doc?att_encoding_info=true"))["_attachments"];
  CHECK(atts["old.txt"]["digest"] == md5);
  CHECK_FALSE(atts["old.txt"].contains("encoding"));
  CHECK(atts["new.txt"]["encoding"] == "gzip");
  CHECK(atts["new.txt"]["digest"] == engine::md5_digest(engine::gzip_bytes("hello, new world", 8)));
}

}  // namespace
}  // namespace divan::http::server::test
