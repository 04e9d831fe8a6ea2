// http/multipart: Content-Type parsing, the push parser under every chunking, limits and errors,
// and the writer helpers.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "http/multipart/multipart.h"

namespace mp = divan::multipart;
using namespace std::string_literals;

namespace {

// Records events as strings, merging adjacent data pieces (the parser may split data anywhere).
class Recorder : public mp::MultipartHandler {
 public:
  std::vector<std::string> events;

  void on_part_begin(const mp::Headers& headers) override {
    std::string e = "begin";
    for (const auto& h : headers) e += " [" + h.name + ": " + h.value + "]";
    events.push_back(e);
  }
  void on_part_data(std::string_view data) override {
    CHECK(!data.empty());
    if (events.empty() || !events.back().starts_with("data ")) events.push_back("data ");
    events.back().append(data);
  }
  void on_part_end() override { events.push_back("end"); }
  void on_body_end() override { events.push_back("body end"); }
};

// Feeds `body` in pieces of at most `step` bytes (0: all at once) and returns the events, ending
// with "error: <reason>" or "ok".
std::vector<std::string> run(std::string_view body, std::string_view boundary, size_t step = 0,
                             mp::Limits limits = {}) {
  Recorder r;
  mp::MultipartParser parser(std::string(boundary), r, limits);
  if (step == 0) step = body.size() + 1;
  for (size_t i = 0; i < body.size(); i += step) parser.feed(body.substr(i, step));
  parser.finish();
  r.events.push_back(parser.failed() ? "error: " + std::string(parser.error()) : "ok");
  return r.events;
}

// Same, split once at `at`.
std::vector<std::string> run_split(std::string_view body, std::string_view boundary, size_t at) {
  Recorder r;
  mp::MultipartParser parser(std::string(boundary), r);
  parser.feed(body.substr(0, at));
  parser.feed(body.substr(at));
  parser.finish();
  r.events.push_back(parser.failed() ? "error: " + std::string(parser.error()) : "ok");
  return r.events;
}

// Every two-piece split and every small step gives the same events as one feed.
void check_every_chunking(std::string_view body, std::string_view boundary) {
  auto whole = run(body, boundary);
  for (size_t at = 0; at <= body.size(); ++at) {
    INFO("split at " << at);
    CHECK(run_split(body, boundary, at) == whole);
  }
  for (size_t step = 1; step <= 7; ++step) {
    INFO("step " << step);
    CHECK(run(body, boundary, step) == whole);
  }
}

// Attachment bytes with CR, LF, dashes, NULs and high bytes, as gzip output might hold.
const std::string kBinary = "\x1f\x8b\x08\x00\r\n--\r\n-\0\xff\xfe\r\r\n\n--abc-"s;

std::string replicator_body() {
  std::string json =
      R"({"_id":"d","_rev":"7-c0ffee","_revisions":{"start":7,"ids":["c0ffee"]},)"
      R"("_attachments":{"a.txt":{"follows":true,"content_type":"text/plain","length":21,)"
      R"("revpos":7,"digest":"md5-x"},"b.gz":{"follows":true,"content_type":"text/plain",)"
      R"("encoding":"gzip","encoded_length":20,"length":40,"revpos":7}}})";
  return "--abc\r\nContent-Type: application/json\r\n\r\n" + json +
         "\r\n--abc\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n"
         "Content-Type: text/plain\r\nContent-Length: 21\r\n\r\n"
         "hello, attachment one"
         "\r\n--abc\r\nContent-Disposition: attachment; filename=\"b.gz\"\r\n"
         "Content-Type: text/plain\r\nContent-Length: 20\r\nContent-Encoding: gzip\r\n\r\n" +
         kBinary + "\r\n--abc--";
}

}  // namespace

TEST_CASE("parse_content_type: quoted, token, charset, case, missing boundary") {
  auto quoted = mp::parse_content_type(R"(multipart/related; boundary="abc def")");
  REQUIRE(quoted);
  CHECK(quoted->media_type == "multipart/related");
  CHECK(quoted->boundary == "abc def");
  CHECK(quoted->is_multipart());

  auto token = mp::parse_content_type("multipart/mixed;boundary=e1a8c0b2");
  REQUIRE(token);
  CHECK(token->media_type == "multipart/mixed");
  CHECK(token->boundary == "e1a8c0b2");

  auto upper = mp::parse_content_type("  MULTIPART/Related ; Boundary = XyZ ; charset=UTF-8 ");
  REQUIRE(upper);
  CHECK(upper->media_type == "multipart/related");
  CHECK(upper->boundary == "XyZ");  // the value keeps its case
  CHECK(upper->parameter("CHARSET") == "UTF-8");

  auto json = mp::parse_content_type("application/json; charset=utf-8");
  REQUIRE(json);
  CHECK(json->media_type == "application/json");
  CHECK(!json->is_multipart());
  CHECK(json->boundary.empty());
  CHECK(json->parameter("charset") == "utf-8");

  auto error_part = mp::parse_content_type(R"(application/json; error="true")");
  REQUIRE(error_part);
  CHECK(error_part->parameter("error") == "true");

  auto escaped = mp::parse_content_type(R"(multipart/related; boundary="a\"b\\c")");
  REQUIRE(escaped);
  CHECK(escaped->boundary == R"(a"b\c)");

  // Unquoted boundaries with '=' or '/' are accepted, as senders use them.
  auto lenient = mp::parse_content_type("multipart/form-data; boundary=----=_Part_0/1");
  REQUIRE(lenient);
  CHECK(lenient->boundary == "----=_Part_0/1");

  CHECK(mp::parse_content_type("text/plain;")->media_type == "text/plain");

  CHECK_FALSE(mp::parse_content_type("multipart/related"));
  CHECK_FALSE(mp::parse_content_type("multipart/related; charset=utf-8"));
  CHECK_FALSE(mp::parse_content_type(R"(multipart/related; boundary="")"));
  CHECK_FALSE(mp::parse_content_type("multipart/related; boundary=" + std::string(71, 'a')));
  CHECK(mp::parse_content_type("multipart/related; boundary=" + std::string(70, 'a')));
  CHECK_FALSE(mp::parse_content_type(R"(multipart/related; boundary="abc )"));  // unterminated
  CHECK_FALSE(mp::parse_content_type(R"(multipart/related; boundary="ab ")"));  // trailing space
  CHECK_FALSE(mp::parse_content_type(""));
  CHECK_FALSE(mp::parse_content_type("text"));
  CHECK_FALSE(mp::parse_content_type("text/"));
  CHECK_FALSE(mp::parse_content_type("text/plain junk"));
  CHECK_FALSE(mp::parse_content_type("text/plain; charset"));
  CHECK_FALSE(mp::parse_content_type("text/plain; charset="));
}

TEST_CASE("find_header is case-insensitive and returns the first match") {
  mp::Headers h{{"Content-Type", "text/plain"}, {"X-A", "1"}, {"x-a", "2"}};
  CHECK(mp::find_header(h, "content-TYPE") == "text/plain");
  CHECK(mp::find_header(h, "X-a") == "1");
  CHECK_FALSE(mp::find_header(h, "Content-Length"));
}

TEST_CASE("a CouchDB-replicator multipart/related PUT body") {
  std::string body = replicator_body();
  auto parsed = mp::parse_all(body, "abc");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 3);
  CHECK(mp::find_header(parsed.parts[0].headers, "content-type") == "application/json");
  CHECK(parsed.parts[0].body.starts_with(R"({"_id":"d")"));
  CHECK(parsed.parts[0].body.ends_with("}}}"));
  CHECK(mp::find_header(parsed.parts[1].headers, "Content-Disposition") ==
        R"(attachment; filename="a.txt")");
  CHECK(mp::find_header(parsed.parts[1].headers, "Content-Length") == "21");
  CHECK(parsed.parts[1].body == "hello, attachment one");
  CHECK(mp::find_header(parsed.parts[2].headers, "Content-Encoding") == "gzip");
  CHECK(parsed.parts[2].body == kBinary);

  check_every_chunking(body, "abc");
}

TEST_CASE("an open_revs multipart/mixed body with a nested multipart/related part") {
  std::string inner =
      "--B2\r\nContent-Type: application/json\r\n\r\n"
      R"({"_id":"d","_rev":"2-b","_attachments":{"a.txt":{"follows":true,"length":12}}})"
      "\r\n--B2\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n"
      "Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello--B\r\n!"
      "\r\n--B2--";
  std::string body =
      "--B\r\nContent-Type: application/json\r\n\r\n"
      R"({"_id":"d","_rev":"1-a"})"
      "\r\n--B\r\nContent-Type: multipart/related; boundary=\"B2\"\r\n\r\n" +
      inner +
      "\r\n--B\r\nContent-Type: application/json; error=\"true\"\r\n\r\n"
      R"({"missing":"3-6bcedf1"})"
      "\r\n--B--";

  // The outer boundary "B" is a prefix of the inner "B2": "--B2" is data to the outer parser.
  auto outer = mp::parse_all(body, "B");
  REQUIRE(outer.ok());
  REQUIRE(outer.parts.size() == 3);
  CHECK(outer.parts[0].body == R"({"_id":"d","_rev":"1-a"})");
  CHECK(outer.parts[2].body == R"({"missing":"3-6bcedf1"})");
  auto missing_type = mp::parse_content_type(*mp::find_header(outer.parts[2].headers, "Content-Type"));
  REQUIRE(missing_type);
  CHECK(missing_type->parameter("error") == "true");

  auto nested_type = mp::parse_content_type(*mp::find_header(outer.parts[1].headers, "content-type"));
  REQUIRE(nested_type);
  CHECK(nested_type->media_type == "multipart/related");
  CHECK(nested_type->boundary == "B2");
  CHECK(outer.parts[1].body == inner);

  auto nested = mp::parse_all(outer.parts[1].body, nested_type->boundary);
  REQUIRE(nested.ok());
  REQUIRE(nested.parts.size() == 2);
  CHECK(nested.parts[0].body.starts_with(R"({"_id":"d","_rev":"2-b")"));
  CHECK(nested.parts[1].body == "hello--B\r\n!");
  CHECK(mp::find_header(nested.parts[1].headers, "Content-Length") == "12");

  check_every_chunking(body, "B");
  check_every_chunking(inner, "B2");
}

TEST_CASE("every chunking gives the same events") {
  std::string body =
      "preamble\r\n--xy\r\nA: 1\r\n\r\nfirst\r\n\r\n--x\r\n--xy \t\r\nB:2\r\n\r\n\r\r\n--xy--\r\nepilogue";
  auto whole = run(body, "xy");
  CHECK(whole == std::vector<std::string>{"begin [A: 1]", "data first\r\n\r\n--x", "end",
                                          "begin [B: 2]", "data \r", "end", "body end", "ok"});
  check_every_chunking(body, "xy");
  check_every_chunking(replicator_body(), "abc");
}

TEST_CASE("boundary-like text inside data is data") {
  std::string body =
      "--B\r\n\r\n"
      "x--B y\r\n"   // not at a line start
      "--Bx\r\n"     // followed by a letter
      "--B-x\r\n"    // one dash only
      "\r\n-B\r\n"   // one dash before B
      "\n--Cat\r"    // another boundary
      "\r\n--B--";
  auto parsed = mp::parse_all(body, "B");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 1);
  CHECK(parsed.parts[0].headers.empty());
  CHECK(parsed.parts[0].body == "x--B y\r\n--Bx\r\n--B-x\r\n\r\n-B\r\n\n--Cat\r");
  check_every_chunking(body, "B");
}

TEST_CASE("bare LF line endings, padding, preamble and epilogue") {
  auto parsed = mp::parse_all("ignored\n--b  \nA: 1\n\none\n--b\t\r\nB: 2\r\n\ntwo\n--b--junk", "b");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 2);
  CHECK(mp::find_header(parsed.parts[0].headers, "a") == "1");
  CHECK(parsed.parts[0].body == "one");
  CHECK(parsed.parts[1].body == "two");
}

TEST_CASE("empty parts and bodies") {
  // A part with no headers and no body; a part whose delimiter follows its header block at once.
  auto parsed = mp::parse_all("--b\r\n\r\n--b\r\nA: 1\r\n\r\n--b\r\n\r\n\r\n--b--", "b");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 3);
  CHECK(parsed.parts[0].body.empty());
  CHECK(parsed.parts[1].body.empty());
  CHECK(parsed.parts[2].body.empty());

  auto none = mp::parse_all("--b--", "b");
  CHECK(none.ok());
  CHECK(none.parts.empty());
}

TEST_CASE("a body without its close delimiter fails at finish()") {
  Recorder r;
  mp::MultipartParser parser("b", r);
  CHECK(parser.feed("--b\r\nA: 1\r\n\r\ndata\r\n--b"));
  CHECK_FALSE(parser.done());
  CHECK_FALSE(parser.finish());
  CHECK(parser.error() == "multipart: body ended before the close delimiter");
  CHECK(r.events == std::vector<std::string>{"begin [A: 1]", "data data"});

  CHECK(mp::parse_all("", "b").error == "multipart: body ended before the close delimiter");
  CHECK(mp::parse_all("--b\r\n\r\nx\r\n--b-", "b").error ==
        "multipart: body ended before the close delimiter");
  CHECK_FALSE(mp::parse_all("no delimiter at all", "b").ok());
  CHECK(mp::parse_all("--b\r\n\r\nx\r\n--b--", "b").ok());
}

TEST_CASE("header limits and malformed headers") {
  std::string big = "--b\r\nX: " + std::string(100, 'v') + "\r\n\r\nbody\r\n--b--";
  mp::Limits small{.max_header_bytes = 64};
  for (size_t step : {0, 1, 5}) {
    auto events = run(big, "b", step, small);
    CHECK(events == std::vector<std::string>{"error: multipart: part headers too large"});
  }
  CHECK(mp::parse_all(big, "b").ok());
  // The limit counts the whole block: with no line end at all the parser still stops.
  CHECK(mp::parse_all("--b\r\n" + std::string(20000, 'h'), "b").error ==
        "multipart: part headers too large");

  CHECK(mp::parse_all("--b\r\nA: 1\r\n folded\r\n\r\nx\r\n--b--", "b").error ==
        "multipart: folded part header lines are not supported");
  CHECK(mp::parse_all("--b\r\nno colon\r\n\r\nx\r\n--b--", "b").error ==
        "multipart: malformed part header");
  CHECK(mp::parse_all("--b\r\n: empty name\r\n\r\nx\r\n--b--", "b").error ==
        "multipart: malformed part header");
  CHECK(mp::parse_all("--b\r\nA B: 1\r\n\r\nx\r\n--b--", "b").error ==
        "multipart: malformed part header");
  CHECK(mp::parse_all("--b\r\nA: 1\x01\r\n\r\nx\r\n--b--", "b").error ==
        "multipart: malformed part header");
  CHECK(mp::parse_all("--b\r\n--b--\r\n", "b").error == "multipart: malformed part header");
  CHECK(mp::parse_all("--b  x\r\n\r\n--b--", "b").error ==
        "multipart: unexpected text after a boundary");
  CHECK(mp::parse_all("--b\rx\r\n\r\n--b--", "b").error ==
        "multipart: unexpected text after a boundary");
}

TEST_CASE("the part limit") {
  std::string body;
  for (int i = 0; i < 4; ++i) body += "--b\r\n\r\npart\r\n";
  body += "--b--";
  CHECK(mp::parse_all(body, "b", {.max_parts = 4}).ok());
  auto over = mp::parse_all(body, "b", {.max_parts = 3});
  CHECK(over.error == "multipart: too many parts");
  CHECK(over.parts.size() == 3);
}

TEST_CASE("errors are sticky and a handler may fail the parse") {
  class Refuser : public Recorder {
   public:
    mp::MultipartParser* parser = nullptr;
    void on_part_begin(const mp::Headers& headers) override {
      Recorder::on_part_begin(headers);
      if (events.size() == 4) parser->fail("multipart: refused");
    }
  };
  Refuser r;
  mp::MultipartParser parser("b", r);
  r.parser = &parser;
  CHECK_FALSE(parser.feed("--b\r\nA: 1\r\n\r\none\r\n--b\r\nA: 2\r\n\r\ntwo\r\n--b--"));
  CHECK(r.events == std::vector<std::string>{"begin [A: 1]", "data one", "end", "begin [A: 2]"});
  CHECK(parser.error() == "multipart: refused");
  CHECK_FALSE(parser.feed("--b--"));
  CHECK_FALSE(parser.finish());
  CHECK(parser.error() == "multipart: refused");
  CHECK(r.events.size() == 4);

  Recorder quiet;
  mp::MultipartParser bad("", quiet);
  CHECK(bad.failed());
  CHECK(bad.error() == "multipart: invalid boundary");
  CHECK_FALSE(bad.feed("----\r\n\r\n------"));
  CHECK(quiet.events.empty());
}

TEST_CASE("writer helpers round-trip through the parser") {
  std::string b = mp::make_boundary();
  CHECK(b.size() == 32);
  CHECK(b.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(mp::valid_boundary(b));
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(mp::make_boundary());
  CHECK(seen.size() == 100);

  CHECK(mp::part_header("B", {{"Content-Type", "text/plain"}, {"Content-Length", "3"}}) ==
        "--B\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
  CHECK(mp::part_header("B", {}) == "--B\r\n\r\n");
  CHECK(mp::close_delimiter("B") == "--B--");
  std::string ct = mp::content_type("multipart/related", b);
  CHECK(mp::parse_content_type(ct)->boundary == b);

  std::string body = mp::part_header(b, {{"Content-Type", "application/json"}}) + "{}" + "\r\n" +
                     mp::part_header(b, {{"Content-Type", "application/octet-stream"}}) + kBinary +
                     "\r\n" + mp::close_delimiter(b);
  auto parsed = mp::parse_all(body, b);
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 2);
  CHECK(parsed.parts[0].body == "{}");
  CHECK(parsed.parts[1].body == kBinary);
}

TEST_CASE("parse_media_type: the type alone, parameters never looked at") {
  CHECK(mp::parse_media_type("multipart/related; boundary=B") == "multipart/related");
  CHECK(mp::parse_media_type("multipart/related\t; boundary=BB") == "multipart/related");
  CHECK(mp::parse_media_type(" Multipart/Related") == "multipart/related");
  CHECK(mp::parse_media_type("multipart/related") == "multipart/related");  // no boundary: still
  CHECK(mp::parse_media_type("multipart/related;") == "multipart/related");
  CHECK(mp::parse_media_type("multipart/related; boundary=\"unterminated") == "multipart/related");
  CHECK_FALSE(mp::parse_media_type("multipart/relatedx; a=b") == "multipart/related");
  CHECK_FALSE(mp::parse_media_type("multipart/related x").has_value());
  CHECK_FALSE(mp::parse_media_type("multipart").has_value());
  CHECK_FALSE(mp::parse_media_type("").has_value());
  // The same type parse_content_type finds, whenever that parses.
  auto full = mp::parse_content_type("multipart/related\t; boundary=BB");
  REQUIRE(full.has_value());
  CHECK(full->media_type == "multipart/related");
  CHECK(full->boundary == "BB");
}

TEST_CASE("part_header never writes a control character into a header block") {
  std::string block = mp::part_header(
      "B", {{"Content-Type", "text/plain\r\nX-Injected: yes"}, {"X-Tab", "a\tb\x7f\x01"}});
  CHECK(block == "--B\r\nContent-Type: text/plain  X-Injected: yes\r\nX-Tab: a\tb  \r\n\r\n");
  auto parsed = mp::parse_all(block + "data\r\n--B--", "B");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.parts.size() == 1);
  CHECK(parsed.parts[0].headers.size() == 2);
}
