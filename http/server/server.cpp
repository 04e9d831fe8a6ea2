#include "http/server/server.h"

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "http/server/auth_service.h"
#include "http/server/handler.h"
#include "http/server/response.h"
#include "http/server/routes.h"

namespace divan::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

struct Server::Impl {
  ServerOptions options;
  changes::Notifier notifier;
  ServerContext context;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};
  std::atomic<int> active_requests{0};

  Impl(ServerOptions opts, engine::Catalog& catalog)
      : options(std::move(opts)),
        context{catalog, notifier},
        ioc(static_cast<int>(thread_count())) {
    context.auth = options.auth.get();
  }

  size_t thread_count() const {
    if (options.threads) return options.threads;
    return std::max(1u, std::thread::hardware_concurrency());
  }

  Task<void> accept_loop();
  Task<void> session(tcp::socket socket);
  Task<bool> serve_one(beast::tcp_stream& stream, beast::flat_buffer& buffer);
  Task<void> drain_and_stop();
};

namespace {

// Errors a client caused while sending its request: answered 400/413 before closing.
std::optional<Error> request_error(const beast::error_code& ec) {
  using he = bhttp::error;
  if (ec == he::body_limit) return Error{Code::kTooLarge, "the request entity is too large"};
  if (ec == he::header_limit) return Error{Code::kBadRequest, "Request header too large"};
  if (ec.category() == bhttp::make_error_code(he::bad_target).category() &&
      ec != he::end_of_stream && ec != he::partial_message) {
    return Error{Code::kBadRequest, "Bad request: " + ec.message()};
  }
  return std::nullopt;
}

// True for no Transfer-Encoding or plain "chunked": the only coding we decode.
bool only_chunked(std::string_view transfer_encoding) {
  while (!transfer_encoding.empty() && transfer_encoding.front() == ' ') transfer_encoding.remove_prefix(1);
  while (!transfer_encoding.empty() && transfer_encoding.back() == ' ') transfer_encoding.remove_suffix(1);
  return transfer_encoding.empty() || beast::iequals(transfer_encoding, "chunked");
}

// Parses body bytes that arrived with the header. True when that finished the message (or failed:
// then `ec` is set); false when the rest must still be read from the socket. Beast's async_read
// does the same first, but then completes through a post (a trip through the scheduler, often a
// thread wake-up) even when it needed no I/O, which is the usual case for small requests.
bool parse_buffered_body(bhttp::request_parser<bhttp::string_body>& parser,
                         beast::flat_buffer& buffer, beast::error_code& ec) {
  parser.eager(true);  // as async_read sets it: parse the whole body, not one piece per call
  while (!parser.is_done() && buffer.size() > 0) {
    size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      break;
    }
    if (ec) return true;
    if (used == 0) break;  // no progress: let async_read take over
  }
  return parser.is_done();
}

// The response's header block, exactly as bhttp::async_write would send it (Beast's own
// FieldsWriter), so header and body go out as one two-buffer write. bhttp::async_write walks the
// serializer's nested buffer views (buffers_cat_view inside buffers_prefix_view, twice over)
// several times per call: callgrind put that at ~20k instructions per small response, a quarter of
// a whole GET, against ~2k this way.
std::string header_block(const Response& res) {
  Response::fields_type::writer writer(res, res.version(), res.result_int());
  const auto buffers = writer.get();
  std::string out(asio::buffer_size(buffers), '\0');
  asio::buffer_copy(asio::buffer(out), buffers);
  return out;
}

}  // namespace

Task<void> Server::Impl::accept_loop() {
  while (!stopping) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kNoThrow);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket)), asio::detached);
  }
}

Task<void> Server::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;  // (Must persist between reads: it may hold the next request's bytes)
  try {
    while (!stopping && co_await serve_one(stream, buffer)) {
    }
  } catch (const std::exception& e) {
    spdlog::warn("connection dropped: {}", e.what());
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// Reads one request, answers it; false when the connection should close.
Task<bool> Server::Impl::serve_one(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(options.max_request_body);

  stream.expires_after(options.idle_timeout);
  auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kNoThrow);
  // The access log is at info; below that level it must cost nothing, not even the clock reads.
  const bool access_log = spdlog::should_log(spdlog::level::info);
  const auto started =
      access_log ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  Response res;
  bool read_ok = !ec;
  if (read_ok) {
    auto& header = parser.get();
    auto length = parser.content_length();
    if (length && *length > options.max_request_body) {
      read_ok = false;  // refuse before reading a byte of it
      ec = bhttp::error::body_limit;
    } else if (!only_chunked(header[bhttp::field::transfer_encoding])) {
      // Beast would decode the chunks and silently keep, say, gzip bytes as the body.
      read_ok = false;
      ec = bhttp::error::bad_transfer_encoding;
    } else {
      if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
        std::tie(ec, n) = co_await bhttp::async_write(stream, cont, kNoThrow);
      }
      if (!ec && !parse_buffered_body(parser, buffer, ec)) {
        stream.expires_after(options.request_timeout);
        std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
      }
      read_ok = !ec;
    }
  }
  if (!read_ok) {
    auto error = request_error(ec);
    if (!error) co_return false;  // closed, reset or timed out: nobody to answer
    res = error_response(*error);
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(10));
    co_await bhttp::async_write(stream, res, kNoThrow);
    spdlog::info("- - {} (bad request: {})", res.result_int(), ec.message());
    co_return false;
  }

  ++active_requests;
  Request req(parser.release());
  req.set_connection(&stream);
  res = co_await handle_request(req, context);
  if (req.streamed()) {
    --active_requests;
    if (access_log) {
      auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started).count();
      spdlog::info("{} {} {} {}us (streamed)", req.method_string(), req.target(), res.result_int(),
                   micros);
    }
    co_return req.reusable() && req.keep_alive() && !stopping;
  }
  res.version(req.version());
  res.set(bhttp::field::server, "Divan/0.1.0 (CouchDB/3 compatible)");
  if (context.auth) context.auth->finish_response(req, res);  // session cookie refresh, CORS
  res.keep_alive(req.keep_alive() && !stopping);
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) {
    // Same headers as GET, no body: keep Content-Length, drop the bytes.
    auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  const std::string header = header_block(res);
  const std::array<asio::const_buffer, 2> message{asio::buffer(header), asio::buffer(res.body())};
  stream.expires_after(options.request_timeout);
  auto [wec, wn] = co_await asio::async_write(stream, message, kNoThrow);
  --active_requests;
  if (access_log) {
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started).count();
    spdlog::info("{} {} {} {}us", req.method_string(), req.target(), res.result_int(), micros);
  }
  co_return !wec && res.keep_alive();
}

Task<void> Server::Impl::drain_and_stop() {
  // Let requests already being handled finish (bounded), so their writes get answered.
  asio::steady_timer timer(ioc);
  for (int i = 0; i < 500 && active_requests > 0; ++i) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(kNoThrow);
  }
  ioc.stop();
}

Server::Server(ServerOptions options, engine::Catalog& catalog)
    : impl_(std::make_unique<Impl>(std::move(options), catalog)) {}

Server::~Server() = default;

uint16_t Server::start() {
  auto address = asio::ip::make_address(impl_->options.bind);
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor.local_endpoint().port();
}

void Server::run() {
  asio::signal_set signals(impl_->ioc, SIGINT, SIGTERM);
  signals.async_wait([this](const beast::error_code& ec, int signal) {
    if (!ec) spdlog::info("signal {}: shutting down", signal);
    stop();
  });
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < impl_->thread_count(); ++i) threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads) t.join();
}

void Server::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] {
    if (impl->stopping.exchange(true)) return;
    beast::error_code ec;
    impl->acceptor.close(ec);
    asio::co_spawn(impl->ioc, impl->drain_and_stop(), asio::detached);
  });
}

}  // namespace divan::http
