// MIME multipart bodies (RFC 2046 §5.1): the Content-Type header, an incremental push parser, and
// the few strings a writer needs. Used for multipart/related document PUTs (http-api.md §7.4) and
// multipart/mixed open_revs responses with nested multipart/related parts (§6.1).
//
// Pure: the C++ standard library only, no I/O, no Asio, nothing else from Divan, so it can be fuzzed
// (tests/fuzz/multipart_fuzz.cpp) and shared by http/server and http/client.
//
// Errors are values, never exceptions. Every reason starts with "multipart: " and reads well in a
// 400 response.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace divan::multipart {

// ---- Headers ------------------------------------------------------------------------------------

// One header field of a part, as sent: the name keeps its case, the value is trimmed of surrounding
// spaces and tabs.
struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// The value of the first field named `name` (ASCII case-insensitive), or nullopt. The view points
// into `headers`.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

// ---- Content-Type -------------------------------------------------------------------------------

struct ContentType {
  struct Parameter {
    std::string name;   // lowercased
    std::string value;  // unquoted, backslash escapes resolved, case kept
  };
  std::string media_type;  // "type/subtype", lowercased
  std::vector<Parameter> parameters;
  // For a multipart/* type: its boundary, always valid_boundary(). Empty for other types.
  std::string boundary;

  bool is_multipart() const { return media_type.starts_with("multipart/"); }
  // The first parameter named `name` (ASCII case-insensitive), or nullopt. Points into *this.
  std::optional<std::string_view> parameter(std::string_view name) const;
};

// Parses a Content-Type header value (RFC 7231 §3.1.1.1: type "/" subtype *(";" name "=" (token /
// quoted-string))). nullopt when it is malformed, or when it is multipart/* without a valid boundary
// parameter. `multipart/related; boundary="abc"`, `MULTIPART/Related;boundary=abc` and
// `application/json; charset=utf-8` all parse.
std::optional<ContentType> parse_content_type(std::string_view header);

// The media type of a Content-Type header value alone: "type/subtype", lowercased; its parameters
// are not looked at. nullopt when the value does not start with a type/subtype followed by the end
// or a ';'. `multipart/related\t; boundary=B` → "multipart/related".
std::optional<std::string> parse_media_type(std::string_view header);

// 1 to 70 characters (RFC 2046), printable ASCII, not ending in a space. RFC 2046 allows fewer
// characters than that; like other lenient parsers we only refuse what could break the framing.
bool valid_boundary(std::string_view boundary);

// ---- Parsing ------------------------------------------------------------------------------------

struct Limits {
  std::size_t max_header_bytes = 16 * 1024;  // one part's header block, blank line included
  std::size_t max_parts = 10'000;
};

// What a MultipartParser reports, in input order: for each part on_part_begin, any number of
// on_part_data, on_part_end; then on_body_end once the close delimiter is seen. Views and references
// are valid only during the call: copy what you keep. A callback may call MultipartParser::fail() to
// stop the parse (nothing more is reported); it must not call feed() or finish().
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  virtual void on_part_begin(const Headers& headers) = 0;
  // A piece of the current part's body. A part's body may come in any number of pieces, split
  // anywhere (not at the caller's chunk boundaries); empty pieces are never reported.
  virtual void on_part_data(std::string_view data) = 0;
  virtual void on_part_end() = 0;
  virtual void on_body_end() {}
};

// An incremental parser for one multipart body. Push the body with feed() in chunks split anywhere
// (one byte at a time works), then call finish(). Buffers only the current part's headers (at most
// Limits::max_header_bytes) and a possible delimiter (at most boundary + 5 bytes); part data is
// reported as views into the fed chunks, never copied whole.
//
// Framing: delimiters are CRLF "--" boundary, also with a bare LF, and also at the very start of the
// body or of a part's body (so "--B\r\n\r\n--B--" is one empty part). Spaces and tabs may follow the
// boundary before the line end. The preamble before the first delimiter and the epilogue after the
// close delimiter ("--" boundary "--") are ignored. At a line start, "--B" followed by a letter
// (anything but "-", space, tab, CR, LF), or "--B-" by anything but "-", is part data; "--B" and
// a space or tab is a delimiter, and only more spaces or tabs and the line end may follow. Header
// lines are "Name: value"; folded (continued) lines are refused.
//
// Errors are sticky: after malformed input, a limit, or fail(), error() holds the reason and all
// further input is ignored.
//
// Thread-safety: none; a parser is used by one thread at a time. The handler must outlive it.
class MultipartParser {
 public:
  // `boundary` without the leading "--". An invalid one (see valid_boundary) fails at once.
  MultipartParser(std::string boundary, MultipartHandler& handler, Limits limits = {});
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Parses the next piece of the body, reporting events to the handler. False once failed.
  bool feed(std::string_view chunk);
  // The input has ended: fails unless the close delimiter was seen. False once failed.
  bool finish();

  // Enters the error state with `reason` (the first reason is kept). For handlers that refuse a part.
  void fail(std::string_view reason);

  bool failed() const { return state_ == State::kFailed; }
  std::string_view error() const { return error_; }
  // True once the close delimiter has been seen (on_body_end was reported).
  bool done() const { return state_ == State::kEpilogue; }
  // Parts begun so far.
  std::size_t parts() const { return parts_; }

 private:
  enum class State {
    kPreamble,     // before the first delimiter: bytes are dropped
    kHeaders,      // collecting a part's header block
    kBody,         // a part's body: bytes are data
    kPadding,      // after a delimiter's boundary: spaces or tabs until the line end
    kDelimiterCR,  // after a delimiter's boundary (and padding) and a CR: expecting LF
    kEpilogue,     // after the close delimiter: bytes are dropped
    kFailed,
  };
  // Progress through a possible (candidate) delimiter inside the preamble or a part's body.
  enum class Scan {
    kData,          // no candidate
    kCR,            // seen CR
    kDashBoundary,  // seen [CR] LF and the first matched_ bytes of "--" boundary
    kBoundary,      // seen [CR] LF "--" boundary: the next byte decides
    kCloseDash,     // seen [CR] LF "--" boundary "-"
  };

  std::size_t scan_body(std::string_view in, std::size_t i);
  std::size_t scan_headers(std::string_view in, std::size_t i);
  void emit(std::string_view data);
  void end_part(std::string_view last_data);
  void begin_headers();
  void end_header_line();

  std::string dash_boundary_;  // "--" boundary
  MultipartHandler& handler_;
  Limits limits_;
  State state_ = State::kPreamble;
  Scan scan_ = Scan::kDashBoundary;  // the body may start with the delimiter itself
  std::size_t matched_ = 0;          // bytes of dash_boundary_ matched (kDashBoundary)
  std::string held_;  // a candidate delimiter's bytes from earlier chunks (at most 75)
  std::string line_;                 // the current header line so far
  std::size_t header_bytes_ = 0;     // the current part's header block so far
  Headers headers_;                  // the current part's header fields so far
  std::size_t parts_ = 0;
  std::string error_;
};

// A whole body at once: for tests and small bodies. On error, `error` is set and `parts` holds what
// was complete.
struct Part {
  Headers headers;
  std::string body;
};
struct ParsedBody {
  std::vector<Part> parts;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};
ParsedBody parse_all(std::string_view body, std::string_view boundary, Limits limits = {});

// ---- Writing ------------------------------------------------------------------------------------
// A body is part_header(B, h1) + data1 + "\r\n" + part_header(B, h2) + data2 + "\r\n" +
// close_delimiter(B). The data must not contain "--" B.

// 32 random hex characters (128 bits from std::random_device).
std::string make_boundary();
// `media_type; boundary="B"`, e.g. for multipart/related or multipart/mixed.
std::string content_type(std::string_view media_type, std::string_view boundary);
// "--B\r\nName: value\r\n…\r\n\r\n": the delimiter line and header block that open a part.
// Control characters in a value (CR, LF, …; tab excepted) are written as spaces, so a value can
// never end its field or add one.
std::string part_header(std::string_view boundary, const Headers& headers);
// "--B--": ends the body.
std::string close_delimiter(std::string_view boundary);

}  // namespace divan::multipart
