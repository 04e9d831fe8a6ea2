// The client against a real server over loopback sockets: round trips, keep-alive, the pool cap
// and its FIFO queue, timeouts, connection failures, the idle-close retry, body framings and
// codings, stop switches and shutdown. TLS is in tls_test.cpp.
#include <atomic>
#include <future>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include "client_test_util.h"
#include "test_server.h"

namespace divan::http::client::test {
namespace {

namespace asio = boost::asio;

// How long a stopped request may take to end. Closing its socket through the strand takes well
// under a millisecond; the margin is for a loaded machine, and still far below the replicator's
// need (a job that is stopped must let go of its connections at once, not at the next timeout).
constexpr auto kPrompt = 200ms;

Reply ok(const std::string& body = "ok",
         const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return Reply{response(200, body, headers)};
}

Reply hang() {
  Reply reply;
  reply.hang = true;
  return reply;
}

TEST_CASE("GET and POST round trip: method, target, headers and body both ways") {
  TestServer server([](const Received& r) {
    return ok(r.method + " " + r.target + " " + r.body,
              {{"Content-Type", "text/plain"}, {"X-Echo-Auth", r.header("Authorization")}});
  });
  ClientSide side;
  const Origin origin = local_origin(server.port());

  Request get_request = get("/db/doc?revs=true");
  get_request.headers = {{"Authorization", "Basic YWRtaW46c2VjcmV0"},
                         {"Accept", "application/json"}};
  auto got = side.send(origin, get_request);
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == "GET /db/doc?revs=true ");
  CHECK(got->headers[bhttp::field::content_type] == "text/plain");
  CHECK(got->headers["X-Echo-Auth"] == "Basic YWRtaW46c2VjcmV0");

  Request post;
  post.method = bhttp::verb::post;
  post.target = "/db/_bulk_docs";
  post.headers = {{"Content-Type", "application/json"}};
  post.body = R"({"docs":[],"new_edits":false})";
  auto posted = side.send(origin, post);
  REQUIRE(posted);
  CHECK(posted->body == "POST /db/_bulk_docs " + post.body);

  Request put;  // an empty PUT still says Content-Length: 0 (servers may demand 411 otherwise)
  put.method = bhttp::verb::put;
  put.target = "/newdb";
  REQUIRE(side.send(origin, put));

  auto seen = server.requests();
  REQUIRE(seen.size() == 3);
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  for (const auto& r : seen) {
    CHECK(r.header("Host") == host);
    CHECK(r.header("User-Agent") == "Divan/0.1");
    CHECK(r.header("Accept-Encoding") == "gzip");
  }
  CHECK(seen[0].header("Authorization") == "Basic YWRtaW46c2VjcmV0");
  CHECK(seen[0].header("Accept") == "application/json");
  CHECK_FALSE(seen[0].has_header("Content-Length"));  // a GET without a body has none
  CHECK(seen[1].header("Content-Length") == std::to_string(post.body.size()));
  CHECK(seen[1].header("Content-Type") == "application/json");
  CHECK(seen[2].header("Content-Length") == "0");
}

TEST_CASE("an error status is a response, not a transport error") {
  TestServer server([](const Received&) {
    return Reply{response(404, R"({"error":"not_found","reason":"missing"})")};
  });
  ClientSide side;
  auto got = side.send(local_origin(server.port()), get("/db/missing"));
  REQUIRE(got);
  CHECK(got->status == 404);
  CHECK(got->body == R"({"error":"not_found","reason":"missing"})");
}

TEST_CASE("request headers: the caller's replace ours, framing is ours, injection is refused") {
  TestServer server([](const Received&) { return ok(); });
  ClientSide side;
  const Origin origin = local_origin(server.port());

  Request request = get("/");
  request.headers = {{"User-Agent", "CouchDB-Replicator/3.3"},
                     {"Content-Length", "999"},
                     {"X-Twice", "a"},
                     {"X-Twice", "b"}};
  REQUIRE(side.send(origin, request));
  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].header("User-Agent") == "CouchDB-Replicator/3.3");
  CHECK_FALSE(seen[0].has_header("Content-Length"));
  int twice = 0;
  for (const auto& [name, value] : seen[0].headers) twice += name == "X-Twice";
  CHECK(twice == 2);

  for (auto [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"X-Evil", "a\r\nX-Injected: 1"},
                                                        {"X-Evil", std::string("a\0b", 3)},
                                                        {"Bad Name", "v"}}) {
    CAPTURE(name);
    Request bad = get("/");
    bad.headers = {{name, value}};
    auto result = side.send(origin, bad);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kProtocol);
    CHECK(result.error().message.find('\n') == std::string::npos);
  }
  auto bad_target = side.send(origin, get("/db HTTP/1.1\r\nX: y"));
  REQUIRE_FALSE(bad_target);
  CHECK(bad_target.error().kind == ErrorKind::kProtocol);
  CHECK(bad_target.error().message.find('\n') == std::string::npos);
  CHECK(server.requests().size() == 1);  // none of them was sent
}

TEST_CASE("keep-alive: sequential requests reuse one connection") {
  TestServer server([](const Received&) { return ok(); });
  ClientSide side;
  for (int i = 0; i < 5; ++i) REQUIRE(side.send(local_origin(server.port()), get("/")));
  CHECK(server.accepted() == 1);
  CHECK(server.requests().size() == 5);
}

TEST_CASE("pool cap: N+5 concurrent requests never hold more than N connections, and all finish") {
  constexpr size_t kCap = 3;
  TestServer server([](const Received&) {
    Reply reply = ok();
    reply.delay = 60ms;  // long enough that the requests overlap
    return reply;
  });
  ClientOptions options;
  options.max_connections_per_origin = kCap;
  ClientSide side(options);
  std::vector<std::future<Result<Response>>> futures;
  for (size_t i = 0; i < kCap + 5; ++i) {
    futures.push_back(side.start(local_origin(server.port()), get("/" + std::to_string(i))));
  }
  for (auto& future : futures) {
    auto result = ClientSide::wait(future);
    REQUIRE(result);
    CHECK(result->status == 200);
  }
  CHECK(server.requests().size() == kCap + 5);
  CHECK(server.max_open() <= int{kCap});
  CHECK(server.accepted() <= int{kCap});
}

TEST_CASE("requests waiting for a slot get it first come, first served") {
  TestServer server([](const Received& r) {
    Reply reply = ok(r.target);
    if (r.target == "/hold") reply.delay = 150ms;
    return reply;
  });
  ClientOptions options;
  options.max_connections_per_origin = 1;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());
  auto hold = side.start(origin, get("/hold"));
  REQUIRE(server.wait_requests(1));
  std::vector<std::future<Result<Response>>> waiting;
  for (const char* target : {"/a", "/b", "/c", "/d"}) {
    waiting.push_back(side.start(origin, get(target)));
    std::this_thread::sleep_for(10ms);  // so each is queued before the next
  }
  REQUIRE(ClientSide::wait(hold));
  for (auto& future : waiting) REQUIRE(ClientSide::wait(future));
  std::vector<std::string> order;
  for (const auto& r : server.requests()) order.push_back(r.target);
  CHECK(order == std::vector<std::string>{"/hold", "/a", "/b", "/c", "/d"});
  CHECK(server.accepted() == 1);  // one slot, one connection, reused in turn
}

TEST_CASE("a request waiting for a slot that never frees times out with kTimeout") {
  TestServer server([](const Received&) { return hang(); });
  ClientOptions options;
  options.max_connections_per_origin = 1;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());

  Request holder = get("/_changes?feed=longpoll", 10s);  // holds the one slot: not long_poll
  holder.stop = std::make_shared<StopToken>();
  auto held = side.start(origin, holder);
  REQUIRE(server.wait_requests(1));

  const auto started = Clock::now();
  auto waited = side.send(origin, get("/second", 200ms));
  const auto elapsed = Clock::now() - started;
  REQUIRE_FALSE(waited);
  CHECK(waited.error().kind == ErrorKind::kTimeout);
  CHECK(waited.error().message.find("waiting for a connection slot") != std::string::npos);
  CHECK(elapsed >= 200ms);
  CHECK(elapsed < 1500ms);
  CHECK(server.requests().size() == 1);

  holder.stop->stop();
  auto ended = ClientSide::wait(held);
  REQUIRE_FALSE(ended);
  CHECK(ended.error().kind == ErrorKind::kCancelled);
}

TEST_CASE("long-poll requests do not take a slot") {
  TestServer server([](const Received& r) { return r.target == "/_changes" ? hang() : ok(); });
  ClientOptions options;
  options.max_connections_per_origin = 1;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());
  Request feed = get("/_changes", 10s);
  feed.long_poll = true;
  feed.stop = std::make_shared<StopToken>();
  auto feed_future = side.start(origin, feed);
  REQUIRE(server.wait_requests(1));
  REQUIRE(side.send(origin, get("/doc", 2s)));  // the one slot is still free
  feed.stop->stop();
  CHECK(ClientSide::wait(feed_future).error().kind == ErrorKind::kCancelled);
}

TEST_CASE("a server that accepts and never answers: kTimeout, and the connection is closed") {
  TestServer server([](const Received&) { return hang(); });
  ClientSide side;
  const auto started = Clock::now();
  auto result = side.send(local_origin(server.port()), get("/slow", 200ms));
  const auto elapsed = Clock::now() - started;
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTimeout);
  CHECK(result.error().message.find("reading the response") != std::string::npos);
  CHECK(result.error().message.find(local_origin(server.port()).str()) != std::string::npos);
  CHECK(elapsed >= 200ms);
  CHECK(elapsed < 1500ms);
  CHECK(server.wait_open(0));  // closed, never put back in the pool
}

TEST_CASE("connection refused is kConnect") {
  uint16_t port = 0;
  {
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor(
        ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }  // closed: nothing listens on `port` now
  ClientSide side;
  auto result = side.send(local_origin(port), get("/"));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kConnect);
  CHECK(result.error().message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("the connection lost mid-response is kConnectionLost") {
  SUBCASE("closed mid-body") {
    TestServer server([](const Received&) {
      return Reply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", .close_after = true};
    });
    ClientSide side;
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kConnectionLost);
    CHECK(server.requests().size() == 1);  // bytes had arrived: no retry
  }
  SUBCASE("closed without answering, on a fresh connection: no retry") {
    TestServer server([](const Received&) { return Reply{.raw = "", .close_after = true}; });
    ClientSide side;
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kConnectionLost);
    CHECK(server.requests().size() == 1);
  }
  SUBCASE("garbage instead of HTTP is kProtocol") {
    TestServer server(
        [](const Received&) { return Reply{.raw = "SMTP ready\r\n\r\n", .close_after = true}; });
    ClientSide side;
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kProtocol);
  }
}

TEST_CASE("a stale idle connection closed by the server is retried once on a fresh one") {
  // The first answer keeps the connection alive as far as the client can tell, then the server
  // closes it, as a server does with idle connections.
  std::atomic<int> calls{0};
  TestServer server([&](const Received&) {
    Reply reply = ok(std::to_string(++calls));
    reply.close_after = calls == 1;
    return reply;
  });
  ClientSide side;
  const Origin origin = local_origin(server.port());
  REQUIRE(side.send(origin, get("/first")));
  REQUIRE(server.wait_open(0));  // the client holds it idle, the server has closed it

  Request post;
  post.method = bhttp::verb::post;
  post.target = "/db/_revs_diff";
  post.body = R"({"doc":["1-a"]})";
  auto result = side.send(origin, post);
  REQUIRE(result);
  CHECK(result->body == "2");
  CHECK(server.accepted() == 2);
  auto seen = server.requests();
  REQUIRE(seen.size() == 2);  // the stale attempt never reached the server
  CHECK(seen[1].body == post.body);
  CHECK(seen[1].connection == 2);
}

TEST_CASE("chunked responses are reassembled") {
  TestServer server([](const Received&) {
    return Reply{.raw =
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n"};
  });
  ClientSide side;
  const Origin origin = local_origin(server.port());
  for (int i = 0; i < 2; ++i) {  // and the connection stays usable after the last chunk
    auto result = side.send(origin, get("/"));
    REQUIRE(result);
    CHECK(result->body == "hello world!");
  }
  CHECK(server.accepted() == 1);
}

TEST_CASE("an interim 100 Continue is skipped") {
  TestServer server([](const Received&) {
    return Reply{.raw = "HTTP/1.1 100 Continue\r\n\r\n" + response(201, "created")};
  });
  ClientSide side;
  auto result = side.send(local_origin(server.port()), get("/"));
  REQUIRE(result);
  CHECK(result->status == 201);
  CHECK(result->body == "created");
}

TEST_CASE("gzip and deflate bodies are decoded, Content-Encoding removed") {
  const std::string body = R"({"results":[)" + std::string(5000, 'x') + "]}";
  std::string encoding, encoded;
  SUBCASE("gzip") { encoding = "gzip", encoded = gzip(body); }
  SUBCASE("x-gzip") { encoding = "x-gzip", encoded = gzip(body); }
  SUBCASE("deflate (zlib format)") { encoding = "deflate", encoded = zlib_deflate(body); }
  SUBCASE("deflate (raw, as some servers send it)") {
    encoding = "deflate", encoded = raw_deflate(body);
  }
  CAPTURE(encoding);
  TestServer server([&](const Received&) {
    return ok(encoded, {{"Content-Encoding", encoding}, {"Content-Type", "application/json"}});
  });
  ClientSide side;
  auto result = side.send(local_origin(server.port()), get("/db/_changes"));
  REQUIRE(result);
  CHECK(result->body == body);
  CHECK(result->headers.count(bhttp::field::content_encoding) == 0);
  CHECK(result->headers[bhttp::field::content_length] == std::to_string(body.size()));
  CHECK(result->headers[bhttp::field::content_type] == "application/json");
}

TEST_CASE("limits: a body or a gzip bomb past max_response_body is kTooLarge") {
  ClientOptions options;
  options.max_response_body = 1 << 20;
  SUBCASE("gzip bomb: 32 MiB of zeros in ~32 KiB") {
    const std::string bomb = compress(std::string(32 << 20, '\0'), 16 + 15, 1);
    REQUIRE(bomb.size() < options.max_response_body);
    TestServer server([&](const Received&) { return ok(bomb, {{"Content-Encoding", "gzip"}}); });
    ClientSide side(options);
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kTooLarge);
  }
  SUBCASE("plain body over the limit") {
    const std::string big((1 << 20) + 1, 'b');
    TestServer server([&](const Received&) { return ok(big); });
    ClientSide side(options);
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kTooLarge);
    CHECK(server.wait_open(0));
  }
  SUBCASE("exactly the limit is fine") {
    const std::string full(1 << 20, 'f');
    TestServer server([&](const Received&) {
      return ok(gzip(full), {{"Content-Encoding", "gzip"}});
    });
    ClientSide side(options);
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE(result);
    CHECK(result->body == full);
  }
  SUBCASE("corrupt gzip is kProtocol") {
    TestServer server([&](const Received&) {
      return ok("definitely not gzip", {{"Content-Encoding", "gzip"}});
    });
    ClientSide side(options);
    auto result = side.send(local_origin(server.port()), get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kProtocol);
  }
}

TEST_CASE("Connection: close is honoured: the next request opens a new connection") {
  TestServer server([](const Received&) { return ok("ok", {{"Connection", "close"}}); });
  ClientSide side;
  const Origin origin = local_origin(server.port());
  REQUIRE(side.send(origin, get("/1")));
  // The server keeps its side open: the client must be the one to close it.
  CHECK(server.wait_open(0));
  REQUIRE(side.send(origin, get("/2")));
  CHECK(server.accepted() == 2);
}

TEST_CASE("a request's own Connection: close is honoured too") {
  TestServer server([](const Received&) { return ok(); });
  ClientSide side;
  Request request = get("/");
  request.headers = {{"Connection", "close"}};
  REQUIRE(side.send(local_origin(server.port()), request));
  CHECK(server.wait_open(0));
}

TEST_CASE("HTTP/1.0: no keep-alive unless asked, and a body that ends with the connection") {
  SUBCASE("HTTP/1.0 with Content-Length") {
    TestServer server([](const Received&) {
      return Reply{.raw = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    });
    ClientSide side;
    const Origin origin = local_origin(server.port());
    REQUIRE(side.send(origin, get("/1")));
    REQUIRE(side.send(origin, get("/2")));
    CHECK(server.accepted() == 2);
  }
  SUBCASE("HTTP/1.0 with Connection: keep-alive is reused") {
    TestServer server([](const Received&) {
      return Reply{.raw =
                       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"};
    });
    ClientSide side;
    const Origin origin = local_origin(server.port());
    REQUIRE(side.send(origin, get("/1")));
    REQUIRE(side.send(origin, get("/2")));
    CHECK(server.accepted() == 1);
  }
  SUBCASE("body delimited by the connection's end") {
    TestServer server([](const Received&) {
      return Reply{.raw = "HTTP/1.0 200 OK\r\n\r\nuntil the end", .close_after = true};
    });
    ClientSide side;
    const Origin origin = local_origin(server.port());
    for (int i = 0; i < 2; ++i) {
      auto result = side.send(origin, get("/"));
      REQUIRE(result);
      CHECK(result->body == "until the end");
    }
    CHECK(server.accepted() == 2);
  }
}

TEST_CASE("HEAD: headers only, the connection stays usable") {
  TestServer server([](const Received& r) {
    if (r.method == "HEAD") {
      return Reply{.raw = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"1-a\"\r\n\r\n"};
    }
    return ok("after");
  });
  ClientSide side;
  const Origin origin = local_origin(server.port());
  Request head = get("/db/doc");
  head.method = bhttp::verb::head;
  auto result = side.send(origin, head);
  REQUIRE(result);
  CHECK(result->headers[bhttp::field::etag] == "\"1-a\"");
  CHECK(result->body.empty());
  auto after = side.send(origin, get("/"));
  REQUIRE(after);
  CHECK(after->body == "after");
  CHECK(server.accepted() == 1);
}

TEST_CASE("idle connections are closed after idle_timeout") {
  TestServer server([](const Received&) { return ok(); });
  ClientOptions options;
  options.idle_timeout = 150ms;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());
  REQUIRE(side.send(origin, get("/")));
  CHECK(server.open() == 1);
  CHECK(server.wait_open(0, 2s));  // closed by the client's sweep, not by the server
  REQUIRE(side.send(origin, get("/")));
  CHECK(server.accepted() == 2);
}

TEST_CASE("max_idle_per_origin bounds the idle connections kept") {
  TestServer server([](const Received&) {
    Reply reply = ok();
    reply.delay = 50ms;
    return reply;
  });
  ClientOptions options;
  options.max_idle_per_origin = 2;
  ClientSide side(options);
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(side.start(local_origin(server.port()), get("/")));
  for (auto& future : futures) REQUIRE(ClientSide::wait(future));
  CHECK(server.accepted() == 5);
  CHECK(server.wait_open(2));
}

TEST_CASE("StopToken ends an in-flight long-poll request promptly") {
  TestServer server([](const Received&) { return hang(); });
  ClientSide side;
  Request feed = get("/db/_changes?feed=longpoll&timeout=60000", 60s);
  feed.long_poll = true;
  feed.stop = std::make_shared<StopToken>();
  auto future = side.start(local_origin(server.port()), feed);
  REQUIRE(server.wait_requests(1));
  const auto stopped_at = Clock::now();
  feed.stop->stop();
  REQUIRE(future.wait_for(2s) == std::future_status::ready);
  const auto took = Clock::now() - stopped_at;
  auto result = future.get();
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kCancelled);
  CHECK(took < kPrompt);
  MESSAGE("stop() to kCancelled: ",
          std::chrono::duration_cast<std::chrono::microseconds>(took).count(), " us");
  CHECK(server.wait_open(0));
}

TEST_CASE("StopToken: requests sent later end at once, waiting ones promptly, others go on") {
  TestServer server([](const Received& r) { return r.target == "/hold" ? hang() : ok(); });
  ClientOptions options;
  options.max_connections_per_origin = 1;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());
  auto job_a = std::make_shared<StopToken>();
  auto job_b = std::make_shared<StopToken>();

  Request hold = get("/hold", 10s);
  hold.stop = job_a;
  auto held = side.start(origin, hold);
  REQUIRE(server.wait_requests(1));

  Request waiting = get("/waits", 10s);
  waiting.stop = job_b;
  auto waiter = side.start(origin, waiting);
  std::this_thread::sleep_for(20ms);  // queued behind /hold
  const auto stopped_at = Clock::now();
  job_b->stop();
  auto waited = ClientSide::wait(waiter, 2s);
  REQUIRE_FALSE(waited);
  CHECK(waited.error().kind == ErrorKind::kCancelled);
  CHECK(Clock::now() - stopped_at < kPrompt);
  CHECK(held.wait_for(0s) == std::future_status::timeout);  // job A's request goes on

  Request later = get("/later");
  later.stop = job_b;
  auto refused = side.send(origin, later);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kCancelled);

  job_a->stop();
  CHECK(ClientSide::wait(held, 2s).error().kind == ErrorKind::kCancelled);
  // The slot came back: a request without a stopped token goes through.
  REQUIRE(side.send(origin, get("/after")));
  CHECK(server.requests().size() == 2);  // /hold and /after
}

TEST_CASE("shutdown ends in-flight and waiting requests and refuses later ones") {
  TestServer server([](const Received&) { return hang(); });
  ClientOptions options;
  options.max_connections_per_origin = 1;
  ClientSide side(options);
  const Origin origin = local_origin(server.port());
  auto in_flight = side.start(origin, get("/1", 10s));
  REQUIRE(server.wait_requests(1));
  auto waiting = side.start(origin, get("/2", 10s));
  std::this_thread::sleep_for(20ms);
  side.client().shutdown();
  CHECK(ClientSide::wait(in_flight, 2s).error().kind == ErrorKind::kCancelled);
  CHECK(ClientSide::wait(waiting, 2s).error().kind == ErrorKind::kCancelled);
  auto later = side.send(origin, get("/3"));
  REQUIRE_FALSE(later);
  CHECK(later.error().kind == ErrorKind::kCancelled);
  CHECK(server.wait_open(0));
}

TEST_CASE("a zero timeout fails at once with kTimeout") {
  ClientSide side;
  auto result = side.send(local_origin(9), get("/", 0ms));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTimeout);
}

TEST_CASE("Origin: str() and the Host header") {
  CHECK(Origin{false, "127.0.0.1", 5984}.str() == "http://127.0.0.1:5984");
  CHECK(Origin{true, "::1", 6984}.str() == "https://[::1]:6984");
  CHECK(Origin{false, "example.org", 80}.host_header() == "example.org");
  CHECK(Origin{true, "example.org", 443}.host_header() == "example.org");
  CHECK(Origin{true, "example.org", 80}.host_header() == "example.org:80");
  CHECK(Origin{false, "::1", 5984}.host_header() == "[::1]:5984");
  CHECK(Origin{false, "a", 1} < Origin{false, "b", 1});
  CHECK(name(ErrorKind::kConnectionLost) == "connection_lost");
}

}  // namespace
}  // namespace divan::http::client::test
