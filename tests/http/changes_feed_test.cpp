// The changes feeds at the HTTP layer: rows rendered as CouchDB's JSON (changes_json.h), each feed
// type's framing through the route table, and live feeds woken by a database that only the catalog
// opened (the way the replicator opens one), over a real socket.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "changes/feed.h"
#include "changes/notifier.h"
#include "http/server/changes_json.h"
#include "http/server/server.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

revtree::Leaf leaf(std::string_view rev, bool deleted = false) {
  auto parsed = revtree::parse_rev(rev);
  REQUIRE(parsed.has_value());
  return revtree::Leaf{*parsed, deleted};
}

std::string json_of(const changes::ChangeRow& row) {
  std::string out;
  append_row_json(out, row);
  return out;
}

TEST_CASE("changes rows as CouchDB's JSON") {
  changes::ChangeRow row;
  row.seq = 4;
  row.id = "a";
  row.changes = {leaf("2-abc")};
  CHECK(json_of(row) == R"({"seq":"4","id":"a","changes":[{"rev":"2-abc"}]})");

  // style=all_docs lists every leaf as given (leaf order); "deleted" is the winner's alone.
  row.changes = {leaf("2-q", true), leaf("2-p", true)};
  row.deleted = true;
  CHECK(json_of(row) ==
        R"({"seq":"4","id":"a","changes":[{"rev":"2-q"},{"rev":"2-p"}],"deleted":true})");
  row.changes = {leaf("2-y"), leaf("3-x", true)};
  row.deleted = false;
  CHECK(json_of(row) == R"({"seq":"4","id":"a","changes":[{"rev":"2-y"},{"rev":"3-x"}]})");

  // include_docs: the doc last, after "deleted", spliced as it is.
  row.changes = {leaf("3-d", true)};
  row.deleted = true;
  row.doc = R"({"_id":"a","_rev":"3-d","_deleted":true})";
  CHECK(json_of(row) == R"({"seq":"4","id":"a","changes":[{"rev":"3-d"}],"deleted":true,)"
                        R"("doc":{"_id":"a","_rev":"3-d","_deleted":true}})");

  // Ids and rev ids that need escaping (any string is a legal id, and a replicated rev id).
  changes::ChangeRow odd;
  odd.seq = 18446744073709551615ull;
  odd.id = "q\"uo\\te\x01";
  odd.changes = {revtree::Leaf{revtree::RevId{7, "a\"b"}, false}};
  CHECK(json_of(odd) ==
        R"({"seq":"18446744073709551615","id":"q\"uo\\te\u0001","changes":[{"rev":"7-a\"b"}]})");
  // Appends: rows go straight into the page's chunk.
  std::string chunk = "x";
  append_row_json(chunk, row);
  CHECK(chunk == "x" + json_of(row));
}

TEST_CASE("_db_updates rows as CouchDB's JSON") {
  auto json = [](uint64_t seq, std::string name, changes::DbEventType type) {
    std::string out;
    append_row_json(out, changes::DbEvent{seq, std::move(name), type});
    return out;
  };
  CHECK(json(1, "a/b", changes::DbEventType::kCreated) ==
        R"({"seq":"1","db_name":"a/b","type":"created"})");
  CHECK(json(22, "x", changes::DbEventType::kUpdated) ==
        R"({"seq":"22","db_name":"x","type":"updated"})");
  CHECK(json(3, "x", changes::DbEventType::kDeleted) ==
        R"({"seq":"3","db_name":"x","type":"deleted"})");
}

TEST_CASE("feed framing through the route table: envelope, lines, eventsource ids") {
  Node node;
  node.replicate("a", 1, {"x"});
  node.replicate("b", 2, {"y", "x"}, "{}", true);
  const std::string a = R"({"seq":"1","id":"a","changes":[{"rev":"1-x"}]})";
  const std::string b = R"({"seq":"2","id":"b","changes":[{"rev":"2-y"}],"deleted":true})";

  auto normal = node.get("/db/_changes");
  CHECK(normal.result() == bhttp::status::ok);
  CHECK(normal.body() == "{\"results\":[\n" + a + ",\r\n" + b + "\n],\n\"last_seq\":\"2\",\"pending\":0}\n");
  auto limited = node.get("/db/_changes?limit=1");
  CHECK(limited.body() == "{\"results\":[\n" + a + "\n],\n\"last_seq\":\"1\",\"pending\":1}\n");
  // Without a connection a live feed ends after what is there.
  CHECK(node.get("/db/_changes?feed=continuous").body() ==
        a + "\n" + b + "\n{\"last_seq\":\"2\",\"pending\":0}\n");
  CHECK(node.get("/db/_changes?feed=eventsource").body() ==
        "data: " + a + "\nid: \"1\"\n\ndata: " + b + "\nid: \"2\"\n\n");

  // _db_updates: the Node's "db" was created after its notifier subscribed (seq 1); its second
  // commit's event replaced the first's. Commit observers run just after write() returned.
  for (int i = 0; i < 500 && node.notifier.last_db_event_seq() < 3; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(node.notifier.last_db_event_seq() == 3);
  CHECK(node.get("/_db_updates").body() ==
        "{\"results\":[\n{\"seq\":\"1\",\"db_name\":\"db\",\"type\":\"created\"},\r\n"
        "{\"seq\":\"3\",\"db_name\":\"db\",\"type\":\"updated\"}\n],\n\"last_seq\":\"3\"}\n");
  CHECK(node.get("/_db_updates?feed=eventsource&since=1").body() ==
        "data: {\"seq\":\"3\",\"db_name\":\"db\",\"type\":\"updated\"}\nid: \"3\"\n\n");
}

// GET `target` on 127.0.0.1:`port` and the response body. The feeds asked for here end on their
// own (their timeout parameter), so this never waits unboundedly.
std::string get_body(uint16_t port, const std::string& target) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(socket, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return res.body();
}

TEST_CASE("a database opened only through the catalog wakes a longpoll feed and _db_updates") {
  TempDir dir;
  {
    engine::Catalog earlier(test_options(dir));
    REQUIRE(earlier.create("cold").has_value());
  }
  engine::Catalog catalog(test_options(dir));
  changes::Notifier notifier(catalog);
  ServerOptions options;
  options.port = 0;
  options.threads = 2;
  Server server(options, catalog, notifier);
  const uint16_t port = server.start();
  std::thread serving([&] { server.run(); });
  struct StopAtExit {
    Server& server;
    std::thread& thread;
    ~StopAtExit() {
      server.stop();
      thread.join();
    }
  } stop_at_exit{server, serving};

  // Opened the way the replicator will: through the catalog, by no handler.
  auto db = catalog.open("cold").value();
  const auto start = std::chrono::steady_clock::now();
  auto changes = std::async(std::launch::async, [&] {
    return get_body(port, "/cold/_changes?feed=longpoll&since=0&timeout=5000");
  });
  auto updates = std::async(std::launch::async, [&] {
    return get_body(port, "/_db_updates?feed=longpoll&since=0&timeout=5000");
  });
  // Let both feeds reach their wait (if they are slower, they find the write and answer at once).
  std::this_thread::sleep_for(300ms);
  std::vector<engine::WriteOp> ops;
  ops.push_back(
      engine::DocUpdate::replicated_stored("a", revtree::RevPath{1, {"x"}}, false, "{}"));
  REQUIRE(db->write(std::move(ops)).has_value());

  REQUIRE(changes.wait_for(10s) == std::future_status::ready);
  REQUIRE(updates.wait_for(10s) == std::future_status::ready);
  // Woken by the commit, not ended by the 5 s timeout.
  CHECK(std::chrono::steady_clock::now() - start < 4s);
  CHECK(changes.get() ==
        "{\"results\":[\n{\"seq\":\"1\",\"id\":\"a\",\"changes\":[{\"rev\":\"1-x\"}]}\n],\n"
        "\"last_seq\":\"1\",\"pending\":0}\n");
  CHECK(updates.get() ==
        "{\"results\":[\n{\"seq\":\"1\",\"db_name\":\"cold\",\"type\":\"updated\"}\n],\n"
        "\"last_seq\":\"1\"}\n");
}

}  // namespace
}  // namespace divan::http::server::test
