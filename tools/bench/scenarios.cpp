// The HTTP scenarios (see scenarios.h). Each one: fresh database, pre-serialised workload, one load
// run, one figure line, database deleted.
#include "scenarios.h"

#include "docs.h"
#include "scenario_support.h"

namespace divan::bench {
namespace {

using json = nlohmann::json;

LoadResult measured_load(const BenchContext& ctx, const Workload& workload, const LoadConfig& config,
                         CpuUse& cpu) {
  const CpuMeter meter(ctx.node);
  LoadResult result = run_load(ctx.target, workload, config);
  cpu = meter.stop();
  return result;
}

// "doc_count 1234 = acked" when the database holds exactly the acknowledged docs; a mismatch is
// printed as a figure, not a failure (warm-up and abandoned requests are included in both).
std::string doc_count_check(const BenchContext& ctx, const std::string& db, std::uint64_t acked_docs) {
  const Response info = call(ctx.target, http::verb::get, "/" + db);
  const json body = json::parse(info.body, nullptr, false);
  if (!info.ok() || body.is_discarded() || !body.contains("doc_count")) return "doc_count ?";
  const auto count = body["doc_count"].get<std::uint64_t>();
  return count == acked_docs ? format("doc_count %llu = acked", static_cast<unsigned long long>(count))
                             : format("doc_count %llu != acked %llu", static_cast<unsigned long long>(count),
                                      static_cast<unsigned long long>(acked_docs));
}

// Prints the scenario's line: rate, latencies, errors and the extras that explain a bad figure.
void report(const char* name, const char* unit, LoadResult& result, double items_per_request, int clients,
            const CpuUse& cpu, const std::string& extra) {
  std::string detail = result.latencies.summary() + format("  errors %llu  %d clients  ",
                                                           static_cast<unsigned long long>(result.errors), clients);
  detail += cpu.describe();
  if (result.reconnects) detail += format("  reconnects %llu", static_cast<unsigned long long>(result.reconnects));
  if (result.abandoned) detail += format("  abandoned %llu", static_cast<unsigned long long>(result.abandoned));
  if (!extra.empty()) detail += "  " + extra;
  print_figure(name, result.per_second() * items_per_request, unit, detail);
  if (!result.first_error.empty()) print_note("", "first error: " + result.first_error);
}

}  // namespace

void run_post(const BenchContext& ctx) {
  const std::string db = "bench_post";
  if (!fresh_database(ctx, "post", db)) return;
  Workload workload;
  // Distinct bodies so every doc differs; the server picks the ids.
  for (std::uint64_t n = 0; n < 1024; ++n) {
    workload.requests.push_back(serialise_request(ctx.target, http::verb::post, "/" + db, make_doc(n).dump()));
  }
  CpuUse cpu;
  LoadResult result = measured_load(ctx, workload, ctx.load, cpu);
  report("post", "docs/s", result, 1, ctx.load.clients, cpu, doc_count_check(ctx, db, result.acked_total));
  drop_database(ctx, db);
}

void run_get(const BenchContext& ctx) {
  const std::string db = "bench_get";
  if (!fresh_database(ctx, "get", db)) return;
  Seconds preload_time{};
  if (!preload(ctx, "get", db, ctx.get_docs, preload_time)) return drop_database(ctx, db);
  Workload workload;
  workload.random = true;
  for (int n = 0; n < ctx.get_docs; ++n) {
    const std::string id = make_doc(static_cast<std::uint64_t>(n))["name"];
    workload.requests.push_back(serialise_request(ctx.target, http::verb::get, "/" + db + "/" + id));
  }
  CpuUse cpu;
  LoadResult result = measured_load(ctx, workload, ctx.load, cpu);
  report("get", "req/s", result, 1, ctx.load.clients, cpu,
         format("preload %d docs %.2f s", ctx.get_docs, preload_time.count()));
  drop_database(ctx, db);
}

void run_bulk(const BenchContext& ctx) {
  const std::string db = "bench_bulk";
  if (!fresh_database(ctx, "bulk", db)) return;
  Workload workload;
  workload.error_in_body_fails = true;
  // One body per client; no _id, so each request adds bulk_size new docs.
  for (int c = 0; c < ctx.bulk_clients; ++c) {
    const std::string body = bulk_body(static_cast<std::uint64_t>(c * ctx.bulk_size), ctx.bulk_size, false);
    workload.requests.push_back(serialise_request(ctx.target, http::verb::post, "/" + db + "/_bulk_docs", body));
  }
  LoadConfig config = ctx.load;
  config.clients = ctx.bulk_clients;
  CpuUse cpu;
  LoadResult result = measured_load(ctx, workload, config, cpu);
  const std::uint64_t acked_docs = result.acked_total * static_cast<std::uint64_t>(ctx.bulk_size);
  report("bulk", "docs/s", result, ctx.bulk_size, config.clients, cpu,
         format("%d docs/request  ", ctx.bulk_size) + doc_count_check(ctx, db, acked_docs));
  drop_database(ctx, db);
}

}  // namespace divan::bench
