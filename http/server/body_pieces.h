// Response bodies made of literal text and slices of stored attachments (attachment GETs, Range
// answers, multipart documents), whose total size is known before the first byte goes out.
//
// Small bodies are assembled into one ordinary Response. Large ones are streamed with a
// Content-Length (ResponseStream::begin_fixed), each attachment slice read in pieces, each piece in
// its own short read transaction, so a 20 MiB attachment never sits whole in memory and no read
// transaction stays open while a slow client drains the socket.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "engine/database.h"
#include "http/server/handler.h"

namespace divan::http::server {

class PieceBody {
 public:
  void text(std::string text);
  // `length` bytes of the attachment body with `digest`, from `offset`, as stored.
  void attachment(std::string digest, uint64_t offset, uint64_t length);
  // The whole of a gzip-stored attachment body, decoded: `stored_length` bytes read, `length`
  // (its identity length) sent.
  void gunzipped_attachment(std::string digest, uint64_t stored_length, uint64_t length);
  uint64_t size() const { return size_; }

  struct Slice {
    std::string digest;
    uint64_t offset = 0;
    uint64_t length = 0;         // bytes sent
    bool gunzip = false;         // decode the stored bytes [0, stored_length)
    uint64_t stored_length = 0;  // gunzip only
  };
  using Piece = std::variant<std::string, Slice>;
  const std::vector<Piece>& pieces() const { return pieces_; }

 private:
  std::vector<Piece> pieces_;
  uint64_t size_ = 0;
};

// Whether send_pieces() answers `body` from memory (small, or no connection to stream to): then the
// caller may build that answer itself with assemble_pieces(), inside a read transaction it holds.
bool assembled_in_memory(const Request& req, const PieceBody& body);
// The answer send_pieces() gives for a body assembled in memory, its slices read through
// `snapshot` (so they are read in the caller's transaction): not_found when a body is missing.
Response assemble_pieces(const Request& req, engine::Snapshot& snapshot, Response header,
                         const PieceBody& body);

// Sends `header` (status, Content-Type, ETag, … — not Content-Length) with `body`. Returns the
// Response for the session to send when the body was assembled in memory; when it was streamed,
// marks the request streamed and returns a placeholder. HEAD sends the headers only. An attachment
// body that vanished meanwhile (compaction) ends a streamed answer early: the connection closes.
Task<Response> send_pieces(Request& req, engine::Database& db, Response header, PieceBody body);

}  // namespace divan::http::server
