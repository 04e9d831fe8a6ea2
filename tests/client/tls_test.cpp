// https origins against the test server with certificates made by test_pki.cpp: verification with
// a CA file, without it, turned off, host name mismatch, and keep-alive and the idle-close retry
// over TLS.
#include <atomic>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include "client_test_util.h"
#include "test_pki.h"
#include "test_server.h"

namespace divan::http::client::test {
namespace {

namespace asio = boost::asio;

// The host names a TLS test checks: 127.0.0.1, and "localhost" where it resolves to 127.0.0.1
// (a bare chroot, as a fresh-machine check builds, may have no /etc/hosts entry for it).
std::vector<const char*> test_hosts() {
  std::vector<const char*> hosts{"127.0.0.1"};
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  for (const auto& entry : resolver.resolve("localhost", "0", ec)) {
    if (entry.endpoint().address() == asio::ip::make_address("127.0.0.1")) {
      hosts.push_back("localhost");
      break;
    }
  }
  if (hosts.size() == 1) MESSAGE("localhost does not resolve to 127.0.0.1 here: checked by IP only");
  return hosts;
}

ServerTls good_cert() { return {test_pki().server_cert, test_pki().server_key}; }
ServerTls wrong_cert() { return {test_pki().wrong_cert, test_pki().wrong_key}; }

ClientOptions trusting_test_ca() {
  ClientOptions options;
  options.ca_file = test_pki().ca_file;
  return options;
}

Reply secure_ok(const std::string& body = "secure") { return Reply{response(200, body)}; }

TEST_CASE("TLS: the peer is verified against ca_file, by IP address and by name") {
  const ServerTls tls = good_cert();
  TestServer server([](const Received&) { return secure_ok(); }, &tls);
  ClientSide side(trusting_test_ca());
  const auto hosts = test_hosts();
  for (const char* host : hosts) {
    CAPTURE(host);
    auto result = side.send(Origin{true, host, server.port()}, get("/"));
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->body == "secure");
  }
  auto seen = server.requests();
  REQUIRE(seen.size() == hosts.size());
  CHECK(seen.back().header("Host") == std::string(hosts.back()) + ":" +
                                         std::to_string(server.port()));
}

TEST_CASE("TLS: a certificate from an unknown CA is refused with kTls") {
  const ServerTls tls = good_cert();
  TestServer server([](const Received&) { return secure_ok(); }, &tls);
  ClientSide side;  // the system's CAs only
  auto result = side.send(local_origin(server.port(), true), get("/"));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTls);
  MESSAGE(result.error().message);
  CHECK(server.requests().empty());
}

TEST_CASE("TLS: verify_peer=false accepts any certificate") {
  const ServerTls tls = wrong_cert();
  TestServer server([](const Received&) { return secure_ok(); }, &tls);
  ClientOptions options;
  options.verify_peer = false;
  ClientSide side(options);
  auto result = side.send(local_origin(server.port(), true), get("/"));
  REQUIRE(result);
  CHECK(result->body == "secure");
}

TEST_CASE("TLS: a certificate for another host is refused with kTls") {
  const ServerTls tls = wrong_cert();  // trusted CA, but names only wrong.example
  TestServer server([](const Received&) { return secure_ok(); }, &tls);
  ClientSide side(trusting_test_ca());
  for (const char* host : test_hosts()) {
    CAPTURE(host);
    auto result = side.send(Origin{true, host, server.port()}, get("/"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == ErrorKind::kTls);
    CHECK(result.error().message.find("mismatch") != std::string::npos);
  }
  CHECK(server.requests().empty());
}

TEST_CASE("TLS: a CA file that cannot be read fails https requests with kTls") {
  ClientOptions options;
  options.ca_file = "/nonexistent/divan-ca.pem";
  ClientSide side(options);
  auto result = side.send(local_origin(9, true), get("/"));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTls);
  CHECK(result.error().message.find("/nonexistent/divan-ca.pem") != std::string::npos);
}

TEST_CASE("TLS: a plain HTTP server on an https origin is kTls") {
  TestServer server([](const Received&) { return secure_ok(); });
  ClientSide side(trusting_test_ca());
  auto result = side.send(local_origin(server.port(), true), get("/"));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTls);
}

TEST_CASE("TLS: a handshake that never completes is kTimeout") {
  // A listening socket that never accepts: the kernel completes the TCP handshake, nobody speaks.
  asio::io_context ioc;
  asio::ip::tcp::acceptor silent(ioc,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  ClientSide side(trusting_test_ca());
  auto result = side.send(local_origin(silent.local_endpoint().port(), true), get("/", 200ms));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::kTimeout);
  CHECK(result.error().message.find("TLS handshake") != std::string::npos);
}

TEST_CASE("TLS: keep-alive, and the idle-close retry, work over TLS") {
  std::atomic<int> calls{0};
  const ServerTls tls = good_cert();
  TestServer server(
      [&](const Received&) {
        Reply reply = secure_ok(std::to_string(++calls));
        reply.close_after = calls == 3;  // closed without close_notify, like a server's idle close
        return reply;
      },
      &tls);
  ClientSide side(trusting_test_ca());
  const Origin origin = local_origin(server.port(), true);
  for (int i = 1; i <= 3; ++i) {
    auto result = side.send(origin, get("/"));
    REQUIRE(result);
    CHECK(result->body == std::to_string(i));
  }
  CHECK(server.accepted() == 1);
  REQUIRE(server.wait_open(0));
  auto result = side.send(origin, get("/"));
  REQUIRE(result);
  CHECK(result->body == "4");
  CHECK(server.accepted() == 2);
}

}  // namespace
}  // namespace divan::http::client::test
