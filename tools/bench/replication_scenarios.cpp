// The replication scenarios (see scenarios.h): one-shot throughput local→local and node→node over
// HTTP, continuous write-to-visible latency between two nodes, and the cost of idle continuous
// jobs. The second node is started here (a NodeProcess like the first, same admin), so these run
// only when the bench started the node itself.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
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

// POST /_replicate on `on` and waits for the one-shot to end; prints the figure.
void time_one_shot(const char* name, const Target& on, const std::string& body, int docs,
                   const std::vector<const NodeProcess*>& nodes, const std::string& what) {
  std::vector<std::optional<std::chrono::duration<double>>> cpu_before;
  for (const auto* node : nodes) cpu_before.push_back(node->cpu_time());
  const auto start = Clock::now();
  const Response r = call(on, http::verb::post, "/_replicate", body, 900s);
  const Seconds took = Clock::now() - start;
  if (!r.ok()) return print_note(name, "failed: " + r.describe());
  auto answer = nlohmann::json::parse(r.body, nullptr, false);
  long long written = -1;
  if (answer.is_object() && answer.contains("history") && !answer["history"].empty()) {
    written = answer["history"][0].value("docs_written", -1LL);
  }
  std::string cpu = "cpu";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto after = nodes[i]->cpu_time();
    if (after && cpu_before[i]) {
      cpu += format(" node%zu %.2f", i + 1, (*after - *cpu_before[i]).count() / took.count());
    }
  }
  print_figure(name, docs / took.count(), "docs/s",
               format("%s: %d docs in %.2f s, docs_written %lld  ", what.c_str(), docs, took.count(),
                      written) +
                   cpu,
               0);
}

}  // namespace

void run_replication_throughput(const BenchContext& ctx) {
  const char* local_name = "repl-local";
  const char* http_name = "repl-http";
  if (!ctx.node) return print_note(local_name, "skipped: needs the node the bench starts");
  const std::string src = "bench_repl_src";
  if (!fresh_database(ctx, local_name, src)) return;
  Seconds loaded{};
  if (!preload(ctx, local_name, src, ctx.repl_docs, loaded)) return;
  print_note("repl-preload", format("%d docs in %.2f s", ctx.repl_docs, loaded.count()));

  // local→local: one node, the engine on both sides (LocalPeer), no HTTP.
  drop_database(ctx, "bench_repl_local");
  time_one_shot(local_name, ctx.target,
                R"({"source":")" + src + R"(","target":"bench_repl_local","create_target":true})",
                ctx.repl_docs, {ctx.node}, "local db -> local db on one node");
  drop_database(ctx, "bench_repl_local");
  if (interrupted()) return;

  // node→node over HTTP: the second node pulls (its target local, the source a URL).
  auto second = start_extra_node(ctx, http_name, "node2-throughput");
  if (!second) return;
  const std::string source_url = ctx.node_url(ctx.node->port()) + "/" + src;
  time_one_shot(http_name, second->target,
                R"({"source":")" + source_url + R"(","target":"bench_repl_http","create_target":true})",
                ctx.repl_docs, {ctx.node, second->process.get()},
                "node 1 -> node 2 over loopback HTTP (node 2 pulls)");
  second->process->stop(15s);
  drop_database(ctx, src);
}

namespace {

}  // namespace

void run_replication_latency(const BenchContext& ctx) {
  const char* name = "repl-latency";
  if (!ctx.node) return print_note(name, "skipped: needs the node the bench starts");
  auto second = start_extra_node(ctx, name, "node2-latency");
  if (!second) return;
  if (!fresh_database(ctx, name, "bench_repl_live_src")) return;
  if (!call(second->target, http::verb::put, "/bench_repl_live").ok()) {
    return print_note(name, "skipped: PUT /bench_repl_live on node 2 failed");
  }
  // Node 1 pushes continuously to node 2: the path a mesh uses.
  const std::string job = R"({"source":"bench_repl_live_src","target":")" +
                          ctx.node_url(second->process->port()) +
                          R"(/bench_repl_live","continuous":true})";
  if (const Response r = call(ctx.target, http::verb::post, "/_replicate", job); !r.ok()) {
    return print_note(name, "skipped: continuous _replicate: " + r.describe());
  }
  constexpr auto kEvery = 50ms;  // 20 writes/s
  const auto length = std::max<Clock::duration>(ctx.load.measure, 10s);
  const size_t count = static_cast<size_t>(length / kEvery) + 1;
  RateWrites writes(count);
  std::vector<Clock::time_point> visible(count);  // when its row reached node 2's feed
  std::unordered_map<std::string, size_t> index;  // doc id -> its number
  for (size_t i = 0; i < count; ++i) index.emplace(format("live-%06zu", i), i);
  std::string feed_error;

  asio::io_context ioc;
  ChangesStream feed(ioc.get_executor());
  auto on_row = [&](std::string_view id, Clock::time_point at) {
    auto it = index.find(std::string(id));
    if (it != index.end() && visible[it->second] == Clock::time_point{}) visible[it->second] = at;
  };
  asio::co_spawn(ioc, watch_rows(second->target, "bench_repl_live", feed, on_row, feed_error),
                 [](std::exception_ptr) {});
  ioc.run_for(300ms);  // the feed is open before the first write
  const auto cpu1 = ctx.node->cpu_time();
  const auto cpu2 = second->process->cpu_time();
  const auto start = Clock::now();
  bool writing = true;
  auto path_of = [](size_t i) { return format("/bench_repl_live_src/live-%06zu", i); };
  asio::co_spawn(ioc, write_at_rate(ctx.target, path_of, writes, kEvery, start + length),
                 [&](std::exception_ptr) { writing = false; });
  auto all_seen = [&] {
    for (size_t i = 0; i < writes.written; ++i) {
      if (writes.acked[i] != Clock::time_point{} && visible[i] == Clock::time_point{}) return false;
    }
    return true;
  };
  while ((writing || Clock::now() < start + length + 2s) && !interrupted()) {
    ioc.run_for(10ms);
    if (!writing && all_seen()) break;
  }
  const Seconds took = Clock::now() - start;
  feed.close();
  ioc.run_for(100ms);

  Latencies latency;
  size_t missing = 0;
  for (size_t i = 0; i < writes.written; ++i) {
    if (writes.acked[i] == Clock::time_point{}) continue;
    if (visible[i] == Clock::time_point{}) {
      ++missing;
      continue;
    }
    latency.add(visible[i] > writes.acked[i] ? visible[i] - writes.acked[i]
                                             : Clock::duration::zero());
  }
  std::string cpu;
  if (auto a = ctx.node->cpu_time(); a && cpu1) cpu += format("cpu node1 %.3f", (*a - *cpu1).count() / took.count());
  if (auto b = second->process->cpu_time(); b && cpu2) cpu += format(" node2 %.3f", (*b - *cpu2).count() / took.count());
  if (latency.size() == 0) {
    const std::string error = !feed_error.empty() ? feed_error : writes.error;
    print_note(name, "no figure: nothing arrived" + (error.empty() ? "" : ": " + error));
  } else {
    const double p50 = Ms(latency.percentile(0.5)).count();
    print_figure(name, p50, "ms",
                 "PUT answered on node 1 -> row on node 2's feed, 20 writes/s: " +
                     latency.summary() +
                     format("  %zu writes  missing %zu  failed %zu  ", writes.written, missing,
                            writes.failed) +
                     cpu,
                 3);
  }
  call(ctx.target, http::verb::post, "/_replicate",
       job.substr(0, job.size() - 1) + R"(,"cancel":true})");
  second->process->stop(15s);
  drop_database(ctx, "bench_repl_live_src");
}

void run_replication_idle(const BenchContext& ctx) {
  const char* name = "repl-idle";
  if (!ctx.node) return print_note(name, "skipped: needs the node the bench starts");
  if (!fresh_database(ctx, name, "bench_idle_src") || !fresh_database(ctx, name, "bench_idle_dst")) {
    return;
  }
  const auto before = ctx.node->memory();
  // Distinct doc_ids give each job its own replication id over the same two databases.
  int started = 0;
  for (int i = 0; i < ctx.idle_jobs && !interrupted(); ++i) {
    const std::string body = format(
        R"({"source":"bench_idle_src","target":"bench_idle_dst","continuous":true,"doc_ids":["d%d"]})", i);
    if (call(ctx.target, http::verb::post, "/_replicate", body).ok()) ++started;
  }
  std::this_thread::sleep_for(2s);  // every job through its start-up, into its live wait
  const auto settled = ctx.node->memory();
  const auto cpu_before = ctx.node->cpu_time();
  const auto idle_start = Clock::now();
  std::this_thread::sleep_for(5s);
  const auto cpu_after = ctx.node->cpu_time();
  const Seconds idle_for = Clock::now() - idle_start;
  const Response running = call(ctx.target, http::verb::get, "/_scheduler/jobs?limit=1");
  auto jobs = nlohmann::json::parse(running.body, nullptr, false);
  const long long total = jobs.is_object() ? jobs.value("total_rows", -1LL) : -1;
  // One write every job's feed sees (only d0's job copies it).
  const auto write_start = Clock::now();
  call(ctx.target, http::verb::put, "/bench_idle_src/d0", "{}");
  Seconds arrived{-1};
  for (int i = 0; i < 500; ++i) {
    if (call(ctx.target, http::verb::get, "/bench_idle_dst/d0").ok()) {
      arrived = Clock::now() - write_start;
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  if (before && settled) {
    const double growth = (static_cast<double>(settled->rss_bytes) -
                           static_cast<double>(before->rss_bytes)) / kMiB;
    print_figure(name, growth, "MiB",
                 format("node VmRSS growth with %d idle continuous jobs (%lld in _scheduler/jobs); "
                        "%.1f KiB per job",
                        started, total, growth * 1024.0 / std::max(1, started)),
                 1);
  }
  if (cpu_before && cpu_after) {
    print_figure("repl-idle-cpu", (*cpu_after - *cpu_before).count() / idle_for.count(), "cores",
                 format("node CPU over %.1f s with the jobs idle", idle_for.count()), 4);
  }
  print_figure("repl-idle-write", Ms(arrived).count(), "ms",
               "one write seen by every job's feed, copied by the one whose doc_ids match", 1);
  for (int i = 0; i < ctx.idle_jobs && !interrupted(); ++i) {
    call(ctx.target, http::verb::post, "/_replicate",
         format(R"({"source":"bench_idle_src","target":"bench_idle_dst","continuous":true,"doc_ids":["d%d"],"cancel":true})",
                i));
  }
  drop_database(ctx, "bench_idle_src");
  drop_database(ctx, "bench_idle_dst");
}

}  // namespace divan::bench
