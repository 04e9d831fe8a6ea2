// Which Peer a replication endpoint gets (peer.h): a LocalPeer for a database of this node (a name
// without a scheme), an HttpPeer for a URL. The one place that choice is made.
#pragma once

#include <memory>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "engine/write_policy.h"
#include "http/client/client.h"
#include "http/client/stop_token.h"
#include "replicator/endpoint.h"
#include "replicator/peer.h"
#include "replicator/spec.h"

namespace divan::replicator {

// What peers of this node are made from.
struct PeerContext {
  engine::Catalog& catalog;
  changes::Notifier& notifier;
  http::client::Client& client;
};

// `spec` gives the tuning (timeouts, use_bulk_get, …); local writes run as `writer`; every request
// carries `stop`.
std::unique_ptr<Peer> make_peer(const PeerContext& context, const Endpoint& endpoint,
                                const ReplicationSpec& spec, engine::Writer writer,
                                std::shared_ptr<http::client::StopToken> stop);

}  // namespace divan::replicator
