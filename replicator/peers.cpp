#include "replicator/peers.h"

#include "replicator/http_peer.h"
#include "replicator/local_peer.h"

namespace divan::replicator {

std::unique_ptr<Peer> make_peer(const PeerContext& context, const Endpoint& endpoint,
                                const ReplicationSpec& spec, engine::Writer writer,
                                std::shared_ptr<http::client::StopToken> stop) {
  if (endpoint.is_local()) {
    return std::make_unique<LocalPeer>(context.catalog, context.notifier, endpoint.db_name(),
                                       std::move(writer), std::move(stop));
  }
  return std::make_unique<HttpPeer>(context.client, endpoint, HttpPeerOptions::from(spec),
                                    std::move(stop));
}

}  // namespace divan::replicator
