// The Peer of a remote database. spec: replication-protocol.md §3.2–§3.10, §6; http-api.md §4,
// §8, §10–§13. CouchDB reference: couch_replicator_api_wrap.erl.
#include "replicator/http_peer.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>

#include "base/text.h"
#include "engine/gzip.h"
#include "http/multipart/multipart.h"
#include "replicator/answer_scan.h"
#include "replicator/doc_wire.h"

namespace divan::replicator {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::client::Response;

namespace {

// What stays unescaped in a doc id segment and a query value: couch_util:url_encode keeps letters,
// digits and "_.-:" and escapes everything else (so '+' cannot turn into a space on a server that
// reads it as one, and '/' stays inside its segment).
constexpr boost::urls::grammar::lut_chars kUnescaped(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:");

std::string method_name(verb method) { return std::string(boost::beast::http::to_string(method)); }

std::optional<Json> parse_json(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  return json;
}

// A query string built argument by argument: "?a=1&b=2".
class Query {
 public:
  Query& add(std::string_view key, std::string_view value) {
    out_.push_back(out_.empty() ? '?' : '&');
    out_ += HttpPeer::encode_query_value(key);
    out_.push_back('=');
    out_ += HttpPeer::encode_query_value(value);
    return *this;
  }
  // A JSON value as CouchDB's replicator sends one: a string as it is, anything else as JSON.
  Query& add_json(std::string_view key, const Json& value) {
    return add(key, value.is_string() ? value.get_ref<const std::string&>() : value.dump());
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

Json rev_array(const std::vector<revtree::RevId>& revs) {
  Json out = Json::array();
  for (const auto& rev : revs) out.push_back(rev.str());
  return out;
}

// `member` of `object` as a string, or "" when absent or not a string.
std::string string_member(const Json& object, const char* member) {
  if (!object.is_object()) return {};
  auto it = object.find(member);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A list of rev strings from an answer; nullopt when it is not one.
std::optional<std::vector<revtree::RevId>> parse_rev_list(const Json& value) {
  if (!value.is_array()) return std::nullopt;
  std::vector<revtree::RevId> revs;
  revs.reserve(value.size());
  for (const auto& item : value) {
    auto rev = item.is_string() ? revtree::parse_rev(item.get_ref<const std::string&>())
                                : std::nullopt;
    if (!rev) return std::nullopt;
    revs.push_back(std::move(*rev));
  }
  return revs;
}

bool is_success(unsigned status) { return status >= 200 && status < 300; }

}  // namespace

// ---- Options, construction ------------------------------------------------------------------

HttpPeerOptions HttpPeerOptions::from(const ReplicationSpec& spec) {
  HttpPeerOptions options;
  options.connection_timeout = spec.connection_timeout;
  options.use_bulk_get = spec.use_bulk_get;
  options.http_connections = spec.http_connections;
  return options;
}

HttpPeer::HttpPeer(http::client::Client& client, Endpoint endpoint, HttpPeerOptions options,
                   std::shared_ptr<http::client::StopToken> stop)
    : client_(client),
      endpoint_(std::move(endpoint)),
      options_(options),
      stop_(std::move(stop)) {
  assert(!endpoint_.is_local());
}

std::string HttpPeer::display_name() const { return endpoint_.redacted_url(); }

std::string HttpPeer::encode_doc_id(std::string_view id) {
  for (std::string_view prefix : {std::string_view("_design/"), std::string_view("_local/")}) {
    if (id.starts_with(prefix)) {
      return std::string(prefix) + boost::urls::encode(id.substr(prefix.size()), kUnescaped);
    }
  }
  return boost::urls::encode(id, kUnescaped);
}

std::string HttpPeer::encode_query_value(std::string_view value) {
  return boost::urls::encode(value, kUnescaped);
}

// ---- One exchange ---------------------------------------------------------------------------

struct HttpPeer::Exchange {
  verb method = verb::get;
  std::string rel;  // relative to the database path
  std::optional<std::string> json_body;  // the body (JSON unless content_type says otherwise)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> extra_headers;
  std::chrono::milliseconds timeout{0};  // 0: connection_timeout
  bool long_poll = false;
  std::shared_ptr<http::client::StopToken> stop;  // null: the peer's own
  bool keep_content_encoding = false;  // the body as the server sent it (not gunzipped)
};

boost::asio::awaitable<PeerResult<Response>> HttpPeer::send(Exchange x) {
  http::client::Request request;
  request.method = x.method;
  request.target = endpoint_.path() + x.rel;
  // Ours first; of the endpoint's own headers, those that would contradict ours are left out.
  request.headers.emplace_back("Accept", "application/json");
  if (x.json_body) request.headers.emplace_back("Content-Type", std::move(x.content_type));
  for (auto& [name, value] : endpoint_.request_headers()) {
    const std::string key = ascii_lower(name);
    if (key == "accept" || key == "content-type") continue;
    request.headers.emplace_back(std::move(name), std::move(value));
  }
  for (auto& header : x.extra_headers) request.headers.push_back(std::move(header));
  if (x.json_body) request.body = std::move(*x.json_body);
  request.timeout = x.timeout.count() > 0 ? x.timeout : options_.connection_timeout;
  request.long_poll = x.long_poll;
  request.keep_content_encoding = x.keep_content_encoding;
  request.stop = x.stop;
  if (!request.stop) request.stop = stop_;
  auto response = co_await client_.send(endpoint_.origin(), std::move(request));
  if (response) co_return std::move(*response);

  const http::client::TransportError& e = response.error();
  PeerError error;
  // A stopped request (the job is being stopped) is kTransport too: nobody looks at its verdict,
  // and its reason says "cancelled".
  switch (e.kind) {
    case http::client::ErrorKind::kTimeout:
      error.kind = PeerError::Kind::kTimeout;
      break;
    case http::client::ErrorKind::kConnectionLost:
    case http::client::ErrorKind::kProtocol:
    case http::client::ErrorKind::kTooLarge:
      error.kind = PeerError::Kind::kLost;  // the host answered; this exchange broke
      break;
    default:
      error.kind = PeerError::Kind::kTransport;
  }
  error.reason = std::string(http::client::name(e.kind)) + ": " + e.message;
  co_return tl::unexpected(std::move(error));
}

std::string HttpPeer::url_of(std::string_view rel) const {
  std::string url = endpoint_.redacted_url();
  if (!endpoint_.query().empty()) url.resize(url.size() - endpoint_.query().size() - 1);
  url += rel;
  return url;
}

PeerError HttpPeer::status_error(const Response& response, verb method,
                                 std::string_view rel) const {
  PeerError error;
  error.kind = PeerError::Kind::kHttp;
  error.status = response.status;
  std::string reason;
  if (auto body = parse_json(response.body); body && body->is_object()) {
    error.error = string_member(*body, "error");
    if (auto it = body->find("reason"); it != body->end()) {
      reason = it->is_string() ? it->get<std::string>() : it->dump();
    }
  }
  error.code = code_from_http(response.status, error.error);
  error.reason = method_name(method) + " " + url_of(rel) + ": " + std::to_string(response.status);
  if (!error.error.empty()) error.reason += " " + error.error;
  if (!reason.empty()) error.reason += ": " + reason;
  return error;
}

PeerError HttpPeer::bad_answer(const Response& response, verb method, std::string_view rel,
                               std::string_view what) const {
  PeerError error;
  error.kind = PeerError::Kind::kHttp;
  error.status = response.status;
  error.code = Code::kInternal;
  error.reason = method_name(method) + " " + url_of(rel) + ": " +
                 std::to_string(response.status) + " with an unexpected body (" +
                 std::string(what) + ")";
  return error;
}

// ---- Database info, creation, checkpoints ---------------------------------------------------

PeerTask<PeerInfo> HttpPeer::info() {
  Exchange exchange{.method = verb::get};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (response->status != 200) co_return tl::unexpected(status_error(*response, verb::get, ""));
  auto body = parse_json(response->body);
  const Json* seq = nullptr;
  const Json* start = nullptr;
  if (body && body->is_object()) {
    if (auto it = body->find("update_seq"); it != body->end()) seq = &*it;
    if (auto it = body->find("instance_start_time"); it != body->end()) start = &*it;
  }
  if (!seq || !start || !(start->is_string() || start->is_number_integer())) {
    // spec §3.2: CouchDB's replicator takes such an answer for a missing database.
    PeerError error;
    error.kind = PeerError::Kind::kHttp;
    error.status = 404;
    error.code = Code::kNotFound;
    error.error = "not_found";
    error.reason = "could not open " + display_name();
    co_return tl::unexpected(std::move(error));
  }
  PeerInfo info;
  info.update_seq = *seq;
  info.instance_start_time = start->is_string() ? start->get<std::string>() : start->dump();
  co_return info;
}

PeerTask<void> HttpPeer::create(const Json& params) {
  Query query;
  if (params.is_object()) {
    for (const auto& [key, value] : params.items()) query.add_json(key, value);
  }
  Exchange x{.method = verb::put, .rel = query.str()};
  auto response = co_await send(std::move(x));
  if (!response) co_return tl::unexpected(response.error());
  // 412 file_exists: someone made it first, which is all create_target asks (spec §3.2).
  const unsigned status = response->status;
  if (status == 201 || status == 202 || status == 412) co_return PeerResult<void>();
  co_return tl::unexpected(status_error(*response, verb::put, query.str()));
}

PeerTask<std::optional<Json>> HttpPeer::get_local(std::string_view doc_id) {
  const std::string rel = encode_doc_id(doc_id);
  Exchange exchange{.method = verb::get, .rel = rel};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (response->status == 404) co_return std::optional<Json>();
  if (response->status != 200) co_return tl::unexpected(status_error(*response, verb::get, rel));
  auto body = parse_json(response->body);
  if (!body || !body->is_object()) {
    co_return tl::unexpected(bad_answer(*response, verb::get, rel, "not a JSON object"));
  }
  co_return std::optional<Json>(std::move(*body));
}

PeerTask<std::string> HttpPeer::put_local(std::string_view doc_id, const Json& body) {
  const std::string rel = encode_doc_id(doc_id);
  Exchange exchange{.method = verb::put, .rel = rel, .json_body = body.dump()};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (!is_success(response->status)) {
    co_return tl::unexpected(status_error(*response, verb::put, rel));
  }
  auto answer = parse_json(response->body);
  std::string rev = answer ? string_member(*answer, "rev") : std::string();
  if (rev.empty()) co_return tl::unexpected(bad_answer(*response, verb::put, rel, "no rev"));
  co_return rev;
}

PeerTask<std::string> HttpPeer::ensure_full_commit() {
  const std::string rel = "_ensure_full_commit";
  Exchange exchange{.method = verb::post, .rel = rel, .json_body = std::string()};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (!is_success(response->status)) {
    co_return tl::unexpected(status_error(*response, verb::post, rel));
  }
  auto answer = parse_json(response->body);
  if (answer && answer->is_object()) {
    if (auto it = answer->find("instance_start_time"); it != answer->end()) {
      if (it->is_string()) co_return it->get<std::string>();
      if (it->is_number_integer()) co_return it->dump();
    }
  }
  co_return tl::unexpected(bad_answer(*response, verb::post, rel, "no instance_start_time"));
}

// ---- Changes --------------------------------------------------------------------------------

// One page of a changes answer (see changes()): rows with their revs, last_seq, pending.
// Plain code on any thread: changes() runs it off the job's strand while its frame waits.
PeerResult<ChangesPage> HttpPeer::read_changes_page(const Response& response, verb method,
                                                    const std::string& rel,
                                                    const Json& since) const {
  auto page = answer_scan::changes_page(response.body, since);
  if (!page) return tl::unexpected(bad_answer(response, method, rel, page.error()));
  return std::move(*page);
}

PeerTask<ChangesPage> HttpPeer::changes(const ChangesRequest& request) {
  Query query;
  query.add("style", request.winning_revs_only ? "main_only" : "all_docs");
  query.add_json("since", request.since);
  query.add("limit", std::to_string(request.limit));
  Exchange x;
  x.method = verb::get;
  if (request.live) {
    query.add("feed", "longpoll");
    query.add("timeout", std::to_string(request.timeout.count()));
    x.timeout = request.timeout + options_.connection_timeout;
    x.long_poll = true;
    x.stop = request.stop;  // the job's stop flips it too
  }
  if (const Filter* filter = request.filter) {
    switch (filter->kind) {
      case Filter::Kind::kNone:
        break;
      case Filter::Kind::kDocIds: {
        query.add("filter", "_doc_ids");
        Json ids = Json::array();
        for (const auto& id : filter->doc_ids) ids.push_back(id);
        x.method = verb::post;
        x.json_body = Json{{"doc_ids", std::move(ids)}}.dump();
        break;
      }
      case Filter::Kind::kSelector:
        query.add("filter", "_selector");
        x.method = verb::post;
        x.json_body = Json{{"selector", filter->selector}}.dump();
        break;
      case Filter::Kind::kBuiltin:
      case Filter::Kind::kDesignDoc:
        query.add("filter", filter->name);
        if (filter->query_params.is_object()) {
          for (const auto& [key, value] : filter->query_params.items()) query.add_json(key, value);
        }
        break;
    }
  }
  x.rel = "_changes" + query.str();
  const std::string rel = x.rel;
  const verb method = x.method;
  auto response = co_await send(std::move(x));
  if (!response) co_return tl::unexpected(response.error());
  if (response->status != 200) co_return tl::unexpected(status_error(*response, method, rel));

  // Parsing a page of rows is most of a changes read: off the job's strand, as read_bulk_get.
  PeerResult<ChangesPage> page = tl::unexpected(PeerError{});
  auto read = [&]() -> asio::awaitable<void> {
    page = read_changes_page(*response, method, rel, request.since);
    co_return;
  };
  co_await asio::co_spawn(asio::make_strand(client_.executor()), read, asio::use_awaitable);
  co_return page;
}

// ---- revs_diff ------------------------------------------------------------------------------

PeerTask<std::vector<MissingRevs>> HttpPeer::revs_diff(std::vector<RevsDiffEntry> entries) {
  std::vector<MissingRevs> out;
  if (entries.empty()) co_return out;
  Json request = Json::object();
  std::vector<std::string> order;  // ids in the order of their first entry
  for (auto& entry : entries) {
    auto [it, inserted] = request.emplace(entry.id, Json::array());
    if (inserted) order.push_back(entry.id);
    for (const auto& rev : entry.revs) {
      std::string text = rev.str();
      if (std::find(it->begin(), it->end(), text) == it->end()) it->push_back(std::move(text));
    }
  }
  const std::string rel = "_revs_diff";
  Exchange exchange{.method = verb::post, .rel = rel, .json_body = request.dump()};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (response->status != 200) co_return tl::unexpected(status_error(*response, verb::post, rel));
  auto body = parse_json(response->body);
  if (!body || !body->is_object()) {
    co_return tl::unexpected(bad_answer(*response, verb::post, rel, "not a JSON object"));
  }
  for (const auto& id : order) {
    auto it = body->find(id);
    if (it == body->end()) continue;
    MissingRevs missing;
    missing.id = id;
    auto revs = it->is_object() && it->contains("missing")
                    ? parse_rev_list((*it)["missing"])
                    : std::nullopt;
    if (!revs) co_return tl::unexpected(bad_answer(*response, verb::post, rel, "bad missing"));
    missing.missing = std::move(*revs);
    if (auto pa = it->find("possible_ancestors"); pa != it->end()) {
      auto ancestors = parse_rev_list(*pa);
      if (!ancestors) {
        co_return tl::unexpected(bad_answer(*response, verb::post, rel, "bad possible_ancestors"));
      }
      missing.possible_ancestors = std::move(*ancestors);
    }
    if (!missing.missing.empty()) out.push_back(std::move(missing));
  }
  co_return out;
}

// ---- fetch ----------------------------------------------------------------------------------

namespace {

// One fetched document: appended to `out` unless already there (latest=true may resolve two
// requested revs to the same leaf).
Result<void> add_fetched(Result<engine::DocUpdate>&& update, FetchResult& out,
                         std::set<std::pair<std::string, std::string>>& seen) {
  if (!update) return tl::unexpected(update.error());
  if (seen.emplace(update->id(), doc_wire::newest_rev(*update)).second) {
    out.docs.push_back(std::move(*update));
  }
  return {};
}

}  // namespace

// The answer of one _bulk_get (see fetch()): its documents into `out` (each once: `seen`), what it
// could not give for another reason than not_found into `individual`, and every request into
// `individual` when _bulk_get turned out unusable. A PeerError when a document in it is malformed.
// Plain code on any thread: fetch() runs it off the job's strand while its frame waits.
std::optional<PeerError> HttpPeer::read_bulk_get(
    const Response& response, const std::string& rel, std::vector<FetchRequest>& requests,
    const std::vector<BulkGetEntry>& entries, FetchResult& out,
    std::set<std::pair<std::string, std::string>>& seen, std::vector<FetchRequest>& individual) {
  // spec §3.8: the answer must be exactly {"results":[…]}, one result per entry.
  std::optional<std::vector<answer_scan::BulkGetResult>> results;
  if (response.status == 200) results = answer_scan::bulk_get(response.body, entries.size());
  if (!results) {
    // Not there (404, 405, 400 from a server that reads `_bulk_get` as a doc id, …) or not
    // usable: every later fetch goes per document. A 5xx, 408 or 429 may pass: this call only.
    const unsigned status = response.status;
    if (!(status >= 500 || status == 408 || status == 429)) {
      bulk_get_disabled_.store(true, std::memory_order_relaxed);
    }
    individual = std::move(requests);
    return std::nullopt;
  }
  // Per request: the revs _bulk_get could not give for a reason other than not_found.
  std::vector<std::vector<revtree::RevId>> retry(requests.size());
  for (size_t e = 0; e < entries.size(); ++e) {
    const FetchRequest& request = requests[entries[e].request];
    const revtree::RevId& rev = *entries[e].rev;
    answer_scan::BulkGetResult& result = (*results)[e];
    for (auto& doc : result.docs) {
      if (auto added = add_fetched(std::move(doc), out, seen); !added) {
        return bad_answer(response, verb::post, rel,
                          "document " + request.id + ": " + added.error().reason);
      }
    }
    for (size_t i = 0; i < result.not_found; ++i) out.missing.emplace_back(request.id, rev);
    if (!result.docs.empty()) ++out.bulk_get_docs;
    // Another error: CouchDB fetches such a doc on its own (§3.8).
    if (!result.has_docs || result.other) retry[entries[e].request].push_back(rev);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (retry[i].empty()) continue;
    FetchRequest again = requests[i];
    again.revs = std::move(retry[i]);
    individual.push_back(std::move(again));
  }
  return std::nullopt;
}

PeerTask<FetchResult> HttpPeer::fetch(std::vector<FetchRequest> requests, bool full) {
  FetchResult out;
  if (requests.empty()) co_return out;
  std::set<std::pair<std::string, std::string>> seen;

  // What goes per document: everything when _bulk_get is off, else what _bulk_get left.
  std::vector<FetchRequest> individual;
  if (!options_.use_bulk_get || bulk_get_disabled()) {
    individual = std::move(requests);
  } else {
    // One _bulk_get entry per (id, rev); results come back in entry order (http-api.md §11).
    std::vector<BulkGetEntry> entries;
    Json docs = Json::array();
    for (size_t i = 0; i < requests.size(); ++i) {
      for (const auto& rev : requests[i].revs) {
        Json item{{"id", requests[i].id}, {"rev", rev.str()}};
        if (!full && !requests[i].atts_since.empty()) {
          item["atts_since"] = rev_array(requests[i].atts_since);
        }
        docs.push_back(std::move(item));
        entries.push_back({i, &rev});
      }
    }
    out.bulk_get_attempts = entries.size();
    const std::string rel = "_bulk_get?revs=true&latest=true&attachments=true";
    // Named, not a braced temporary in the co_await: GCC 12 mishandles those (double frees).
    Exchange exchange{.method = verb::post,
                      .rel = rel,
                      .json_body = Json{{"docs", std::move(docs)}}.dump()};
    auto response = co_await send(std::move(exchange));
    if (!response) co_return tl::unexpected(response.error());

    // Reading the answer (parsing it, building every document's write) is the costliest step of
    // a pull: it runs on a strand of its own, so other batches of the job go on meanwhile.
    std::optional<PeerError> bad;
    auto read = [&]() -> asio::awaitable<void> {
      bad = read_bulk_get(*response, rel, requests, entries, out, seen, individual);
      co_return;
    };
    co_await asio::co_spawn(asio::make_strand(client_.executor()), read, asio::use_awaitable);
    if (bad) co_return tl::unexpected(std::move(*bad));
  }
  if (!individual.empty()) {
    FetchResult each;
    if (auto ok = co_await fetch_each(individual, full, each); !ok) {
      co_return tl::unexpected(ok.error());
    }
    for (auto& doc : each.docs) {
      if (seen.emplace(doc.id(), doc_wire::newest_rev(doc)).second) {
        out.docs.push_back(std::move(doc));
      }
    }
    for (auto& missing : each.missing) out.missing.push_back(std::move(missing));
  }
  if (auto ok = co_await keep_source_digests(out.docs); !ok) co_return tl::unexpected(ok.error());
  co_return out;
}

namespace {

// Whether an attachment's bytes, as fetched and stored here, do not have the digest the source
// declared for them.
bool digest_differs(const engine::NewAttachment& att) {
  return !att.stub && att.body && !att.digest.empty() && att.digest != att.body->digest();
}

// `body` (gzip, made here from identity data) decoded again, when the decoded bytes are what
// `digest` names; else null.
std::shared_ptr<const engine::AttachmentBody> decoded_if_digest(
    const engine::AttachmentBody& body, const std::string& digest) {
  auto stored = body.memory();
  if (!body.gzip() || !stored) return nullptr;
  auto identity = engine::gunzip_bytes(*stored);
  if (!identity || engine::md5_digest(*identity) != digest) return nullptr;
  return engine::AttachmentBody::from_bytes(std::move(*identity));
}

}  // namespace

PeerTask<void> HttpPeer::keep_source_digests(std::vector<engine::DocUpdate>& docs) {
  for (auto& doc : docs) {
    const auto& atts = doc.attachments();
    if (std::none_of(atts.begin(), atts.end(), digest_differs)) continue;
    std::vector<engine::NewAttachment> exact = atts;
    for (auto& att : exact) {
      if (!digest_differs(att)) continue;
      // The source stores the decoded bytes (PouchDB, a node with compression off): no request.
      if (auto identity = decoded_if_digest(*att.body, att.digest)) {
        att.body = std::move(identity);
        continue;
      }
      auto body = co_await stored_attachment(doc, att);
      if (!body) co_return tl::unexpected(body.error());
      if (*body) att.body = std::move(*body);  // else kept: same bytes, this node's encoding
    }
    doc = engine::DocUpdate::replicated_stored(doc.id(), *doc.revisions(), doc.deleted(),
                                               doc.body(), std::move(exact));
  }
  co_return PeerResult<void>();
}

PeerTask<std::shared_ptr<const engine::AttachmentBody>> HttpPeer::stored_attachment(
    const engine::DocUpdate& doc, const engine::NewAttachment& att) {
  using Body = std::shared_ptr<const engine::AttachmentBody>;
  const std::string rel = encode_doc_id(doc.id()) + "/" + encode_query_value(att.name) +
                          "?rev=" + encode_query_value(doc_wire::newest_rev(doc));
  Exchange exchange{.method = verb::get, .rel = rel};
  exchange.extra_headers.emplace_back("Accept-Encoding", "gzip");
  exchange.keep_content_encoding = true;
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  // Only the digest is at stake (the decoded bytes are right): a revision compacted away
  // meanwhile, or a server that does not serve this, leaves this node's form.
  if (response->status != 200) co_return Body();
  std::string& raw = response->body;
  const bool gzip =
      boost::beast::iequals(response->headers[boost::beast::http::field::content_encoding], "gzip");
  if (!gzip) {
    if (engine::md5_digest(raw) != att.digest) co_return Body();
    co_return engine::AttachmentBody::from_bytes(std::move(raw));
  }
  auto identity = engine::gunzip_bytes(raw);
  if (!identity) co_return Body();
  // Stored gzip at the source, or identity bytes a proxy compressed on the way.
  if (engine::md5_digest(raw) == att.digest) {
    co_return engine::AttachmentBody::from_gzip(std::move(raw), identity->size());
  }
  if (engine::md5_digest(*identity) == att.digest) {
    co_return engine::AttachmentBody::from_bytes(std::move(*identity));
  }
  co_return Body();
}

// Shared by the workers of one fetch_each: they take requests by index and write each result
// into its own slot, so the workers may run on any threads.
struct HttpPeer::FetchState {
  const std::vector<FetchRequest>& requests;
  bool full;
  std::vector<PeerResult<FetchResult>> results;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
};

PeerTask<void> HttpPeer::fetch_each(const std::vector<FetchRequest>& requests, bool full,
                                    FetchResult& out) {
  // Not make_shared: FetchState holds atomics, which an aggregate cannot be moved with.
  std::shared_ptr<FetchState> state(new FetchState{requests, full, {}});
  state->results.resize(requests.size());
  const size_t workers = std::min<size_t>(
      requests.size(),
      std::max<size_t>(1, std::min<size_t>(options_.http_connections,
                                            tuning::kMaxConcurrentDocFetches)));
  auto executor = co_await asio::this_coro::executor;
  using Op = decltype(asio::co_spawn(executor, fetch_worker(state), asio::deferred));
  std::vector<Op> ops;
  ops.reserve(workers);
  for (size_t k = 0; k < workers; ++k) {
    ops.push_back(asio::co_spawn(executor, fetch_worker(state), asio::deferred));
  }
  auto [order, exceptions] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& e : exceptions) {
    if (e) std::rethrow_exception(e);
  }
  // The first failure in request order is the call's; otherwise every result, in order.
  for (auto& result : state->results) {
    if (!result) co_return tl::unexpected(std::move(result.error()));
  }
  for (auto& result : state->results) {
    for (auto& doc : result->docs) out.docs.push_back(std::move(doc));
    for (auto& missing : result->missing) out.missing.push_back(std::move(missing));
  }
  co_return PeerResult<void>();
}

boost::asio::awaitable<void> HttpPeer::fetch_worker(std::shared_ptr<FetchState> state) {
  while (!state->failed.load()) {
    const size_t i = state->next.fetch_add(1);
    if (i >= state->requests.size()) break;
    FetchResult one;
    auto ok = co_await fetch_one(state->requests[i], state->full, one);
    if (ok) {
      state->results[i] = std::move(one);
    } else {
      state->results[i] = tl::unexpected(std::move(ok.error()));
      state->failed.store(true);  // the call fails: start no more requests
    }
  }
}

PeerTask<void> HttpPeer::fetch_one(const FetchRequest& request, bool full, FetchResult& out) {
  const std::string base = encode_doc_id(request.id);
  Query query;
  query.add("revs", "true");
  query.add("open_revs", rev_array(request.revs).dump());
  query.add("latest", "true");
  query.add("attachments", "true");
  std::string rel = base + query.str();
  if (!full && !request.atts_since.empty()) {
    // spec §3.8: a URL too long for some server is refused (414); fewer atts_since revs cost
    // only attachment bodies sent again, so drop them from the end until the URL fits.
    const size_t fixed = endpoint_.path().size() + rel.size() + sizeof("&atts_since=") - 1;
    std::vector<revtree::RevId> since = request.atts_since;
    while (!since.empty()) {
      std::string value = encode_query_value(rev_array(since).dump());
      if (fixed + value.size() <= tuning::kMaxUrlLength) {
        rel += "&atts_since=" + value;
        break;
      }
      since.pop_back();
    }
  }
  Exchange exchange{.method = verb::get, .rel = rel};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  if (response->status == 404) {
    // The document is unknown to the source (deleted and purged, or never there).
    for (const auto& rev : request.revs) out.missing.emplace_back(request.id, rev);
    co_return PeerResult<void>();
  }
  if (response->status != 200) co_return tl::unexpected(status_error(*response, verb::get, rel));
  auto body = parse_json(response->body);
  if (!body || !body->is_array()) {
    co_return tl::unexpected(bad_answer(*response, verb::get, rel, "not a JSON array"));
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& item : *body) {
    if (!item.is_object()) continue;
    if (auto ok = item.find("ok"); ok != item.end()) {
      if (auto added = add_fetched(doc_wire::parse_fetched(std::move(*ok)), out, seen); !added) {
        co_return tl::unexpected(bad_answer(*response, verb::get, rel, added.error().reason));
      }
    } else if (auto missing = item.find("missing"); missing != item.end()) {
      auto rev = missing->is_string() ? revtree::parse_rev(missing->get_ref<const std::string&>())
                                      : std::nullopt;
      if (!rev) co_return tl::unexpected(bad_answer(*response, verb::get, rel, "a bad missing rev"));
      out.missing.emplace_back(request.id, std::move(*rev));
    }
  }
  co_return PeerResult<void>();
}

// ---- write ----------------------------------------------------------------------------------

PeerTask<std::optional<WriteFailure>> HttpPeer::put_multipart(const engine::DocUpdate& doc) {
  const std::string boundary = multipart::make_boundary();
  const std::string rel = encode_doc_id(doc.id()) + "?new_edits=false";
  Exchange exchange{.method = verb::put,
                    .rel = rel,
                    .json_body = doc_wire::render_multipart_related(doc, boundary),
                    .content_type = multipart::content_type("multipart/related", boundary)};
  auto response = co_await send(std::move(exchange));
  if (!response) co_return tl::unexpected(response.error());
  const unsigned status = response->status;
  if (status == 201 || status == 202) co_return std::nullopt;
  PeerError error = status_error(*response, verb::put, rel);
  if (status == 401 || status == 403) {  // refused by the target's rules: this doc only (§3.9)
    co_return WriteFailure{doc.id(), doc_wire::newest_rev(doc), error.error, error.reason};
  }
  co_return tl::unexpected(std::move(error));
}

PeerTask<std::vector<WriteFailure>> HttpPeer::write(std::vector<engine::DocUpdate> docs) {
  std::vector<WriteFailure> failures;
  if (docs.empty()) co_return failures;
  // Documents with much attachment data go one by one as multipart/related PUTs, as CouchDB's
  // replicator sends them: raw bytes rather than a third more as base64, and no JSON body the
  // size of the attachment for the target to parse (§3.9). So do gzip bytes a target would not
  // make again from the decoded ones (doc_wire::travels_inline): multipart keeps their digest.
  auto big = std::stable_partition(docs.begin(), docs.end(), [](const engine::DocUpdate& doc) {
    return doc_wire::travels_inline(doc, tuning::kMultipartAttachmentBytes);
  });
  for (auto it = big; it != docs.end(); ++it) {
    auto refused = co_await put_multipart(*it);
    if (!refused) co_return tl::unexpected(refused.error());
    if (*refused) failures.push_back(std::move(**refused));
  }
  docs.erase(big, docs.end());
  if (docs.empty()) co_return failures;
  struct Rendered {
    std::string id;
    std::string rev;
    std::string json;
  };
  std::vector<Rendered> rendered;
  rendered.reserve(docs.size());
  for (const auto& doc : docs) {
    rendered.push_back({doc.id(), doc_wire::newest_rev(doc), doc_wire::render_replicated(doc)});
  }
  docs.clear();  // the attachment bytes now live in the JSON; let go of the originals

  constexpr std::string_view kHead = R"({"new_edits":false,"docs":[)";
  constexpr std::string_view kTail = "]}";
  // Requests as ranges [begin, end) of `rendered`, cut where the next doc would pass the limit.
  std::vector<std::pair<size_t, size_t>> pending;
  for (size_t begin = 0; begin < rendered.size();) {
    size_t size = kHead.size() + kTail.size() + rendered[begin].json.size();
    size_t end = begin + 1;
    while (end < rendered.size() &&
           size + 1 + rendered[end].json.size() <= tuning::kBulkDocsMaxBytes) {
      size += 1 + rendered[end].json.size();
      ++end;
    }
    pending.emplace_back(begin, end);
    begin = end;
  }
  std::reverse(pending.begin(), pending.end());  // a stack: the first request on top

  const std::string rel = "_bulk_docs";
  while (!pending.empty()) {
    auto [begin, end] = pending.back();
    pending.pop_back();
    std::string body(kHead);
    for (size_t i = begin; i < end; ++i) {
      if (i > begin) body.push_back(',');
      body += rendered[i].json;
    }
    body += kTail;
    // X-Couch-Full-Commit: false, as CouchDB's replicator: durability comes from
    // _ensure_full_commit before each checkpoint (spec §3.9, §3.10).
    Exchange exchange{.method = verb::post, .rel = rel, .json_body = std::move(body)};
    exchange.extra_headers.emplace_back("X-Couch-Full-Commit", "false");
    auto response = co_await send(std::move(exchange));
    if (!response) co_return tl::unexpected(response.error());
    const unsigned status = response->status;
    if (status == 413) {
      if (end - begin > 1) {  // spec §3.9: split in halves, the first half first
        const size_t middle = begin + (end - begin) / 2;
        pending.emplace_back(middle, end);
        pending.emplace_back(begin, middle);
        continue;
      }
      PeerError error = status_error(*response, verb::post, rel);
      failures.push_back({rendered[begin].id, rendered[begin].rev,
                          error.error.empty() ? "too_large" : error.error, error.reason});
      continue;
    }
    if (status != 201 && status != 202) {
      co_return tl::unexpected(status_error(*response, verb::post, rel));
    }
    auto items = parse_json(response->body);
    if (!items || !items->is_array()) {
      co_return tl::unexpected(bad_answer(*response, verb::post, rel, "not a JSON array"));
    }
    for (const auto& item : *items) {
      std::string error = string_member(item, "error");
      if (error.empty()) continue;  // an `ok` item (a server that lists successes too)
      WriteFailure failure;
      failure.id = string_member(item, "id");
      failure.rev = string_member(item, "rev");
      if (failure.rev.empty()) {
        for (size_t i = begin; i < end; ++i) {
          if (rendered[i].id == failure.id) {
            failure.rev = rendered[i].rev;
            break;
          }
        }
      }
      failure.error = std::move(error);
      if (auto reason = item.find("reason"); reason != item.end()) {
        failure.reason = reason->is_string() ? reason->get<std::string>() : reason->dump();
      }
      failures.push_back(std::move(failure));
    }
  }
  co_return failures;
}

}  // namespace divan::replicator
