#include "http/server/multipart_doc.h"

#include <openssl/evp.h>

#include <optional>

#include <boost/beast/core/string.hpp>

#include "http/multipart/multipart.h"
#include "http/server/body_pieces.h"
#include "http/server/gzip.h"
#include "http/server/params.h"
#include "http/server/response.h"

namespace divan::http {

namespace {

// ---- Reading a multipart/related PUT (§7.4) ----

// MD5 of the bytes as sent, as they pass: a supplied digest names those (for a gzip part, the
// gzip bytes), while the stored digest is of the decoded bytes (engine::AttachmentSpool's).
class SentDigest {
 public:
  SentDigest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  ~SentDigest() { EVP_MD_CTX_free(ctx_); }
  SentDigest(const SentDigest&) = delete;
  SentDigest& operator=(const SentDigest&) = delete;
  void update(std::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }
  std::string finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return "md5-" + engine::base64_encode(std::string_view(reinterpret_cast<char*>(md), n));
  }

 private:
  EVP_MD_CTX* ctx_;
};

// One attachment part being received: spooled (to disk past 1 MiB), gzip decoded when sent so.
struct PartInProgress {
  explicit PartInProgress(const std::filesystem::path& spool_dir) : spool(spool_dir) {}
  engine::AttachmentSpool spool;
  SentDigest sent_digest;
  uint64_t sent_length = 0;
  std::unique_ptr<GzipDecoder> gzip;
};

// Collects the parts of a multipart/related document body: the JSON first, then attachments.
// Errors stop the parser (MultipartParser::fail) and are kept here with their proper code.
class DocPartCollector : public multipart::MultipartHandler {
 public:
  explicit DocPartCollector(std::filesystem::path spool_dir) : spool_dir_(std::move(spool_dir)) {}
  void attach(multipart::MultipartParser* parser) { parser_ = parser; }

  void on_part_begin(const multipart::Headers& headers) override {
    if (index_++ == 0) return;  // the JSON document
    part_ = std::make_unique<PartInProgress>(spool_dir_);
    auto encoding = multipart::find_header(headers, "Content-Encoding");
    if (encoding && !boost::beast::iequals(*encoding, "identity")) {
      if (!boost::beast::iequals(*encoding, "gzip")) {
        stop({Code::kBadContentType, "Only gzip and identity content-encodings are supported"});
        return;
      }
      part_->gzip = std::make_unique<GzipDecoder>(
          [spool = &part_->spool](std::string_view bytes) { return spool->append(bytes); });
    }
  }

  void on_part_data(std::string_view data) override {
    if (!part_) {
      if (json_.size() + data.size() > kMaxDocumentSize) {
        stop({Code::kDocumentTooLarge, "document"});
        return;
      }
      json_ += data;
      return;
    }
    part_->sent_length += data.size();
    part_->sent_digest.update(data);
    auto ok = part_->gzip ? part_->gzip->feed(data) : part_->spool.append(data);
    if (!ok) stop(ok.error());
  }

  void on_part_end() override {
    if (!part_) return;
    if (part_->gzip) {
      if (auto ok = part_->gzip->finish(); !ok) return stop(ok.error());
    }
    auto body = part_->spool.finish();
    if (!body) return stop(body.error());
    parts_.push_back({std::move(*body), part_->sent_length, part_->sent_digest.finish()});
    part_.reset();
  }

  const std::optional<Error>& error() const { return error_; }
  std::string& json() { return json_; }
  std::vector<ReceivedAttachment>& parts() { return parts_; }

 private:
  void stop(Error error) {
    if (!error_) error_ = std::move(error);
    if (parser_) parser_->fail(error_->reason);
  }

  std::filesystem::path spool_dir_;
  multipart::MultipartParser* parser_ = nullptr;
  size_t index_ = 0;
  std::string json_;
  std::unique_ptr<PartInProgress> part_;
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

// Quotes a filename for Content-Disposition: backslash-escapes '"' and '\' (RFC 7230 quoted-string).
std::string quoted_filename(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
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
    body.text(multipart::part_header(
        boundary, {{"Content-Disposition", "attachment; filename=" + quoted_filename(att.name)},
                   {"Content-Type", att.content_type},
                   {"Content-Length", std::to_string(att.length)}}));
    body.attachment(att.digest, 0, att.length);
    body.text("\r\n");
  }
  body.text(multipart::close_delimiter(boundary));
}

}  // namespace

Task<Result<MultipartDoc>> read_multipart_related(Request& req, ServerContext& ctx) {
  auto type = multipart::parse_content_type(req.header(bhttp::field::content_type));
  if (!type || type->media_type != "multipart/related") {
    co_return fail(Code::kBadRequest, "Invalid multipart/related Content-Type");
  }
  DocPartCollector collector(ctx.catalog.spool_dir());
  multipart::MultipartParser parser(type->boundary, collector);
  collector.attach(&parser);
  auto fed = co_await feed_body(req, parser);
  if (!fed) co_return tl::unexpected(fed.error());
  if (collector.error()) co_return tl::unexpected(*collector.error());
  if (parser.failed()) co_return fail(Code::kBadRequest, std::string(parser.error()));
  if (parser.parts() == 0) co_return fail(Code::kBadRequest, "multipart: no document part");
  auto json = parse_json_object(collector.json(), "Document must be a JSON object");
  if (!json) co_return tl::unexpected(json.error());
  co_return MultipartDoc{std::move(*json), std::move(collector.parts())};
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

}  // namespace divan::http
