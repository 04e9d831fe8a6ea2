#include "http/server/server.h"

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <tuple>
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
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "http/server/auth_service.h"
#include "http/server/handler.h"
#include "http/server/header_values.h"
#include "http/server/response.h"
#include "http/server/routes.h"
#include "http/server/stream.h"

namespace divan::http::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

using HeaderParser = bhttp::request_parser<bhttp::empty_body>;
using BufferedParser = bhttp::request_parser<bhttp::string_body>;
using StreamedParser = bhttp::request_parser<bhttp::buffer_body>;
using Clock = std::chrono::steady_clock;

// What became of a request's body by the time its handler returned: whether the next bytes on the
// connection are the next request.
enum class BodyState {
  kRead,    // read to its end: the connection may serve another request
  kUnread,  // the handler left some of it unread (or it was malformed): answer, then close
  kLost,    // the client went away or timed out mid-body: nobody to answer
};

class SocketBodyReader;

struct Server::Impl {
  ServerOptions options;
  ServerContext context;
  std::unique_ptr<asio::io_context> own_ioc;  // when the node gave none (tests)
  asio::io_context& ioc;
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};
  std::atomic<int> active_requests{0};
  std::atomic<int> idle_feeds{0};  // of active_requests: feeds waiting for a change (stream.h)

  Impl(ServerOptions opts, engine::Catalog& catalog, changes::Notifier& notifier)
      : options(std::move(opts)),
        context{catalog, notifier},
        own_ioc(options.io_context ? nullptr
                                   : std::make_unique<asio::io_context>(
                                         static_cast<int>(thread_count()))),
        ioc(options.io_context ? *options.io_context : *own_ioc) {
    context.auth = options.auth.get();
    context.max_attachment_size = options.max_attachment_size;
    context.scheduler = options.scheduler;
    context.mesh = options.mesh;
  }

  size_t thread_count() const {
    if (options.threads) return options.threads;
    return std::max(1u, std::thread::hardware_concurrency());
  }

  Task<void> accept_loop();
  Task<void> session(tcp::socket socket);
  Task<bool> serve_one(beast::tcp_stream& stream, beast::flat_buffer& buffer);
  Task<beast::error_code> read_rest_of_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            BufferedParser& parser);
  Task<bool> serve_streamed(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                            HeaderParser& header_parser, Clock::time_point started);
  Task<bool> respond(beast::tcp_stream& stream, Request& req, const SocketBodyReader* reader,
                     Clock::time_point started);
  Task<bool> refuse(beast::tcp_stream& stream, const beast::error_code& ec, bool head);
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
  transfer_encoding = trim_ows(transfer_encoding);
  return transfer_encoding.empty() || beast::iequals(transfer_encoding, "chunked");
}

// Refusals decided from the header alone, before a byte of the body is read. `body_limit` is the
// limit of the body's kind (buffered or streamed).
beast::error_code check_header(const HeaderParser& parser, uint64_t body_limit) {
  auto length = parser.content_length();
  if (length && *length > body_limit) return bhttp::error::body_limit;
  // Beast would decode the chunks and silently keep, say, gzip bytes as the body.
  if (!only_chunked(parser.get()[bhttp::field::transfer_encoding])) {
    return bhttp::error::bad_transfer_encoding;
  }
  return {};
}

// Whether a request the header parser refused said HEAD. Once the request line has parsed, the
// parser knows the method; when the line itself was refused (bad version or target, a request line
// over the header limit), nothing of it was consumed, so the method token starts the buffer.
bool refused_request_is_head(const HeaderParser& parser, const beast::flat_buffer& buffer) {
  if (parser.get().method() == bhttp::verb::head) return true;
  const auto bytes = buffer.data();
  const std::string_view start(static_cast<const char*>(bytes.data()), bytes.size());
  return start.starts_with("HEAD ");
}

// The client holds the body back until we answer 100 Continue (RFC 9110 §10.1.1): curl and the
// CouchDB replicator do so for large bodies.
bool expects_continue(const bhttp::request_header<>& header) {
  return beast::iequals(header[bhttp::field::expect], "100-continue");
}

Task<beast::error_code> send_continue(beast::tcp_stream& stream, unsigned version) {
  bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
  auto [ec, n] = co_await bhttp::async_write(stream, cont, kNoThrow);
  co_return ec;
}

// Parses body bytes that arrived with the header. True when that finished the message (or failed:
// then `ec` is set); false when the rest must still be read from the socket. Beast's async_read
// does the same first, but then completes through a post (a trip through the scheduler, often a
// thread wake-up) even when it needed no I/O, which is the usual case for small requests.
bool parse_buffered_body(BufferedParser& parser, beast::flat_buffer& buffer,
                         beast::error_code& ec) {
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

// The answer to a HEAD: the headers GET would get, Content-Length kept, no bytes (RFC 9110 §9.3.2).
// Every answer to a HEAD goes through this, errors included: a client reading a HEAD answer reads
// no body, so one sent anyway would be taken for the start of the next response.
// REQUIRES: prepare_payload() was called.
void drop_body_for_head(Response& res) {
  const auto length = res.body().size();
  res.body().clear();
  res.content_length(length);
}

// Closing a socket that still has unread input makes the kernel send a reset, and a reset can
// destroy the response before the client has read it. So when a body was left unread: stop
// sending, then read and drop what the client still sends until it closes — bounded in time and
// bytes (Apache's "lingering close"), never to the end of a possibly huge upload.
constexpr auto kLingerTime = std::chrono::seconds(2);
// What a connection's read buffer may keep between requests after a body grew it.
constexpr size_t kKeptBufferCapacity = 16 * 1024;
constexpr size_t kLingerBytes = 8 << 20;

// Room in `buffer` for the rest of a body (`remaining` bytes; none when chunked), up to 64 KiB:
// Beast reads at most the buffer's free capacity (and at least 512 bytes) per socket read, so a
// buffer sized for the header would take a body in 512-byte reads, each a trip through the
// scheduler (a 4 KiB attachment took eight; a 100 KB _bulk_docs about two hundred).
void reserve_body_room(beast::flat_buffer& buffer, boost::optional<uint64_t> remaining) {
  constexpr uint64_t kMostRoom = 64 * 1024;
  const size_t want = static_cast<size_t>(std::min(remaining.value_or(kMostRoom), kMostRoom));
  if (buffer.capacity() - buffer.size() < want) buffer.reserve(buffer.size() + want);
}

// A connection keeps at most kKeptBufferCapacity of read buffer while idle between requests.
void trim_idle_buffer(beast::flat_buffer& buffer) {
  if (buffer.capacity() > kKeptBufferCapacity) buffer.shrink_to_fit();
}

Task<void> linger_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  std::vector<char> sink(16 * 1024);
  stream.expires_after(kLingerTime);
  for (size_t dropped = 0; dropped < kLingerBytes;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kNoThrow);
    if (rec) break;  // the client closed (what we wait for), reset, or the time ran out
    dropped += n;
  }
}

}  // namespace

// The BodyReader of a streamed request (request.h): reads the body from the connection piece by
// piece as the handler asks, through the same parser that read the header, so chunked framing,
// the size limit and the bytes that came with the header are handled as for buffered bodies.
// Lives in serve_streamed()'s frame, on the connection's strand.
class SocketBodyReader final : public BodyReader {
 public:
  // Each socket read may take up to `timeout`; the body as a whole must keep up the average rate
  // of ServerOptions::min_body_rate once `rate_grace` has passed.
  struct Pace {
    std::chrono::seconds timeout;
    std::chrono::seconds rate_grace;
    uint64_t min_rate;  // bytes per second; 0: no rate
  };

  SocketBodyReader(beast::tcp_stream& stream, beast::flat_buffer& buffer, StreamedParser& parser,
                   Pace pace, bool expect_continue, unsigned version)
      : stream_(stream),
        buffer_(buffer),
        parser_(parser),
        pace_(pace),
        expect_continue_(expect_continue),
        version_(version) {
    parser_.eager(true);  // one put() may run through many chunks, up to a full piece
  }

  Task<Result<std::string_view>> read_some() override;
  bool done() const override { return parser_.is_done(); }

  BodyState state() const {
    if (lost_) return BodyState::kLost;
    return parser_.is_done() ? BodyState::kRead : BodyState::kUnread;
  }

 private:
  // How much one read_some() hands out at most: large enough that per-piece costs vanish on a
  // big upload, small enough that a connection holds little.
  static constexpr size_t kPieceSize = 64 * 1024;

  bool parse_buffered(beast::error_code& ec);
  // Room in the buffer for the rest of the body, up to a piece: Beast reads at most the buffer's
  // free capacity (and at least 512 bytes) per socket read, so a buffer sized for the header read
  // a 4 KiB body in eight reads, each a trip through the scheduler.
  void reserve_for_body();
  tl::unexpected<Error> fail(const beast::error_code& ec);
  // When the next socket read must have completed: its own timeout, or earlier when the body so
  // far falls below the minimum average rate by then.
  Clock::time_point read_deadline() const;

  beast::tcp_stream& stream_;
  beast::flat_buffer& buffer_;  // the session's: may hold body bytes that came with the header
  StreamedParser& parser_;
  Pace pace_;
  std::optional<Clock::time_point> began_;  // the first read_some(): the rate's clock starts
  uint64_t received_ = 0;                   // body bytes handed out so far
  bool expect_continue_;
  unsigned version_;
  std::unique_ptr<char[]> piece_;  // what the last read_some() returned a view of
  std::optional<Error> error_;     // sticky: after an error the framing is lost
  bool lost_ = false;
};

Task<Result<std::string_view>> SocketBodyReader::read_some() {
  if (error_) co_return tl::unexpected(*error_);
  if (parser_.is_done()) co_return std::string_view();
  if (expect_continue_) {
    // Sent only now, when the handler wants the body: a request refused before reading (auth, a
    // missing database) then never makes the client upload it.
    expect_continue_ = false;
    stream_.expires_after(pace_.timeout);
    if (auto ec = co_await send_continue(stream_, version_)) co_return fail(ec);
  }
  if (!began_) began_ = Clock::now();
  // Not value-initialised: zeroing 64 KiB cost more than all the rest of a small upload's read.
  if (!piece_) piece_.reset(new char[kPieceSize]);
  auto& body = parser_.get().body();
  for (;;) {
    body.data = piece_.get();
    body.size = kPieceSize;
    beast::error_code ec;
    if (!parse_buffered(ec)) {
      const auto deadline = read_deadline();  // a big upload may take long, a stall or trickle not
      if (deadline <= Clock::now()) co_return fail(beast::error::timeout);
      reserve_for_body();
      stream_.expires_at(deadline);
      std::tie(ec, std::ignore) =
          co_await bhttp::async_read_some(stream_, buffer_, parser_, kNoThrow);
      if (ec == bhttp::error::need_buffer) ec = {};  // the piece is full
    }
    if (ec) co_return fail(ec);
    const size_t got = kPieceSize - body.size;
    received_ += got;
    // Zero bytes and not done: only chunk framing was read. Read on.
    if (got > 0 || parser_.is_done()) co_return std::string_view(piece_.get(), got);
  }
}

// Parses body bytes already in the buffer into the piece, without a trip through the scheduler.
// True when that yielded body bytes or ended the body (or failed: `ec` set); false when the socket
// must be read.
bool SocketBodyReader::parse_buffered(beast::error_code& ec) {
  auto& body = parser_.get().body();
  while (buffer_.size() > 0 && !parser_.is_done() && body.size > 0) {
    size_t used = parser_.put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_buffer || ec == bhttp::error::need_more) {
      ec = {};  // the piece is full, or a chunk header is cut off at the end of the buffer
      break;
    }
    if (ec) return true;
    if (used == 0) break;
  }
  return body.size < kPieceSize || parser_.is_done();
}

void SocketBodyReader::reserve_for_body() {
  reserve_body_room(buffer_, parser_.content_length_remaining());
}

Clock::time_point SocketBodyReader::read_deadline() const {
  const auto now = Clock::now();
  auto deadline = now + pace_.timeout;
  if (pace_.min_rate > 0) {
    // The body so far earns grace + received / rate seconds from its start; a deadline already
    // past expires the read at once.
    const auto earned = pace_.rate_grace + std::chrono::seconds(received_ / pace_.min_rate);
    deadline = std::min(deadline, *began_ + std::chrono::duration_cast<Clock::duration>(earned));
  }
  return deadline;
}

tl::unexpected<Error> SocketBodyReader::fail(const beast::error_code& ec) {
  if (auto error = request_error(ec)) {
    error_ = std::move(*error);  // malformed chunking (400) or past the limit (413)
  } else {
    lost_ = true;  // closed, reset or timed out mid-body
    error_ = Error{Code::kInternal, "connection lost"};
  }
  return tl::unexpected(*error_);
}

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
  // The header first, into a parser whose body type can still change (Beast's "change body type"):
  // whether the body is read whole or streamed to the handler depends on the header.
  HeaderParser header_parser;
  header_parser.header_limit(64 * 1024);
  header_parser.body_limit(boost::none);  // check_header applies the limit of the body's kind

  stream.expires_after(options.idle_timeout);
  auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, header_parser, kNoThrow);
  // The access log is at info; below that level it must cost nothing, not even the clock reads.
  const auto started = spdlog::should_log(spdlog::level::info) ? Clock::now() : Clock::time_point();
  if (ec) co_return co_await refuse(stream, ec, refused_request_is_head(header_parser, buffer));

  const bool head = header_parser.get().method() == bhttp::verb::head;
  const bool streamed = streams_request_body(header_parser.get());
  ec = check_header(header_parser, streamed ? options.max_attachment_size : options.max_request_body);
  if (ec) co_return co_await refuse(stream, ec, head);  // refuse before reading a byte of the body
  if (streamed) co_return co_await serve_streamed(stream, buffer, header_parser, started);

  // The hot path (small documents): the whole body into a string, then the handler.
  BufferedParser parser(std::move(header_parser));
  parser.body_limit(options.max_request_body);
  // Usually the body came with the header and no I/O is needed (see parse_buffered_body).
  if (expects_continue(parser.get()) || !parse_buffered_body(parser, buffer, ec)) {
    ec = co_await read_rest_of_body(stream, buffer, parser);
  }
  if (ec) co_return co_await refuse(stream, ec, head);
  Request req(parser.release());
  const bool reuse = co_await respond(stream, req, nullptr, started);
  if (reuse) trim_idle_buffer(buffer);
  co_return reuse;
}

// The part of a buffered body that did not come with the header, after 100 Continue if asked.
Task<beast::error_code> Server::Impl::read_rest_of_body(beast::tcp_stream& stream,
                                                        beast::flat_buffer& buffer,
                                                        BufferedParser& parser) {
  beast::error_code ec;
  if (expects_continue(parser.get())) ec = co_await send_continue(stream, parser.get().version());
  if (!ec && !parse_buffered_body(parser, buffer, ec)) {
    stream.expires_after(options.request_timeout);
    reserve_body_room(buffer, parser.content_length_remaining());
    std::tie(ec, std::ignore) = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
  }
  co_return ec;
}

// A body streamed to its handler (attachments, multipart documents): the Request holds the header
// only, and a BodyReader reads the body from this connection when the handler asks.
Task<bool> Server::Impl::serve_streamed(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                        HeaderParser& header_parser, Clock::time_point started) {
  const auto& header = header_parser.get();
  const bool expect_continue = expects_continue(header);
  const unsigned version = header.version();
  // A copy of the header for the Request; the parser keeps its own while it reads the body.
  Request req{RawRequest{bhttp::request_header<>(header)}};
  StreamedParser parser(std::move(header_parser));
  parser.body_limit(options.max_attachment_size);  // a Content-Length was checked already
  SocketBodyReader::Pace pace{options.request_timeout, options.body_rate_grace,
                              options.min_body_rate};
  SocketBodyReader reader(stream, buffer, parser, pace, expect_continue, version);
  req.set_body_reader(&reader);
  const bool reuse = co_await respond(stream, req, &reader, started);
  // The reader grew the buffer up to a piece: an idle connection keeps only what it holds.
  if (reuse) trim_idle_buffer(buffer);
  co_return reuse;
}

// Runs the handler and sends its answer; false when the connection should close. `reader` is the
// streamed body (null when it was read whole): what the handler left of it decides whether the
// connection can be reused, and whether there is anyone left to answer.
Task<bool> Server::Impl::respond(beast::tcp_stream& stream, Request& req,
                                 const SocketBodyReader* reader, Clock::time_point started) {
  ++active_requests;
  req.set_connection(&stream);
  req.set_idle_feeds(&idle_feeds);
  Response res;
  if (options.route_override) {
    res = co_await options.route_override(req, context);
  } else {
    res = co_await handle_request(req, context);
  }
  const BodyState body = reader ? reader->state() : BodyState::kRead;
  auto log = [&](std::string_view note) {
    if (started == Clock::time_point()) return;
    auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
    spdlog::info("{} {} {} {}us{}", req.method_string(), req.target(), res.result_int(), micros,
                 note);
  };
  if (req.streamed() || body == BodyState::kLost) {
    // Either the handler answered itself, or the client is gone: nothing (more) to send.
    --active_requests;
    log(req.streamed() ? " (streamed)" : " (connection lost)");
    const bool reuse = req.streamed() && req.reusable() && body == BodyState::kRead &&
                       req.keep_alive() && !stopping;
    if (!reuse && body == BodyState::kUnread) co_await linger_close(stream);
    co_return reuse;
  }
  res.version(req.version());
  res.set(bhttp::field::server, kServerHeader);
  if (context.auth) context.auth->finish_response(req, res);  // session cookie refresh, CORS
  // An unread body's remaining bytes would be read as the next request: close after this one.
  res.keep_alive(req.keep_alive() && !stopping && body == BodyState::kRead);
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) drop_body_for_head(res);
  const std::string header = header_block(res);
  const std::array<asio::const_buffer, 2> message{asio::buffer(header), asio::buffer(res.body())};
  stream.expires_after(options.request_timeout);
  auto [wec, wn] = co_await asio::async_write(stream, message, kNoThrow);
  --active_requests;
  log("");
  if (!wec && body == BodyState::kUnread) co_await linger_close(stream);
  co_return !wec && res.keep_alive();
}

// Answers a request that could not be read whole (400, 413), then closes; or just closes when the
// client is gone. Always false: the connection is not reused. `head`: the request said HEAD, as far
// as could be read (refused_request_is_head), so the answer has no body.
Task<bool> Server::Impl::refuse(beast::tcp_stream& stream, const beast::error_code& ec, bool head) {
  auto error = request_error(ec);
  if (!error) co_return false;  // closed, reset or timed out: nobody to answer
  Response res = error_response(*error);
  res.keep_alive(false);
  res.prepare_payload();
  if (head) drop_body_for_head(res);
  const std::string header = header_block(res);
  const std::array<asio::const_buffer, 2> message{asio::buffer(header), asio::buffer(res.body())};
  stream.expires_after(std::chrono::seconds(10));
  auto [wec, wn] = co_await asio::async_write(stream, message, kNoThrow);
  spdlog::info("- - {} (bad request: {})", res.result_int(), ec.message());
  if (!wec) co_await linger_close(stream);  // the body, if any, was not read
  co_return false;
}

Task<void> Server::Impl::drain_and_stop() {
  // Let requests already being handled finish (bounded), so their writes get answered. Feeds
  // waiting for a change are not waited for: they would hold the node for their whole timeout.
  asio::steady_timer timer(ioc);
  for (int i = 0; i < 500 && active_requests > idle_feeds; ++i) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(kNoThrow);
  }
  ioc.stop();
}

Server::Server(ServerOptions options, engine::Catalog& catalog, changes::Notifier& notifier)
    : impl_(std::make_unique<Impl>(std::move(options), catalog, notifier)) {}

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

}  // namespace divan::http::server
