// replicator/mesh_metrics.h: /_mesh health as Prometheus text.
#include <doctest/doctest.h>

#include "replicator/mesh_metrics.h"

using namespace divan::replicator;

TEST_CASE("mesh metrics: peers and directions become labelled samples") {
  const Json health = Json::parse(R"({
    "ok": false,
    "peers": [
      {"name": "10.0.0.2:5984", "reachable": true, "rtt_ms": 0.5,
       "last_contact": "2026-12-07T12:00:00Z", "last_error": null,
       "databases": {"no\"tes": {
         "push": {"mode": "hot", "state": "running", "changes_pending": 3, "lag_seconds": 1.5,
                  "docs_written": 12, "docs_per_second": 2.0, "last_error": null},
         "pull": {"mode": "cold", "state": "crashing", "changes_pending": null,
                  "lag_seconds": 0.0, "docs_written": 0, "docs_per_second": 0.0,
                  "last_error": "unauthorized: no"}}}},
      {"name": "10.0.0.3:5984", "reachable": false, "rtt_ms": null, "last_contact": null,
       "databases": {}}
    ]})");
  const std::string text = mesh_prometheus_text(health);
  CHECK(text.find("divan_mesh_healthy 0\n") != std::string::npos);
  CHECK(text.find("divan_mesh_peer_up{peer=\"10.0.0.2:5984\"} 1\n") != std::string::npos);
  CHECK(text.find("divan_mesh_peer_up{peer=\"10.0.0.3:5984\"} 0\n") != std::string::npos);
  CHECK(text.find("divan_mesh_peer_rtt_seconds{peer=\"10.0.0.2:5984\"} 0.0005\n") !=
        std::string::npos);
  CHECK(text.find("divan_mesh_peer_rtt_seconds{peer=\"10.0.0.3:5984\"}") == std::string::npos);
  CHECK(text.find("divan_mesh_peer_last_contact_timestamp_seconds{peer=\"10.0.0.2:5984\"} "
                  "1796644800\n") != std::string::npos);
  // The quote in the database name is escaped; unknown values (null) are left out.
  const std::string push = "{peer=\"10.0.0.2:5984\",db=\"no\\\"tes\",direction=\"push\"}";
  const std::string pull = "{peer=\"10.0.0.2:5984\",db=\"no\\\"tes\",direction=\"pull\"}";
  CHECK(text.find("divan_mesh_hot" + push + " 1\n") != std::string::npos);
  CHECK(text.find("divan_mesh_hot" + pull + " 0\n") != std::string::npos);
  CHECK(text.find("divan_mesh_changes_pending" + push + " 3\n") != std::string::npos);
  CHECK(text.find("divan_mesh_changes_pending" + pull) == std::string::npos);
  CHECK(text.find("divan_mesh_docs_written_total" + push + " 12\n") != std::string::npos);
  CHECK(text.find("divan_mesh_direction_failing" + pull + " 1\n") != std::string::npos);
  CHECK(text.find("# TYPE divan_mesh_docs_written_total counter\n") != std::string::npos);
}
