// Documents on the wire to and from a remote peer (replicator/doc_wire.h): the `_bulk_docs`
// new_edits=false JSON of a DocUpdate, and fetched JSON back into a DocUpdate. spec:
// replication-protocol.md §3.8, §3.9; http-api.md §5.3, §7.1.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/base64.h"
#include "engine/attachments.h"
#include "engine/gzip.h"
#include "replicator/doc_wire.h"

using namespace divan;
using namespace divan::replicator;
using Json = engine::Json;
using engine::DocUpdate;
using engine::NewAttachment;

namespace {

NewAttachment data(std::string name, std::string type, std::string bytes,
                   std::optional<uint64_t> revpos) {
  NewAttachment att;
  att.name = std::move(name);
  att.content_type = std::move(type);
  att.body = engine::AttachmentBody::from_bytes(std::move(bytes));
  att.revpos = revpos;
  return att;
}

NewAttachment stub(std::string name, std::string type, std::string digest,
                   std::optional<uint64_t> length, std::optional<uint64_t> revpos) {
  NewAttachment att;
  att.name = std::move(name);
  att.stub = true;
  att.content_type = std::move(type);
  att.digest = std::move(digest);
  att.length = length;
  att.revpos = revpos;
  return att;
}

DocUpdate replicated(std::string id, revtree::RevPath path, bool deleted, const Json& body,
                     std::vector<NewAttachment> atts = {}) {
  auto update = DocUpdate::replicated(std::move(id), std::move(path), deleted, body, std::move(atts));
  REQUIRE(update.has_value());
  return std::move(*update);
}

std::string bytes_of(const engine::AttachmentBody& body) {
  std::string out(static_cast<size_t>(body.length()), '\0');
  size_t done = 0;
  while (done < out.size()) {
    size_t n = body.read(done, out.data() + done, out.size() - done);
    REQUIRE(n > 0);
    done += n;
  }
  return out;
}

// Everything a replicated write carries, compared field by field.
void check_same(const DocUpdate& a, const DocUpdate& b) {
  CHECK(a.id() == b.id());
  CHECK(a.deleted() == b.deleted());
  CHECK(a.body() == b.body());
  REQUIRE(a.revisions().has_value());
  REQUIRE(b.revisions().has_value());
  CHECK(a.revisions()->start == b.revisions()->start);
  CHECK(a.revisions()->ids == b.revisions()->ids);
  REQUIRE(a.attachments().size() == b.attachments().size());
  for (size_t i = 0; i < a.attachments().size(); ++i) {
    const NewAttachment& x = a.attachments()[i];
    const NewAttachment& y = b.attachments()[i];
    CAPTURE(x.name);
    CHECK(x.name == y.name);
    CHECK(x.stub == y.stub);
    CHECK(x.revpos == y.revpos);
    CHECK(x.content_type == y.content_type);
    if (x.stub) {
      CHECK(x.digest == y.digest);
      CHECK(x.length == y.length);
    } else {
      REQUIRE(x.body);
      REQUIRE(y.body);
      CHECK(x.body->digest() == y.body->digest());
      CHECK(bytes_of(*x.body) == bytes_of(*y.body));
    }
  }
}

DocUpdate round_trip(const DocUpdate& update) {
  std::string text = doc_wire::render_replicated(update);
  Json json = Json::parse(text, nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  auto back = doc_wire::parse_fetched(std::move(json));
  REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().reason));
  return std::move(*back);
}

}  // namespace

TEST_CASE("doc_wire: a replicated write in CouchDB's _bulk_docs form, member order included") {
  DocUpdate plain = replicated("a", {3, {"ccc", "bbb", "aaa"}}, false,
                               Json{{"z", 1}, {"a", Json::array({true, nullptr})}});
  CHECK(doc_wire::newest_rev(plain) == "3-ccc");
  CHECK(doc_wire::render_replicated(plain) ==
        R"({"_id":"a","_rev":"3-ccc","z":1,"a":[true,null],)"
        R"("_revisions":{"start":3,"ids":["ccc","bbb","aaa"]}})");

  DocUpdate deleted = replicated("q\"uote/\n", {2, {"ddd", "aaa"}}, true, Json::object());
  CHECK(doc_wire::render_replicated(deleted) ==
        R"({"_id":"q\"uote/\n","_rev":"2-ddd","_deleted":true,)"
        R"("_revisions":{"start":2,"ids":["ddd","aaa"]}})");

  DocUpdate atts = replicated(
      "_design/x", {2, {"bbb", "aaa"}}, false, Json{{"v", 2}},
      {stub("old.txt", "text/plain", "md5-abc==", 12, 1), data("new.bin", "image/png", "hi!", 2),
       stub("bare", "", "", std::nullopt, std::nullopt), data("untyped", "", "", std::nullopt)});
  CHECK(doc_wire::render_replicated(atts) ==
        R"({"_id":"_design/x","_rev":"2-bbb","v":2,)"
        R"("_revisions":{"start":2,"ids":["bbb","aaa"]},"_attachments":{)"
        R"("old.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-abc==","length":12,)"
        R"("stub":true},)"
        R"("new.bin":{"content_type":"image/png","revpos":2,"digest":")" +
            engine::md5_digest("hi!") + R"(","data":"aGkh"},)"
        R"("bare":{"stub":true},)"
        R"("untyped":{"content_type":"application/octet-stream","digest":")" +
            engine::md5_digest("") + R"(","data":""}}})");
}

TEST_CASE("doc_wire: DocUpdate → JSON → DocUpdate is the same write") {
  std::string binary;
  for (int b = 255; b >= 0; --b) binary.push_back(static_cast<char>(b));
  const std::vector<DocUpdate> updates = [&] {
    std::vector<DocUpdate> out;
    out.push_back(replicated("plain", {1, {"aaa"}}, false, Json::object()));
    out.push_back(replicated("nested", {4, {"d", "c", "b"}}, false,
                             Json{{"s", "é ☃ \x01"}, {"n", -1.5}, {"big", 9007199254740993ULL},
                                  {"o", {{"k", Json::array({1, "2", nullptr})}}},
                                  {"_replication_state", "completed"}}));
    out.push_back(replicated("gone", {7, {"ggg", "fff"}}, true, Json{{"kept", true}}));
    out.push_back(replicated("att", {3, {"ccc", "bbb", "aaa"}}, false, Json{{"v", 3}},
                             {stub("a.txt", "text/plain", engine::md5_digest("hello"), 5, 1),
                              data("b.bin", "application/octet-stream", binary, 3)}));
    out.push_back(replicated("a/b c+d%", {1, {"0123456789abcdef0123456789abcdef"}}, false,
                             Json{{"x", "y"}}));
    return out;
  }();
  for (const auto& update : updates) {
    CAPTURE(update.id());
    check_same(update, round_trip(update));
  }
}

TEST_CASE("doc_wire: an attachment spooled to a file is sent whole") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("divan-doc-wire-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  std::string bytes;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 5000; ++i) bytes.push_back(static_cast<char>(rng()));
  {
    engine::AttachmentSpool spool(dir, /*memory_limit=*/1024);
    REQUIRE(spool.append(bytes.substr(0, 3000)).has_value());
    REQUIRE(spool.append(bytes.substr(3000)).has_value());
    auto body = spool.finish();
    REQUIRE(body.has_value());
    REQUIRE_FALSE((*body)->memory().has_value());  // really on disk
    NewAttachment att;
    att.name = "big";
    att.content_type = "application/octet-stream";
    att.body = *body;
    att.revpos = 1;
    DocUpdate update = replicated("s", {1, {"aaa"}}, false, Json::object(), {att});
    Json json = Json::parse(doc_wire::render_replicated(update));
    CHECK(json["_attachments"]["big"]["data"] == base64_encode(bytes));
    check_same(update, round_trip(update));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("doc_wire: fetched documents as CouchDB and Divan answer them") {
  // A _bulk_get "ok" item: extras a reader asked for are ignored, kept specials stay in the body.
  auto fetched = doc_wire::parse_fetched(Json::parse(R"({
      "_id":"d","_rev":"2-bbb","v":1,"_replication_state":"completed",
      "_revisions":{"start":2,"ids":["bbb","aaa"]},"_conflicts":["2-ccc"],
      "_attachments":{"s":{"content_type":"text/plain","revpos":1,"digest":"md5-x","length":3,
                           "stub":true},
                      "n":{"content_type":"text/plain","revpos":2,"digest":"md5-ignored",
                           "data":"aGkh"}}})"));
  REQUIRE_MESSAGE(fetched.has_value(), (fetched ? "" : fetched.error().reason));
  CHECK(fetched->id() == "d");
  CHECK(fetched->revisions()->start == 2);
  CHECK(fetched->revisions()->ids == std::vector<std::string>{"bbb", "aaa"});
  CHECK(fetched->body() == R"({"v":1,"_replication_state":"completed"})");
  REQUIRE(fetched->attachments().size() == 2);
  CHECK(fetched->attachments()[0].stub);
  CHECK(fetched->attachments()[0].digest == "md5-x");
  CHECK(fetched->attachments()[0].length == 3u);
  // Inline data is identity; a text/plain body is stored gzip, as CouchDB stores it.
  CHECK(fetched->attachments()[1].body->digest() == engine::md5_digest(engine::gzip_bytes("hi!", 8)));

  // Only `_rev` (no `_revisions`): a path of one.
  auto single = doc_wire::parse_fetched(Json::parse(R"({"_id":"e","_rev":"5-eee"})"));
  REQUIRE(single.has_value());
  CHECK(single->revisions()->start == 5);
  CHECK(single->revisions()->ids == std::vector<std::string>{"eee"});

  // Refused: no id, a local doc, no rev, bad members.
  auto code = [](const char* text) {
    auto r = doc_wire::parse_fetched(Json::parse(text));
    REQUIRE_FALSE(r.has_value());
    return r.error().code;
  };
  CHECK(code(R"({"_rev":"1-a"})") == Code::kBadRequest);
  CHECK(code(R"({"_id":"_local/x","_rev":"0-1"})") == Code::kBadRequest);
  CHECK(code(R"({"_id":"x"})") == Code::kBadRequest);
  CHECK(code(R"({"_id":"x","_rev":"1-a","_bogus":1})") == Code::kDocValidation);
  CHECK(code(R"({"_id":"x","_rev":"1-a","_attachments":{"f":{"data":"!!"}}})") ==
        Code::kBadRequest);
  CHECK(code(R"([1,2])") == Code::kBadRequest);
}
