// What the HTTP scenarios share: databases made fresh and dropped, bulk preloads, CPU accounting.
//
// Thread-safety: none needed; the scenarios run one after another on the main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scenarios.h"

namespace divan::bench {

inline constexpr double kMiB = 1024.0 * 1024.0;

// CPU used over a stretch of wall time, in cores (CPU seconds per wall second).
struct CpuUse {
  double node = -1;  // -1 when the bench did not start the node
  double bench = 0;

  // "cpu node 0.93 bench 0.41", or "cpu bench 0.41" without a node.
  std::string describe() const;
};

// Starts counting at construction; stop() gives the CPU used since, per wall second.
class CpuMeter {
 public:
  explicit CpuMeter(const NodeProcess* node);
  CpuUse stop() const;

 private:
  const NodeProcess* node_;
  std::optional<Seconds> node_before_;
  Seconds bench_before_;
  Clock::time_point start_;
};

// Another node of a scenario (replication, meshes), with the same admin as the first, in
// `<work_dir>/<dir_name>`, started with ctx.node_args plus `extra_args`, answering /_up. Prints
// why (under `scenario`) and returns nullopt when it cannot be started.
struct ExtraNode {
  std::unique_ptr<NodeProcess> process;
  Target target;
};
std::optional<ExtraNode> start_extra_node(const BenchContext& ctx, const char* scenario,
                                          const std::string& dir_name,
                                          const std::vector<std::string>& extra_args = {});

// DELETE then PUT /<db>. Prints why (under `scenario`) and returns false when it cannot be created.
bool fresh_database(const BenchContext& ctx, const char* scenario, const std::string& db);
void drop_database(const BenchContext& ctx, const std::string& db);

// A _bulk_docs body of `count` make_doc() docs numbered from `first`, with _id = name when `with_ids`.
std::string bulk_body(std::uint64_t first, int count, bool with_ids);

// Writes `count` docs with ids bench-doc-000000… in _bulk_docs batches of 1000, one request at a
// time; sets `took`. Prints why (under `scenario`) and returns false when a batch fails.
bool preload(const BenchContext& ctx, const char* scenario, const std::string& db, int count, Seconds& took);

}  // namespace divan::bench
