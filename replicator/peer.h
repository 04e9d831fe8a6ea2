// One database a replication reads from or writes to: CouchDB's couch_replicator_api_wrap as an
// interface, so the job's run loop (job.h) reads the protocol top to bottom without caring where a
// database is.
//
//   LocalPeer (local_peer.h)  a database of this node, through the engine: no HTTP, no JSON
//                             round trip for documents, commits woken by the changes Notifier.
//   HttpPeer  (http_peer.h)   a database behind a CouchDB-compatible URL, through http/client.
//
// Both give exactly the same answers for the same database contents (tests/replicator runs one
// suite over both). Every call reports a failure as a PeerError, which retry_policy.h classifies;
// a Peer does not retry by itself, except for what is part of one call's contract (HttpPeer's
// fallback from _bulk_get to per-document GETs, spec §3.8).
//
// Sequences are opaque JSON values (spec "What matters most" 4): a Peer hands out what its source
// gave, and takes back only values it handed out (or 0).
//
// Thread-safety: a Peer belongs to one job. Its calls may overlap (several batches in flight) but
// are all made from the job's strand; implementations complete on that strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "engine/write_ops.h"
#include "http/client/stop_token.h"
#include "replicator/peer_error.h"
#include "replicator/spec.h"
#include "revtree/rev_id.h"

namespace divan::replicator {

template <typename T>
using PeerResult = tl::expected<T, PeerError>;
template <typename T>
using PeerTask = boost::asio::awaitable<PeerResult<T>>;

// GET /{db} (spec §3.2): what a replication needs of the database info.
struct PeerInfo {
  Json update_seq;                  // opaque; for progress (changes_pending) only
  std::string instance_start_time;  // "0" on CouchDB 2+; must not change during a job (§3.10)
};

// One changes-feed read (spec §3.6): rows with seq after `since`, at most `limit`, style=all_docs
// (main_only with winning_revs_only), filtered as the spec says.
struct ChangesRequest {
  Json since = 0;
  size_t limit = 500;
  // Continuous: when nothing is pending, wait up to `timeout` for a change (longpoll) before
  // answering an empty page.
  bool live = false;
  std::chrono::milliseconds timeout{10000};
  const Filter* filter = nullptr;  // null: every change
  bool winning_revs_only = false;
  // Ends a live wait at once (the job's graceful stop), besides the peer's own stop switch.
  std::shared_ptr<http::client::StopToken> stop;
};

struct Change {
  Json seq;                            // opaque
  std::string id;
  std::vector<revtree::RevId> revs;    // the leaves to replicate (the winner only for main_only)
  bool deleted = false;                // the winner is deleted (informational, §3.6)
};

struct ChangesPage {
  std::vector<Change> rows;
  Json last_seq;                       // where the next read starts (§3.6)
  std::optional<uint64_t> pending;     // changes after last_seq, when the source says
};

// `_revs_diff` (§3.7): the revs of each document to look up on the target.
struct RevsDiffEntry {
  std::string id;
  std::vector<revtree::RevId> revs;
};
struct MissingRevs {
  std::string id;
  std::vector<revtree::RevId> missing;
  std::vector<revtree::RevId> possible_ancestors;
};

// One document to fetch from the source (§3.8): these revisions with their ancestry (`_revisions`)
// and latest=true; attachment bodies inline except those already on the target (`atts_since`:
// the target's possible ancestors, whose attachments travel as stubs). `full`: every attachment
// body, whatever atts_since says (after a missing_stub, §3.9).
struct FetchRequest {
  std::string id;
  std::vector<revtree::RevId> revs;
  std::vector<revtree::RevId> atts_since;
};

struct FetchResult {
  // Each revision found, as the replicated write that copies it: DocUpdate::replicated with the
  // revision's ancestry as `revisions`, its body, deleted flag and attachments (bodies inline,
  // or stubs for those atts_since allows).
  std::vector<engine::DocUpdate> docs;
  // Requested revisions the source no longer has (deleted or compacted meanwhile, §3.8): the
  // feed will list their successor later.
  std::vector<std::pair<std::string, revtree::RevId>> missing;
  // Stats (checkpoint history, _scheduler info): docs asked of _bulk_get and how many came back
  // from it (the rest came from the per-document fallback).
  uint64_t bulk_get_attempts = 0;
  uint64_t bulk_get_docs = 0;
};

// A document the target refused (§3.9): counted in doc_write_failures, never retried.
struct WriteFailure {
  std::string id;
  std::string rev;
  std::string error;   // CouchDB's "error" ("forbidden", "unauthorized", …)
  std::string reason;
};

class Peer {
 public:
  virtual ~Peer() = default;

  // For logs, the scheduler and _active_tasks: the URL with credentials redacted, or the name of
  // a local database.
  virtual std::string display_name() const = 0;

  // §3.2. A database that does not exist: kNotFound.
  virtual PeerTask<PeerInfo> info() = 0;
  // §3.2 create_target: creates the database; one that exists already is success.
  // `params`: create_target_params (query args of the PUT; ignored by a local database).
  virtual PeerTask<void> create(const Json& params) = 0;

  // §3.4 / §3.10: the checkpoint document `_local/<id>` (`doc_id` includes "_local/"), nullopt
  // when absent; and writing it (`body` carries `_rev` when one was read or written before),
  // returning the new rev. A conflict is a PeerError with code kConflict.
  virtual PeerTask<std::optional<Json>> get_local(std::string_view doc_id) = 0;
  virtual PeerTask<std::string> put_local(std::string_view doc_id, const Json& body) = 0;
  // §3.10 step 2: everything written so far is durable; returns instance_start_time.
  virtual PeerTask<std::string> ensure_full_commit() = 0;

  // §3.6.
  virtual PeerTask<ChangesPage> changes(const ChangesRequest& request) = 0;
  // §3.7: only documents with something missing are listed.
  virtual PeerTask<std::vector<MissingRevs>> revs_diff(std::vector<RevsDiffEntry> entries) = 0;
  // §3.8, with latest=true. `full`: ignore atts_since (every attachment body inline).
  virtual PeerTask<FetchResult> fetch(std::vector<FetchRequest> requests, bool full) = 0;
  // §3.9: new_edits=false writes; the refused documents come back, everything else was written
  // (or already known). A write that fails as a whole is a PeerError. kMissingStub as a PeerError
  // means some doc's stubs could not be resolved: the job refetches those docs in full.
  virtual PeerTask<std::vector<WriteFailure>> write(std::vector<engine::DocUpdate> docs) = 0;
};

}  // namespace divan::replicator
