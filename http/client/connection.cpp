#include "http/client/connection.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace divan::http::client::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// A response header block larger than this is refused (kTooLarge). Beast's default is 8 KiB;
// CouchDB's own headers are far smaller, but proxies add theirs, and 64 KiB costs nothing.
constexpr uint32_t kHeaderLimit = 64 * 1024;
// What a connection's read buffer may keep between requests after a large header grew it.
constexpr size_t kKeptBufferCapacity = 16 * 1024;
// Targets longer than this are cut in error messages: a log line, not a dump.
constexpr size_t kMostTargetInMessage = 200;

// A DNS lookup that the exchange can abandon. asio runs getaddrinfo on a private thread, and
// cancel() cannot interrupt it: a lookup stuck on an unresponsive DNS server would outlive the
// request's timeout. So the exchange waits on `wake` (cancelled by the lookup's completion, by
// abort(), or expiring at the deadline) instead of on the lookup, and the lookup's handler keeps
// this state alive for as long as it takes.
struct ResolveState {
  explicit ResolveState(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
  tcp::resolver resolver;
  asio::steady_timer wake;
  bool done = false;
  beast::error_code ec;
  tcp::resolver::results_type results;
};

Connection::Connection(asio::any_io_executor s, ssl::context* tls_context) : strand(std::move(s)) {
  if (tls_context) {
    tls.emplace(strand, *tls_context);
  } else {
    plain.emplace(strand);
  }
}

Connection::~Connection() = default;

void Connection::abort() {
  aborted = true;
  if (resolving) {
    resolving->resolver.cancel();
    resolving->wake.cancel();
  }
  close();
}

void Connection::close() {
  // No TLS close_notify: a connection is closed when it is broken, timed out, cancelled or idle
  // too long, and waiting for the peer's answer would only delay that. Nothing can be cut short
  // by it: we close only after a complete response or when the exchange failed anyway.
  tcp().close();
  open = false;
}

std::string describe(const Origin& origin, const Request& request) {
  std::string out = origin.str();
  out += ' ';
  out += std::string_view(bhttp::to_string(request.method));
  out += ' ';
  std::string_view target = request.target;
  for (unsigned char c : target.substr(0, kMostTargetInMessage)) {
    out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);  // one line, even for a bad target
  }
  if (target.size() > kMostTargetInMessage) out += "...";
  out += ": ";
  return out;
}

namespace {

const std::error_category& http_category() {
  return bhttp::make_error_code(bhttp::error::end_of_stream).category();
}

// What a failed send or read of a response means.
ErrorKind transfer_error_kind(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit ||
      ec == bhttp::error::buffer_overflow) {
    return ErrorKind::kTooLarge;
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == ssl::error::stream_truncated) {
    return ErrorKind::kConnectionLost;
  }
  if (ec.category() == http_category()) return ErrorKind::kProtocol;
  if (ec.category() == asio::error::get_ssl_category()) return ErrorKind::kTls;
  return ErrorKind::kConnectionLost;  // reset, broken pipe, eof, …
}

// Why OpenSSL refused the peer's certificate, when that is why the handshake failed.
std::string verify_failure(ssl::stream<beast::tcp_stream>::native_handle_type ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return std::string(" (") + X509_verify_cert_error_string(result) + ")";
}

// Sets SNI and what name the certificate must carry. False if OpenSSL refused the name.
bool prepare_tls(beast::ssl_stream<beast::tcp_stream>& stream, const std::string& host, bool is_ip,
                 bool verify_peer) {
  SSL* ssl = stream.native_handle();
  // SNI carries DNS names only (RFC 6066 §3).
  if (!is_ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (!verify_peer) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

// The fields the client writes itself and a request's own headers replace.
bool replaces_ours(std::string_view name) {
  return beast::iequals(name, "host") || beast::iequals(name, "user-agent") ||
         beast::iequals(name, "accept-encoding");
}

// Framing is the client's: a caller's value could only contradict the body it sent.
bool is_framing(std::string_view name) {
  return beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding");
}

using RequestMessage = bhttp::request<bhttp::span_body<const char>>;

RequestMessage make_message(const Origin& origin, const Request& request,
                            const ExchangeSettings& settings) {
  RequestMessage msg{request.method, request.target, 11};
  msg.set(bhttp::field::host, origin.host_header());
  msg.set(bhttp::field::user_agent, settings.user_agent);
  msg.set(bhttp::field::accept_encoding, "gzip");
  for (const auto& [name, value] : request.headers) {
    if (is_framing(name)) continue;
    if (replaces_ours(name)) {
      msg.set(name, value);
    } else {
      msg.insert(name, value);
    }
  }
  const auto method = request.method;
  if (!request.body.empty() || method == bhttp::verb::post || method == bhttp::verb::put ||
      method == bhttp::verb::patch) {
    msg.content_length(request.body.size());
  }
  msg.body() = {request.body.data(), request.body.size()};
  return msg;
}

// One exchange's error handling: the state it needs to name what went wrong.
struct Failure {
  Connection& conn;
  const Origin& origin;
  const Request& request;
  Clock::time_point deadline;
  StopToken& shutdown;
  const char* phase = "connecting";
  bool reused = false;
  bool got_byte = false;  // a response byte arrived

  bool stopped() const {
    return conn.aborted || shutdown.stopped() || (request.stop && request.stop->stopped());
  }

  // Closes the connection and names the failure: kCancelled when a stop switch was flipped,
  // kTimeout when the deadline passed, else `kind` with the system's reason.
  Attempt operator()(ErrorKind kind, const beast::error_code& ec, std::string detail = {}) {
    std::string why;
    if (stopped()) {
      kind = ErrorKind::kCancelled;
      why = std::string("cancelled while ") + phase;
    } else if (ec == beast::error::timeout || Clock::now() >= deadline) {
      kind = ErrorKind::kTimeout;
      why = "timed out after " + std::to_string(request.timeout.count()) + " ms while " + phase;
    } else {
      why = std::string(phase) + ": " + ec.message() + detail;
    }
    conn.close();
    Attempt attempt;
    attempt.retry = reused && !got_byte && kind == ErrorKind::kConnectionLost;
    attempt.result = tl::unexpected(TransportError{kind, describe(origin, request) + why});
    return attempt;
  }
};

template <typename Stream>
asio::awaitable<std::tuple<beast::error_code, size_t>> write_message(Stream& stream,
                                                                     RequestMessage& msg) {
  co_return co_await bhttp::async_write(stream, msg, kNoThrow);
}

template <typename Stream>
asio::awaitable<std::tuple<beast::error_code, size_t>> read_message(
    Stream& stream, beast::flat_buffer& buffer,
    bhttp::response_parser<bhttp::string_body>& parser) {
  co_return co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
}

// Resolves origin.host (unless it is an IP literal) into the endpoints to try, in order.
asio::awaitable<tl::expected<std::vector<tcp::endpoint>, beast::error_code>> endpoints_of(
    Connection& conn, const Origin& origin, Clock::time_point deadline) {
  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  auto address = asio::ip::make_address(origin.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, origin.port);
    co_return endpoints;
  }
  auto state = std::make_shared<ResolveState>(conn.strand);
  conn.resolving = state;
  state->wake.expires_at(deadline);
  // The handler runs on the resolver's executor: the connection's strand.
  state->resolver.async_resolve(
      origin.host, std::to_string(origin.port), tcp::resolver::numeric_service,
      [state](const beast::error_code& e, tcp::resolver::results_type results) {
        state->done = true;
        state->ec = e;
        state->results = std::move(results);
        state->wake.cancel();
      });
  while (!state->done && !conn.aborted && Clock::now() < deadline) {
    co_await state->wake.async_wait(kNoThrow);
  }
  conn.resolving.reset();
  if (!state->done) {
    state->resolver.cancel();
    co_return tl::unexpected(beast::error_code(asio::error::operation_aborted));
  }
  if (state->ec) co_return tl::unexpected(state->ec);
  for (const auto& entry : state->results) endpoints.push_back(entry.endpoint());
  if (endpoints.empty()) co_return tl::unexpected(beast::error_code(asio::error::host_not_found));
  co_return endpoints;
}

asio::awaitable<Attempt> run_exchange(Connection& conn, const Origin& origin,
                                      const Request& request, Clock::time_point deadline,
                                      const ExchangeSettings& settings, StopToken& shutdown) {
  Failure fail{conn, origin, request, deadline, shutdown};
  fail.reused = conn.open;
  const beast::error_code aborted_ec = asio::error::operation_aborted;

  if (!conn.open) {
    if (fail.stopped()) co_return fail(ErrorKind::kCancelled, aborted_ec);
    fail.phase = "resolving the host name";
    auto endpoints = co_await endpoints_of(conn, origin, deadline);
    if (!endpoints) co_return fail(ErrorKind::kResolve, endpoints.error());

    fail.phase = "connecting";
    if (fail.stopped()) co_return fail(ErrorKind::kCancelled, aborted_ec);
    conn.tcp().expires_at(deadline);
    auto [connect_ec, endpoint] = co_await conn.tcp().async_connect(*endpoints, kNoThrow);
    if (connect_ec) co_return fail(ErrorKind::kConnect, connect_ec);
    beast::error_code ignored;
    // Requests go out in one write, but a response read waits on the peer's delayed ACK otherwise.
    conn.tcp().socket().set_option(tcp::no_delay(true), ignored);

    if (conn.tls) {
      fail.phase = "in the TLS handshake";
      beast::error_code ip_ec;
      asio::ip::make_address(origin.host, ip_ec);
      if (!prepare_tls(*conn.tls, origin.host, !ip_ec, settings.verify_peer)) {
        co_return fail(ErrorKind::kTls,
                       ssl::error::make_error_code(ssl::error::unspecified_system_error),
                       " (OpenSSL refused the host name)");
      }
      auto [handshake_ec] = co_await conn.tls->async_handshake(ssl::stream_base::client, kNoThrow);
      if (handshake_ec) {
        co_return fail(ErrorKind::kTls, handshake_ec, verify_failure(conn.tls->native_handle()));
      }
    }
    conn.open = true;
  }

  fail.phase = "sending the request";
  if (fail.stopped()) co_return fail(ErrorKind::kCancelled, aborted_ec);
  RequestMessage msg = make_message(origin, request, settings);
  conn.tcp().expires_at(deadline);
  auto [write_ec, written] =
      conn.tls ? co_await write_message(*conn.tls, msg) : co_await write_message(*conn.plain, msg);
  if (write_ec) co_return fail(transfer_error_kind(write_ec), write_ec);

  fail.phase = "reading the response";
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  for (;;) {
    parser.emplace();
    parser->body_limit(settings.max_response_body);
    parser->header_limit(kHeaderLimit);
    if (request.method == bhttp::verb::head) parser->skip(true);
    auto [read_ec, read] = conn.tls ? co_await read_message(*conn.tls, conn.buffer, *parser)
                                    : co_await read_message(*conn.plain, conn.buffer, *parser);
    if (parser->got_some() || conn.buffer.size() > 0) fail.got_byte = true;
    if (read_ec) co_return fail(transfer_error_kind(read_ec), read_ec);
    const unsigned status = parser->get().result_int();
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    if (status < 100 || status >= 200 || status == 101) break;
  }
  conn.tcp().expires_never();  // no timer left pending while the connection sits idle

  Attempt attempt;
  const bool delimited = !parser->need_eof();
  auto message = parser->release();
  // Reusable when both sides meant keep-alive (RFC 9112 §9.3: HTTP/1.0 needs it said), the body
  // did not end with the connection, and nothing unasked-for arrived after it.
  attempt.reusable = message.keep_alive() && msg.keep_alive() && delimited &&
                     message.result_int() != 101 && conn.buffer.size() == 0 && !fail.stopped();
  if (attempt.reusable) {
    if (conn.buffer.capacity() > kKeptBufferCapacity) conn.buffer.shrink_to_fit();
  } else {
    conn.close();
  }
  Response response;
  response.status = message.result_int();
  response.body = std::move(message.body());
  response.headers = std::move(static_cast<bhttp::fields&>(message.base()));
  attempt.result = std::move(response);
  co_return attempt;
}

}  // namespace

asio::awaitable<Attempt> exchange(std::shared_ptr<Connection> conn, const Origin& origin,
                                  const Request& request, Clock::time_point deadline,
                                  const ExchangeSettings& settings, StopToken& shutdown) {
  conn->aborted = false;
  // Stop switches call back on any thread: they post abort() to the strand, where it is a no-op
  // once this exchange is over (the connection may serve another request by then).
  auto finished = std::make_shared<bool>(false);
  auto on_stop = [conn, finished] {
    asio::post(conn->strand, [conn, finished] {
      if (!*finished) conn->abort();
    });
  };
  StopToken::Registration by_request;
  if (request.stop) by_request = request.stop->on_stop(on_stop);
  StopToken::Registration by_shutdown = shutdown.on_stop(on_stop);

  Attempt attempt = co_await run_exchange(*conn, origin, request, deadline, settings, shutdown);
  *finished = true;
  if (attempt.reusable && conn->aborted) {
    // Stopped right after the response arrived: the response stands, the connection is closed.
    attempt.reusable = false;
  }
  co_return attempt;
}

}  // namespace divan::http::client::detail
