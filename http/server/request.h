// A parsed HTTP request as handlers see it: method, percent-decoded path segments, decoded query
// parameters, headers and body. Built once per request by the session; handlers read it on the
// connection's strand only.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "engine/error.h"

namespace divan::http::server {

struct RequestAuth;  // auth_service.h: who sent the request

namespace bhttp = boost::beast::http;
using RawRequest = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

// The body of a request that is read as it arrives instead of being buffered first: attachment
// uploads and multipart/related document PUTs (routes.h streams_request_body() picks them), so a
// large upload never sits whole in memory. Lives on the connection's strand.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The next piece of the body, valid until the next call; an empty view once the body has ended.
  // Errors: bad_request for malformed chunked framing, too_large past the body limit, internal
  // "connection lost" when the client went away or timed out. After an error, stop reading.
  virtual boost::asio::awaitable<Result<std::string_view>> read_some() = 0;
  // True once the whole body has been handed out: the last piece was returned, so the next
  // read_some() returns the empty view. The session reuses the connection only then.
  virtual bool done() const = 0;
};

// A request target's path as decoded segments (http-api.md §1.1): split on '/', then each segment
// percent-decoded, without empty segments: those of a trailing slash ("/db/" and "/db" are
// {"db"}) and of repeated slashes, which CouchDB drops too (chttpd splits the path with
// string:tokens), so `PUT //db//doc` is `PUT /db/doc`. An encoded slash (%2F) is data: it stays
// inside its segment. nullopt when `target` is not a valid origin-form URL. `trailing_slash`, if
// given, tells whether the path ended in '/'. The one decoding of paths: Request and the route
// table's early look at a header (routes.h streams_request_body) agree by construction.
std::optional<std::vector<std::string>> decode_path(std::string_view target,
                                                    bool* trailing_slash = nullptr);

class Request {
 public:
  explicit Request(RawRequest&& raw);

  bhttp::verb method() const { return raw_.method(); }
  std::string_view method_string() const { return raw_.method_string(); }
  std::string_view target() const { return raw_.target(); }
  // False when the target is not a valid origin-form URL (answered 400 before routing).
  bool target_valid() const { return target_valid_; }

  // Path split on '/' and then percent-decoded per segment (spec: http-api.md §1.1), without empty
  // segments (decode_path above): "/db/", "/db" and "//db" all give {"db"}.
  const std::vector<std::string>& path() const { return path_; }
  bool trailing_slash() const { return trailing_slash_; }

  // Decoded query parameters in request order; `+` reads as a space, as CouchDB's parser does.
  const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }
  // The last value given for `key`, if any (CouchDB keeps the last duplicate).
  std::optional<std::string_view> param(std::string_view key) const;

  std::string_view header(bhttp::field field) const;
  std::string_view header(std::string_view name) const;
  bool has_body() const { return !raw_.body().empty(); }
  const std::string& body() const { return raw_.body(); }
  std::string& mutable_body() { return raw_.body(); }
  bool keep_alive() const { return raw_.keep_alive(); }
  unsigned version() const { return raw_.version(); }

  // The streamed body (see BodyReader), or nullptr when the body was read whole into body().
  // A handler that leaves a streamed body unread must not let the connection be reused (the
  // session closes it when the body was not read to its end).
  BodyReader* body_reader() const { return body_reader_; }
  void set_body_reader(BodyReader* reader) { body_reader_ = reader; }

  // The connection, for handlers that stream their response (see stream.h); nullptr in tests.
  boost::beast::tcp_stream* connection() const { return connection_; }
  void set_connection(boost::beast::tcp_stream* connection) { connection_ = connection; }
  // The server's count of feeds idle in ResponseStream::wait: shutdown does not wait for those
  // (a peer's longpoll would hold it for its whole timeout). Null: not counted.
  std::atomic<int>* idle_feeds() const { return idle_feeds_; }
  void set_idle_feeds(std::atomic<int>* counter) { idle_feeds_ = counter; }
  // A streaming handler sent its response itself: the session must not send the returned one.
  // `reusable`: the body ended cleanly, so the connection may serve another request.
  void mark_streamed(bool reusable) {
    streamed_ = true;
    reusable_ = reusable;
  }
  bool streamed() const { return streamed_; }
  bool reusable() const { return reusable_; }

  // Who sent the request, set before routing by AuthService::before_route (auth_service.h);
  // nullptr when the server runs without one (unit tests): then everyone is admin.
  const RequestAuth* auth() const { return auth_.get(); }
  void set_auth(std::shared_ptr<const RequestAuth> auth) { auth_ = std::move(auth); }

 private:
  RawRequest raw_;
  boost::beast::tcp_stream* connection_ = nullptr;
  BodyReader* body_reader_ = nullptr;
  bool streamed_ = false;
  bool reusable_ = false;
  std::shared_ptr<const RequestAuth> auth_;
  bool target_valid_ = true;
  bool trailing_slash_ = false;
  std::vector<std::string> path_;
  std::atomic<int>* idle_feeds_ = nullptr;
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace divan::http::server
