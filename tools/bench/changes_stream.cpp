#include "changes_stream.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

#include <cstring>

#include "base/numbers.h"

namespace divan::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;

void RowCounter::feed(std::string_view piece) {
  std::size_t i = 0;
  // Finish a match the last piece left open. '\n' opens kRowStart and appears nowhere else in it,
  // so after a mismatch the search goes on from that same byte.
  while (matched_ > 0 && i < piece.size()) {
    if (piece[i] != kRowStart[matched_]) {
      matched_ = 0;
      break;
    }
    ++i;
    if (++matched_ == kRowStart.size()) {
      ++rows_;
      matched_ = 0;
    }
  }
  // memchr to each newline, then compare what follows: most bytes are looked at once, in bulk.
  while (i < piece.size()) {
    const void* newline = std::memchr(piece.data() + i, '\n', piece.size() - i);
    if (newline == nullptr) return;
    i = static_cast<std::size_t>(static_cast<const char*>(newline) - piece.data());
    const std::size_t n = std::min(kRowStart.size(), piece.size() - i);
    if (piece.substr(i, n) != kRowStart.substr(0, n)) {
      ++i;
      continue;
    }
    if (n == kRowStart.size()) {
      ++rows_;
    } else {
      matched_ = n;  // the piece ends inside the pattern
    }
    i += n;
  }
}

std::string_view row_id(std::string_view row) {
  constexpr std::string_view kKey = "\"id\":\"";  // the row's own id comes before any "doc"
  const auto at = row.find(kKey);
  if (at == std::string_view::npos) return {};
  row.remove_prefix(at + kKey.size());
  return row.substr(0, row.find('"'));
}

std::optional<std::uint64_t> last_seq_in(std::string_view tail) {
  constexpr std::string_view kKey = "\"last_seq\":";
  const auto at = tail.rfind(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  tail.remove_prefix(at + kKey.size());
  if (!tail.empty() && tail.front() == '"') tail.remove_prefix(1);  // seqs may be JSON strings
  return parse_unsigned<std::uint64_t>(tail.substr(0, tail.find_first_not_of("0123456789")));
}

ChangesStream::ChangesStream(const asio::any_io_executor& executor, std::size_t read_bytes)
    : socket_(executor), deadline_(executor) {
  buffer_.reserve(read_bytes);
  parser_.body_limit(boost::none);  // a feed is as long as the database's history
  on_chunk_ = [this](std::uint64_t, beast::string_view data, beast::error_code&) {
    if (on_piece_) on_piece_(std::string_view(data.data(), data.size()));
    return data.size();  // all of it consumed: nothing reaches the string body
  };
  parser_.on_chunk_body(on_chunk_);
}

void ChangesStream::arm(std::chrono::seconds timeout) {
  timed_out_ = false;
  armed_ = std::make_shared<bool>(true);
  deadline_.expires_after(timeout);
  deadline_.async_wait([this, armed = std::weak_ptr<bool>(armed_)](const beast::error_code& ec) {
    if (ec || armed.expired()) return;  // disarmed, or the stream is gone: touch nothing
    timed_out_ = true;
    close();
  });
}

beast::error_code ChangesStream::disarm(beast::error_code ec) {
  armed_.reset();
  deadline_.cancel();
  return timed_out_ ? beast::error_code(beast::error::timeout) : ec;
}

asio::awaitable<beast::error_code> ChangesStream::open(const Target& target, const std::string& request,
                                                       std::chrono::seconds timeout) {
  beast::error_code ec;
  auto nothrow = asio::redirect_error(asio::use_awaitable, ec);
  arm(timeout);
  co_await socket_.async_connect(target.endpoint, nothrow);
  if (!ec) {
    beast::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    co_await asio::async_write(socket_, asio::buffer(request), nothrow);
  }
  if (!ec) co_await http::async_read_header(socket_, buffer_, parser_, nothrow);
  co_return disarm(ec);
}

asio::awaitable<beast::error_code> ChangesStream::read_body(OnPiece on_piece,
                                                            std::optional<std::chrono::seconds> timeout) {
  beast::error_code ec;
  on_piece_ = std::move(on_piece);
  if (timeout) arm(*timeout);
  co_await http::async_read(socket_, buffer_, parser_, asio::redirect_error(asio::use_awaitable, ec));
  on_piece_ = nullptr;
  co_return timeout ? disarm(ec) : ec;
}

std::string ChangesStream::describe() const {
  constexpr std::size_t kMax = 200;
  std::string text = "HTTP " + std::to_string(status()) + " " + parser_.get().body().substr(0, kMax);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

void ChangesStream::close() {
  beast::error_code ignored;
  socket_.close(ignored);
}

}  // namespace divan::bench
