// The sync mesh scenarios (see scenarios.h): nodes the bench starts, peered with each other
// through POST /_mesh/peers, as `divan serve --peer` would. Only when the bench started the node.
#include <dirent.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "changes_stream.h"
#include "live_writes.h"
#include "interrupt.h"
#include "scenario_support.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Ms = std::chrono::duration<double, std::milli>;

// The mesh: the bench's node first, then the extra ones; each peered with every other.
struct Mesh {
  std::vector<Target> targets;
  std::vector<const NodeProcess*> processes;
  std::vector<ExtraNode> extra;  // owned
};

bool add_peer(const BenchContext& ctx, const Target& on, unsigned short peer_port) {
  const std::string body = R"({"url":")" + ctx.node_url(peer_port) + R"("})";
  return call(on, http::verb::post, "/_mesh/peers", body).ok();
}

void remove_peer(const Target& on, unsigned short peer_port) {
  call(on, http::verb::delete_, "/_mesh/peers/127.0.0.1:" + std::to_string(peer_port));
}

std::optional<Mesh> start_mesh(const BenchContext& ctx, const char* scenario, int size) {
  Mesh mesh;
  mesh.targets.push_back(ctx.target);
  mesh.processes.push_back(ctx.node);
  for (int i = 1; i < size; ++i) {
    auto node = start_extra_node(ctx, scenario, format("%s-node%d", scenario, i + 1),
                                 {"--peer-probe-ms", "1000"});
    if (!node) return std::nullopt;
    mesh.targets.push_back(node->target);
    mesh.processes.push_back(node->process.get());
    mesh.extra.push_back(std::move(*node));
  }
  for (size_t i = 0; i < mesh.targets.size(); ++i) {
    for (size_t j = 0; j < mesh.targets.size(); ++j) {
      if (i != j && !add_peer(ctx, mesh.targets[i], mesh.processes[j]->port())) {
        print_note(scenario, "skipped: POST /_mesh/peers failed");
        return std::nullopt;
      }
    }
  }
  return mesh;
}

// The bench's node forgets the mesh's peers; the extra nodes stop.
void stop_mesh(Mesh& mesh) {
  for (size_t j = 1; j < mesh.processes.size(); ++j) {
    remove_peer(mesh.targets[0], mesh.processes[j]->port());
  }
  for (auto& node : mesh.extra) node.process->stop(15s);
}

// Polls until GET `path` answers 2xx on every target; the time it took, or nullopt after `limit`.
std::optional<Seconds> until_everywhere(const std::vector<Target>& targets, const std::string& path,
                                        Clock::time_point since, Clock::duration limit) {
  for (const Target& target : targets) {
    while (!call(target, http::verb::get, path, {}, 5s).ok()) {
      if (Clock::now() - since > limit || interrupted()) return std::nullopt;
      std::this_thread::sleep_for(1ms);
    }
  }
  return Clock::now() - since;
}

// ---- Write-to-everywhere latency -------------------------------------------------------------

using Arrivals = std::vector<std::vector<Clock::time_point>>;  // [node][write]: its row there

bool all_arrived(const RateWrites& writes, const Arrivals& visible) {
  for (const auto& node : visible) {
    for (size_t i = 0; i < writes.written; ++i) {
      if (writes.acked[i] != Clock::time_point{} && node[i] == Clock::time_point{}) return false;
    }
  }
  return true;
}

// Writes 20 docs/s on node 1 and times each until its row is on every other node's feed.
void measure_latency(const BenchContext& ctx, const Mesh& mesh, const std::string& name,
                     const std::string& db) {
  constexpr auto kEvery = 50ms;
  const auto length = std::max<Clock::duration>(ctx.load.measure, 10s);
  const size_t count = static_cast<size_t>(length / kEvery) + 1;
  const size_t others = mesh.targets.size() - 1;
  RateWrites writes(count);
  Arrivals visible(others, std::vector<Clock::time_point>(count));
  std::unordered_map<std::string, size_t> index;  // doc id -> its number
  for (size_t i = 0; i < count; ++i) index.emplace(format("m-%06zu", i), i);
  std::string feed_error;

  asio::io_context ioc;
  std::vector<std::unique_ptr<ChangesStream>> feeds;
  for (size_t n = 0; n < others; ++n) {
    feeds.push_back(std::make_unique<ChangesStream>(ioc.get_executor()));
    auto on_row = [&visible, &index, n](std::string_view id, Clock::time_point at) {
      auto it = index.find(std::string(id));
      if (it != index.end() && visible[n][it->second] == Clock::time_point{}) {
        visible[n][it->second] = at;
      }
    };
    asio::co_spawn(ioc, watch_rows(mesh.targets[n + 1], db, *feeds.back(), on_row, feed_error),
                   [](std::exception_ptr) {});
  }
  ioc.run_for(300ms);  // the feeds are open before the first write
  const auto start = Clock::now();
  bool writing = true;
  auto path_of = [&db](size_t i) { return "/" + db + format("/m-%06zu", i); };
  asio::co_spawn(ioc, write_at_rate(mesh.targets[0], path_of, writes, kEvery, start + length),
                 [&](std::exception_ptr) { writing = false; });
  while ((writing || Clock::now() < start + length + 5s) && !interrupted()) {
    ioc.run_for(10ms);
    if (!writing && all_arrived(writes, visible)) break;
  }
  for (auto& feed : feeds) feed->close();
  ioc.run_for(100ms);

  Latencies everywhere;  // to the last of the other nodes
  Latencies each;        // to each other node
  size_t missing = 0;
  for (size_t i = 0; i < writes.written; ++i) {
    if (writes.acked[i] == Clock::time_point{}) continue;
    Clock::time_point last{};
    bool complete = true;
    for (const auto& node : visible) {
      if (node[i] == Clock::time_point{}) {
        complete = false;
        continue;
      }
      each.add(std::max(node[i] - writes.acked[i], Clock::duration::zero()));
      last = std::max(last, node[i]);
    }
    if (!complete) {
      ++missing;
      continue;
    }
    everywhere.add(std::max(last - writes.acked[i], Clock::duration::zero()));
  }
  if (everywhere.size() == 0) {
    const std::string error = !feed_error.empty() ? feed_error : writes.error;
    return print_note(name, "no figure: nothing arrived" + (error.empty() ? "" : ": " + error));
  }
  const double p50 = Ms(everywhere.percentile(0.5)).count();
  print_figure(name, p50, "ms",
               format("PUT answered on node 1 -> row on all %zu other nodes' feeds, 20 writes/s: ",
                      others) +
                   everywhere.summary() + "  each node: " + each.summary() +
                   format("  %zu writes  missing %zu  failed %zu", writes.written, missing,
                          writes.failed),
               3);
}

// ---- Connections of a process ----------------------------------------------------------------

// ESTABLISHED TCP connections held by `pid` (its socket inodes matched in /proc/<pid>/net/tcp*).
int established_connections(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = format("/proc/%d/fd", static_cast<int>(pid));
  if (DIR* dir = ::opendir(fd_dir.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      char link[128];
      const std::string path = fd_dir + "/" + entry->d_name;
      const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      const std::string target(link, static_cast<size_t>(n));
      if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    ::closedir(dir);
  }
  int count = 0;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in(format("/proc/%d/net/%s", static_cast<int>(pid), table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state == "01" && inodes.count(inode)) ++count;
    }
  }
  return count;
}

bool every_direction_idle(const Target& target, size_t peers, size_t dbs) {
  const Response r = call(target, http::verb::get, "/_mesh", {}, 30s);
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("peers") || body["peers"].size() != peers) return false;
  for (const auto& peer : body["peers"]) {
    if (!peer.contains("databases") || peer["databases"].size() < dbs) return false;
    for (const auto& [db, sync] : peer["databases"].items()) {
      for (const char* way : {"push", "pull"}) {
        if (sync[way].value("state", "") != "idle") return false;
      }
    }
  }
  return true;
}

}  // namespace

void run_mesh_latency(const BenchContext& ctx, int size) {
  const std::string name = format("mesh-latency-%d", size);
  if (!ctx.node) return print_note(name, "skipped: needs the node the bench starts");
  auto mesh = start_mesh(ctx, name.c_str(), size);
  if (!mesh) return;
  const std::string db = format("bench_mesh_%d", size);
  drop_database(ctx, db);
  const auto created = Clock::now();
  if (!call(ctx.target, http::verb::put, "/" + db).ok()) {
    stop_mesh(*mesh);
    return print_note(name, "skipped: PUT /" + db + " failed");
  }
  std::vector<Target> others(mesh->targets.begin() + 1, mesh->targets.end());
  if (auto took = until_everywhere(others, "/" + db, created, 30s)) {
    print_figure(format("mesh-newdb-%d", size), Ms(*took).count(), "ms",
                 format("PUT /db on node 1 -> the db answers on all %d other nodes", size - 1), 1);
  } else {
    stop_mesh(*mesh);
    return print_note(name, "no figure: the new database did not reach every node in 30 s");
  }
  std::this_thread::sleep_for(500ms);  // the first runs of every direction are over
  measure_latency(ctx, *mesh, name, db);
  stop_mesh(*mesh);
  drop_database(ctx, db);
}

void run_mesh_idle(const BenchContext& ctx) {
  const char* name = "mesh-idle";
  if (!ctx.node) return print_note(name, "skipped: needs the node the bench starts");
  const int dbs = ctx.mesh_dbs;
  for (int i = 0; i < dbs && !interrupted(); ++i) {
    if (!call(ctx.target, http::verb::put, format("/bench_idle_%04d", i)).ok()) {
      return print_note(name, format("skipped: PUT /bench_idle_%04d failed", i));
    }
  }
  const auto before = ctx.node->memory();
  const auto start = Clock::now();
  auto mesh = start_mesh(ctx, name, 3);
  if (!mesh) return;
  bool idle = false;
  while (!interrupted() && Clock::now() - start < 300s) {
    if ((idle = every_direction_idle(ctx.target, 2, static_cast<size_t>(dbs)))) break;
    std::this_thread::sleep_for(200ms);
  }
  const Seconds synced = Clock::now() - start;
  if (!idle) {
    stop_mesh(*mesh);
    return print_note(name, "no figure: the databases did not all sync within 300 s");
  }
  print_figure("mesh-sync-dbs", synced.count(), "s",
               format("%d databases of node 1 created and synced both ways on 2 new peers", dbs), 1);
  // Idle keep-alive connections close after 30 s (http/client idle_timeout): steady state after.
  std::this_thread::sleep_for(32s);
  const auto cpu_before = ctx.node->cpu_time();
  const auto idle_start = Clock::now();
  std::this_thread::sleep_for(5s);
  const auto cpu_after = ctx.node->cpu_time();
  const Seconds idle_for = Clock::now() - idle_start;
  const int connections = established_connections(ctx.node->pid());
  print_figure(name, connections, "connections",
               format("node 1 with %d idle databases in a 3-node mesh: established TCP connections "
                      "(to and from both peers, and the bench's none)",
                      dbs));
  if (auto after = ctx.node->memory(); after && before) {
    print_figure("mesh-idle-rss", static_cast<double>(after->rss_bytes) / kMiB, "MiB",
                 format("node 1 VmRSS (%.1f MiB before the mesh)",
                        static_cast<double>(before->rss_bytes) / kMiB),
                 1);
  }
  if (cpu_before && cpu_after) {
    print_figure("mesh-idle-cpu", (*cpu_after - *cpu_before).count() / idle_for.count(), "cores",
                 format("node 1 CPU over %.1f s, every database idle", idle_for.count()), 4);
  }
  const std::string doc = format("/bench_idle_%04d/one-write", dbs / 2);
  const auto wrote = Clock::now();
  if (call(ctx.target, http::verb::put, doc, "{}").ok()) {
    std::vector<Target> peers(mesh->targets.begin() + 1, mesh->targets.end());
    if (auto took = until_everywhere(peers, doc, wrote, 10s)) {
      print_figure("mesh-idle-write", Ms(*took).count(), "ms",
                   format("one write in one of %d idle databases -> on both peers", dbs), 1);
    }
  }
  stop_mesh(*mesh);
  for (int i = 0; i < dbs && !interrupted(); ++i) drop_database(ctx, format("bench_idle_%04d", i));
}

void run_mesh_catchup(const BenchContext& ctx) {
  const char* name = "mesh-catchup";
  if (!ctx.node) return print_note(name, "skipped: needs the node the bench starts");
  const std::string db = "bench_catchup";
  if (!fresh_database(ctx, name, db)) return;
  // B peers with node 1 (node 1 does not need B's port, which changes when B restarts).
  const std::vector<std::string> peer_args = {"--peer", ctx.node_url(ctx.node->port()),
                                              "--peer-probe-ms", "1000"};
  auto b = start_extra_node(ctx, name, "mesh-catchup-b", peer_args);
  if (!b) return;
  if (!until_everywhere({b->target}, "/" + db, Clock::now(), 30s)) {
    return print_note(name, "skipped: the database did not reach B");
  }
  b->process->stop(15s);
  // 30 s of writes while B is down: _bulk_docs of 50 docs every 50 ms (1,000 docs/s).
  const auto down_since = Clock::now();
  std::uint64_t next = 0;
  while (Clock::now() - down_since < 30s && !interrupted()) {
    if (call(ctx.target, http::verb::post, "/" + db + "/_bulk_docs", bulk_body(next, 50, true)).ok()) {
      next += 50;
    }
    std::this_thread::sleep_for(50ms);
  }
  const auto restarted = Clock::now();
  auto again = start_extra_node(ctx, name, "mesh-catchup-b", peer_args);
  if (!again) return;
  const auto up = Clock::now();
  const std::string want = format("\"doc_count\":%llu", static_cast<unsigned long long>(next));
  while (!interrupted() && Clock::now() - up < 120s) {
    if (call(again->target, http::verb::get, "/" + db).body.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(5ms);
  }
  const Seconds from_up = Clock::now() - up;
  const Seconds from_start = Clock::now() - restarted;
  print_figure(name, from_up.count(), "s",
               format("B down for 30 s of writes (%llu docs on node 1), back: all of them on B "
                      "after /_up (%.2f s after its start)",
                      static_cast<unsigned long long>(next), from_start.count()),
               2);
  again->process->stop(15s);
  drop_database(ctx, db);
}

}  // namespace divan::bench
