#include "http/server/multipart_doc.h"

#include <optional>

#include "base/hex.h"
#include "http/multipart/multipart.h"
#include "http/server/body_pieces.h"
#include "http/server/header_values.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/upload.h"

namespace divan::http::server {

namespace {

// ---- Reading a multipart/related PUT (§7.4) ----

// Collects the parts of a multipart/related document body: the JSON first, then one attachment
// part per `follows` entry of that JSON (follows_entries), and not one more: a part beyond them is
// refused before its bytes are read, so a body cannot make the server spool parts nobody asked
// for. Every attachment part charges the request's one UploadBudget. Errors stop the parser
// (MultipartParser::fail) and are kept here with their proper code.
class DocPartCollector : public multipart::MultipartHandler {
 public:
  DocPartCollector(std::filesystem::path spool_dir, uint64_t max_attachment_size)
      : spool_dir_(std::move(spool_dir)), budget_(max_attachment_size) {}
  void attach(multipart::MultipartParser* parser) { parser_ = parser; }

  void on_part_begin(const multipart::Headers& headers) override {
    if (index_++ == 0) return;  // the JSON document
    if (parts_.size() >= follows_.size()) {
      stop({Code::kBadRequest,
            "multipart: more attachment parts than `follows` entries in the document"});
      return;
    }
    auto gzip = gzip_content_encoding(
        multipart::find_header(headers, "Content-Encoding").value_or(std::string_view()));
    if (!gzip) return stop(gzip.error());
    // gzip bytes when either the part or its JSON entry says so (CouchDB's replicator says both).
    const engine::FollowsEntry& entry = follows_[parts_.size()];
    part_ = std::make_unique<Upload>(spool_dir_, budget_, *gzip || entry.gzip, entry.content_type);
  }

  void on_part_data(std::string_view data) override {
    if (!part_) {
      if (json_text_.size() + data.size() > kMaxDocumentSize) {
        stop({Code::kDocumentTooLarge, "document"});
        return;
      }
      json_text_ += data;
      return;
    }
    if (auto ok = part_->append(data); !ok) stop(ok.error());
  }

  void on_part_end() override {
    if (!part_) return end_json();
    auto received = part_->finish();
    part_.reset();
    if (!received) return stop(received.error());
    parts_.push_back(std::move(*received));
  }

  const std::optional<Error>& error() const { return error_; }
  std::optional<Json>& doc() { return doc_; }
  std::vector<ReceivedAttachment>& parts() { return parts_; }

 private:
  // The JSON part ended: parsed now, to know how many attachment parts may follow.
  void end_json() {
    auto json = parse_json_object(json_text_, "Document must be a JSON object");
    json_text_.clear();
    if (!json) return stop(json.error());
    follows_ = follows_entries(*json);
    doc_ = std::move(*json);
  }

  void stop(Error error) {
    if (!error_) error_ = std::move(error);
    if (parser_) parser_->fail(error_->reason);
  }

  std::filesystem::path spool_dir_;
  UploadBudget budget_;  // one per request, for all its parts
  multipart::MultipartParser* parser_ = nullptr;
  size_t index_ = 0;
  std::string json_text_;
  std::optional<Json> doc_;
  std::vector<engine::FollowsEntry> follows_;
  std::unique_ptr<Upload> part_;
  std::vector<ReceivedAttachment> parts_;
  std::optional<Error> error_;
};

// Feeds the request body to `parser`: piece by piece when the session streams it.
Task<Result<void>> feed_body(Request& req, multipart::MultipartParser& parser) {
  if (BodyReader* reader = req.body_reader()) {
    while (!parser.failed()) {
      auto piece = co_await reader->read_some();
      if (!piece) co_return tl::unexpected(piece.error());
      if (piece->empty()) break;
      parser.feed(*piece);
    }
  } else {
    parser.feed(req.body());
  }
  parser.finish();
  co_return Result<void>{};
}

// ---- Writing multipart answers (§6.1) ----

// Quotes a filename for Content-Disposition: backslash-escapes '"' and '\\' (RFC 9110 quoted-string)
// and percent-encodes control characters, which a quoted-string cannot hold (names with them are
// refused on input; this keeps a header intact whatever was stored).
std::string quoted_filename(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (has_control_char(std::string_view(&c, 1))) {
      out.push_back('%');
      append_hex(out, static_cast<unsigned char>(c), HexCase::kUpper);
      continue;
    }
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// The JSON part and the attachment parts of one revision, then the close delimiter.
void append_related(PieceBody& body, std::string_view boundary, FollowsRevision& revision) {
  body.text(multipart::part_header(boundary, {{"Content-Type", "application/json"}}));
  body.text(std::move(revision.json) + "\r\n");
  for (const auto& att : revision.follows) {
    multipart::Headers headers{
        {"Content-Disposition", "attachment; filename=" + quoted_filename(att.name)},
        {"Content-Type", std::string(header_content_type(att.content_type))},
        {"Content-Length", std::to_string(att.stored_length())}};
    // Sent as stored: the JSON entry says `"encoding":"gzip"` too (couch_doc:doc_to_multi_part_stream).
    if (att.gzip()) headers.emplace_back("Content-Encoding", "gzip");
    body.text(multipart::part_header(boundary, headers));
    body.attachment(att.digest, 0, att.stored_length());
    body.text("\r\n");
  }
  body.text(multipart::close_delimiter(boundary));
}

}  // namespace

bool is_multipart_related(std::string_view content_type) {
  return multipart::parse_media_type(content_type) == "multipart/related";
}

Task<Result<MultipartDoc>> read_multipart_related(Request& req, ServerContext& ctx) {
  auto type = multipart::parse_content_type(req.header(bhttp::field::content_type));
  if (!type || type->media_type != "multipart/related") {
    co_return fail(Code::kBadRequest, "Invalid multipart/related Content-Type");
  }
  DocPartCollector collector(ctx.catalog.spool_dir(), ctx.max_attachment_size);
  multipart::MultipartParser parser(type->boundary, collector);
  collector.attach(&parser);
  auto fed = co_await feed_body(req, parser);
  if (!fed) co_return tl::unexpected(fed.error());
  if (collector.error()) co_return tl::unexpected(*collector.error());
  if (parser.failed()) co_return fail(Code::kBadRequest, std::string(parser.error()));
  if (!collector.doc()) co_return fail(Code::kBadRequest, "multipart: no document part");
  co_return MultipartDoc{std::move(*collector.doc()), std::move(collector.parts())};
}

Task<Response> send_open_revs_multipart(Request& req, engine::Database& db,
                                        std::vector<FollowsRevision> found,
                                        std::vector<std::string> missing) {
  const std::string boundary = multipart::make_boundary();
  PieceBody body;
  for (auto& revision : found) {
    if (revision.follows.empty()) {
      body.text(multipart::part_header(boundary, {{"Content-Type", "application/json"}}));
      body.text(std::move(revision.json) + "\r\n");
      continue;
    }
    // A revision with attachment bodies is a nested multipart/related part.
    const std::string inner = multipart::make_boundary();
    body.text(multipart::part_header(
        boundary, {{"Content-Type", multipart::content_type("multipart/related", inner)}}));
    append_related(body, inner, revision);
    body.text("\r\n");
  }
  for (const auto& rev : missing) {
    body.text(multipart::part_header(boundary,
                                     {{"Content-Type", "application/json; error=\"true\""}}));
    body.text("{\"missing\":" + engine::json_string(rev) + "}\r\n");
  }
  body.text(multipart::close_delimiter(boundary));
  Response header{bhttp::status::ok, 11};
  header.set(bhttp::field::content_type, multipart::content_type("multipart/mixed", boundary));
  co_return co_await send_pieces(req, db, std::move(header), std::move(body));
}

Task<Response> send_doc_multipart(Request& req, engine::Database& db, FollowsRevision revision,
                                  std::string etag) {
  const std::string boundary = multipart::make_boundary();
  PieceBody body;
  append_related(body, boundary, revision);
  Response header{bhttp::status::ok, 11};
  header.set(bhttp::field::content_type, multipart::content_type("multipart/related", boundary));
  if (!etag.empty()) header.set(bhttp::field::etag, etag);
  co_return co_await send_pieces(req, db, std::move(header), std::move(body));
}

}  // namespace divan::http::server
