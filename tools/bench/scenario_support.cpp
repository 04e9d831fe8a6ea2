#include "scenario_support.h"

#include <sys/resource.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "docs.h"
#include "interrupt.h"

namespace divan::bench {
namespace {

Seconds own_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return Seconds(seconds(usage.ru_utime) + seconds(usage.ru_stime));
}

}  // namespace

std::string CpuUse::describe() const {
  return node < 0 ? format("cpu bench %.2f", bench) : format("cpu node %.2f bench %.2f", node, bench);
}

CpuMeter::CpuMeter(const NodeProcess* node)
    : node_(node),
      node_before_(node ? node->cpu_time() : std::nullopt),
      bench_before_(own_cpu_time()),
      start_(Clock::now()) {}

CpuUse CpuMeter::stop() const {
  const double wall = Seconds(Clock::now() - start_).count();
  const auto node_after = node_ ? node_->cpu_time() : std::nullopt;
  CpuUse use;
  if (wall <= 0) return use;
  use.bench = (own_cpu_time() - bench_before_).count() / wall;
  if (node_before_ && node_after) use.node = (*node_after - *node_before_).count() / wall;
  return use;
}

std::optional<ExtraNode> start_extra_node(const BenchContext& ctx, const char* scenario,
                                          const std::string& dir_name,
                                          const std::vector<std::string>& extra_args) {
  using namespace std::chrono_literals;
  std::string error;
  ExtraNode node;
  const auto dir = ctx.work_dir / dir_name;
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  std::vector<std::string> args = ctx.node_args;
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  node.process = NodeProcess::start(ctx.divan_binary, dir / "data", dir / "divan.log", args, 30s,
                                    error);
  if (!node.process) {
    print_note(scenario, "skipped: extra node: " + error);
    return std::nullopt;
  }
  auto target = make_target(ctx.node_url(node.process->port()), error);
  if (!target) {
    print_note(scenario, "skipped: " + error);
    return std::nullopt;
  }
  node.target = *target;
  std::string last;
  for (int i = 0; i < 100; ++i) {  // /_up within 10 s
    const Response up = call(node.target, http::verb::get, "/_up", {}, 5s);
    if (up.status == 200) return node;
    last = up.describe();
    std::this_thread::sleep_for(100ms);
  }
  print_note(scenario, format("skipped: the extra node (pid %d, port %u, %s) did not answer /_up "
                              "(%s); its log:\n",
                              static_cast<int>(node.process->pid()), node.process->port(),
                              node.process->memory() ? "running" : "gone", last.c_str()) +
                           node.process->log_tail(1500));
  return std::nullopt;
}

bool fresh_database(const BenchContext& ctx, const char* scenario, const std::string& db) {
  (void)call(ctx.target, http::verb::delete_, "/" + db);  // 404 when absent: fine
  const Response created = call(ctx.target, http::verb::put, "/" + db);
  if (!created.ok()) print_note(scenario, "skipped: PUT /" + db + " -> " + created.describe());
  return created.ok();
}

void drop_database(const BenchContext& ctx, const std::string& db) {
  (void)call(ctx.target, http::verb::delete_, "/" + db);
}

std::string bulk_body(std::uint64_t first, int count, bool with_ids) {
  nlohmann::json docs = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    nlohmann::json doc = make_doc(first + static_cast<std::uint64_t>(i));
    if (with_ids) doc["_id"] = doc["name"];
    docs.push_back(std::move(doc));
  }
  return nlohmann::json{{"docs", std::move(docs)}}.dump();
}

bool preload(const BenchContext& ctx, const char* scenario, const std::string& db, int count, Seconds& took) {
  const Clock::time_point start = Clock::now();
  constexpr int kBatch = 1000;
  for (int first = 0; first < count; first += kBatch) {
    if (interrupted()) return false;
    const int n = std::min(kBatch, count - first);
    const Response r = call(ctx.target, http::verb::post, "/" + db + "/_bulk_docs",
                            bulk_body(static_cast<std::uint64_t>(first), n, true));
    if (!r.ok() || r.body.find("\"error\"") != std::string::npos) {
      print_note(scenario, "skipped: preload _bulk_docs -> " + r.describe());
      return false;
    }
  }
  took = Clock::now() - start;
  return true;
}

}  // namespace divan::bench
