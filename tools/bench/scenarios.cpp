// The HTTP scenarios (see scenarios.h). Each one: fresh database, pre-serialised workload, one load
// run, one figure line, database deleted.
#include "scenarios.h"

#include <cstring>
#include <random>

#include "base/base64.h"
#include "docs.h"
#include "interrupt.h"
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

// ---- small attachments

constexpr std::size_t kSmallAttachment = 4096;

// `bytes` random bytes, the same for a given seed.
std::string random_bytes(std::size_t bytes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(bytes, '\0');
  for (std::size_t i = 0; i < bytes; i += 8) {
    const std::uint64_t word = rng();
    std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, bytes - i));
  }
  return out;
}

// Attachment n: random bytes with n in the first 8, so no two share a digest (the store keeps one
// copy per digest: repeated bodies would measure deduplication, not writes).
void stamp_attachment(char* body, std::uint64_t n) { std::memcpy(body, &n, sizeof n); }

std::string small_doc_id(std::uint64_t n) { return format("doc-%010llu", static_cast<unsigned long long>(n)); }

// Writes `count` docs doc-0000000000… each with one inline 4 KiB attachment a.bin, in _bulk_docs
// batches of 250 (1.4 MB of JSON), one request at a time; sets `took`.
bool preload_small_attachments(const BenchContext& ctx, const char* scenario, const std::string& db, int count,
                               const std::string& base, Seconds& took) {
  const Clock::time_point start = Clock::now();
  constexpr int kBatch = 250;
  std::string bytes = base;
  for (int first = 0; first < count; first += kBatch) {
    if (interrupted()) return false;
    json docs = json::array();
    for (int n = first; n < std::min(count, first + kBatch); ++n) {
      stamp_attachment(bytes.data(), static_cast<std::uint64_t>(n));
      docs.push_back({{"_id", small_doc_id(static_cast<std::uint64_t>(n))},
                      {"_attachments",
                       {{"a.bin", {{"content_type", "application/octet-stream"}, {"data", base64_encode(bytes)}}}}}});
    }
    const Response r = call(ctx.target, http::verb::post, "/" + db + "/_bulk_docs", json{{"docs", docs}}.dump());
    if (!r.ok() || r.body.find("\"error\"") != std::string::npos) {
      print_note(scenario, "skipped: preload _bulk_docs -> " + r.describe());
      return false;
    }
  }
  took = Clock::now() - start;
  return true;
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

void run_att_put_small(const BenchContext& ctx) {
  const std::string db = "bench_att_put";
  if (!fresh_database(ctx, "att-put-small", db)) return;
  // One serialised template; request n patches its doc number into the path and n into the body.
  const std::string tmpl = serialise_request(ctx.target, http::verb::put, "/" + db + "/" + small_doc_id(0) + "/a.bin",
                                             random_bytes(kSmallAttachment, 42), "application/octet-stream");
  const std::size_t id_at = tmpl.find(small_doc_id(0));
  const std::size_t body_at = tmpl.size() - kSmallAttachment;
  Workload workload;
  workload.generate = [&](std::uint64_t n, std::string& request) {
    request = tmpl;  // reuses the client's buffer
    const std::string id = small_doc_id(n);
    std::memcpy(request.data() + id_at, id.data(), id.size());
    stamp_attachment(request.data() + body_at, n);
  };
  CpuUse cpu;
  LoadResult result = measured_load(ctx, workload, ctx.load, cpu);
  report("att-put-small", "atts/s", result, 1, ctx.load.clients, cpu,
         format("%zu B/att  ", kSmallAttachment) + doc_count_check(ctx, db, result.acked_total));
  drop_database(ctx, db);
}

void run_att_get_small(const BenchContext& ctx) {
  const std::string db = "bench_att_get";
  if (!fresh_database(ctx, "att-get-small", db)) return;
  const std::string base = random_bytes(kSmallAttachment, 43);
  Seconds preload_time{};
  if (!preload_small_attachments(ctx, "att-get-small", db, ctx.get_docs, base, preload_time)) {
    return drop_database(ctx, db);
  }
  // The bytes must come back as written, or the rate means nothing.
  std::string expected = base;
  stamp_attachment(expected.data(), 0);
  const Response check = call(ctx.target, http::verb::get, "/" + db + "/" + small_doc_id(0) + "/a.bin");
  if (!check.ok() || check.body != expected) {
    print_note("att-get-small", "skipped: GET of a preloaded attachment -> " + check.describe().substr(0, 60) +
                                    format(" (%zu bytes)", check.body.size()));
    return drop_database(ctx, db);
  }
  Workload workload;
  workload.random = true;
  for (int n = 0; n < ctx.get_docs; ++n) {
    workload.requests.push_back(serialise_request(
        ctx.target, http::verb::get, "/" + db + "/" + small_doc_id(static_cast<std::uint64_t>(n)) + "/a.bin"));
  }
  CpuUse cpu;
  LoadResult result = measured_load(ctx, workload, ctx.load, cpu);
  report("att-get-small", "req/s", result, 1, ctx.load.clients, cpu,
         format("%zu B/att  preload %d atts %.2f s", kSmallAttachment, ctx.get_docs, preload_time.count()));
  drop_database(ctx, db);
}

}  // namespace divan::bench
