// Reading a _changes response while it streams, for the changes scenarios. The body is never kept:
// each piece of chunk data goes to a callback the moment the parser produces it, so a 25 MB feed
// costs one scan and no copy, and a live feed's rows are timestamped as they arrive.
//
// Thread-safety: a ChangesStream, and the callbacks it calls, belong to the thread running its
// io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http_call.h"

namespace divan::bench {

// Counts change rows in a _changes body fed piece by piece: a row is a line that starts with
// {"seq": (normal feed rows follow "[\n" or ",\r\n"; continuous rows follow "\n" or open the
// body). Compact JSON never holds a raw newline, so a document body cannot fake a row.
class RowCounter {
 public:
  void feed(std::string_view piece);
  std::uint64_t rows() const { return rows_; }

 private:
  static constexpr std::string_view kRowStart = "\n{\"seq\":";
  std::size_t matched_ = 1;  // bytes of kRowStart matched at the end of the last piece: the body starts a line
  std::uint64_t rows_ = 0;
};

// Cuts a continuous feed into lines, without their '\n'; a heartbeat is an empty line.
class LineSplitter {
 public:
  template <class OnLine>
  void feed(std::string_view piece, OnLine&& on_line) {
    for (auto end = piece.find('\n'); end != std::string_view::npos; end = piece.find('\n')) {
      if (partial_.empty()) {
        on_line(piece.substr(0, end));
      } else {
        partial_.append(piece.substr(0, end));
        on_line(std::string_view(partial_));
        partial_.clear();
      }
      piece.remove_prefix(end + 1);
    }
    partial_.append(piece);
  }

 private:
  std::string partial_;  // a line cut by a chunk boundary
};

// The "id" of a change row ({"seq":1,"id":"x",…}), or empty when the line has none.
std::string_view row_id(std::string_view row);

// The last "last_seq" in the end of a feed body (its last few hundred bytes), if it is an integer.
std::optional<std::uint64_t> last_seq_in(std::string_view tail);

// One GET /{db}/_changes on its own connection.
class ChangesStream {
 public:
  using OnPiece = std::function<void(std::string_view piece)>;

  // `read_bytes`: how much one socket read may take (Beast reads at most what the buffer has room
  // for, 512 bytes by default): 64 KiB for a whole-feed read, the default for an idle live feed.
  explicit ChangesStream(const boost::asio::any_io_executor& executor, std::size_t read_bytes = 512);
  ChangesStream(const ChangesStream&) = delete;  // the parser holds a reference to on_chunk_
  ChangesStream& operator=(const ChangesStream&) = delete;

  // Connects, sends `request` (from serialise_request) and reads the response header, all within
  // `timeout`. Returns the I/O error, if any; then status() says what the server answered.
  boost::asio::awaitable<boost::beast::error_code> open(const Target& target, const std::string& request,
                                                        std::chrono::seconds timeout);
  unsigned status() const { return parser_.get().result_int(); }

  // Reads the body to its end, handing each piece of chunk data to `on_piece` as it is parsed.
  // `timeout` bounds the whole body; nullopt lets a live feed stay open until close(). A body that
  // is not chunked (an error answer) is kept for describe() instead.
  boost::asio::awaitable<boost::beast::error_code> read_body(OnPiece on_piece,
                                                             std::optional<std::chrono::seconds> timeout);

  // "HTTP 400 {…}" after a non-200 answer's body was read.
  std::string describe() const;

  // Makes a pending open() or read_body() end with operation_aborted.
  void close();

 private:
  // Closes the socket when `timeout` passes, until disarm(). One timer per exchange, not one per
  // read as beast::tcp_stream has: a feed arrives in ~100k small reads.
  void arm(std::chrono::seconds timeout);
  boost::beast::error_code disarm(boost::beast::error_code ec);

  tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  // Set while a deadline is armed. The timer's handler holds it weakly: a handler already queued
  // when the deadline is disarmed, or the stream destroyed, then does nothing.
  std::shared_ptr<bool> armed_;
  bool timed_out_ = false;
  boost::beast::flat_buffer buffer_;  // (Must persist between reads: it may hold the next bytes)
  http::response_parser<http::string_body> parser_;
  OnPiece on_piece_;
  // What the parser calls with chunk data; it keeps a reference, so it lives here.
  std::function<std::size_t(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)> on_chunk_;
};

}  // namespace divan::bench
