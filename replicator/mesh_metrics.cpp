#include "replicator/mesh_metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <string_view>

namespace divan::replicator {

namespace {

// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// A number of the health JSON; absent or null (unknown) -> nothing is written.
bool number(const Json& object, const char* key, double& out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return false;
  out = it->get<double>();
  return true;
}

// "2026-12-07T12:12:48Z" -> seconds since the epoch (UTC); 0 when malformed.
double epoch_seconds(const Json& value) {
  if (!value.is_string()) return 0;
  std::tm tm{};
  std::istringstream in(value.get<std::string>());
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  if (in.fail()) return 0;
  return static_cast<double>(timegm(&tm));
}

class Writer {
 public:
  // Declares a metric once (HELP and TYPE lines), before its first sample.
  void declare(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const char* name, const std::string& labels, double value) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    // Whole numbers (counts, Unix times) as integers; others in the shortest form that reads
    // back exactly, %g style ("0.0005", not "5e-04").
    char buf[32];
    std::to_chars_result r;
    if (value == std::trunc(value) && std::fabs(value) < 1e15) {
      r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
    } else {
      r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
    }
    out_ << ' ' << std::string_view(buf, r.ec == std::errc() ? static_cast<size_t>(r.ptr - buf) : 0)
         << '\n';
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

}  // namespace

std::string mesh_prometheus_text(const Json& health) {
  Writer w;
  const Json& peers = health.contains("peers") ? health["peers"] : Json::array();
  w.declare("divan_mesh_healthy", "gauge", "1 when every peer is reachable and answers");
  w.sample("divan_mesh_healthy", "", health.value("ok", false) ? 1 : 0);

  w.declare("divan_mesh_peer_up", "gauge", "1 when the peer answered its last probe");
  w.declare("divan_mesh_peer_rtt_seconds", "gauge", "round-trip time of the last probe");
  w.declare("divan_mesh_peer_last_contact_timestamp_seconds", "gauge",
            "when the peer last answered (Unix time)");
  for (const auto& peer : peers) {
    const std::string labels = "peer=" + label(peer.value("name", ""));
    w.sample("divan_mesh_peer_up", labels, peer.value("reachable", false) ? 1 : 0);
    double rtt_ms = 0;
    if (number(peer, "rtt_ms", rtt_ms)) w.sample("divan_mesh_peer_rtt_seconds", labels, rtt_ms / 1000);
    if (peer.contains("last_contact") && peer["last_contact"].is_string()) {
      w.sample("divan_mesh_peer_last_contact_timestamp_seconds", labels,
               epoch_seconds(peer["last_contact"]));
    }
  }

  struct Field {
    const char* metric;
    const char* key;
    const char* type;
    const char* help;
  };
  static constexpr Field kFields[] = {
      {"divan_mesh_changes_pending", "changes_pending", "gauge", "changes the source has left"},
      {"divan_mesh_lag_seconds", "lag_seconds", "gauge", "how long the target has been behind"},
      {"divan_mesh_docs_written_total", "docs_written", "counter", "documents written"},
      {"divan_mesh_docs_per_second", "docs_per_second", "gauge", "documents written per second"},
  };
  w.declare("divan_mesh_hot", "gauge", "1 while the direction runs a live (continuous) job");
  w.declare("divan_mesh_direction_failing", "gauge", "1 when the direction's last job failed");
  for (const Field& f : kFields) w.declare(f.metric, f.type, f.help);
  for (const auto& peer : peers) {
    if (!peer.contains("databases") || !peer["databases"].is_object()) continue;
    for (const auto& [db, sync] : peer["databases"].items()) {
      for (const char* direction : {"push", "pull"}) {
        if (!sync.contains(direction)) continue;
        const Json& d = sync[direction];
        const std::string labels = "peer=" + label(peer.value("name", "")) + ",db=" + label(db) +
                                   ",direction=" + label(direction);
        w.sample("divan_mesh_hot", labels, d.value("mode", "") == "hot" ? 1 : 0);
        w.sample("divan_mesh_direction_failing", labels,
                 d.contains("last_error") && !d["last_error"].is_null() ? 1 : 0);
        for (const Field& f : kFields) {
          double value = 0;
          if (number(d, f.key, value)) w.sample(f.metric, labels, value);
        }
      }
    }
  }
  return w.str();
}

}  // namespace divan::replicator
