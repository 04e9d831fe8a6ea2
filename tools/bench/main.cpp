// divan-bench: drives a real divan (or any CouchDB-compatible server) over loopback HTTP and prints
// figures beside raw-SQLite baselines. It measures; it never passes or fails. Exit status 1 only
// when it cannot run at all (bad flags, the node does not start, the server does not answer /_up).
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <thread>

#include "interrupt.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

using namespace std::chrono_literals;

// The server admin of the nodes the bench starts.
constexpr const char* kAdmin = "bench";
constexpr const char* kAdminPassword = "bench-pw";

constexpr const char* kLegend = R"(Figures (each from a window after a warm-up; latencies are per request, or per transaction):
  sqlite-commit   raw SQLite, one fsync'd single-row transaction per commit (WAL, synchronous=FULL)
  sqlite-txn1000  raw SQLite, 1000 rows per transaction
  post            POST /bench_post of ~100-byte docs, --clients keep-alive clients, docs/s
  get             GET /bench_get/<random id> over --get-docs preloaded docs, req/s
  bulk            POST /bench_bulk/_bulk_docs, --bulk-size docs per request, --bulk-clients clients, docs/s
  changes-read    GET /bench_changes/_changes, normal feed, over --changes-docs docs: rows/s, median of a few reads
  changes-docs    the same with include_docs=true, rows/s
  changes-latency a continuous feed while one client PUTs docs at random 0-4 ms intervals: row arrival
                  after the PUT's answer, p50 (p99 in the detail); changes-lat-sent: after the PUT was sent
  changes-idle    node VmRSS growth with --feeds idle continuous feeds open; changes-idle-cpu: node CPU
                  while they idle; changes-fanout: from one PUT to its row on the last feed
  att-put-small   PUT /bench_att_put/doc-N/a.bin, a new doc with a 4 KiB random attachment per request,
                  --clients clients, atts/s
  att-get-small   GET /bench_att_get/<random doc>/a.bin over --get-docs preloaded 4 KiB attachments, req/s
  att-large       one --att-mib MiB attachment PUT in 1 MiB writes, then GET 5 times: MiB/s in and out
                  (median); att-large-rss: node peak RSS growth per phase (only when the bench starts it);
                  sqlite-blob-in/out: raw SQLite writing/reading the same bytes as one blob, 1 MiB slices
  repl-local      one-shot POST /_replicate of --repl-docs docs, local db -> local db, docs/s
  repl-http       the same docs pulled node 1 -> node 2 over loopback HTTP (a second node), docs/s
  repl-latency    continuous push node 1 -> node 2, 20 PUTs/s on node 1: PUT answered -> row on node 2's
                  continuous feed, p50 (p99 in the detail)
  repl-idle       node VmRSS growth with --repl-jobs idle continuous jobs; repl-idle-cpu: node CPU while
                  they idle; repl-idle-write: one write's arrival through them
  mesh-latency    a 3-node and a 5-node mesh (POST /_mesh/peers): mesh-newdb-N, a new database on every
                  node; mesh-latency-N, 20 PUTs/s on node 1 -> row on every other node's feed, p50
  mesh-idle       --mesh-dbs databases in a 3-node mesh: time to sync, then idle connections, RSS, CPU
                  of node 1 and one write's arrival on both peers
  mesh-catchup    a peer down for 30 s of writes (1,000 docs/s) comes back: seconds until it has them all
  update          --bulk-clients clients, _bulk_docs new_edits=false of 100 docs each a new revision of
                  one of 20,000 docs (the previous one kept as history), docs/s; sizes afterwards
  compact         --compact-docs docs x 5 revisions, then POST _compact while one client writes: seconds,
                  sizes before and after, that client's write latency
  rss             node VmRSS when idle after start, and after the load (only when the bench starts it)
Nodes the bench starts have a server admin (bench), and every request carries its credentials.
  cpu             CPU seconds per wall second during a run (node and this bench), warm-up included)";

struct Options {
  std::string divan;
  std::string url;
  std::string only;
  std::string work_dir;
  std::vector<std::string> node_args;
  double seconds = 5;
  double warmup = 0.5;
  int clients = 16;
  int bulk_clients = 4;
  int bulk_size = 1000;
  int get_docs = 10000;
  int changes_docs = 100000;
  int feeds = 1000;
  int att_mib = 20;
  int repl_docs = 100000;
  int repl_jobs = 1000;
  int mesh_dbs = 1000;
  int compact_docs = 200000;

  bool wants(std::string_view scenario) const { return only.empty() || only == scenario; }
};

// A fresh directory under `parent`, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::filesystem::path& parent) {
    std::string tmpl = (parent / "divan-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }  // empty when creation failed

 private:
  std::filesystem::path path_;
};

std::string default_divan_path() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "divan" : (self.parent_path() / "divan").string();
}

void print_machine() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int nproc = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus)
                                                                  : static_cast<int>(std::thread::hardware_concurrency());
  utsname u{};
  uname(&u);
  std::string model;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; model.empty() && std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) model = line.substr(line.find(':') + 2);
  }
  // A busy machine skews every figure: say how busy it was when the bench started.
  double load1 = -1;
  std::ifstream("/proc/loadavg") >> load1;
  print_note("machine", format("nproc %d  loadavg %.2f  %s %s %s  %s", nproc, load1, u.sysname, u.release,
                               u.machine, model.c_str()));
}

void print_memory(const char* name, const NodeProcess& node) {
  const auto memory = node.memory();
  if (!memory) return print_note(name, "unavailable");
  constexpr double kMiB = 1024.0 * 1024.0;
  print_figure(name, static_cast<double>(memory->rss_bytes) / kMiB, "MiB",
               format("VmRSS  (peak VmHWM %.1f MiB)", static_cast<double>(memory->peak_bytes) / kMiB), 1);
}

// Polls GET /_up until 200 or the deadline.
bool wait_up(const Target& target, std::chrono::seconds timeout, std::string& last) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const Response r = call(target, http::verb::get, "/_up", {}, 5s);
    if (r.status == 200) return true;
    last = r.describe();
    if (Clock::now() >= deadline || interrupted()) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// Starts the node (default) or resolves --url, then waits for GET /_up. Prints why and returns false
// when there is no server to benchmark.
bool find_server(const Options& o, const std::filesystem::path& work, std::unique_ptr<NodeProcess>& node,
                 BenchContext& ctx) {
  Target& target = ctx.target;
  std::string error;
  std::optional<Target> found;
  if (o.url.empty()) {
    // As users run it: a server admin, whose credentials every request carries (admin party would
    // skip the auth cost); room for repl-idle's jobs.
    ctx.divan_binary = o.divan.empty() ? default_divan_path() : o.divan;
    ctx.admin_userinfo = std::string(kAdmin) + ":" + kAdminPassword;
    ctx.node_args = {"--admin", ctx.admin_userinfo, "--max-replications",
                     std::to_string(std::max(500, o.repl_jobs + 10))};
    ctx.node_args.insert(ctx.node_args.end(), o.node_args.begin(), o.node_args.end());
    const std::filesystem::path& binary = ctx.divan_binary;
    node = NodeProcess::start(binary, work / "data", work / "divan.log", ctx.node_args, 30s, error);
    if (node) {
      found = make_target(ctx.node_url(node->port()), error);
      print_note("node", format("started %s  pid %d  port %u  data %s", binary.c_str(), node->pid(), node->port(),
                                (work / "data").c_str()));
    }
  } else {
    found = make_target(o.url, error);
    if (found) print_note("node", "existing server at " + found->host);
  }
  if (!found) {
    std::cerr << "divan-bench: " << error << "\n";
    return false;
  }
  target = *found;
  if (!wait_up(target, 30s, error)) {
    std::cerr << "divan-bench: GET /_up did not answer 200 within 30 s (last: " << error << ")\n";
    if (node) std::cerr << "node log:\n" << node->log_tail() << "\n";
    return false;
  }
  return true;
}

// changes-idle holds a thousand sockets on each side; a started node inherits the raised limit.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    print_note("nofile", format("cannot raise the open-file limit above %llu", static_cast<unsigned long long>(before)));
  }
}

int run(const Options& o) {
  print_machine();
  raise_open_file_limit();
  const std::filesystem::path parent =
      o.work_dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(o.work_dir);
  TempDir work(parent);
  if (work.path().empty()) {
    std::cerr << "divan-bench: cannot create a directory under " << parent << "\n";
    return 1;
  }
  const auto seconds = std::chrono::duration_cast<Clock::duration>(Seconds(o.seconds));
  const auto warmup = std::chrono::duration_cast<Clock::duration>(Seconds(o.warmup));

  if (o.wants("baseline")) run_sqlite_baseline(work.path() / "sqlite", warmup, seconds);
  if (o.only == "baseline") return 0;

  BenchContext ctx;
  ctx.load = LoadConfig{o.clients, warmup, seconds, std::max<Clock::duration>(10s, seconds)};
  ctx.bulk_clients = o.bulk_clients;
  ctx.bulk_size = o.bulk_size;
  ctx.get_docs = o.get_docs;
  ctx.changes_docs = o.changes_docs;
  ctx.idle_feeds = o.feeds;
  ctx.att_large_mib = o.att_mib;
  ctx.work_dir = work.path();
  ctx.repl_docs = o.repl_docs;
  ctx.idle_jobs = o.repl_jobs;
  ctx.mesh_dbs = o.mesh_dbs;
  ctx.compact_docs = o.compact_docs;

  std::unique_ptr<NodeProcess> node;  // declared after `work`: stopped before its data dir goes
  if (!find_server(o, work.path(), node, ctx)) return 1;
  ctx.node = node.get();
  const Response welcome = call(ctx.target, http::verb::get, "/");
  print_note("version", welcome.ok() ? welcome.body.substr(0, welcome.body.find_last_not_of("\r\n") + 1)
                                     : welcome.describe());
  if (node) print_memory("rss-idle", *node);

  if (o.wants("post") && !interrupted()) run_post(ctx);
  if (o.wants("get") && !interrupted()) run_get(ctx);
  if (o.wants("bulk") && !interrupted()) run_bulk(ctx);
  if (o.wants("update") && !interrupted()) run_update(ctx);
  if (o.wants("compact") && !interrupted()) run_compact(ctx);
  if (o.wants("changes-read") && !interrupted()) run_changes_read(ctx);
  if (o.wants("changes-latency") && !interrupted()) run_changes_latency(ctx);
  if (o.wants("changes-idle") && !interrupted()) run_changes_idle(ctx);
  if (o.wants("att-put-small") && !interrupted()) run_att_put_small(ctx);
  if (o.wants("att-get-small") && !interrupted()) run_att_get_small(ctx);
  if (o.wants("att-large") && !interrupted()) run_att_large(ctx);
  if ((o.wants("repl-local") || o.wants("repl-http")) && !interrupted()) run_replication_throughput(ctx);
  if (o.wants("repl-latency") && !interrupted()) run_replication_latency(ctx);
  if (o.wants("repl-idle") && !interrupted()) run_replication_idle(ctx);
  if (o.wants("mesh-latency") && !interrupted()) run_mesh_latency(ctx, 3);
  if (o.wants("mesh-latency") && !interrupted()) run_mesh_latency(ctx, 5);
  if (o.wants("mesh-idle") && !interrupted()) run_mesh_idle(ctx);
  if (o.wants("mesh-catchup") && !interrupted()) run_mesh_catchup(ctx);

  if (node) {
    print_memory("rss-after", *node);
    const NodeProcess::Stopped stopped = node->stop(15s);
    print_note("node", "stopped: " + stopped.description);
    if (!stopped.clean) std::cerr << "node log (tail):\n" << node->log_tail() << "\n";
  }
  return interrupted() ? 130 : 0;  // 128 + SIGINT, as a shell reports an interrupted command
}

}  // namespace
}  // namespace divan::bench

int main(int argc, char** argv) {
  using divan::bench::Options;
  Options o;
  CLI::App app{"divan-bench: load a divan node (or any CouchDB) over loopback HTTP and print figures"};
  app.footer(divan::bench::kLegend);
  app.add_option("--divan", o.divan, "divan binary to start (default: 'divan' next to this binary)");
  app.add_option("--url", o.url, "benchmark an existing server instead, e.g. http://admin:pw@127.0.0.1:5984")
      ->excludes("--divan");
  app.add_option("--seconds", o.seconds, "measured seconds per scenario")->capture_default_str()->check(
      CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "seconds of warm-up before each window, not measured")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--clients", o.clients, "concurrent clients for post, get, att-put-small and att-get-small")->capture_default_str()->check(
      CLI::Range(1, 10000));
  app.add_option("--bulk-clients", o.bulk_clients, "concurrent clients for bulk")->capture_default_str()->check(
      CLI::Range(1, 1000));
  app.add_option("--bulk-size", o.bulk_size, "docs per _bulk_docs request")->capture_default_str()->check(
      CLI::Range(1, 100000));
  app.add_option("--get-docs", o.get_docs, "docs preloaded for get (and attachments for att-get-small)")->capture_default_str()->check(
      CLI::Range(1, 10000000));
  app.add_option("--changes-docs", o.changes_docs, "docs preloaded for changes-read")->capture_default_str()->check(
      CLI::Range(1, 10000000));
  app.add_option("--feeds", o.feeds, "continuous feeds held open by changes-idle")->capture_default_str()->check(
      CLI::Range(1, 100000));
  app.add_option("--att-mib", o.att_mib, "MiB of the attachment att-large writes and reads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--only", o.only, "run one scenario")
      ->check(CLI::IsMember({"baseline", "post", "get", "bulk", "update", "compact", "changes-read", "changes-latency", "changes-idle",
                             "att-put-small", "att-get-small", "att-large", "repl-local", "repl-http",
                             "repl-latency", "repl-idle", "mesh-latency", "mesh-idle",
                             "mesh-catchup", "rss"}));
  app.add_option("--repl-docs", o.repl_docs, "docs replicated by repl-local and repl-http")->capture_default_str()->check(
      CLI::Range(1, 10000000));
  app.add_option("--repl-jobs", o.repl_jobs, "idle continuous jobs of repl-idle")->capture_default_str()->check(
      CLI::Range(1, 100000));
  app.add_option("--mesh-dbs", o.mesh_dbs, "idle databases of mesh-idle")->capture_default_str()->check(
      CLI::Range(1, 100000));
  app.add_option("--compact-docs", o.compact_docs, "docs (x 5 revisions) of compact")->capture_default_str()->check(
      CLI::Range(1, 10000000));
  app.add_option("--work-dir", o.work_dir, "where the temp dir (node data, SQLite baseline) goes (default: $TMPDIR or /tmp)");
  app.add_option("--node-arg", o.node_args, "extra argument for 'divan serve' (repeatable)")->allow_extra_args(false);
  CLI11_PARSE(app, argc, argv);
  divan::bench::install_interrupt_handlers();
  try {
    return divan::bench::run(o);
  } catch (const std::exception& e) {
    std::cerr << "divan-bench: " << e.what() << "\n";
    return 1;
  }
}
