#include "http/server/handler.h"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>

#include "engine/async_write.h"
#include "http/server/auth_service.h"
#include "http/server/response.h"

namespace divan::http::server {

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
  co_return co_await engine::async_write(db, std::move(ops), request_writer(req));
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
