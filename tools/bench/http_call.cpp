#include "http_call.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sstream>

#include "base/base64.h"

namespace divan::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

asio::awaitable<Response> exchange(const Target& target, std::string wire, std::chrono::seconds timeout) {
  Response out;
  beast::error_code ec;
  auto nothrow = asio::redirect_error(asio::use_awaitable, ec);
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);  // covers connect, write and read together
  co_await stream.async_connect(target.endpoint, nothrow);
  if (!ec) co_await asio::async_write(stream, asio::buffer(wire), nothrow);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) co_await http::async_read(stream, buffer, res, nothrow);
  if (ec) {
    out.error = ec.message();
  } else {
    out.status = res.result_int();
    out.body = std::move(res.body());
  }
  co_return out;
}

}  // namespace

std::optional<Target> make_target(std::string_view url, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    error = "only http:// URLs are supported: " + std::string(url);
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));  // a path prefix is not supported; databases live at the root

  Target target;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    target.authorization = "Basic " + base64_encode(percent_decode(rest.substr(0, at)));
    rest = rest.substr(at + 1);
  }
  std::string host(rest), port = "80";
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    error = "cannot resolve " + std::string(rest) + ": " + ec.message();
    return std::nullopt;
  }
  target.endpoint = results.begin()->endpoint();
  target.host = std::string(rest);
  return target;
}

std::string serialise_request(const Target& target, http::verb method, std::string_view path,
                              std::string_view body, std::string_view content_type) {
  http::request<http::string_body> req{method, path, 11};
  req.set(http::field::host, target.host);
  req.set(http::field::accept, "application/json");
  if (!target.authorization.empty()) req.set(http::field::authorization, target.authorization);
  if (!body.empty()) req.set(http::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();  // Content-Length, even 0 for a body-less PUT/DELETE
  std::ostringstream wire;
  wire << req;
  return std::move(wire).str();
}

std::string Response::describe() const {
  if (status == 0) return "I/O error: " + error;
  constexpr std::size_t kMax = 200;
  std::string text = "HTTP " + std::to_string(status) + " " + body.substr(0, kMax);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Response call(const Target& target, http::verb method, std::string_view path, std::string_view body,
              std::chrono::seconds timeout) {
  asio::io_context ioc;
  Response out;
  asio::co_spawn(ioc, exchange(target, serialise_request(target, method, path, body), timeout),
                 [&out](std::exception_ptr e, Response r) {
                   if (e) std::rethrow_exception(e);  // only bad_alloc and the like: no I/O throws
                   out = std::move(r);
                 });
  ioc.run();
  return out;
}

asio::awaitable<Response> async_call(const Target& target, http::verb method, std::string_view path,
                                     std::string_view body, std::chrono::seconds timeout) {
  co_return co_await exchange(target, serialise_request(target, method, path, body), timeout);
}

}  // namespace divan::bench
