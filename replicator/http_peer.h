// The Peer of a database behind a CouchDB-compatible URL (CouchDB 2/3, PouchDB-server, another
// Divan node): every Peer call is one HTTP exchange (a few for fetch and write) through
// http/client, shaped as CouchDB's replicator sends it. spec: replication-protocol.md §3.2–§3.10,
// §6; http-api.md §4, §8, §10–§13.
//
// Every request carries the endpoint's headers and credentials (Endpoint::request_headers()),
// `Accept: application/json`, `Content-Type: application/json` when it has a JSON body, the job's
// StopToken, and a timeout: HttpPeerOptions::connection_timeout, or for a live changes read the
// longpoll's own `timeout` plus connection_timeout (see changes() below).
//
// Failures (peer_error.h), for retry_policy.h to classify:
//   - no connection: Kind::kTransport (refused, DNS, TLS, and a request stopped by the StopToken,
//     whose reason starts with "cancelled"); Kind::kLost when the exchange broke after it went
//     out (reset, cut mid-response, a malformed or oversized response); Kind::kTimeout when the
//     request's timeout passed;
//   - an error status: Kind::kHttp with the status, engine::code_from_http(status, error), the
//     body's `error` and a reason naming the status, the body's reason, the method and the URL
//     (credentials redacted);
//   - a success status whose body is not what the call expects: Kind::kHttp with that status and
//     Code::kInternal (the policy resends it like a 5xx, then crashes the job).
// HttpPeer does not retry; the one exception is part of fetch()'s contract: a _bulk_get that is
// missing or fails is replaced by per-document GETs (spec §3.8).
//
// Thread-safety: as Peer. Calls may overlap; what they share (whether _bulk_get works) is atomic.
// The Client, and the io_context it runs on, must outlive the peer and every call still running.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "http/client/client.h"
#include "http/client/stop_token.h"
#include "replicator/endpoint.h"
#include "replicator/peer.h"
#include "replicator/spec.h"
#include "replicator/tuning.h"

namespace divan::replicator {

// What an HttpPeer takes from the replication's options (spec §4).
struct HttpPeerOptions {
  // The timeout of every request but live changes reads (which add it to their wait).
  std::chrono::milliseconds connection_timeout = tuning::kConnectionTimeout;
  // false: fetch() goes per document from the start.
  bool use_bulk_get = tuning::kUseBulkGet;
  // Bounds (with tuning::kMaxConcurrentDocFetches) the per-document GETs fetch() runs at once.
  unsigned http_connections = tuning::kHttpConnections;

  static HttpPeerOptions from(const ReplicationSpec& spec);
};

class HttpPeer final : public Peer {
 public:
  // REQUIRES: !endpoint.is_local(). `stop` may be null (nothing stops the requests but their
  // timeouts).
  HttpPeer(http::client::Client& client, Endpoint endpoint, HttpPeerOptions options,
           std::shared_ptr<http::client::StopToken> stop);

  // The endpoint's redacted_url().
  std::string display_name() const override;

  // GET db/. A 200 without `update_seq` or `instance_start_time` is no database (spec §3.2):
  // kHttp, status 404, not_found, reason "could not open <url>". An `instance_start_time` that is
  // a number is taken as its decimal text.
  PeerTask<PeerInfo> info() override;
  // PUT db/?<params> (each member a query argument: strings as they are, other JSON dumped).
  // 201, 202 and 412 (it exists) are success.
  PeerTask<void> create(const Json& params) override;

  // GET db/_local/<id>: the document as the server answers it (`_id`, `_rev` and the body);
  // nullopt on 404. PUT db/_local/<id>: the `rev` of the answer; 409 is kHttp with kConflict.
  PeerTask<std::optional<Json>> get_local(std::string_view doc_id) override;
  PeerTask<std::string> put_local(std::string_view doc_id, const Json& body) override;
  // POST db/_ensure_full_commit (empty JSON body): the answer's instance_start_time.
  PeerTask<std::string> ensure_full_commit() override;

  // GET db/_changes?style=all_docs&since=…&limit=N (style=main_only for winning_revs_only), and
  //   doc_ids: POST …&filter=_doc_ids with {"doc_ids":[…]};
  //   selector: POST …&filter=_selector with {"selector":…};
  //   builtin and design-doc filters: GET …&filter=<name>&<query_params>.
  // `since`: a string is sent as it is, any other value as its JSON text.
  // Live: `feed=longpoll&timeout=<request.timeout>`, with a request timeout of request.timeout
  // plus connection_timeout and long_poll set (no pool slot taken). Deliberately without
  // `heartbeat`: CouchDB and Divan never end a longpoll that has a heartbeat until a change comes
  // (the heartbeat replaces the timeout), while this client reads whole responses and cannot see
  // heartbeats; so an idle feed would always end in our own request timeout, a failure. With
  // `timeout` alone the server ends an idle longpoll itself with an empty page, on a connection
  // that is kept, and a dead connection is still caught by the request timeout (spec §6).
  // Rows: seq as the exact JSON value, id, the revs of `changes`, `deleted`; rows with an empty
  // id are skipped; a `removed: true` row loses its first rev (spec §3.6). A body may start with
  // heartbeat newlines. last_seq absent: the last row's seq, else `since`.
  PeerTask<ChangesPage> changes(const ChangesRequest& request) override;
  // POST db/_revs_diff {"<id>":[revs],…} (duplicate ids merged). Results in the order of the
  // entries' first appearance; ids the answer lists but were not asked about are ignored.
  PeerTask<std::vector<MissingRevs>> revs_diff(std::vector<RevsDiffEntry> entries) override;
  // POST db/_bulk_get?revs=true&latest=true&attachments=true, one entry per (id, rev) with
  // `atts_since` (none when `full`). `ok` items become DocUpdates (doc_wire::parse_fetched);
  // not_found items are `missing`; other error items are fetched again per document. A document
  // reached twice (latest=true resolving two revs to one leaf) is returned once.
  // Per document: GET db/<id>?revs=true&open_revs=[…]&latest=true&attachments=true&
  // atts_since=[…] (atts_since trimmed from its end so the URL stays within
  // tuning::kMaxUrlLength), at most min(http_connections, kMaxConcurrentDocFetches) at once; a
  // 404 means every requested rev is missing. That path is taken when use_bulk_get is false, for
  // this call when _bulk_get answers a non-200 status, and for good (this peer remembers it,
  // spec §3.8) when the answer says _bulk_get is absent or unusable: a 4xx other than 408/429, or
  // a 2xx whose body is not exactly {"results":[…]} with one result per entry. A transport error
  // or timeout of _bulk_get is returned as it is (it says nothing about _bulk_get).
  PeerTask<FetchResult> fetch(std::vector<FetchRequest> requests, bool full) override;
  // Documents with at least tuning::kMultipartAttachmentBytes of attachment data first, one
  // `PUT db/<id>?new_edits=false` each as multipart/related (doc_wire::render_multipart_related;
  // 401/403 is that doc's WriteFailure); then the others:
  // POST db/_bulk_docs {"new_edits":false,"docs":[…]} (doc_wire::render_replicated), requests of
  // at most tuning::kBulkDocsMaxBytes of JSON (a larger document goes alone). 201/202: the error
  // items are the WriteFailures. 413: the request is split in halves and each sent again; a single
  // document still 413 is a WriteFailure. 412 missing_stub: PeerError with Code::kMissingStub
  // (requests sent before it stay written). Any other status: PeerError.
  // REQUIRES: every doc is replicated().
  PeerTask<std::vector<WriteFailure>> write(std::vector<engine::DocUpdate> docs) override;

  // Whether this peer found _bulk_get missing or unusable: fetch() then goes per document.
  bool bulk_get_disabled() const { return bulk_get_disabled_.load(std::memory_order_relaxed); }

  // How a document id is written in a request path, as CouchDB's replicator writes it
  // (couch_replicator_api_wrap:encode_doc_id): "_design/" and "_local/" keep their slash, and
  // everything else of the id is one segment in which only letters, digits and "_.-:" stay
  // unescaped ('/' → %2F, '+' → %2B, ' ' → %20).
  static std::string encode_doc_id(std::string_view id);
  // A query argument value, with the same escaping.
  static std::string encode_query_value(std::string_view value);

 private:
  struct Exchange;
  struct FetchState;
  // One (id, rev) of a _bulk_get request: the request it came from and the rev in it.
  struct BulkGetEntry {
    size_t request;
    const revtree::RevId* rev;
  };

  // Sends one request to `rel` (relative to the database path: "", "_changes?…", "_local/x").
  boost::asio::awaitable<PeerResult<http::client::Response>> send(Exchange exchange);
  // The URL of `rel` for reasons: the database URL, credentials redacted, and `rel`.
  std::string url_of(std::string_view rel) const;
  PeerError status_error(const http::client::Response& response, boost::beast::http::verb method,
                         std::string_view rel) const;
  PeerError bad_answer(const http::client::Response& response, boost::beast::http::verb method,
                       std::string_view rel, std::string_view what) const;

  PeerResult<ChangesPage> read_changes_page(const http::client::Response& response,
                                            boost::beast::http::verb method,
                                            const std::string& rel, const Json& since) const;
  std::optional<PeerError> read_bulk_get(const http::client::Response& response,
                                         const std::string& rel,
                                         std::vector<FetchRequest>& requests,
                                         const std::vector<BulkGetEntry>& entries,
                                         FetchResult& out,
                                         std::set<std::pair<std::string, std::string>>& seen,
                                         std::vector<FetchRequest>& individual);
  // PUT db/<id>?new_edits=false as multipart/related (write()'s path for documents with much
  // attachment data): nullopt when written, the WriteFailure when the target refused this doc
  // (401, 403), a PeerError otherwise (412 missing_stub among them).
  PeerTask<std::optional<WriteFailure>> put_multipart(const engine::DocUpdate& doc);
  // One document's revisions by GET ?open_revs=… (spec §3.8), into `out`.
  PeerTask<void> fetch_one(const FetchRequest& request, bool full, FetchResult& out);
  // Fetched documents carry attachments as the source's JSON gave them: identity data, stored here
  // as this node stores it. Where that does not reproduce the source's digest (the source keeps
  // gzip bytes this node would not make, or identity bytes this node would compress), the bytes
  // are fetched again exactly as the source stores them, so every node shows the same digest.
  PeerTask<void> keep_source_digests(std::vector<engine::DocUpdate>& docs);
  // The attachment `att` of `doc`, as the source stores it (Accept-Encoding: gzip, not decoded);
  // nullptr when the answer is not bytes whose digest is att.digest.
  PeerTask<std::shared_ptr<const engine::AttachmentBody>> stored_attachment(
      const engine::DocUpdate& doc, const engine::NewAttachment& att);
  // fetch_one for every request, a bounded number at once: fetch_worker()s share `state`.
  boost::asio::awaitable<void> fetch_worker(std::shared_ptr<FetchState> state);
  PeerTask<void> fetch_each(const std::vector<FetchRequest>& requests, bool full,
                            FetchResult& out);

  http::client::Client& client_;
  const Endpoint endpoint_;
  const HttpPeerOptions options_;
  const std::shared_ptr<http::client::StopToken> stop_;
  std::atomic<bool> bulk_get_disabled_{false};
};

}  // namespace divan::replicator
