// doc_json.h: id rules (http-api.md §5.1), special fields (§5.2), output splicing (§5.3), and the
// engine writes built from a parsed body (write_ops.h named constructors).
#include "engine/doc_json.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "base/base64.h"
#include "engine/doc_render.h"
#include "engine/gzip.h"
#include "revtree/rev_hash.h"

namespace divan::engine::test {
namespace {

bool has_stubs(const IncomingDoc& doc) {
  return std::any_of(doc.attachments.begin(), doc.attachments.end(),
                     [](const NewAttachment& a) { return a.stub; });
}

void check_fails(const Error& error, Code code, std::string_view reason) {
  CHECK(error.code == code);
  CHECK(error.reason == reason);
}

// ---- §5.1 ----

TEST_CASE("§5.1 id validation, every row") {
  struct Row {
    std::string id;
    const char* reason;  // nullptr: allowed
  };
  const Row table[] = {
      {"", "Document id must not be empty"},
      {"_design/", "Illegal document id `_design/`"},
      {"_local/", "Illegal document id `_local/`"},
      {"_design/x", nullptr},
      {"_local/x", nullptr},
      {"_design/a/b", nullptr},
      {"_foo", "Only reserved document ids may start with underscore."},
      {"_design", "Only reserved document ids may start with underscore."},
      {"_local", "Only reserved document ids may start with underscore."},
      {"_all_docs", "Only reserved document ids may start with underscore."},
      {"\xff", "Document id must be valid UTF-8"},
      {"a\xC3", "Document id must be valid UTF-8"},
      {"a", nullptr},
      {"a_b/c d", nullptr},
      {"\xC3\xA9t\xC3\xA9", nullptr},
      {"\xF0\x9F\x98\x80", nullptr},
  };
  for (const Row& row : table) {
    CAPTURE(row.id);
    auto result = validate_doc_id(row.id);
    if (!row.reason) {
      CHECK(result.has_value());
    } else {
      REQUIRE_FALSE(result.has_value());
      check_fails(result.error(), Code::kIllegalDocId, row.reason);
    }
    // The JSON form agrees for strings.
    CHECK(validate_json_doc_id(Json(row.id)).has_value() == result.has_value());
  }
  for (const Json& non_string :
       {Json(5), Json(nullptr), Json::array(), Json::object(), Json(true)}) {
    CAPTURE(non_string.dump());
    auto result = validate_json_doc_id(non_string);
    REQUIRE_FALSE(result.has_value());
    check_fails(result.error(), Code::kIllegalDocId, "Document id must be a string");
  }
}

// ---- §5.2 ----

Result<IncomingDoc> parse(std::string_view text) {
  auto json = Json::parse(text, nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  return parse_incoming_doc(std::move(json));
}

TEST_CASE("§5.2 special fields are split off; user fields keep their order") {
  auto doc = parse(R"({"z":1,"_id":"a","_rev":"2-abc","a":{"y":2,"b":3},"_deleted":false,
                       "_conflicts":["1-x"],"_revs_info":[],"_deleted_conflicts":[],"_local_seq":3,
                       "_replication_state":"completed","_access":["u"],"m":[1,2]})");
  REQUIRE(doc.has_value());
  CHECK(doc->id == "a");
  REQUIRE(doc->rev.has_value());
  CHECK(doc->rev->str() == "2-abc");
  CHECK(doc->raw_rev == "2-abc");
  CHECK_FALSE(doc->deleted);
  CHECK_FALSE(doc->revisions.has_value());
  CHECK(doc->body.dump() ==
        R"({"z":1,"a":{"y":2,"b":3},"_replication_state":"completed","_access":["u"],"m":[1,2]})");
}

TEST_CASE("§5.2 every kept special field stays in the body") {
  auto doc = parse(R"({"_replication_state":"x","_replication_state_time":1,
                       "_replication_state_reason":"r","_replication_id":"i",
                       "_replication_stats":{},"_access":[]})");
  REQUIRE(doc.has_value());
  CHECK(doc->body.size() == 6);
}

TEST_CASE("§5.2 _deleted must be a boolean") {
  CHECK(parse(R"({"_deleted":true})")->deleted);
  for (auto text : {R"({"_deleted":"yes"})", R"({"_deleted":1})", R"({"_deleted":null})"}) {
    CAPTURE(text);
    auto doc = parse(text);
    REQUIRE_FALSE(doc.has_value());
    check_fails(doc.error(), Code::kDocValidation, "Bad special document member: _deleted");
  }
}

TEST_CASE("§5.2 unknown _x is doc_validation") {
  for (auto [text, field] :
       {std::pair{R"({"_foo":1})", "_foo"}, std::pair{R"({"a":1,"_x":{}})", "_x"},
        std::pair{R"({"_":0})", "_"}, std::pair{R"({"_ID":"a"})", "_ID"}}) {
    CAPTURE(text);
    auto doc = parse(text);
    REQUIRE_FALSE(doc.has_value());
    check_fails(doc.error(), Code::kDocValidation,
                "Bad special document member: " + std::string(field));
  }
}

TEST_CASE("§5.2 _rev: a string rev, else 400 Invalid rev format; local docs keep the raw text") {
  for (auto text : {R"({"_rev":5})", R"({"_rev":"abc"})", R"({"_rev":"0-a"})", R"({"_rev":"1-"})",
                    R"({"_rev":null})"}) {
    CAPTURE(text);
    auto doc = parse(text);
    REQUIRE_FALSE(doc.has_value());
    check_fails(doc.error(), Code::kBadRequest, "Invalid rev format");
  }
  auto local = parse(R"({"_id":"_local/x","_rev":"0-5","v":1})");
  REQUIRE(local.has_value());
  CHECK(local->raw_rev == "0-5");
  CHECK_FALSE(local->rev.has_value());
  // A 32-char hex id is canonicalised to lowercase.
  auto upper = parse(R"({"_rev":"1-ABCDEF0123456789ABCDEF0123456789"})");
  REQUIRE(upper.has_value());
  CHECK(upper->rev->id == "abcdef0123456789abcdef0123456789");
}

TEST_CASE("§5.2 _revisions: start and ids, with CouchDB's reasons") {
  auto doc = parse(R"({"_revisions":{"start":3,"ids":["c","b","a"]}})");
  REQUIRE(doc.has_value());
  REQUIRE(doc->revisions.has_value());
  CHECK(doc->revisions->start == 3);
  CHECK((doc->revisions->ids == std::vector<std::string>{"c", "b", "a"}));

  struct Row {
    const char* text;
    const char* reason;
  };
  const Row errors[] = {
      {R"({"_revisions":{"start":"3","ids":["a"]}})", "_revisions.start isn't an integer."},
      {R"({"_revisions":{"ids":["a"]}})", "_revisions.start isn't an integer."},
      {R"({"_revisions":{"start":1.5,"ids":["a"]}})", "_revisions.start isn't an integer."},
      {R"({"_revisions":{"start":1,"ids":"a"}})", "_revisions.ids isn't a array."},
      {R"({"_revisions":{"start":1}})", "_revisions.ids isn't a array."},
      {R"({"_revisions":{"start":1,"ids":["ABCDEF0123456789ABCDEF012345678Z"]}})",
       "RevId isn't a valid hexadecimal"},
  };
  for (const Row& row : errors) {
    CAPTURE(row.text);
    auto bad = parse(row.text);
    REQUIRE_FALSE(bad.has_value());
    check_fails(bad.error(), Code::kDocValidation, row.reason);
  }
  auto upper = parse(R"({"_revisions":{"start":1,"ids":["ABCDEF0123456789ABCDEF0123456789"]}})");
  REQUIRE(upper.has_value());
  CHECK(upper->revisions->ids.front() == "abcdef0123456789abcdef0123456789");
}

TEST_CASE("§5.2 a bad _id is illegal_docid; a non-object is bad_request") {
  auto bad_id = parse(R"({"_id":"_bad"})");
  REQUIRE_FALSE(bad_id.has_value());
  check_fails(bad_id.error(), Code::kIllegalDocId,
              "Only reserved document ids may start with underscore.");
  auto number = parse(R"({"_id":7})");
  REQUIRE_FALSE(number.has_value());
  check_fails(number.error(), Code::kIllegalDocId, "Document id must be a string");
  auto array = parse_incoming_doc(Json::array());
  REQUIRE_FALSE(array.has_value());
  check_fails(array.error(), Code::kBadRequest, "Document must be a JSON object");
}

// ---- writes built from a body ----

TEST_CASE("to_doc_update: interactive writes carry the parent and the canonical body") {
  auto doc = parse(R"({"_rev":"1-a","b":1,"a":2})");
  auto update = to_doc_update(std::move(*doc), "d", true);
  REQUIRE(update.has_value());
  CHECK(update->id() == "d");
  CHECK(update->parent()->str() == "1-a");
  CHECK_FALSE(update->revisions().has_value());
  CHECK((update->body() == R"({"b":1,"a":2})"));
  CHECK((update->canonical_body() == R"({"a":2,"b":1})"));
  // The rev id is computed here, off the writer thread, exactly as spec §2.2 defines it.
  CHECK(update->new_rev_id() == divan::revtree::new_rev_id(false, 1, "a", R"({"a":2,"b":1})"));
  auto first = to_doc_update(std::move(*parse(R"({"_deleted":true,"x":1})")), "e", true);
  REQUIRE(first.has_value());
  CHECK(first->new_rev_id() == divan::revtree::new_rev_id(true, 0, "", R"({"x":1})"));
}

TEST_CASE("to_doc_update: new_edits=false takes _revisions, else _rev, else 400") {
  auto with_revisions = to_doc_update(
      std::move(*parse(R"({"_rev":"9-z","_revisions":{"start":2,"ids":["b","a"]}})")), "d", false);
  REQUIRE(with_revisions.has_value());
  CHECK(with_revisions->revisions()->start == 2);
  CHECK((with_revisions->revisions()->ids == std::vector<std::string>{"b", "a"}));

  auto with_rev = to_doc_update(std::move(*parse(R"({"_rev":"3-c","v":1})")), "d", false);
  REQUIRE(with_rev.has_value());
  CHECK(with_rev->revisions()->start == 3);
  CHECK(with_rev->revisions()->ids == std::vector<std::string>{"c"});
  CHECK_FALSE(with_rev->parent().has_value());
  CHECK(with_rev->body() == R"({"v":1})");

  auto neither = to_doc_update(std::move(*parse(R"({"v":1})")), "d", false);
  REQUIRE_FALSE(neither.has_value());
  check_fails(neither.error(), Code::kBadRequest,
              "When `new_edits: false`, the document needs `_rev` or `_revisions` specified");
}

TEST_CASE("§5.4 a body over max_document_size is 413 document_too_large with the id") {
  Json body = Json::object();
  body["big"] = std::string(kMaxDocumentSize, 'x');
  auto update = to_doc_update(std::move(*parse_incoming_doc(std::move(body))), "huge", true);
  REQUIRE_FALSE(update.has_value());
  check_fails(update.error(), Code::kDocumentTooLarge, "huge");
}

TEST_CASE("to_local_update: rev \"0-N\" or none; anything else is Invalid rev format") {
  auto none = to_local_update(std::move(*parse(R"({"v":1})")), "_local/x");
  REQUIRE(none.has_value());
  CHECK(none->rev_counter == 0);
  CHECK(none->body == R"({"v":1})");
  CHECK(none->id == "_local/x");

  auto five = to_local_update(std::move(*parse(R"({"_id":"_local/x","_rev":"0-5"})")), "_local/x");
  REQUIRE(five.has_value());
  CHECK(five->rev_counter == 5);
  CHECK(five->body == "{}");

  for (auto rev : {"1-5", "0-", "0-x", "0-5x", "5", "0--1", "-0-1"}) {
    CAPTURE(rev);
    IncomingDoc doc;
    doc.raw_rev = rev;
    auto update = to_local_update(std::move(doc), "_local/x");
    REQUIRE_FALSE(update.has_value());
    check_fails(update.error(), Code::kBadRequest, "Invalid rev format");
  }
  IncomingDoc deleted;
  deleted.deleted = true;
  CHECK(to_local_update(std::move(deleted), "_local/x")->deleted);
}

TEST_CASE("regress: a _local checkpoint as CouchDB's replicator writes it is accepted") {
  // couch_replicator_scheduler_job sends `"_rev":"0-1","_revisions":{"start":0,"ids":["1"]}`;
  // Divan answered 400 "_revisions.start isn't an integer." and CouchDB's second checkpoint failed.
  auto doc = parse(R"({"_id":"_local/abc","_rev":"0-1","_revisions":{"start":0,"ids":["1"]},
                       "session_id":"s","source_last_seq":"3","history":[]})");
  REQUIRE(doc.has_value());
  CHECK_FALSE(doc->revisions.has_value());  // a local doc keeps no history
  auto update = to_local_update(std::move(*doc), "_local/abc");
  REQUIRE(update.has_value());
  CHECK(update->rev_counter == 1);
  CHECK(update->body == R"({"session_id":"s","source_last_seq":"3","history":[]})");

  // Shape is still checked as CouchDB checks it, local or not.
  auto bad_start = parse(R"({"_id":"_local/abc","_revisions":{"start":"0","ids":["1"]}})");
  REQUIRE_FALSE(bad_start.has_value());
  check_fails(bad_start.error(), Code::kDocValidation, "_revisions.start isn't an integer.");
  auto bad_ids = parse(R"({"_id":"_local/abc","_revisions":{"start":0,"ids":"1"}})");
  REQUIRE_FALSE(bad_ids.has_value());
  check_fails(bad_ids.error(), Code::kDocValidation, "_revisions.ids isn't a array.");
  // A tree document's path still needs a rev pos of at least 1.
  auto tree_doc = parse(R"({"_id":"d","_revisions":{"start":0,"ids":["1"]}})");
  REQUIRE_FALSE(tree_doc.has_value());
  check_fails(tree_doc.error(), Code::kDocValidation, "_revisions.start isn't an integer.");
  // `_deleted` on a local doc deletes it.
  auto deleted = parse(R"({"_id":"_local/abc","_rev":"0-2","_deleted":true})");
  REQUIRE(deleted.has_value());
  CHECK(to_local_update(std::move(*deleted), "_local/abc")->deleted);
}

// ---- §5.3 output ----

TEST_CASE("§5.3 render_doc splices _id/_rev in front of the stored fields") {
  CHECK((render_doc("a", "1-x", false, "{}") == R"({"_id":"a","_rev":"1-x"})"));
  CHECK(render_doc("a", "1-x", false, R"({"v":1,"w":[2,{"k":"}"}]})") ==
        R"({"_id":"a","_rev":"1-x","v":1,"w":[2,{"k":"}"}]})");
  CHECK((render_doc("a", "2-y", true, "{}") == R"({"_id":"a","_rev":"2-y","_deleted":true})"));
  CHECK(render_doc("a", "2-y", true, R"({"v":1})") ==
        R"({"_id":"a","_rev":"2-y","v":1,"_deleted":true})");
  CHECK(render_doc("a", "2-y", false, R"({"v":1})", R"(,"_conflicts":["2-x"])") ==
        R"({"_id":"a","_rev":"2-y","v":1,"_conflicts":["2-x"]})");
  CHECK((render_doc("q\"\\/\n", "0-1", false, "{}") == R"({"_id":"q\"\\/\n","_rev":"0-1"})"));
  // Whatever is spliced is valid JSON again.
  auto reparsed = Json::parse(render_doc("a", "1-x", true, R"({"v":"\u00e9"})", R"(,"x":1)"));
  CHECK((reparsed.dump() == R"({"_id":"a","_rev":"1-x","v":"é","_deleted":true,"x":1})"));
}

// ---- §7.1 `_attachments` on input ----

// "hello" in base64, and its digest.
constexpr std::string_view kHello64 = "aGVsbG8=";

ReceivedAttachment received(std::string bytes, std::string sent_digest = "") {
  ReceivedAttachment part;
  part.sent_length = bytes.size();
  part.sent_digest = sent_digest.empty() ? md5_digest(bytes) : sent_digest;
  part.body = AttachmentBody::from_bytes(std::move(bytes));
  return part;
}

Result<IncomingDoc> parse_with(std::string_view text, std::vector<ReceivedAttachment>* parts) {
  auto json = Json::parse(text, nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  return parse_incoming_doc(std::move(json), parts);
}

TEST_CASE("§7.1 inline data is decoded; content_type defaults; revpos is kept when given") {
  auto doc = parse(R"({"v":1,"_attachments":{
      "a.txt":{"content_type":"text/plain","data":"aGVsbG8=","revpos":3,"length":99,"stub":false},
      "b":{"data":""}}})");
  REQUIRE(doc.has_value());
  CHECK(doc->body.dump() == R"({"v":1})");
  CHECK_FALSE(has_stubs(*doc));
  REQUIRE(doc->attachments.size() == 2);
  const auto& a = doc->attachments[0];
  CHECK(a.name == "a.txt");
  CHECK_FALSE(a.stub);
  CHECK(a.content_type == "text/plain");
  CHECK(a.revpos == std::optional<uint64_t>(3));
  REQUIRE(a.body);
  // text/plain is stored gzip, as CouchDB stores it; `length` on inline data is ignored.
  CHECK(a.body->gzip());
  CHECK(a.body->identity_length() == 5);
  CHECK(a.body->digest() == md5_digest(gzip_bytes("hello", 8)));
  const auto& b = doc->attachments[1];
  CHECK(b.content_type == "application/octet-stream");
  CHECK_FALSE(b.revpos.has_value());
  CHECK(b.body->length() == 0);
}

TEST_CASE("§7.1 stubs: no body, revpos when given, has_stubs set") {
  auto doc = parse(R"({"_attachments":{"s":{"stub":true,"revpos":2,"digest":"md5-x"},
                                       "t":{"stub":true},"d":{"data":"aGVsbG8="}}})");
  REQUIRE(doc.has_value());
  CHECK(has_stubs(*doc));
  REQUIRE(doc->attachments.size() == 3);
  CHECK(doc->attachments[0].stub);
  CHECK(doc->attachments[0].revpos == std::optional<uint64_t>(2));
  CHECK_FALSE(doc->attachments[0].body);
  CHECK(doc->attachments[1].stub);
  CHECK_FALSE(doc->attachments[1].revpos.has_value());
  CHECK_FALSE(doc->attachments[2].stub);
}

TEST_CASE("§7.1 bad attachments: _name, non-object entry, bad or missing base64") {
  struct Row {
    const char* body;
    Code code;
    const char* reason;
  };
  const Row table[] = {
      {R"({"_attachments":{"_x":{"data":"aGVsbG8="}}})", Code::kBadRequest,
       "Attachment name '_x' starts with prohibited character '_'"},
      {R"({"_attachments":{"_x":{"stub":true}}})", Code::kBadRequest,
       "Attachment name '_x' starts with prohibited character '_'"},
      {R"({"_attachments":{"a":"aGVsbG8="}})", Code::kBadRequest, "Invalid attachment a"},
      {R"({"_attachments":{"a":{"data":"not base64!"}}})", Code::kBadRequest,
       "Invalid attachment data for a"},
      {R"({"_attachments":{"a":{"data":5}}})", Code::kBadRequest, "Invalid attachment data for a"},
      {R"({"_attachments":{"a":{"content_type":"text/plain"}}})", Code::kBadRequest,
       "Invalid attachment data for a"},
      {R"({"_attachments":[]})", Code::kDocValidation,
       "Bad special document member: _attachments"},
  };
  for (const Row& row : table) {
    CAPTURE(row.body);
    auto doc = parse(row.body);
    REQUIRE_FALSE(doc.has_value());
    check_fails(doc.error(), row.code, row.reason);
  }
  // An empty set is fine.
  auto empty = parse(R"({"_attachments":{}})");
  REQUIRE(empty.has_value());
  CHECK(empty->attachments.empty());
}

TEST_CASE("§7.4 follows entries take the received parts in _attachments order") {
  std::vector<ReceivedAttachment> parts;
  parts.push_back(received("first"));
  parts.push_back(received("second!"));
  parts.push_back(received("extra part, ignored"));
  auto doc = parse_with(R"({"_attachments":{
      "one":{"follows":true,"content_type":"text/plain","length":5,"revpos":4},
      "old":{"stub":true,"revpos":1},
      "two":{"follows":true,"length":7,"digest":")" + md5_digest("second!") + R"("}}})",
                        &parts);
  REQUIRE(doc.has_value());
  REQUIRE(doc->attachments.size() == 3);
  CHECK(doc->attachments[0].body->memory() == std::optional<std::string_view>("first"));
  CHECK(doc->attachments[0].revpos == std::optional<uint64_t>(4));
  CHECK(doc->attachments[0].content_type == "text/plain");
  CHECK(doc->attachments[1].stub);
  CHECK(doc->attachments[2].body->memory() == std::optional<std::string_view>("second!"));
  CHECK(doc->attachments[2].content_type == "application/octet-stream");
  CHECK(has_stubs(*doc));
}

TEST_CASE("§7.4 follows: length and digest are checked against the bytes as sent") {
  struct Row {
    std::string entry;
    Code code;
    const char* reason;  // nullptr: accepted
  };
  const std::string md5 = md5_digest("12345");
  const Row table[] = {
      {R"({"follows":true,"length":5})", Code::kBadRequest, nullptr},
      {R"({"follows":true})", Code::kBadRequest, nullptr},  // no length: nothing to check
      {R"({"follows":true,"length":6})", Code::kBadRequest, "attachment shorter than expected"},
      {R"({"follows":true,"length":4})", Code::kBadRequest, "attachment longer than expected"},
      // With an encoding, encoded_length is the length of the bytes sent.
      {R"({"follows":true,"length":100,"encoding":"gzip","encoded_length":5})", Code::kBadRequest,
       nullptr},
      {R"({"follows":true,"length":5,"encoding":"gzip","encoded_length":9})", Code::kBadRequest,
       "attachment shorter than expected"},
      {R"({"follows":true,"length":5,"digest":")" + md5 + R"("})", Code::kBadRequest, nullptr},
      {R"({"follows":true,"length":5,"digest":"md5-AAAAAAAAAAAAAAAAAAAAAA=="})",
       Code::kContentMd5Mismatch, "Possible message corruption."},
  };
  for (const Row& row : table) {
    CAPTURE(row.entry);
    std::vector<ReceivedAttachment> parts;
    parts.push_back(received("12345"));
    auto doc = parse_with(R"({"_attachments":{"a":)" + row.entry + "}}", &parts);
    if (!row.reason) {
      REQUIRE(doc.has_value());
      CHECK(doc->attachments.front().body->length() == 5);
    } else {
      REQUIRE_FALSE(doc.has_value());
      check_fails(doc.error(), row.code, row.reason);
    }
  }
}

TEST_CASE("§7.4 follows without a part (or in a JSON body) is 400") {
  std::vector<ReceivedAttachment> none;
  auto doc = parse_with(R"({"_attachments":{"a":{"follows":true}}})", &none);
  REQUIRE_FALSE(doc.has_value());
  CHECK(doc.error().code == Code::kBadRequest);
  auto json_body = parse(R"({"_attachments":{"a":{"follows":true}}})");
  REQUIRE_FALSE(json_body.has_value());
  CHECK(json_body.error().code == Code::kBadRequest);
}

TEST_CASE("to_doc_update: attachments travel; the rev hash covers their digests unless stubs") {
  auto doc = parse(R"({"v":1,"_attachments":{"b":{"content_type":"text/plain","data":"aGVsbG8="},
                                               "a":{"data":""}}})");
  REQUIRE(doc.has_value());
  auto update = to_doc_update(std::move(*doc), "d", true);
  REQUIRE(update.has_value());
  REQUIRE(update->attachments().size() == 2);
  CHECK(update->body() == R"({"v":1})");  // `_attachments` is not part of the stored body
  CHECK(update->new_rev_id() ==
        divan::revtree::new_rev_id(false, 0, "", R"({"v":1})",
                                   {{"b", "text/plain", md5_digest(gzip_bytes("hello", 8))},
                                    {"a", "application/octet-stream", md5_digest("")}}));
  CHECK(update->new_rev_id() != divan::revtree::new_rev_id(false, 0, "", R"({"v":1})"));

  auto with_stub = to_doc_update(
      std::move(*parse(R"({"_rev":"1-a","_attachments":{"s":{"stub":true}}})")), "d", true);
  REQUIRE(with_stub.has_value());
  CHECK(with_stub->new_rev_id().empty());  // the writer hashes once the stub is resolved
  CHECK(with_stub->canonical_body() == "{}");
  CHECK(with_stub->attachments().front().stub);

  auto replicated = to_doc_update(
      std::move(*parse(R"({"_rev":"2-b","_attachments":{"s":{"stub":true,"revpos":1}}})")), "d",
      false);
  REQUIRE(replicated.has_value());
  CHECK(replicated->attachments().size() == 1);
}

TEST_CASE("§5.4 the document size limit does not count attachment bytes") {
  Json body = Json::object();
  body["small"] = 1;
  body["_attachments"]["big"]["data"] =
      base64_encode(std::string(kMaxDocumentSize + 10, 'x'));
  auto doc = parse_incoming_doc(std::move(body));
  REQUIRE(doc.has_value());
  auto update = to_doc_update(std::move(*doc), "d", true);
  REQUIRE(update.has_value());
  CHECK(update->attachments().front().body->length() == kMaxDocumentSize + 10);
}

TEST_CASE("parse_atts_since: an array of revs") {
  auto ok = parse_atts_since(Json::parse(R"(["1-a","2-b"])"));
  REQUIRE(ok.has_value());
  CHECK(ok->size() == 2);
  auto bad_rev = parse_atts_since(Json::parse(R"(["1-a","x"])"));
  REQUIRE_FALSE(bad_rev.has_value());
  check_fails(bad_rev.error(), Code::kBadRequest, "Invalid rev format");
  auto not_array = parse_atts_since(Json("1-a"));
  REQUIRE_FALSE(not_array.has_value());
  CHECK(not_array.error().code == Code::kBadRequest);
}

// Regression: content_type and names were stored as given and written into response headers
// (GET Content-Type, multipart part headers, Content-Disposition), so a CR LF made a header.
TEST_CASE("§7.1 control characters in an attachment name or content_type are 400") {
  auto name = parse_incoming_doc(Json::parse(R"({"_attachments":{"a\r\nX-Injected: yes":{"data":""}}})"));
  REQUIRE_FALSE(name.has_value());
  CHECK(name.error().code == Code::kBadRequest);
  CHECK(name.error().reason.starts_with("Attachment name "));  // the replicator skips the doc
  auto stub = parse_incoming_doc(Json::parse(R"({"_attachments":{"a\u0000":{"stub":true}}})"));
  REQUIRE_FALSE(stub.has_value());
  CHECK(stub.error().reason.starts_with("Attachment name "));
  for (const char* type : {"text/plain\r\nX-Injected: yes", "text/plain\n", "a\u0001b", "a\u007f"}) {
    Json doc{{"_attachments", {{"a", {{"content_type", type}, {"data", ""}}}}}};
    auto parsed = parse_incoming_doc(std::move(doc));
    REQUIRE_FALSE(parsed.has_value());
    check_fails(parsed.error(), Code::kBadRequest,
                "Attachment content_type must not contain control characters");
  }
  CHECK(validate_attachment_name("a\tb").has_value());  // a tab may sit in a quoted filename
  CHECK(validate_attachment_name("ä b/c.txt").has_value());
}

// Regression: "" was stored (and hashed) as "", while the engine defaulted it on write.
TEST_CASE("§7.1 content_type \"\" or absent is application/octet-stream before the rev hash") {
  auto empty = parse_incoming_doc(Json::parse(R"({"_attachments":{"a":{"content_type":"","data":""}}})"));
  auto absent = parse_incoming_doc(Json::parse(R"({"_attachments":{"a":{"data":""}}})"));
  auto given = parse_incoming_doc(Json::parse(
      R"({"_attachments":{"a":{"content_type":"application/octet-stream","data":""}}})"));
  REQUIRE(empty.has_value());
  REQUIRE(absent.has_value());
  REQUIRE(given.has_value());
  CHECK(empty->attachments[0].content_type == "application/octet-stream");
  CHECK(absent->attachments[0].content_type == "application/octet-stream");
  auto rev = [](IncomingDoc&& doc) { return to_doc_update(std::move(doc), "d", true)->new_rev_id(); };
  const std::string r1 = rev(std::move(*empty));
  CHECK(r1 == rev(std::move(*absent)));
  CHECK(r1 == rev(std::move(*given)));
  CHECK(attachment_content_type(std::nullopt).value() == "application/octet-stream");
  CHECK(attachment_content_type("text/plain").value() == "text/plain");
}

TEST_CASE("follows_entries: follows entries that are not stubs, with their type and encoding") {
  CHECK(follows_entries(Json::parse(R"({"a":1})")).empty());
  CHECK(follows_entries(Json::parse(R"({"_attachments":[]})")).empty());
  auto entries = follows_entries(Json::parse(R"({"_attachments":{
      "a":{"follows":true},"b":{"stub":true,"follows":true},"c":{"data":""},
      "d":{"follows":false},"e":{"follows":true,"content_type":"text/plain","encoding":"gzip"},
      "f":7}})"));
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].content_type == "application/octet-stream");
  CHECK_FALSE(entries[0].gzip);
  CHECK(entries[1].content_type == "text/plain");
  CHECK(entries[1].gzip);
}

}  // namespace
}  // namespace divan::engine::test
