#include "test_server.h"

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace divan::http::client::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string Received::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return v;
  }
  return {};
}

bool Received::has_header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return true;
  }
  return false;
}

std::string response(unsigned status, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(bhttp::obsolete_reason(bhttp::int_to_status(status))) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

struct TestServer::Impl {
  Impl(TestServer& o, Handler h, const ServerTls* tls_files) : owner(o), handler(std::move(h)) {
    if (tls_files) {
      tls.emplace(ssl::context::tls_server);
      tls->use_certificate_chain(asio::buffer(tls_files->cert));
      tls->use_private_key(asio::buffer(tls_files->key), ssl::context::pem);
    }
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
      if (ec) co_return;
      int id = ++owner.accepted_;
      asio::co_spawn(ioc, session(std::move(socket), id), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket, int id) {
    int now_open = ++owner.open_;
    int most = owner.max_open_.load();
    while (now_open > most && !owner.max_open_.compare_exchange_weak(most, now_open)) {
    }
    struct Closed {
      std::atomic<int>& open;
      ~Closed() { --open; }
    } closed{owner.open_};
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
      if (!ec) co_await serve(stream, id);
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, id);
    }
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, int id) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> req;
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, req, kNoThrow);
      if (ec) co_return;
      Received received;
      received.method = std::string(req.method_string());
      received.target = std::string(req.target());
      received.body = req.body();
      received.connection = id;
      for (const auto& field : req) {
        received.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      {
        std::lock_guard lock(owner.mu_);
        owner.requests_.push_back(received);
      }
      Reply reply = handler(received);
      if (reply.hang) {
        // Never answer; notice the client closing (or the server stopping).
        char sink[4096];
        for (;;) {
          auto [read_ec, m] = co_await stream.async_read_some(asio::buffer(sink), kNoThrow);
          if (read_ec) co_return;
        }
      }
      if (reply.delay.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, reply.delay);
        co_await timer.async_wait(kNoThrow);
      }
      auto [write_ec, w] = co_await asio::async_write(stream, asio::buffer(reply.raw), kNoThrow);
      if (write_ec || reply.close_after) co_return;
    }
  }

  TestServer& owner;
  Handler handler;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> tls;
};

TestServer::TestServer(Handler handler, const ServerTls* tls)
    : impl_(std::make_unique<Impl>(*this, std::move(handler), tls)) {
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

TestServer::~TestServer() {
  impl_->ioc.stop();
  thread_.join();
  impl_.reset();  // destroys the sessions' coroutines, which closes their sockets
}

std::vector<Received> TestServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

bool TestServer::wait_for(const std::function<bool()>& done,
                          std::chrono::milliseconds within) const {
  const auto until = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

bool TestServer::wait_open(int n, std::chrono::milliseconds within) const {
  return wait_for([&] { return open() == n; }, within);
}

bool TestServer::wait_requests(size_t n, std::chrono::milliseconds within) const {
  return wait_for([&] { return requests().size() >= n; }, within);
}

}  // namespace divan::http::client::test
