#include "http/client/client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/thread_annotations.h"
#include "http/client/connection.h"
#include "http/client/content_coding.h"

namespace divan::http::client {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using detail::Clock;
using detail::Connection;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

namespace {

// An IPv6 literal is the only host with a ':' in it, and is bracketed in URLs and in Host.
std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

std::string Origin::str() const {
  std::string out = tls ? "https://" : "http://";
  out += bracketed(host);
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string Origin::host_header() const {
  std::string out = bracketed(host);
  if (port != (tls ? 443 : 80)) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::string_view name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kResolve:
      return "resolve";
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kTls:
      return "tls";
    case ErrorKind::kConnectionLost:
      return "connection_lost";
    case ErrorKind::kProtocol:
      return "protocol";
    case ErrorKind::kTooLarge:
      return "too_large";
    case ErrorKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

tl::unexpected<TransportError> transport_error(ErrorKind kind, std::string message) {
  return tl::unexpected(TransportError{kind, std::move(message)});
}

// now + timeout, saturating: a huge timeout must not overflow into the past.
Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  const auto now = Clock::now();
  if (timeout >=
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now)) {
    return Clock::time_point::max();
  }
  return now + timeout;
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Why a request cannot be sent as given, or empty. A CR or LF in a header value or the target
// would let whoever wrote it (a replication document's `headers`, a doc id) inject headers or
// whole requests.
std::string invalid_request(const Request& request) {
  if (request.method == bhttp::verb::unknown) return "unknown method";
  if (request.target.empty()) return "empty target";
  for (unsigned char c : request.target) {
    if (c <= 0x20 || c == 0x7f) return "target holds a space or a control character";
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      return "header name is not an HTTP token";
    }
    for (unsigned char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return "header value holds CR, LF or NUL (field " + name + ")";
      }
    }
  }
  return {};
}

}  // namespace

// A request waiting for a slot. Woken by cancelling its timer on its own strand; what happened
// is read under Impl::mu (`granted`) or from the stop switches.
struct Waiter {
  explicit Waiter(asio::any_io_executor ex) : strand(std::move(ex)), timer(strand) {}
  // Thread-safe. The waiter stays alive until the posted cancel has run.
  static void wake(const std::shared_ptr<Waiter>& waiter) {
    asio::post(waiter->strand, [waiter] { waiter->timer.cancel(); });
  }
  const asio::any_io_executor strand;
  asio::steady_timer timer;
  bool granted = false;  // guarded by Impl::mu: a slot was handed to it
};

// One origin's connections and slots. Guarded by Impl::mu.
struct Pool {
  // Idle keep-alive connections, oldest first: taken from the back (most recently used, the
  // likeliest to be alive and warm), expired from the front.
  std::vector<std::shared_ptr<Connection>> idle;
  size_t active = 0;  // slots held: non-long-poll requests between acquire and release
  std::deque<std::shared_ptr<Waiter>> waiters;  // FIFO
};

struct Client::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, ClientOptions opts)
      : executor(std::move(ex)),
        options(std::move(opts)),
        sweep_strand(asio::make_strand(executor)),
        sweep_timer(sweep_strand) {
    settings.verify_peer = options.verify_peer;
    settings.max_response_body = options.max_response_body;
    settings.user_agent = options.user_agent;
  }

  // The TLS context, made on first use: loading the system's CA bundle takes ~100 ms, which a
  // node that never replicates over https should not pay (nor every test that makes a Client).
  // Null, with tls_error saying why, when the CAs could not be loaded.
  ssl::context* tls() {
    std::call_once(tls_once, [this] { configure_tls(); });
    return tls_error.empty() ? &*tls_context : nullptr;
  }
  void configure_tls();
  // REQUIRES: tls() succeeded when origin.tls.
  std::shared_ptr<Connection> new_connection(const Origin& origin) {
    return std::make_shared<Connection>(asio::make_strand(executor),
                                        origin.tls ? &*tls_context : nullptr);
  }

  static asio::awaitable<Result<Response>> send(std::shared_ptr<Impl> self, Origin origin,
                                                Request request);
  static asio::awaitable<Result<void>> wait_for_slot(std::shared_ptr<Impl> self,
                                                     std::shared_ptr<Waiter> waiter,
                                                     const Origin& origin, const Request& request,
                                                     Clock::time_point deadline);
  static asio::awaitable<void> sweep(std::shared_ptr<Impl> self);

  // Hands the slot to the first waiter, or frees it.
  void release_slot_locked(Pool& pool) REQUIRES(mu);
  // Takes an idle connection that has not expired, or returns null. Expired ones are closed.
  std::shared_ptr<Connection> take_idle(const Origin& origin);
  // The end of a request: its connection back to the pool (null or not reusable: dropped), then
  // its slot released. In that order, so the waiter woken by the slot finds the connection.
  void finish(const Origin& origin, std::shared_ptr<Connection> conn, bool reusable,
              bool held_slot);
  void shutdown();

  const asio::any_io_executor executor;
  const ClientOptions options;
  detail::ExchangeSettings settings;
  std::once_flag tls_once;
  std::optional<ssl::context> tls_context;  // set once, by tls()
  std::string tls_error;                    // set once, by tls(): why the CAs could not be loaded
  StopToken shutdown_token;  // stopped by shutdown(): every exchange and waiter listens to it

  Mutex mu;
  std::map<Origin, Pool> pools GUARDED_BY(mu);  // an entry per origin ever used (a few)
  bool shut_down GUARDED_BY(mu) = false;
  bool sweeping GUARDED_BY(mu) = false;  // sweep() is running

  // One timer for the whole client closes idle connections after idle_timeout (not one timer
  // per connection): it sleeps until the oldest idle connection expires, and stops when no
  // connection is idle, so an idle client leaves no work on the executor.
  const asio::any_io_executor sweep_strand;
  asio::steady_timer sweep_timer;  // sweep_strand only
};

void Client::Impl::configure_tls() {
  ssl::context& context = tls_context.emplace(ssl::context::tls_client);
  // TLS 1.2 at least: older versions are broken and every CouchDB deployment speaks 1.2.
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  if (!options.verify_peer) {
    context.set_verify_mode(ssl::verify_none);
    return;
  }
  context.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) tls_error = "cannot load the system's CA certificates: " + ec.message();
  } else {
    context.load_verify_file(options.ca_file, ec);
    if (ec) tls_error = "cannot load ca_file " + options.ca_file + ": " + ec.message();
  }
}

void Client::Impl::release_slot_locked(Pool& pool) {
  if (!pool.waiters.empty()) {
    // Handed over, not freed: a request arriving now cannot overtake the ones waiting.
    auto waiter = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    waiter->granted = true;
    Waiter::wake(waiter);
  } else {
    --pool.active;
  }
}

std::shared_ptr<Connection> Client::Impl::take_idle(const Origin& origin) {
  std::vector<std::shared_ptr<Connection>> expired;  // closed outside the lock
  std::shared_ptr<Connection> found;
  const auto now = Clock::now();
  {
    MutexLock lock(mu);
    auto& idle = pools[origin].idle;
    while (!idle.empty() && !found) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      if (now - conn->idle_since >= options.idle_timeout) {
        expired.push_back(std::move(conn));
      } else {
        found = std::move(conn);
      }
    }
  }
  for (auto& conn : expired) conn->close();
  return found;
}

void Client::Impl::finish(const Origin& origin, std::shared_ptr<Connection> conn, bool reusable,
                          bool held_slot) {
  std::shared_ptr<Connection> closing;  // closed outside the lock
  bool start_sweep = false;
  {
    MutexLock lock(mu);
    Pool& pool = pools[origin];
    if (conn && reusable && !shut_down && options.max_idle_per_origin > 0) {
      conn->idle_since = Clock::now();
      pool.idle.push_back(std::move(conn));
      if (pool.idle.size() > options.max_idle_per_origin) {
        closing = std::move(pool.idle.front());
        pool.idle.erase(pool.idle.begin());
      }
      if (!sweeping) sweeping = start_sweep = true;
    } else {
      closing = std::move(conn);
    }
    if (held_slot) release_slot_locked(pool);
  }
  // A connection dropped here was closed by its exchange unless it is a surplus idle one.
  if (closing && closing->open) closing->close();
  if (start_sweep) asio::co_spawn(sweep_strand, sweep(shared_from_this()), asio::detached);
}

asio::awaitable<void> Client::Impl::sweep(std::shared_ptr<Impl> self) {
  for (;;) {
    std::vector<std::shared_ptr<Connection>> expired;
    auto next = Clock::time_point::max();
    {
      MutexLock lock(self->mu);
      if (self->shut_down) {
        self->sweeping = false;
        co_return;
      }
      const auto now = Clock::now();
      for (auto& [origin, pool] : self->pools) {
        auto& idle = pool.idle;
        auto fresh = std::find_if(idle.begin(), idle.end(), [&](const auto& conn) {
          return now - conn->idle_since < self->options.idle_timeout;
        });
        std::move(idle.begin(), fresh, std::back_inserter(expired));
        idle.erase(idle.begin(), fresh);
        if (!idle.empty())
          next = std::min(next, idle.front()->idle_since + self->options.idle_timeout);
      }
      if (next == Clock::time_point::max()) {
        self->sweeping = false;  // nothing idle: the next connection to go idle restarts us
        co_return;
      }
    }
    for (auto& conn : expired) conn->close();
    self->sweep_timer.expires_at(next);
    co_await self->sweep_timer.async_wait(kNoThrow);
  }
}

asio::awaitable<Result<void>> Client::Impl::wait_for_slot(std::shared_ptr<Impl> self,
                                                          std::shared_ptr<Waiter> waiter,
                                                          const Origin& origin,
                                                          const Request& request,
                                                          Clock::time_point deadline) {
  // Either switch wakes the waiter; the loop below sees which one flipped.
  auto wake = [waiter] { Waiter::wake(waiter); };
  StopToken::Registration by_request;
  if (request.stop) by_request = request.stop->on_stop(wake);
  StopToken::Registration by_shutdown = self->shutdown_token.on_stop(wake);
  waiter->timer.expires_at(deadline);
  for (;;) {
    {
      // A wake-up posted before this coroutine first ran was not lost: `granted` and the
      // switches are checked before every wait, and a wake-up posted after the check runs only
      // once this turn on the strand has started the wait (same strand).
      MutexLock lock(self->mu);
      const bool stopped =
          self->shutdown_token.stopped() || (request.stop && request.stop->stopped());
      const bool expired = Clock::now() >= deadline;
      Pool& pool = self->pools[origin];
      if (waiter->granted && !stopped && !expired) co_return Result<void>{};
      if (stopped || expired) {
        if (waiter->granted) {
          self->release_slot_locked(pool);
        } else {
          auto it = std::find(pool.waiters.begin(), pool.waiters.end(), waiter);
          if (it != pool.waiters.end()) pool.waiters.erase(it);
        }
        std::string prefix = detail::describe(origin, request);
        if (stopped)
          co_return transport_error(ErrorKind::kCancelled,
                                    prefix + "cancelled while waiting for a connection slot");
        co_return transport_error(
            ErrorKind::kTimeout,
            prefix + "timed out after " + std::to_string(request.timeout.count()) +
                " ms while waiting for a connection slot (" +
                std::to_string(self->options.max_connections_per_origin) + " in use)");
      }
    }
    co_await waiter->timer.async_wait(kNoThrow);
  }
}

asio::awaitable<Result<Response>> Client::Impl::send(std::shared_ptr<Impl> self, Origin origin,
                                                     Request request) {
  const auto deadline = deadline_after(request.timeout);
  if (auto why = invalid_request(request); !why.empty()) {
    co_return transport_error(ErrorKind::kProtocol, detail::describe(origin, request) + why);
  }
  if (self->shutdown_token.stopped() || (request.stop && request.stop->stopped())) {
    co_return transport_error(ErrorKind::kCancelled,
                              detail::describe(origin, request) + "cancelled");
  }
  if (request.timeout.count() <= 0) {
    co_return transport_error(ErrorKind::kTimeout,
                              detail::describe(origin, request) + "timed out (timeout is 0)");
  }
  if (origin.tls && !self->tls()) {
    co_return transport_error(ErrorKind::kTls, detail::describe(origin, request) + self->tls_error);
  }

  const bool needs_slot = !request.long_poll;
  if (needs_slot) {
    std::shared_ptr<Waiter> waiter;
    {
      MutexLock lock(self->mu);
      Pool& pool = self->pools[origin];
      // A cap of 0 would make every request wait out its timeout: it means 1.
      const size_t cap = std::max<size_t>(1, self->options.max_connections_per_origin);
      if (pool.waiters.empty() && pool.active < cap) {
        ++pool.active;
      } else {
        waiter = std::make_shared<Waiter>(asio::make_strand(self->executor));
        pool.waiters.push_back(waiter);
      }
    }
    if (waiter) {
      auto slot = co_await asio::co_spawn(waiter->strand,
                                          wait_for_slot(self, waiter, origin, request, deadline),
                                          asio::use_awaitable);
      if (!slot) co_return tl::unexpected(std::move(slot.error()));
    }
  }

  // From here on the slot is held: every path below ends in finish().
  std::shared_ptr<Connection> conn;
  detail::Attempt attempt;
  try {
    conn = self->take_idle(origin);
    if (!conn) conn = self->new_connection(origin);
    attempt = co_await asio::co_spawn(
        conn->strand,
        detail::exchange(conn, origin, request, deadline, self->settings, self->shutdown_token),
        asio::use_awaitable);
    if (attempt.retry) {
      // The server closed the reused connection while it sat idle: once more, on a new one.
      conn = self->new_connection(origin);
      attempt = co_await asio::co_spawn(
          conn->strand,
          detail::exchange(conn, origin, request, deadline, self->settings, self->shutdown_token),
          asio::use_awaitable);
    }
  } catch (...) {
    // Only bad_alloc can get here (all I/O reports error codes); the slot must not leak.
    self->finish(origin, nullptr, false, needs_slot);
    throw;
  }
  self->finish(origin, std::move(conn), attempt.reusable, needs_slot);
  if (!attempt.result) co_return std::move(attempt.result);

  // Decoded after the connection went back: inflating a large body need not hold it.
  Response& response = *attempt.result;
  auto coding = response.headers[bhttp::field::content_encoding];
  if (!request.keep_content_encoding && !response.body.empty() && !detail::is_identity(coding)) {
    auto decoded = detail::decode_body(coding, response.body, self->options.max_response_body);
    if (!decoded) {
      std::string prefix = detail::describe(origin, request);
      switch (decoded.error()) {
        case detail::DecodeError::kTooLarge:
          co_return transport_error(ErrorKind::kTooLarge,
                                    prefix + "the decoded response body is larger than " +
                                        std::to_string(self->options.max_response_body) + " bytes");
        case detail::DecodeError::kCorrupt:
          co_return transport_error(ErrorKind::kProtocol,
                                    prefix + "corrupt " + std::string(coding) + " response body");
        case detail::DecodeError::kUnsupported:
          co_return transport_error(
              ErrorKind::kProtocol,
              prefix + "unsupported Content-Encoding: " + std::string(coding));
      }
    }
    response.headers.erase(bhttp::field::content_encoding);
    response.headers.set(bhttp::field::content_length, std::to_string(response.body.size()));
  }
  co_return std::move(attempt.result);
}

void Client::Impl::shutdown() {
  std::vector<std::shared_ptr<Connection>> idle;
  bool was_sweeping = false;
  {
    MutexLock lock(mu);
    if (shut_down) return;
    shut_down = true;
    was_sweeping = sweeping;
    for (auto& [origin, pool] : pools) {
      std::move(pool.idle.begin(), pool.idle.end(), std::back_inserter(idle));
      pool.idle.clear();
    }
  }
  // Aborts every exchange and wakes every waiter (they registered with it).
  shutdown_token.stop();
  for (auto& conn : idle) conn->close();
  // The sweep sees shut_down when it wakes (or when it starts, if it has not yet).
  if (was_sweeping) {
    asio::post(sweep_strand, [self = shared_from_this()] { self->sweep_timer.cancel(); });
  }
}

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Client::~Client() { impl_->shutdown(); }

const asio::any_io_executor& Client::executor() const { return impl_->executor; }

void Client::shutdown() { impl_->shutdown(); }

asio::awaitable<Result<Response>> Client::send(Origin origin, Request request) {
  return Impl::send(impl_, std::move(origin), std::move(request));
}

}  // namespace divan::http::client
