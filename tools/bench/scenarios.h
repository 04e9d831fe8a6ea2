// The scenarios divan-bench runs; each prints its own figure line(s) and never fails the run.
#pragma once

#include <string>
#include <vector>

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
  int changes_docs = 100000;    // docs preloaded for changes-read
  int idle_feeds = 1000;        // continuous feeds held open by changes-idle
  int att_large_mib = 20;       // size of att-large's attachment
  std::filesystem::path work_dir;  // the bench's temp dir (att-large's raw SQLite blob baseline)
  int repl_docs = 100000;       // docs replicated by repl-local and repl-http
  int idle_jobs = 1000;         // idle continuous jobs of repl-idle
  int mesh_dbs = 1000;          // idle databases of mesh-idle
  int compact_docs = 200000;    // docs (× 5 revisions) of the compact scenario
  // How the bench starts nodes (the replication scenarios start a second one): the binary, its
  // arguments (the bench's server admin among them) and the admin's credentials.
  std::filesystem::path divan_binary;
  std::vector<std::string> node_args;
  std::string admin_userinfo;  // "name:password", empty with --url

  // "http://name:password@127.0.0.1:<port>": a node the bench started, as a replication names it.
  std::string node_url(unsigned short port) const {
    return "http://" + (admin_userinfo.empty() ? "" : admin_userinfo + "@") + "127.0.0.1:" +
           std::to_string(port);
  }
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

// History and compaction (history_scenarios.cpp):
//   update   `bulk_clients` clients each POST _bulk_docs new_edits=false of 100 ~200-byte docs,
//            each a new revision of a doc of a fixed set of 20,000 (the previous one becomes
//            history) -> docs/s, and the database's sizes after the window.
//   compact  `compact_docs` docs × 5 revisions preloaded, then POST _compact while one client
//            PUTs new docs -> seconds until compact_running is false; sizes before and after;
//            that client's write latencies (p50, p99, worst).
void run_update(const BenchContext& ctx);
void run_compact(const BenchContext& ctx);

// The _changes feed (changes_scenarios.cpp):
//   changes-read     `changes_docs` docs preloaded, then the whole normal feed read with one GET,
//                    a few times -> median rows/s, without and with include_docs; rows counted.
//   changes-latency  one continuous feed (since=now) while one client PUTs docs one by one at
//                    random small intervals -> when each doc's row arrived, after the PUT's answer
//                    and after the PUT was sent: p50/p99.
//   changes-idle     `idle_feeds` continuous feeds held open -> node RSS growth and CPU while idle
//                    (only when the bench started the node), then one write: how many feeds got
//                    its row and how fast; then the feeds close and /_up must still answer.
void run_changes_read(const BenchContext& ctx);
void run_changes_latency(const BenchContext& ctx);
void run_changes_idle(const BenchContext& ctx);

// Attachments (standalone PUT/GET /{db}/{doc}/{att}):
//   att-put-small  `load.clients` clients each PUT a 4 KiB random attachment with no rev, so each
//                  creates a doc (doc-N/a.bin, application/octet-stream; no two bodies share a
//                  digest) -> atts/s; compare with post and sqlite-commit.
//   att-get-small  `get_docs` such docs preloaded (inline, _bulk_docs), then GETs of random ones ->
//                  req/s; compare with get. (attachment_scenarios.cpp:)
//   att-large      one client PUTs one `att_large_mib` MiB attachment in 1 MiB writes, then GETs
//                  it back 5 times -> MiB/s in and out (median), the bytes checked; the node's peak
//                  RSS growth per phase (only when the bench started it); and raw SQLite writing
//                  and reading the same bytes as one blob in 1 MiB slices, the ceiling.
// Replication (replication_scenarios.cpp; only when the bench started the node, since they start a
// second one with the same admin):
//   repl-local     `repl_docs` docs preloaded, then one-shot POST /_replicate local db -> local db
//                  (the engine on both sides, no HTTP) -> docs/s;
//   repl-http      the same docs pulled by a second node over loopback HTTP -> docs/s;
//   repl-latency   a continuous push node 1 -> node 2 while one client PUTs 20 docs/s on node 1:
//                  from each PUT's answer to its row on node 2's continuous feed, p50/p99;
//   repl-idle      `idle_jobs` continuous jobs (local, distinct doc_ids) left idle -> node VmRSS
//                  growth, node CPU while idle, and one write's arrival through them.
void run_replication_throughput(const BenchContext& ctx);
void run_replication_latency(const BenchContext& ctx);
void run_replication_idle(const BenchContext& ctx);

// Sync meshes (mesh_scenarios.cpp; only when the bench started the node; the extra nodes are
// peered through POST /_mesh/peers):
//   mesh-latency-N  a mesh of N nodes: mesh-newdb-N, from PUT /db on node 1 until it answers on
//                   every other node; then 20 PUTs/s on node 1 for max(--seconds, 10) s: from each
//                   PUT's answer to its row on the continuous feed of the last of the other nodes,
//                   p50 (p99 and per-node figures in the detail);
//   mesh-idle       `mesh_dbs` databases on node 1, then a 3-node mesh: how long until every
//                   direction is idle (mesh-sync-dbs); then, idle, node 1's established
//                   connections, VmRSS and CPU, and one write's arrival on both peers;
//   mesh-catchup    node B (peering node 1) stopped while node 1 takes 30 s of writes
//                   (1,000 docs/s), then started again: how long until B holds them all.
void run_mesh_latency(const BenchContext& ctx, int size);
void run_mesh_idle(const BenchContext& ctx);
void run_mesh_catchup(const BenchContext& ctx);

void run_att_put_small(const BenchContext& ctx);
void run_att_get_small(const BenchContext& ctx);
void run_att_large(const BenchContext& ctx);

}  // namespace divan::bench
