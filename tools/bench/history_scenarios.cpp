// History and compaction (scenarios.h): update (replicated updates that keep each doc's previous
// body as history) and compact (a large database compacted while one client writes).
#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "interrupt.h"
#include "scenario_support.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

using json = nlohmann::json;

constexpr int kDocsPerUpdateRequest = 100;

std::uint64_t mix(std::uint64_t x) {  // splitmix64: a rev id per (doc, generation)
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string rev_id(std::uint64_t doc, std::uint64_t generation) {
  return format("%016llx%016llx", static_cast<unsigned long long>(mix(doc * 7919 + generation)),
                static_cast<unsigned long long>(mix(doc * 104729 + generation)));
}

// A new_edits=false _bulk_docs body: docs [first, first + count) at `generation`, each extending
// its previous generation (so the previous leaf's body becomes history).
std::string update_body(std::uint64_t first, int count, std::uint64_t generation) {
  std::string out = R"({"new_edits":false,"docs":[)";
  for (int k = 0; k < count; ++k) {
    const std::uint64_t doc = first + static_cast<std::uint64_t>(k);
    if (k) out += ',';
    const std::string id = rev_id(doc, generation);
    out += format(R"({"_id":"u%08llu","_rev":"%llu-%s","_revisions":{"start":%llu,"ids":["%s")",
                  static_cast<unsigned long long>(doc), static_cast<unsigned long long>(generation),
                  id.c_str(), static_cast<unsigned long long>(generation), id.c_str());
    if (generation > 1) out += ",\"" + rev_id(doc, generation - 1) + "\"";
    out += format(R"(]},"n":%llu,"text":"a body of about two hundred bytes, as an app's documents )"
                  R"(often are: a name, a few numbers, a short note and a timestamp or two, )"
                  R"(nothing more"})",
                  static_cast<unsigned long long>(doc * 1000 + generation));
  }
  return out + "]}";
}

json db_info(const BenchContext& ctx, const std::string& db) {
  const Response r = call(ctx.target, http::verb::get, "/" + db);
  json body = json::parse(r.body, nullptr, false);
  return r.ok() && !body.is_discarded() ? body : json::object();
}

std::string sizes_text(const json& info) {
  if (!info.contains("sizes")) return "sizes ?";
  const json& s = info["sizes"];
  auto mib = [&](const char* k) { return s.value(k, 0.0) / (1024.0 * 1024.0); };
  return format("file %.1f MiB  active %.1f MiB  external %.1f MiB", mib("file"), mib("active"),
                mib("external"));
}

// Writes `generations` generations of `docs` docs, one request at a time.
bool preload_generations(const BenchContext& ctx, const char* scenario, const std::string& db,
                         int docs, int generations) {
  for (int g = 1; g <= generations; ++g) {
    for (int first = 0; first < docs; first += 1000) {
      if (interrupted()) return false;
      const int count = std::min(1000, docs - first);
      const Response r = call(ctx.target, http::verb::post, "/" + db + "/_bulk_docs",
                              update_body(static_cast<std::uint64_t>(first), count,
                                          static_cast<std::uint64_t>(g)));
      if (!r.ok() || r.body.find("\"error\"") != std::string::npos) {
        print_note(scenario, "skipped: preload _bulk_docs -> " + r.describe());
        return false;
      }
    }
  }
  return true;
}

}  // namespace

void run_update(const BenchContext& ctx) {
  const std::string db = "bench_update";
  if (!fresh_database(ctx, "update", db)) return;
  // Request n updates docs [(n mod R) * 100, +100) to generation n / R + 1: R requests per
  // generation, so two requests for the same doc are R requests apart and arrive in order.
  constexpr std::uint64_t kRequestsPerGeneration = 200;
  Workload workload;
  workload.error_in_body_fails = true;
  workload.generate = [&](std::uint64_t n, std::string& request) {
    const std::uint64_t first = (n % kRequestsPerGeneration) * kDocsPerUpdateRequest;
    request = serialise_request(ctx.target, http::verb::post, "/" + db + "/_bulk_docs",
                                update_body(first, kDocsPerUpdateRequest, n / kRequestsPerGeneration + 1));
  };
  LoadConfig config = ctx.load;
  config.clients = ctx.bulk_clients;
  const CpuMeter meter(ctx.node);
  LoadResult result = run_load(ctx.target, workload, config);
  const CpuUse cpu = meter.stop();
  const json info = db_info(ctx, db);
  std::string detail = result.latencies.summary() +
                       format("  errors %llu  %d clients  %d docs/request  ",
                              static_cast<unsigned long long>(result.errors), config.clients,
                              kDocsPerUpdateRequest) +
                       cpu.describe() + "  " + sizes_text(info) +
                       format("  %llu revisions", static_cast<unsigned long long>(
                                                      result.acked_total * kDocsPerUpdateRequest));
  print_figure("update", result.per_second() * kDocsPerUpdateRequest, "docs/s", detail);
  if (!result.first_error.empty()) print_note("", "first error: " + result.first_error);
  drop_database(ctx, db);
}

void run_compact(const BenchContext& ctx) {
  const std::string db = "bench_compact";
  if (!fresh_database(ctx, "compact", db)) return;
  constexpr int kGenerations = 5;
  const Clock::time_point preload_start = Clock::now();
  if (!preload_generations(ctx, "compact", db, ctx.compact_docs, kGenerations)) {
    return drop_database(ctx, db);
  }
  const Seconds preload_time = Clock::now() - preload_start;
  const json before = db_info(ctx, db);

  // One client writes new docs throughout (a fresh connection each: call()), timing every write.
  std::atomic<bool> stop{false};
  Latencies writes;
  std::uint64_t write_errors = 0;
  std::thread writer([&] {
    for (std::uint64_t n = 0; !stop && !interrupted(); ++n) {
      const Clock::time_point t0 = Clock::now();
      const Response r = call(ctx.target, http::verb::put, format("/%s/w%08llu", db.c_str(),
                                                                  static_cast<unsigned long long>(n)),
                              R"({"during":"compaction"})");
      if (r.ok()) writes.add(Clock::now() - t0);
      else ++write_errors;
    }
  });
  const Clock::time_point start = Clock::now();
  const Response r = call(ctx.target, http::verb::post, "/" + db + "/_compact", "{}");
  bool running = r.ok();
  while (running && !interrupted() && Clock::now() - start < std::chrono::minutes(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    running = db_info(ctx, db).value("compact_running", false);
  }
  const Seconds took = Clock::now() - start;
  stop = true;
  writer.join();
  const json after = db_info(ctx, db);
  const std::size_t samples = writes.size();
  const double worst_ms = std::chrono::duration<double, std::milli>(writes.percentile(1.0)).count();
  print_figure("compact", took.count(), "s",
               format("%d docs x %d revisions (preload %.1f s)  ", ctx.compact_docs, kGenerations,
                      preload_time.count()) +
                   "before: " + sizes_text(before) + "  after: " + sizes_text(after) +
                   format("  meanwhile %zu writes, ", samples) + writes.summary() +
                   format(" worst %.1f ms, errors %llu", worst_ms,
                          static_cast<unsigned long long>(write_errors)));
  if (!r.ok()) print_note("compact", "POST _compact -> " + r.describe());
  drop_database(ctx, db);
}

}  // namespace divan::bench
