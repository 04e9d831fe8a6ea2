// The scenarios divan-bench runs; each prints its own figure line(s) and never fails the run.
#pragma once

#include <filesystem>

#include "load.h"
#include "node.h"

namespace divan::bench {

struct BenchContext {
  Target target;
  NodeProcess* node = nullptr;  // the node the bench started, or null with --url
  LoadConfig load;              // clients, warm-up and window for post and get
  int bulk_clients = 4;
  int bulk_size = 1000;         // docs per _bulk_docs request
  int get_docs = 10000;         // docs preloaded for the get scenario
};

// Raw SQLite on the bench's disk, what the node's writes should be compared with:
//   sqlite-commit  single-row INSERTs, each its own WAL transaction with synchronous=FULL (one fsync
//                  per commit) -> commits/s: the ceiling for one client doing fsync'd writes without
//                  group commit;
//   sqlite-txn     1000-row transactions -> rows/s: the ceiling for batched writes.
void run_sqlite_baseline(const std::filesystem::path& dir, Clock::duration warmup, Clock::duration measure);

// POST /bench_post of ~100-byte docs from `load.clients` keep-alive clients -> docs/s. Each answer
// comes after the server's fsync, so above sqlite-commit means the server groups commits.
void run_post(const BenchContext& ctx);

// GET /bench_get/<id> of random preloaded docs from `load.clients` clients -> req/s.
void run_get(const BenchContext& ctx);

// POST /bench_bulk/_bulk_docs with `bulk_size` docs from `bulk_clients` clients -> docs/s.
void run_bulk(const BenchContext& ctx);

}  // namespace divan::bench
