#include "http/server/handler.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>

#include "http/server/auth_service.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace asio = boost::asio;
using WriteResult = Result<std::vector<engine::WriteOutcome>>;
constexpr size_t kMaxLocationLength = 8192;

Result<std::shared_ptr<engine::Database>> open_database(const Request& req, ServerContext& ctx) {
  return ctx.catalog.open(req.path().at(0));
}

void append_segment(std::string& out, std::string_view s) {
  size_t n = boost::urls::encoded_size(s, boost::urls::pchars);
  size_t at = out.size();
  out.resize(at + n);
  boost::urls::encode(out.data() + at, n, s, boost::urls::pchars);
}

Response doc_written(const Request& req, std::string_view id, std::string_view rev,
                     bhttp::status status) {
  std::string body;
  body.reserve(32 + id.size() + rev.size());
  body += "{\"ok\":true,\"id\":";
  append_json_string(body, id);
  body += ",\"rev\":";
  append_json_string(body, rev);
  body.push_back('}');
  Response res = json_response(status, std::move(body));
  std::string etag;
  etag.reserve(rev.size() + 2);
  etag.push_back('"');
  etag += rev;
  etag.push_back('"');
  res.set(bhttp::field::etag, etag);
  std::string_view host = req.header(bhttp::field::host);
  std::string location;
  location.reserve(16 + host.size() + req.path().at(0).size() + id.size());
  location += "http://";
  location += host;
  location.push_back('/');
  append_segment(location, req.path().at(0));
  location.push_back('/');
  append_segment(location, id);
  // Ids have no length limit, header fields do: a location nobody could send back is left out.
  if (location.size() <= kMaxLocationLength) res.set(bhttp::field::location, location);
  return res;
}

Task<WriteResult> write(const Request& req, engine::Database& db, std::vector<engine::WriteOp> ops) {
  auto initiate = [&db, writer = request_writer(req)](auto handler,
                                                      std::vector<engine::WriteOp> ops) mutable {
    // The writer's completion is a copyable std::function; the coroutine handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    db.submit(std::move(ops), [shared](WriteResult result) {
      auto executor = asio::get_associated_executor(*shared);
      // Resume on the connection's strand, never on the writer thread.
      asio::post(executor, [shared, result = std::move(result)]() mutable {
        (*shared)(std::move(result));
      });
    }, std::move(writer));
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(WriteResult)>(
      initiate, asio::use_awaitable, std::move(ops));
}

Task<Result<std::string>> write_one(const Request& req, engine::Database& db, engine::WriteOp op) {
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(op));
  auto result = co_await write(req, db, std::move(ops));
  if (!result) co_return tl::unexpected(result.error());
  auto& outcome = result->front();
  if (outcome.error) co_return tl::unexpected(*outcome.error);
  co_return std::move(outcome.rev);
}

}  // namespace divan::http::server
