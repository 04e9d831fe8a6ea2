// The Peer of a database of this node (peer.h): the engine directly, with no HTTP and no JSON
// round trip for documents. What it answers is what the HTTP API answers for the same database
// (the same rules: engine/doc_json.h, RevTree::open_revs, changes::read_page), so a replication
// behaves the same whether an endpoint is a local name or a URL of this node.
//
// Reads run inline on the job's strand (point reads and pages of a few hundred rows: what an
// HTTP handler does too); writes go to the database's writer and resume on the strand
// (engine/async_write.h); a live changes read waits on the Notifier, woken by the commit itself.
//
// Thread-safety: as peer.h: one job, calls from its strand.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "engine/write_policy.h"
#include "http/client/stop_token.h"
#include "replicator/peer.h"

namespace divan::replicator {

class LocalPeer final : public Peer {
 public:
  // `db_name` in `catalog`. Writes are made as `writer` (the replication's user_ctx: the engine's
  // write rules apply to it as to an HTTP client). `stop` ends a live changes wait at once.
  LocalPeer(engine::Catalog& catalog, changes::Notifier& notifier, std::string db_name,
            engine::Writer writer, std::shared_ptr<http::client::StopToken> stop);

  std::string display_name() const override { return db_name_; }

  PeerTask<PeerInfo> info() override;
  PeerTask<void> create(const Json& params) override;
  PeerTask<std::optional<Json>> get_local(std::string_view doc_id) override;
  PeerTask<std::string> put_local(std::string_view doc_id, const Json& body) override;
  PeerTask<std::string> ensure_full_commit() override;
  PeerTask<ChangesPage> changes(const ChangesRequest& request) override;
  PeerTask<std::vector<MissingRevs>> revs_diff(std::vector<RevsDiffEntry> entries) override;
  PeerTask<FetchResult> fetch(std::vector<FetchRequest> requests, bool full) override;
  PeerTask<std::vector<WriteFailure>> write(std::vector<engine::DocUpdate> docs) override;

 private:
  // The database as the catalog has it now (not_found once deleted).
  PeerResult<std::shared_ptr<engine::Database>> database();
  PeerResult<ChangesPage> read_changes(engine::Database& db, const ChangesRequest& request);

  engine::Catalog& catalog_;
  changes::Notifier& notifier_;
  const std::string db_name_;
  const engine::Writer writer_;
  std::shared_ptr<http::client::StopToken> stop_;
};

}  // namespace divan::replicator
