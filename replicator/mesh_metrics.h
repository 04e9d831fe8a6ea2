// The mesh's health (Mesh::health(), GET /_mesh) as Prometheus text exposition (format 0.0.4),
// for GET /_mesh?format=prometheus: the same data, one sample per line, for a scraper that
// watches the mesh without parsing JSON. Pure.
//
//   divan_mesh_healthy 1
//   divan_mesh_peer_up{peer="10.0.0.2:5984"} 1
//   divan_mesh_peer_rtt_seconds{peer="…"} 0.0004
//   divan_mesh_peer_last_contact_timestamp_seconds{peer="…"} 1796646900
//   divan_mesh_hot{peer="…",db="notes",direction="push"} 1
//   divan_mesh_changes_pending{peer="…",db="…",direction="…"} 0
//   divan_mesh_lag_seconds{…} 0
//   divan_mesh_docs_written_total{…} 12
//   divan_mesh_docs_per_second{…} 3.1
//   divan_mesh_direction_failing{…} 0
#pragma once

#include <string>

#include "replicator/endpoint.h"  // Json

namespace divan::replicator {

std::string mesh_prometheus_text(const Json& health);

}  // namespace divan::replicator
