// The incremental multipart parser: a byte-driven scan for delimiters with a fast path over plain
// data, and a bounded header block per part.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/text.h"
#include "http/multipart/multipart.h"
#include "http/multipart/text.h"

namespace divan::multipart {
namespace {

using text::is_space;
using text::is_token_char;

// A header value may hold anything but control characters (tab excepted).
bool valid_value(std::string_view v) { return std::none_of(v.begin(), v.end(), text::is_control); }

// Parses one header line (without its line end) into `out`; the reason on failure.
std::string_view parse_header_line(std::string_view line, Headers& out) {
  if (is_space(line.front())) return "multipart: folded part header lines are not supported";
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return "multipart: malformed part header";
  std::string_view name = line.substr(0, colon);
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(name.begin(), name.end(), is_token_char) || !valid_value(value)) {
    return "multipart: malformed part header";
  }
  out.push_back({std::string(name), std::string(value)});
  return {};
}

}  // namespace

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler, Limits limits)
    : dash_boundary_("--" + boundary), handler_(handler), limits_(limits) {
  if (!valid_boundary(boundary)) fail("multipart: invalid boundary");
}

void MultipartParser::fail(std::string_view reason) {
  if (failed()) return;
  state_ = State::kFailed;
  error_ = reason.empty() ? "multipart: failed" : std::string(reason);
}

bool MultipartParser::feed(std::string_view chunk) {
  size_t i = 0;
  while (i < chunk.size()) {
    switch (state_) {
      case State::kPreamble:
      case State::kBody:
        i = scan_body(chunk, i);
        break;
      case State::kHeaders:
        i = scan_headers(chunk, i);
        break;
      case State::kPadding:
      case State::kDelimiterCR: {
        char c = chunk[i++];
        if (c == '\n') {
          begin_headers();
        } else if (state_ == State::kPadding && is_space(c)) {
          // more transport padding
        } else if (state_ == State::kPadding && c == '\r') {
          state_ = State::kDelimiterCR;
        } else {
          fail("multipart: unexpected text after a boundary");
        }
        break;
      }
      case State::kEpilogue:
      case State::kFailed:
        return !failed();
    }
  }
  return !failed();
}

bool MultipartParser::finish() {
  if (!failed() && !done()) fail("multipart: body ended before the close delimiter");
  return !failed();
}

// Preamble or part body from in[i]. Data is reported in runs of `in`; a possible delimiter is
// followed byte by byte and copied to held_ only when `in` ends inside it. Returns where it stopped:
// the end of `in`, or just past a delimiter's deciding byte.
size_t MultipartParser::scan_body(std::string_view in, size_t i) {
  constexpr size_t kInHeld = std::string_view::npos;  // the candidate began in an earlier chunk
  size_t run = i;  // first byte of `in` not reported yet
  size_t candidate = kInHeld;
  while (i < in.size()) {
    char c = in[i];
    bool matches = false;
    switch (scan_) {
      case Scan::kData: {
        // Fast path: delimiters start at a line end, so skip to the next LF (and a CR before it).
        const void* lf = std::memchr(in.data() + i, '\n', in.size() - i);
        if (lf == nullptr) {
          i = in.size();
          if (in.back() == '\r') {
            candidate = i - 1;
            scan_ = Scan::kCR;
          }
          continue;
        }
        size_t p = static_cast<const char*>(lf) - in.data();
        candidate = p > i && in[p - 1] == '\r' ? p - 1 : p;
        scan_ = Scan::kDashBoundary;
        matched_ = 0;
        i = p + 1;
        continue;
      }
      case Scan::kCR:
        matches = c == '\n';
        if (matches) {
          scan_ = Scan::kDashBoundary;
          matched_ = 0;
        }
        break;
      case Scan::kDashBoundary:
        matches = c == dash_boundary_[matched_];
        if (matches && ++matched_ == dash_boundary_.size()) scan_ = Scan::kBoundary;
        break;
      case Scan::kBoundary:
        if (c == '-') {
          matches = true;
          scan_ = Scan::kCloseDash;
        } else if (is_space(c) || c == '\r' || c == '\n') {
          end_part(candidate == kInHeld ? std::string_view() : in.substr(run, candidate - run));
          if (failed()) return in.size();
          if (c == '\n') begin_headers();
          if (c == '\r') state_ = State::kDelimiterCR;
          return i + 1;
        }
        break;  // "--B" and other text is data
      case Scan::kCloseDash:
        if (c == '-') {
          end_part(candidate == kInHeld ? std::string_view() : in.substr(run, candidate - run));
          if (failed()) return in.size();
          state_ = State::kEpilogue;
          handler_.on_body_end();
          return in.size();  // the epilogue is ignored
        }
        break;
    }
    if (matches) {
      ++i;
      continue;
    }
    // Not a delimiter after all: its bytes are data (those in `in` join the run), and c is looked
    // at again.
    if (candidate == kInHeld) emit(held_);
    held_.clear();
    scan_ = Scan::kData;
    if (failed()) return in.size();
  }

  if (scan_ == Scan::kData) {
    emit(in.substr(run));
  } else if (candidate == kInHeld) {
    held_.append(in.substr(run));
  } else {
    emit(in.substr(run, candidate - run));
    held_.assign(in.substr(candidate));
  }
  return in.size();
}

void MultipartParser::emit(std::string_view data) {
  if (state_ == State::kBody && !data.empty()) handler_.on_part_data(data);
}

// A delimiter has been recognised: reports the data before it (`last_data`, the rest of the run)
// and ends the current part, if any. Leaves state_ at kPadding (the rest of the delimiter line)
// unless the handler failed.
void MultipartParser::end_part(std::string_view last_data) {
  emit(last_data);
  held_.clear();
  scan_ = Scan::kData;
  if (failed()) return;
  bool in_part = state_ == State::kBody;
  state_ = State::kPadding;
  if (in_part) handler_.on_part_end();
}

void MultipartParser::begin_headers() {
  if (parts_ >= limits_.max_parts) {
    fail("multipart: too many parts");
    return;
  }
  ++parts_;
  headers_.clear();
  line_.clear();
  header_bytes_ = 0;
  state_ = State::kHeaders;
}

// Header block from in[i]: collects lines and parses each one as it ends. Returns where it stopped.
size_t MultipartParser::scan_headers(std::string_view in, size_t i) {
  while (i < in.size() && state_ == State::kHeaders) {
    size_t nl = in.find('\n', i);
    size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
    header_bytes_ += end - i;
    if (header_bytes_ > limits_.max_header_bytes) {
      fail("multipart: part headers too large");
      return in.size();
    }
    line_.append(in.data() + i, end - i);
    i = end;
    if (nl != std::string_view::npos) end_header_line();
  }
  return i;
}

// line_ holds one whole header line: a field, or the blank line that starts the part's body.
void MultipartParser::end_header_line() {
  std::string_view line(line_);
  line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty()) {
    std::string_view reason = parse_header_line(line, headers_);
    if (!reason.empty()) fail(reason);
    line_.clear();
    return;
  }
  state_ = State::kBody;
  scan_ = Scan::kDashBoundary;  // the body may be empty: the delimiter follows at once
  matched_ = 0;
  held_.clear();
  handler_.on_part_begin(headers_);
}

namespace {

class Collector : public MultipartHandler {
 public:
  explicit Collector(std::vector<Part>& parts) : parts_(parts) {}
  void on_part_begin(const Headers& headers) override { current_ = {headers, {}}; }
  void on_part_data(std::string_view data) override { current_.body.append(data); }
  void on_part_end() override { parts_.push_back(std::move(current_)); }

 private:
  std::vector<Part>& parts_;
  Part current_;
};

}  // namespace

ParsedBody parse_all(std::string_view body, std::string_view boundary, Limits limits) {
  ParsedBody result;
  Collector collector(result.parts);
  MultipartParser parser(std::string(boundary), collector, limits);
  parser.feed(body);
  if (!parser.finish()) result.error = std::string(parser.error());
  return result;
}

}  // namespace divan::multipart
