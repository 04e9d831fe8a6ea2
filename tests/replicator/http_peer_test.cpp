// What only HttpPeer has: the requests it sends (paths, query strings, headers, bodies), how it
// reads CouchDB's answers, the _bulk_get → open_revs fallback and its memory, 413 splitting,
// per-document refusals by a server with users, errors, timeouts and the stop switch. Against a
// real Divan server on loopback, whose route table a test may wrap (ScriptedFixture) to record
// requests, slow them down or answer in its place. spec: replication-protocol.md §3.2–§3.10, §6.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include "base/base64.h"
#include "engine/random.h"
#include "http/server/auth.h"
#include "http/server/response.h"
#include "http/server/routes.h"
#include "peer_fixture.h"
#include "replicator/doc_wire.h"
#include "replicator_test_util.h"

namespace divan::replicator::test {
namespace {

namespace asio = boost::asio;
namespace server = http::server;
using boost::beast::http::verb;


// ---- A server whose route table a test can wrap ----------------------------------------------

struct Seen {
  verb method = verb::get;
  std::string target;
  std::string body;
  std::string authorization;
  std::string accept;
  std::string content_type;
  std::string full_commit;
};

// The scripted behaviour; one test at a time owns it (g_script).
struct Script {
  std::mutex mu;
  std::vector<Seen> seen;
  // Answers in place of the route table when it returns a response.
  std::function<std::optional<server::Response>(const server::Request&)> answer;
  std::atomic<int> delay_ms{0};  // waited before answering
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};

  std::vector<Seen> requests() {
    std::lock_guard lock(mu);
    return seen;
  }
  // The requests whose target contains `part`.
  std::vector<Seen> requests(std::string_view part) {
    std::vector<Seen> out;
    for (auto& s : requests()) {
      if (s.target.find(part) != std::string::npos) out.push_back(std::move(s));
    }
    return out;
  }
  void clear() {
    std::lock_guard lock(mu);
    seen.clear();
  }
};

Script* g_script = nullptr;

server::Task<server::Response> scripted(server::Request& req, server::ServerContext& ctx) {
  Script& script = *g_script;
  std::optional<server::Response> canned;
  {
    std::lock_guard lock(script.mu);
    script.seen.push_back({req.method(), std::string(req.target()), req.body(),
                           std::string(req.header("Authorization")),
                           std::string(req.header("Accept")),
                           std::string(req.header("Content-Type")),
                           std::string(req.header("X-Couch-Full-Commit"))});
    if (script.answer) canned = script.answer(req);
  }
  const int now = ++script.in_flight;
  for (int max = script.max_in_flight.load(); now > max;) {
    if (script.max_in_flight.compare_exchange_weak(max, now)) break;
  }
  if (const int ms = script.delay_ms.load(); ms > 0) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(ms));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // Not a ?: with co_await in one arm: GCC 12 destroys the wrong temporary there.
  server::Response res;
  if (canned) {
    res = std::move(*canned);
  } else {
    res = co_await server::handle_request(req, ctx);
  }
  --script.in_flight;
  co_return res;
}

server::Response canned(unsigned status, std::string body) {
  return server::json_response(static_cast<boost::beast::http::status>(status), std::move(body));
}

bool targets(const server::Request& req, std::string_view part) {
  return req.target().find(part) != std::string_view::npos;
}

struct ScriptedFixture : HttpPeerFixture {
  Script script;
  ScriptedFixture() {
    g_script = &script;
    server_options.route_override = scripted;
  }
  ~ScriptedFixture() {
    // The server goes first: its sessions read the script.
    side.stop()->stop();
    server.reset();
    g_script = nullptr;
  }
};

std::string url_prefix(HttpPeerFixture& f, const std::string& db, const std::string& userinfo = {}) {
  return f.live().url(db, userinfo) + "/";
}

// A port nothing listens on: bound, then closed.
uint16_t closed_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

void seed_docs(PeerNode& node, const std::string& db, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string id = "doc" + std::to_string(i);
    std::vector<engine::NewAttachment> atts;
    if (i % 3 == 0) atts.push_back(data_att("f.bin", "application/x-test", std::string(100 + i, 'x'), 1));
    node.replicate(db, id, 1, {"a" + std::to_string(i)}, Json{{"i", i}}, false, std::move(atts));
  }
}

std::vector<FetchRequest> requests_for(int n) {
  std::vector<FetchRequest> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({"doc" + std::to_string(i), {rev(("1-a" + std::to_string(i)).c_str())}, {}});
  }
  return out;
}

// The fetched docs as comparable text, sorted.
std::vector<std::string> rendered(const FetchResult& result) {
  std::vector<std::string> out;
  for (const auto& doc : result.docs) out.push_back(doc_wire::render_replicated(doc));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// ---- Paths and query values -----------------------------------------------------------------

TEST_CASE("HttpPeer: doc ids in paths as CouchDB's replicator writes them") {
  CHECK(HttpPeer::encode_doc_id("plain-id_1.2:3") == "plain-id_1.2:3");
  CHECK(HttpPeer::encode_doc_id("a/b") == "a%2Fb");
  CHECK(HttpPeer::encode_doc_id("+15551234") == "%2B15551234");
  CHECK(HttpPeer::encode_doc_id("sp ace?&=#%") == "sp%20ace%3F%26%3D%23%25");
  CHECK(HttpPeer::encode_doc_id("é") == "%C3%A9");
  CHECK(HttpPeer::encode_doc_id("_design/app") == "_design/app");
  CHECK(HttpPeer::encode_doc_id("_design/a/b c") == "_design/a%2Fb%20c");
  CHECK(HttpPeer::encode_doc_id("_local/cp+1") == "_local/cp%2B1");
  CHECK(HttpPeer::encode_doc_id("_designer/x") == "_designer%2Fx");
  CHECK(HttpPeer::encode_query_value(R"(["1-a","2-b"])") == "%5B%221-a%22%2C%222-b%22%5D");
}

// ---- What goes over the wire ----------------------------------------------------------------

TEST_CASE_FIXTURE(ScriptedFixture,
                  "HttpPeer: every request carries the credentials, Accept and its body's type") {
  put("db", "a", Json::object());
  auto peer = make_http_peer("db", "us%20er:p%40ss");
  REQUIRE(run(peer->info()).has_value());
  Filter ids;
  ids.kind = Filter::Kind::kDocIds;
  ids.doc_ids = {"a"};
  ChangesRequest request;
  request.filter = &ids;
  REQUIRE(run(peer->changes(request)).has_value());
  REQUIRE(run(peer->revs_diff({{"a", {rev("1-zzz")}}})).has_value());
  auto update = engine::DocUpdate::replicated("b", {1, {"bbb"}}, false, Json::object());
  std::vector<engine::DocUpdate> docs;
  docs.push_back(std::move(*update));
  REQUIRE(run(peer->write(std::move(docs))).has_value());

  const auto seen = script.requests();
  REQUIRE(seen.size() == 4);
  for (const auto& s : seen) {
    CAPTURE(s.target);
    CHECK(s.authorization == "Basic " + base64_encode("us er:p@ss"));
    CHECK(s.accept == "application/json");
    CHECK(s.content_type == (s.method == verb::post ? "application/json" : ""));
  }
  CHECK(seen[0].target == "/db/");
  CHECK(seen[1].method == verb::post);
  CHECK(seen[1].target == "/db/_changes?style=all_docs&since=0&limit=500&filter=_doc_ids");
  CHECK(Json::parse(seen[1].body) == Json{{"doc_ids", {"a"}}});
  CHECK(seen[2].target == "/db/_revs_diff");
  CHECK(Json::parse(seen[2].body) == Json{{"a", {"1-zzz"}}});
  CHECK(seen[3].target == "/db/_bulk_docs");
  CHECK(seen[3].full_commit == "false");
  CHECK(Json::parse(seen[3].body) ==
        Json::parse(R"({"new_edits":false,"docs":[{"_id":"b","_rev":"1-bbb",)"
                    R"("_revisions":{"start":1,"ids":["bbb"]}}]})"));
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.6: the changes requests, as CouchDB's replicator "
                                   "sends them") {
  script.answer = [](const server::Request& req) -> std::optional<server::Response> {
    if (targets(req, "_changes")) return canned(200, R"({"results":[],"last_seq":"9-x"})");
    return std::nullopt;
  };
  db("src");
  auto peer = make_http_peer("src");
  auto target_of = [&](const ChangesRequest& request) {
    script.clear();
    auto page = run(peer->changes(request));
    REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
    CHECK(page->last_seq == "9-x");
    auto seen = script.requests();
    REQUIRE(seen.size() == 1);
    return seen[0];
  };

  ChangesRequest request;
  request.limit = 100;
  CHECK(target_of(request).target == "/src/_changes?style=all_docs&since=0&limit=100");
  request.since = "12-g1AAAA+/=";  // a string seq goes as it is (URL-escaped)
  CHECK(target_of(request).target ==
        "/src/_changes?style=all_docs&since=12-g1AAAA%2B%2F%3D&limit=100");
  request.since = Json::array({3, "x"});  // any other JSON as its text
  CHECK(target_of(request).target ==
        "/src/_changes?style=all_docs&since=%5B3%2C%22x%22%5D&limit=100");
  request.since = 42;
  request.winning_revs_only = true;
  CHECK(target_of(request).target == "/src/_changes?style=main_only&since=42&limit=100");

  ChangesRequest live;
  live.live = true;
  live.timeout = 1500ms;
  const Seen longpoll = target_of(live);
  CHECK(longpoll.target ==
        "/src/_changes?style=all_docs&since=0&limit=500&feed=longpoll&timeout=1500");
  CHECK(longpoll.target.find("heartbeat") == std::string::npos);

  Filter selector;
  selector.kind = Filter::Kind::kSelector;
  selector.selector = Json{{"type", {{"$eq", "a"}}}};
  ChangesRequest by_selector;
  by_selector.filter = &selector;
  const Seen post = target_of(by_selector);
  CHECK(post.method == verb::post);
  CHECK(post.target == "/src/_changes?style=all_docs&since=0&limit=500&filter=_selector");
  CHECK(Json::parse(post.body) == Json{{"selector", selector.selector}});

  Filter design;
  design.kind = Filter::Kind::kBuiltin;
  design.name = "_design";
  ChangesRequest by_design;
  by_design.filter = &design;
  CHECK(target_of(by_design).target ==
        "/src/_changes?style=all_docs&since=0&limit=500&filter=_design");

  Filter function;
  function.kind = Filter::Kind::kDesignDoc;
  function.name = "app/by_type";
  function.ddoc = "app";
  function.function = "by_type";
  function.query_params = Json{{"type", "a b&c"}, {"n", 2}};
  ChangesRequest by_function;
  by_function.filter = &function;
  const Seen get = target_of(by_function);
  CHECK(get.method == verb::get);
  CHECK(get.target ==
        "/src/_changes?style=all_docs&since=0&limit=500&filter=app%2Fby_type&type=a%20b%26c&n=2");
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.6: CouchDB-style answers: heartbeats, opaque seqs, "
                                   "removed rows, empty ids") {
  std::string body;
  script.answer = [&body](const server::Request& req) -> std::optional<server::Response> {
    if (targets(req, "_changes")) return canned(200, body);
    return std::nullopt;
  };
  db("src");
  auto peer = make_http_peer("src");

  body = "\n\n\n"  // heartbeats before the envelope
         R"({"results":[)"
         R"({"seq":"1-g1AAAA","id":"a","changes":[{"rev":"1-aaa"}]},)"
         R"({"seq":"2-g1AAAB","id":"","changes":[{"rev":"1-bbb"}]},)"
         R"({"seq":[3,"x"],"id":"r","changes":[{"rev":"2-rrr"},{"rev":"2-qqq"}],"removed":true},)"
         R"({"seq":4,"id":"del","deleted":true,"changes":[{"rev":"3-ddd"}]}],)"
         "\n"
         R"("last_seq":"4-g1AAAC","pending":7})";
  auto page = run(peer->changes(ChangesRequest{}));
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
  REQUIRE(page->rows.size() == 3);
  CHECK(page->rows[0].id == "a");
  CHECK(page->rows[0].seq == "1-g1AAAA");
  CHECK(page->rows[0].revs == std::vector<revtree::RevId>{rev("1-aaa")});
  CHECK(page->rows[1].id == "r");
  CHECK(page->rows[1].seq == Json::array({3, "x"}));
  CHECK(page->rows[1].revs == std::vector<revtree::RevId>{rev("2-qqq")});
  CHECK(page->rows[2].id == "del");
  CHECK(page->rows[2].seq == 4);
  CHECK(page->rows[2].deleted);
  CHECK(page->last_seq == "4-g1AAAC");
  CHECK(page->pending == 7u);

  // No last_seq: the last row's seq (a skipped row's too); no rows: since.
  body = R"({"results":[{"seq":"5-a","id":"a","changes":[{"rev":"1-aaa"}]},)"
         R"({"seq":"6-b","id":"","changes":[]}]})";
  page = run(peer->changes(ChangesRequest{}));
  REQUIRE(page.has_value());
  CHECK(page->last_seq == "6-b");
  CHECK_FALSE(page->pending.has_value());
  body = R"({"results":[]})";
  ChangesRequest from;
  from.since = "7-c";
  page = run(peer->changes(from));
  REQUIRE(page.has_value());
  CHECK(page->last_seq == "7-c");

  for (const char* bad : {"not json", R"({"last_seq":1})", R"({"results":[{"id":"a"}]})",
                          R"({"results":[{"seq":1,"id":"a","changes":[{"rev":"nope"}]}]})"}) {
    CAPTURE(bad);
    body = bad;
    auto broken = run(peer->changes(ChangesRequest{}));
    REQUIRE_FALSE(broken.has_value());
    CHECK(broken.error().kind == PeerError::Kind::kHttp);
    CHECK(broken.error().status == 200);
    CHECK(broken.error().code == Code::kInternal);
  }
}

// ---- §3.8 the per-document path -------------------------------------------------------------

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.8: use_bulk_get=false fetches per document, a "
                                   "bounded number at once, with the same result") {
  seed_docs(*this, "src", 12);
  auto bulk = make_http_peer("src");
  auto expected = run(bulk->fetch(requests_for(12), false));
  REQUIRE(expected.has_value());
  CHECK(expected->docs.size() == 12);
  CHECK(expected->bulk_get_attempts == 12);
  CHECK(expected->bulk_get_docs == 12);

  peer_options.use_bulk_get = false;
  peer_options.http_connections = 3;
  auto single = make_http_peer("src");
  script.clear();
  script.max_in_flight = 0;
  script.delay_ms = 50;  // long enough for the fetches to overlap
  auto got = run(single->fetch(requests_for(12), false));
  script.delay_ms = 0;
  REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().reason));
  CHECK(rendered(*got) == rendered(*expected));
  CHECK(got->missing.empty());
  CHECK(got->bulk_get_attempts == 0);
  CHECK(got->bulk_get_docs == 0);
  CHECK(script.requests("_bulk_get").empty());
  const auto gets = script.requests("open_revs=");
  CHECK(gets.size() == 12);
  CHECK(gets[0].method == verb::get);
  CHECK(gets[0].accept == "application/json");
  CHECK(gets[0].target.starts_with("/src/doc"));
  CHECK(gets[0].target.find("revs=true") != std::string::npos);
  CHECK(gets[0].target.find("latest=true") != std::string::npos);
  CHECK(gets[0].target.find("attachments=true") != std::string::npos);
  CHECK(script.max_in_flight.load() <= 3);
  CHECK(script.max_in_flight.load() >= 2);
  CHECK_FALSE(single->bulk_get_disabled());  // off by option, not found broken

  // atts_since goes along (and `full` leaves it out); a doc unknown to the source is missing.
  script.clear();
  auto since = run(single->fetch({{"doc0", {rev("2-zzz")}, {rev("1-a0")}},
                                  {"ghost", {rev("1-qqq")}, {rev("1-ppp")}}},
                                 false));
  REQUIRE(since.has_value());
  CHECK(since->docs.empty());
  CHECK(since->missing.size() == 2);
  auto with_since = script.requests("atts_since=");
  CHECK(with_since.size() == 2);
  script.clear();
  REQUIRE(run(single->fetch({{"doc0", {rev("1-a0")}, {rev("1-a0")}}}, true)).has_value());
  CHECK(script.requests("atts_since=").empty());
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.8: a _bulk_get that is missing or malformed is "
                                   "given up for good; a 5xx only for the call") {
  seed_docs(*this, "src", 4);
  struct Case {
    unsigned status;
    const char* body;
    bool remembered;
  };
  for (const Case& c : {Case{404, R"({"error":"not_found","reason":"missing"})", true},
                        Case{405, R"({"error":"method_not_allowed","reason":"Only GET"})", true},
                        Case{200, R"({"results":[],"extra":true})", true},
                        Case{200, R"({"results":[]})", true},  // one result per entry, or nothing
                        Case{200, "<html>", true},
                        Case{500, R"({"error":"unknown_error","reason":"boom"})", false},
                        Case{429, R"({"error":"too_many_requests","reason":"slow"})", false}}) {
    CAPTURE(c.status);
    CAPTURE(c.body);
    script.answer = [c](const server::Request& req) -> std::optional<server::Response> {
      if (targets(req, "_bulk_get")) return canned(c.status, c.body);
      return std::nullopt;
    };
    script.clear();
    auto peer = make_http_peer("src");
    auto got = run(peer->fetch(requests_for(4), false));
    REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().reason));
    CHECK(got->docs.size() == 4);
    CHECK(got->bulk_get_attempts == 4);
    CHECK(got->bulk_get_docs == 0);
    CHECK(script.requests("_bulk_get").size() == 1);
    CHECK(script.requests("open_revs=").size() == 4);
    CHECK(peer->bulk_get_disabled() == c.remembered);

    script.clear();
    auto again = run(peer->fetch(requests_for(4), false));
    REQUIRE(again.has_value());
    CHECK(again->docs.size() == 4);
    CHECK(script.requests("_bulk_get").size() == (c.remembered ? 0u : 1u));
    CHECK(again->bulk_get_attempts == (c.remembered ? 0u : 4u));
  }
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.8: _bulk_get error items other than not_found are "
                                   "fetched again per document") {
  replicate("src", "a", 1, {"aaa"}, Json{{"v", "real"}});
  replicate("src", "b", 1, {"bbb"}, Json{{"v", "real"}});
  script.answer = [](const server::Request& req) -> std::optional<server::Response> {
    if (!targets(req, "_bulk_get")) return std::nullopt;
    return canned(200, R"({"results":[
        {"id":"a","docs":[{"error":{"id":"a","rev":"1-aaa","error":"unknown_error","reason":"x"}}]},
        {"id":"b","docs":[{"ok":{"_id":"b","_rev":"1-bbb","_revisions":{"start":1,"ids":["bbb"]},
                                 "v":"canned"}}]},
        {"id":"c","docs":[{"error":{"id":"c","rev":"1-ccc","error":"not_found","reason":"missing"}}]}
      ]})");
  };
  auto peer = make_http_peer("src");
  auto got = run(peer->fetch({{"a", {rev("1-aaa")}, {}}, {"b", {rev("1-bbb")}, {}},
                              {"c", {rev("1-ccc")}, {}}},
                             false));
  REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().reason));
  REQUIRE(got->docs.size() == 2);
  std::map<std::string, std::string> bodies;
  for (const auto& doc : got->docs) bodies[doc.id()] = doc.body();
  CHECK(bodies["a"] == R"({"v":"real"})");    // from the per-document GET
  CHECK(bodies["b"] == R"({"v":"canned"})");  // from _bulk_get
  REQUIRE(got->missing.size() == 1);
  CHECK(got->missing[0].first == "c");
  CHECK(got->bulk_get_attempts == 3);
  CHECK(got->bulk_get_docs == 1);
  CHECK(script.requests("open_revs=").size() == 1);
  CHECK_FALSE(peer->bulk_get_disabled());
}

// ---- §3.9 writing ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.9: 413 splits the request in halves; a document "
                                   "too large alone fails alone") {
  server_options.max_request_body = 16 * 1024;
  db("dst");
  auto peer = make_http_peer("dst");
  std::vector<engine::DocUpdate> docs;
  for (int i = 0; i < 10; ++i) {
    auto update = engine::DocUpdate::replicated(
        "d" + std::to_string(i), {1, {"aaa"}}, false, Json{{"pad", std::string(3000, 'p')}});
    docs.push_back(std::move(*update));
    if (i == 4) {
      docs.push_back(std::move(*engine::DocUpdate::replicated(
          "huge", {1, {"hhh"}}, false, Json{{"pad", std::string(40000, 'h')}})));
    }
  }
  auto failures = run(peer->write(std::move(docs)));
  REQUIRE_MESSAGE(failures.has_value(), (failures ? "" : failures.error().reason));
  REQUIRE(failures->size() == 1);
  CHECK((*failures)[0].id == "huge");
  CHECK((*failures)[0].rev == "1-hhh");
  CHECK((*failures)[0].error == "too_large");
  CHECK((*failures)[0].reason.find("POST") != std::string::npos);
  auto snapshot = this->db("dst")->snapshot();
  REQUIRE(snapshot.has_value());
  for (int i = 0; i < 10; ++i) CHECK(snapshot->doc("d" + std::to_string(i)).has_value());
  CHECK_FALSE(snapshot->doc("huge").has_value());
  // 11 docs of ~3 KiB in one 4 MiB request, then halves until each fits 16 KiB (≤ 4 docs). The
  // server refuses a request too large before routing it, so the script sees only those that
  // fit: at least 3 (10 docs, ≤ 4 each), at most one per document.
  const auto posts = script.requests("_bulk_docs");
  CHECK(posts.size() >= 3);
  CHECK(posts.size() <= 10);
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.9: a document with much attachment data goes as a "
                                   "multipart/related PUT, the rest in _bulk_docs") {
  db("dst");
  auto peer = make_http_peer("dst");
  std::string big(tuning::kMultipartAttachmentBytes + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) % 251);
  auto update = [&](const char* id, std::string bytes) {
    std::vector<engine::NewAttachment> atts;
    atts.push_back(data_att("a.bin", "application/octet-stream", std::move(bytes), 1));
    auto made = engine::DocUpdate::replicated(id, {1, {"abc"}}, false, Json{{"v", id}},
                                              std::move(atts));
    REQUIRE(made.has_value());
    return std::move(*made);
  };
  std::vector<engine::DocUpdate> docs;
  docs.push_back(update("small", "tiny"));
  docs.push_back(update("big", big));
  const std::string big_wire = doc_wire::render_replicated(docs[1]);
  auto failures = run(peer->write(std::move(docs)));
  REQUIRE_MESSAGE(failures.has_value(), (failures ? "" : failures.error().reason));
  CHECK(failures->empty());

  const auto puts = script.requests("/dst/big?new_edits=false");
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].method == verb::put);
  CHECK(puts[0].content_type.starts_with("multipart/related; boundary="));
  const auto bulk = script.requests("_bulk_docs");
  REQUIRE(bulk.size() == 1);
  CHECK(bulk[0].body.find("\"small\"") != std::string::npos);
  CHECK(bulk[0].body.find("\"big\"") == std::string::npos);

  // The target holds the very revision: fetched back, it renders as the original did.
  auto fetched = run(peer->fetch({{"big", {rev("1-abc")}, {}}}, true));
  REQUIRE(fetched.has_value());
  REQUIRE(fetched->docs.size() == 1);
  CHECK(doc_wire::render_replicated(fetched->docs[0]) == big_wire);
}

TEST_CASE_FIXTURE(HttpPeerFixture, "HttpPeer §3.9: a member's design doc fails alone as "
                                   "forbidden; an anonymous peer is unauthorized") {
  http::server::ensure_system_databases(catalog);
  http::server::AuthOptions auth;
  http::server::Credentials admin;
  admin.name = "admin";
  admin.roles = {"_admin"};
  admin.hash = http::server::hash_password("secret", 1000);
  auth.admins.push_back(admin);
  auth.secret = engine::random_hex(32);
  server_options.auth = std::make_shared<http::server::AuthService>(std::move(auth), catalog);
  db("dst");
  const uint16_t port = live().port();
  const std::pair<std::string, std::string> as_admin{
      "Authorization", "Basic " + base64_encode("admin:secret")};
  REQUIRE(side.raw(port, verb::put, "/_users/org.couchdb.user:bob",
                   R"({"name":"bob","password":"pw","roles":[],"type":"user"})", {as_admin})
              .status == 201);
  REQUIRE(side.raw(port, verb::put, "/dst/_security",
                   R"({"members":{"names":["bob"]},"admins":{"roles":["_admin"]}})", {as_admin})
              .status == 200);

  auto bob = make_http_peer("dst", "bob:pw");
  std::vector<engine::DocUpdate> docs;
  docs.push_back(std::move(*engine::DocUpdate::replicated("_design/app", {1, {"ddd"}}, false,
                                                          Json{{"language", "query"}})));
  docs.push_back(std::move(*engine::DocUpdate::replicated("plain", {1, {"ppp"}}, false,
                                                          Json{{"v", 1}})));
  auto failures = run(bob->write(std::move(docs)));
  REQUIRE_MESSAGE(failures.has_value(), (failures ? "" : failures.error().reason));
  REQUIRE(failures->size() == 1);
  CHECK((*failures)[0].id == "_design/app");
  CHECK((*failures)[0].rev == "1-ddd");
  CHECK((*failures)[0].error == "forbidden");
  CHECK((*failures)[0].reason == "You are not a db or server admin.");
  auto snapshot = db("dst")->snapshot();
  REQUIRE(snapshot.has_value());
  CHECK(snapshot->doc("plain").has_value());

  auto anonymous = make_http_peer("dst");
  auto info = run(anonymous->info());
  REQUIRE_FALSE(info.has_value());
  CHECK(info.error().kind == PeerError::Kind::kHttp);
  CHECK(info.error().status == 401);
  CHECK(info.error().code == Code::kUnauthorized);
  CHECK(info.error().error == "unauthorized");
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer §3.9: other statuses of _bulk_docs are the call's "
                                   "error; 412 missing_stub carries its code") {
  db("dst");
  auto peer = make_http_peer("dst");
  auto one = [] {
    std::vector<engine::DocUpdate> docs;
    docs.push_back(std::move(*engine::DocUpdate::replicated("d", {1, {"aaa"}}, false,
                                                            Json::object())));
    return docs;
  };
  struct Case {
    unsigned status;
    const char* body;
    Code code;
  };
  for (const Case& c :
       {Case{412, R"({"error":"missing_stub","reason":"Invalid attachment stub in d for f"})",
             Code::kMissingStub},
        Case{500, R"({"error":"unknown_error","reason":"boom"})", Code::kInternal},
        Case{400, R"({"error":"bad_request","reason":"nope"})", Code::kBadRequest}}) {
    CAPTURE(c.status);
    script.answer = [c](const server::Request& req) -> std::optional<server::Response> {
      if (targets(req, "_bulk_docs")) return canned(c.status, c.body);
      return std::nullopt;
    };
    auto result = run(peer->write(one()));
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().kind == PeerError::Kind::kHttp);
    CHECK(result.error().status == c.status);
    CHECK(result.error().code == c.code);
  }
  // 202 (CouchDB without a quorum) is success, and its error items are the failures.
  script.answer = [](const server::Request& req) -> std::optional<server::Response> {
    if (targets(req, "_bulk_docs")) {
      return canned(202, R"([{"id":"d","error":"unauthorized","reason":"no"}])");
    }
    return std::nullopt;
  };
  auto accepted = run(peer->write(one()));
  REQUIRE(accepted.has_value());
  REQUIRE(accepted->size() == 1);
  CHECK((*accepted)[0].id == "d");
  CHECK((*accepted)[0].rev == "1-aaa");  // not in the item: the rev that was sent
  CHECK((*accepted)[0].error == "unauthorized");
  CHECK((*accepted)[0].reason == "no");
}

// ---- Errors, timeouts, the stop switch ------------------------------------------------------

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer: error statuses name method and URL, never the "
                                   "password") {
  auto peer = make_http_peer("missing", "user:secret");
  CHECK(peer->display_name() == url_prefix(*this, "missing", "user:*****"));
  auto info = run(peer->info());
  REQUIRE_FALSE(info.has_value());
  const PeerError& e = info.error();
  CHECK(e.kind == PeerError::Kind::kHttp);
  CHECK(e.status == 404);
  CHECK(e.code == Code::kNotFound);
  CHECK(e.error == "not_found");
  CHECK(e.reason == "GET " + url_prefix(*this, "missing", "user:*****") +
                        ": 404 not_found: Database does not exist.");
  CHECK(e.reason.find("secret") == std::string::npos);

  // A 200 that is no database info (spec §3.2).
  script.answer = [](const server::Request& req) -> std::optional<server::Response> {
    if (req.target() == "/odd/") return canned(200, R"({"db_name":"odd"})");
    return std::nullopt;
  };
  auto odd = make_http_peer("odd");
  auto no_info = run(odd->info());
  REQUIRE_FALSE(no_info.has_value());
  CHECK(no_info.error().kind == PeerError::Kind::kHttp);
  CHECK(no_info.error().status == 404);
  CHECK(no_info.error().code == Code::kNotFound);
  CHECK(no_info.error().reason == "could not open " + url_prefix(*this, "odd"));

  // put_local: 409 is a conflict; create: 412 is success, 401 is not.
  script.answer = [](const server::Request& req) -> std::optional<server::Response> {
    if (targets(req, "_local/")) return canned(409, R"({"error":"conflict","reason":"c"})");
    if (req.method() == verb::put && req.target().starts_with("/exists/")) {
      return canned(412, R"({"error":"file_exists","reason":"The database could not be created."})");
    }
    if (req.method() == verb::put && req.target().starts_with("/locked/")) {
      return canned(401, R"({"error":"unauthorized","reason":"You are not a server admin."})");
    }
    return std::nullopt;
  };
  auto conflict = run(odd->put_local("_local/x", Json::object()));
  REQUIRE_FALSE(conflict.has_value());
  CHECK(conflict.error().code == Code::kConflict);
  CHECK(conflict.error().status == 409);
  CHECK(run(make_http_peer("exists")->create(Json::object())).has_value());
  auto locked = run(make_http_peer("locked")->create(Json::object()));
  REQUIRE_FALSE(locked.has_value());
  CHECK(locked.error().code == Code::kUnauthorized);

  // create_target_params travel as query arguments.
  script.clear();
  REQUIRE(run(make_http_peer("made")->create(Json{{"q", 1}, {"n", "1"}})).has_value());
  CHECK(script.requests()[0].target == "/made/?q=1&n=1");
  CHECK(catalog.open("made").has_value());
}

TEST_CASE_FIXTURE(ScriptedFixture, "HttpPeer: no answer is kTransport, a slow one kTimeout") {
  HttpPeer nobody(side.client(),
                  parse_endpoint("http://127.0.0.1:" + std::to_string(closed_port()) + "/db"),
                  peer_options, side.stop());
  auto refused = run(nobody.info());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().kind == PeerError::Kind::kTransport);
  CHECK(refused.error().status == 0);

  db("slow");
  peer_options.connection_timeout = 300ms;
  auto peer = make_http_peer("slow");
  script.delay_ms = 3000;
  const auto started = Clock::now();
  auto late = run(peer->info());
  script.delay_ms = 0;
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().kind == PeerError::Kind::kTimeout);
  CHECK(late.error().reason.starts_with("timeout"));
  CHECK(Clock::now() - started < 2500ms);
}

TEST_CASE_FIXTURE(HttpPeerFixture, "HttpPeer §6: the stop switch ends a live read at once") {
  put("src", "a", Json::object());
  auto peer = make_http_peer("src");
  ChangesRequest all;
  auto first = run(peer->changes(all));
  REQUIRE(first.has_value());
  ChangesRequest live;
  live.since = first->last_seq;
  live.live = true;
  live.timeout = 10s;
  auto future = start(peer->changes(live));
  std::this_thread::sleep_for(200ms);
  REQUIRE(future.wait_for(0s) == std::future_status::timeout);
  const auto stopped = Clock::now();
  side.stop()->stop();
  auto result = wait(future, 5s);
  CHECK(Clock::now() - stopped < 1s);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().kind == PeerError::Kind::kTransport);
  CHECK(result.error().reason.starts_with("cancelled"));
}

}  // namespace divan::replicator::test
