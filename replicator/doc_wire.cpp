// Documents on the wire to and from a remote peer. spec: replication-protocol.md §3.8, §3.9;
// http-api.md §5.3 (member order), §7.1 (attachment shapes).
#include "replicator/doc_wire.h"

#include <cassert>
#include <stdexcept>
#include <utility>

#include "base/base64.h"
#include "engine/attachments.h"
#include "engine/doc_json.h"
#include "engine/doc_render.h"
#include "engine/doc_scan.h"
#include "engine/gzip.h"
#include "http/multipart/multipart.h"

namespace divan::replicator::doc_wire {
namespace {

using engine::append_json_string;

// The stored bytes of an attachment body, whether held in memory or spooled to a file.
std::string body_bytes(const engine::AttachmentBody& body) {
  if (auto memory = body.memory()) return std::string(*memory);
  std::string bytes(static_cast<size_t>(body.length()), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const size_t n = body.read(done, bytes.data() + done, bytes.size() - done);
    if (n == 0) break;  // shorter than its length: cannot happen for a finished body
    done += n;
  }
  bytes.resize(done);
  return bytes;
}

// The identity bytes of an attachment body: a gzip one decoded.
std::string identity_bytes(const engine::AttachmentBody& body) {
  std::string stored = body_bytes(body);
  if (!body.gzip()) return stored;
  auto identity = engine::gunzip_bytes(stored);
  // A body is gzip only when its bytes were checked as such (Upload) or made so (the spool).
  if (!identity) throw std::runtime_error("attachment body " + body.digest() + " is not gzip");
  return std::move(*identity);
}

// How an attachment with data travels: base64 inside the JSON, or as a multipart part that
// the JSON announces with "follows".
enum class DataForm { kInline, kFollows };

// `"name":{…}` for one attachment (§7.1): its data (inline or following), or a stub with what it
// carries.
void append_attachment(std::string& out, const engine::NewAttachment& att, DataForm form) {
  append_json_string(out, att.name);
  out += ":{";
  bool first = true;
  auto member = [&](std::string_view key) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += key;
    out += "\":";
  };
  if (!att.stub && att.body) {
    member("content_type");
    append_json_string(out, att.content_type.empty() ? engine::kOctetStream : att.content_type);
    if (att.revpos) {
      member("revpos");
      out += std::to_string(*att.revpos);
    }
    member("digest");
    append_json_string(out, att.body->digest());
    if (form == DataForm::kFollows) {
      // The part holds the stored bytes: a gzip one says so, as CouchDB's replicator sends it.
      member("length");
      out += std::to_string(att.body->identity_length());
      member("follows");
      out += "true";
      if (att.body->gzip()) {
        out += ",\"encoding\":\"gzip\",\"encoded_length\":";
        out += std::to_string(att.body->length());
      }
      out.push_back('}');
      return;
    }
    // Inline data is always the identity bytes (couch_att:to_json); the target digests what it
    // stores itself.
    member("data");
    out.push_back('"');
    out += base64_encode(identity_bytes(*att.body));
    out += "\"}";
    return;
  }
  // A stub (or, malformed, an entry without bytes: sent as a stub, which the target resolves or
  // refuses with missing_stub rather than storing an empty attachment).
  if (!att.content_type.empty()) {
    member("content_type");
    append_json_string(out, att.content_type);
  }
  if (att.revpos) {
    member("revpos");
    out += std::to_string(*att.revpos);
  }
  if (!att.digest.empty()) {
    member("digest");
    append_json_string(out, att.digest);
  }
  if (att.length) {
    member("length");
    out += std::to_string(*att.length);
  }
  member("stub");
  out += "true}";
}

}  // namespace

std::string newest_rev(const engine::DocUpdate& update) {
  assert(update.replicated() && !update.revisions()->ids.empty());
  return update.revisions()->newest().str();
}

std::string render_with(const engine::DocUpdate& update, DataForm form) {
  assert(update.replicated());
  const revtree::RevPath& path = *update.revisions();
  std::string extras = ",\"_revisions\":{\"start\":" + std::to_string(path.start) + ",\"ids\":[";
  for (size_t i = 0; i < path.ids.size(); ++i) {
    if (i) extras.push_back(',');
    append_json_string(extras, path.ids[i]);
  }
  extras += "]}";
  if (!update.attachments().empty()) {
    extras += ",\"_attachments\":{";
    for (size_t i = 0; i < update.attachments().size(); ++i) {
      if (i) extras.push_back(',');
      append_attachment(extras, update.attachments()[i], form);
    }
    extras.push_back('}');
  }
  return engine::render_doc(update.id(), newest_rev(update), update.deleted(), update.body(),
                            extras);
}

std::string render_replicated(const engine::DocUpdate& update) {
  return render_with(update, DataForm::kInline);
}

bool travels_inline(const engine::DocUpdate& update, uint64_t limit) {
  uint64_t total = 0;
  for (const auto& att : update.attachments()) {
    if (!att.stub && att.body) total += att.body->identity_length();
  }
  if (total >= limit) return false;
  for (const auto& att : update.attachments()) {
    if (att.stub || !att.body || !att.body->gzip()) continue;
    const std::string identity = identity_bytes(*att.body);
    if (engine::md5_digest(engine::gzip_bytes(identity, engine::kCouchDbCompressionLevel)) != att.body->digest()) return false;
  }
  return true;
}

std::string render_multipart_related(const engine::DocUpdate& update, std::string_view boundary) {
  std::string out = multipart::part_header(boundary, {{"Content-Type", "application/json"}});
  out += render_with(update, DataForm::kFollows);
  out += "\r\n";
  for (const auto& att : update.attachments()) {
    if (att.stub || !att.body) continue;
    multipart::Headers headers;
    if (att.body->gzip()) headers.push_back({"Content-Encoding", "gzip"});
    out += multipart::part_header(boundary, headers);
    out += body_bytes(*att.body);
    out += "\r\n";
  }
  out += multipart::close_delimiter(boundary);
  return out;
}

namespace {

// The id a fetched document is written under. Errors: no `_id`, a `_local/` one.
Result<std::string> fetched_id(engine::IncomingDoc& incoming) {
  if (!incoming.id) return fail(Code::kBadRequest, "fetched document has no _id");
  std::string id = std::move(*incoming.id);
  if (id.starts_with(engine::kLocalPrefix)) {
    return fail(Code::kBadRequest, "fetched document " + id + " is a _local document");
  }
  return id;
}

}  // namespace

Result<engine::DocUpdate> parse_fetched(engine::Json&& doc) {
  auto incoming = engine::parse_incoming_doc(std::move(doc));
  if (!incoming) return tl::unexpected(incoming.error());
  auto id = fetched_id(*incoming);
  if (!id) return tl::unexpected(id.error());
  return engine::to_doc_update(std::move(*incoming), std::move(*id), /*new_edits=*/false);
}

Result<engine::DocUpdate> parse_fetched(engine::SplitDoc&& doc) {
  // The `_` members alone go through the one parser of incoming documents; the body is there.
  auto incoming = engine::parse_incoming_doc(std::move(doc.specials));
  if (!incoming) return tl::unexpected(incoming.error());
  auto id = fetched_id(*incoming);
  if (!id) return tl::unexpected(id.error());
  return engine::replicated_update(std::move(*incoming), std::move(*id), std::move(doc.body));
}

}  // namespace divan::replicator::doc_wire
