// `divan` — one CouchDB-compatible node: `divan serve` (the default) runs the HTTP server over the
// databases in a data directory until SIGINT/SIGTERM; `divan replicate SOURCE TARGET` runs one
// replication from the command line (tools/replicate_cmd.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "changes/notifier.h"
#include "engine/attachments.h"
#include "engine/catalog.h"
#include "http/client/client.h"
#include "http/server/auth_config.h"
#include "http/server/auth_service.h"
#include "http/server/server.h"
#include "http/server/users_db.h"
#include "replicator/mesh.h"
#include "replicator/scheduler.h"
#include "replicator/tuning.h"
#include "tools/replicate_cmd.h"

namespace {

struct ServeFlags {
  std::string bind = "127.0.0.1";
  uint16_t port = 5984;
  std::string data_dir = "data";
  size_t max_request_body = 64 << 20;
  uint64_t max_attachment_size = uint64_t{1} << 30;
  std::string log_level = "info";
  size_t threads = 0;
  // Auth and CORS (http/server/auth_service.h).
  std::vector<std::string> admins;  // NAME:PASSWORD, hashed at once
  std::string admins_file;
  uint64_t session_timeout = 600;
  std::string cors_origins;
  bool cors_credentials = false;
  // Replication (replicator/scheduler.h, http/client/client.h).
  std::string ca_file;
  size_t max_replications = divan::replicator::tuning::kMaxJobs;
  uint64_t replication_backoff_ms = divan::replicator::tuning::kJobBackoffBase.count();
  uint64_t replication_backoff_cap_ms = divan::replicator::tuning::kJobBackoffCap.count();
  // The sync mesh (replicator/mesh.h).
  std::vector<std::string> peers;
  std::string peer_dbs;
  uint64_t peer_probe_ms = 5000;
  uint64_t peer_idle_ms = 30000;
  uint64_t w_timeout_ms = 10000;
  // Automatic compaction (engine/compaction.h).
  bool auto_compact = true;
  double compact_ratio = 2.0;
  uint64_t compact_min_size = 16u << 20;
  uint64_t compact_check_ms = 60000;
  // Which attachments are stored gzip (engine/attachments.h AttachmentCompression), CouchDB's
  // [attachments] compressible_types and compression_level.
  std::string compressible_types = "text/*, application/javascript, application/json, application/xml";
  int attachment_compression_level = 8;
};

void add_serve_flags(CLI::App& app, ServeFlags& flags) {
  // Every flag below may also come from a TOML file: `peer = ["http://…", "http://…"]`,
  // `peer-dbs = "shop_*"`, `port = 5984` (the command line and environment win over it).
  const char* config_env = std::getenv("DIVAN_CONFIG");  // CLI11 reads no env for --config itself
  app.set_config("--config", config_env ? config_env : "",
                 "Read flags from this TOML file (key = flag name without --; env DIVAN_CONFIG)");
  app.add_option("--bind", flags.bind, "Address to listen on")->envname("DIVAN_BIND")->capture_default_str();
  app.add_option("--port", flags.port, "TCP port; 0 picks a free one (the first log line says which)")
      ->envname("DIVAN_PORT")->capture_default_str();
  app.add_option("--data-dir", flags.data_dir, "Directory holding one SQLite file per database")
      ->envname("DIVAN_DATA_DIR")->capture_default_str();
  app.add_option("--max-request-body", flags.max_request_body,
                 "Largest request body in bytes; larger ones get 413")
      ->envname("DIVAN_MAX_REQUEST_BODY")->capture_default_str();
  app.add_option("--max-attachment-size", flags.max_attachment_size,
                 "Largest streamed body (attachment, multipart document) in bytes; larger ones get 413")
      ->envname("DIVAN_MAX_ATTACHMENT_SIZE")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info (one line per request), warn, error, off")
      ->envname("DIVAN_LOG_LEVEL")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--threads", flags.threads, "HTTP threads; 0 = one per core")
      ->envname("DIVAN_THREADS")->capture_default_str();
  app.add_option("--admin", flags.admins,
                 "Server admin NAME:PASSWORD (repeatable); none and no --admins-file = admin party")
      ->envname("DIVAN_ADMIN");
  app.add_option("--admins-file", flags.admins_file,
                 "Ini file with an [admins] section (name = -pbkdf2:… hash, or a plain password "
                 "that is hashed and written back)")
      ->envname("DIVAN_ADMINS_FILE");
  app.add_option("--session-timeout", flags.session_timeout, "Seconds an AuthSession cookie lasts")
      ->envname("DIVAN_SESSION_TIMEOUT")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--cors-origins", flags.cors_origins,
                 "Enable CORS for these origins: \"*\" or a comma-separated list")
      ->envname("DIVAN_CORS_ORIGINS");
  app.add_flag("--cors-credentials", flags.cors_credentials,
               "CORS: allow credentials (the origin is echoed, never \"*\")")
      ->envname("DIVAN_CORS_CREDENTIALS");
  app.add_option("--ca-file", flags.ca_file,
                 "PEM file of CAs trusted for https:// replication peers (default: the system's)")
      ->envname("DIVAN_CA_FILE");
  app.add_option("--max-replications", flags.max_replications,
                 "Replication runs at once; more wait in state pending")
      ->envname("DIVAN_MAX_REPLICATIONS")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--replication-backoff-ms", flags.replication_backoff_ms,
                 "First wait of a crashed replication before it runs again (doubles per crash)")
      ->envname("DIVAN_REPLICATION_BACKOFF_MS")->capture_default_str();
  app.add_option("--replication-backoff-cap-ms", flags.replication_backoff_cap_ms,
                 "Longest wait of a crashed replication before it runs again")
      ->envname("DIVAN_REPLICATION_BACKOFF_CAP_MS")->capture_default_str();
  app.add_option("--peer", flags.peers,
                 "Sync every database with this node (http(s)://user:pass@host:port; repeatable, "
                 "or comma-separated). Kept in <data-dir>/mesh_peers.json")
      ->envname("DIVAN_PEERS")->delimiter(',');
  app.add_option("--peer-dbs", flags.peer_dbs,
                 "Which databases the mesh syncs: globs, !glob excludes (\"*,!tmp_*\"); system "
                 "databases only when a pattern starting with _ names them")
      ->envname("DIVAN_PEER_DBS");
  app.add_option("--peer-probe-ms", flags.peer_probe_ms,
                 "How often the mesh checks each peer and its list of databases")
      ->envname("DIVAN_PEER_PROBE_MS")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--peer-idle-ms", flags.peer_idle_ms,
                 "A synced database quiet for this long stops its live replication jobs until its "
                 "next change (0: never)")
      ->envname("DIVAN_PEER_IDLE_MS")->capture_default_str();
  app.add_option("--w-timeout-ms", flags.w_timeout_ms,
                 "How long a write with ?w=N waits for N nodes to hold it before answering 202")
      ->envname("DIVAN_W_TIMEOUT_MS")->capture_default_str();
  app.add_option("--auto-compact", flags.auto_compact,
                 "Compact a database in the background once its file is mostly garbage")
      ->envname("DIVAN_AUTO_COMPACT")->capture_default_str();
  app.add_option("--compact-ratio", flags.compact_ratio,
                 "Automatic compaction: file size / active size at least this")
      ->envname("DIVAN_COMPACT_RATIO")->check(CLI::Range(1.0, 1e9))->capture_default_str();
  app.add_option("--compact-min-size", flags.compact_min_size,
                 "Automatic compaction: only files of at least this many bytes")
      ->envname("DIVAN_COMPACT_MIN_SIZE")->capture_default_str();
  app.add_option("--compact-check-ms", flags.compact_check_ms,
                 "Automatic compaction: how often the open databases are looked at")
      ->envname("DIVAN_COMPACT_CHECK_MS")->check(CLI::Range(uint64_t{10}, uint64_t{86400000}))
      ->capture_default_str();
  app.add_option("--compressible-types", flags.compressible_types,
                 "New attachments of these content types are stored gzip-compressed, as CouchDB "
                 "stores them (comma-separated, * matches any run)")
      ->envname("DIVAN_COMPRESSIBLE_TYPES")->capture_default_str();
  app.add_option("--attachment-compression-level", flags.attachment_compression_level,
                 "gzip level for compressible attachments, 1-9; 0 stores every attachment as sent")
      ->envname("DIVAN_ATTACHMENT_COMPRESSION_LEVEL")->check(CLI::Range(0, 9))
      ->capture_default_str();
}

int serve(const ServeFlags& flags) {
  auto logger = spdlog::stderr_logger_mt("divan");
  logger->set_pattern("[%Y-%m-%dT%H:%M:%S.%e] [%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(flags.log_level));

  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create data directory {}: {}", flags.data_dir, ec.message());
    return EXIT_FAILURE;
  }
  // Before any write: every ingest path reads it.
  divan::engine::set_attachment_compression(
      {divan::engine::AttachmentCompression::parse_types(flags.compressible_types),
       flags.attachment_compression_level});
  divan::engine::CatalogOptions catalog_options;
  catalog_options.data_dir = flags.data_dir;
  catalog_options.write_policies = divan::http::server::system_write_policies();
  catalog_options.auto_compaction = {flags.auto_compact, flags.compact_ratio,
                                     flags.compact_min_size,
                                     std::chrono::milliseconds(flags.compact_check_ms)};
  divan::engine::Catalog catalog(catalog_options);

  // Server admins, sessions, _users and CORS: everything that can fail does so before listening.
  divan::http::server::AuthOptions auth_options;
  size_t hashed_in_file = 0;
  try {
    divan::http::server::ensure_system_databases(catalog);  // _users, _replicator
    for (const auto& spec : flags.admins) {
      auto admin = divan::http::server::admin_from_flag(spec);
      if (!admin) {
        spdlog::critical("{}", admin.error().reason);
        return EXIT_FAILURE;
      }
      auth_options.admins.push_back(std::move(*admin));
    }
    if (!flags.admins_file.empty()) {
      auto file = divan::http::server::load_admins_file(flags.admins_file);
      if (!file) {
        spdlog::critical("{}", file.error().reason);
        return EXIT_FAILURE;
      }
      hashed_in_file = file->hashed_now;
      for (auto& admin : file->admins) auth_options.admins.push_back(std::move(admin));
    }
    auth_options.secret = divan::http::server::load_or_create_auth_secret(flags.data_dir);
  } catch (const std::exception& e) {
    spdlog::critical("cannot set up authentication: {}", e.what());
    return EXIT_FAILURE;
  }
  // The node's commit notifier: the server's feeds and _db_updates (and the replicator, later) all
  // hear commits through it. It watches every database the catalog creates or opens, and the ones
  // open already, so constructing it after the system databases exist keeps _db_updates as it was:
  // the node's own _users and _replicator are not reported as created. It subscribes to the catalog
  // and goes before it (declared after it); the server, which holds it, goes before both.
  divan::changes::Notifier notifier(catalog);

  // One io_context for the whole node: the HTTP server, the replication client and the
  // replication jobs all run on its threads. Declared before what uses it, so it goes last.
  const size_t threads = flags.threads ? flags.threads : std::max(1u, std::thread::hardware_concurrency());
  boost::asio::io_context ioc(static_cast<int>(threads));
  divan::http::client::ClientOptions client_options;
  client_options.ca_file = flags.ca_file;
  divan::http::client::Client client(ioc.get_executor(), client_options);
  divan::replicator::SchedulerOptions scheduler_options;
  scheduler_options.max_jobs = flags.max_replications;
  scheduler_options.job_backoff_base = std::chrono::milliseconds(flags.replication_backoff_ms);
  scheduler_options.job_backoff_cap = std::chrono::milliseconds(
      std::max(flags.replication_backoff_ms, flags.replication_backoff_cap_ms));
  divan::replicator::Scheduler scheduler(ioc, catalog, notifier, client, scheduler_options);
  auto peer_dbs = divan::replicator::DbPatterns::parse(flags.peer_dbs);
  if (!peer_dbs) {
    spdlog::critical("{}", peer_dbs.error().reason);
    return EXIT_FAILURE;
  }
  divan::replicator::MeshOptions mesh_options;
  mesh_options.peers_file = std::filesystem::path(flags.data_dir) / "mesh_peers.json";
  mesh_options.peers = flags.peers;
  mesh_options.dbs = std::move(*peer_dbs);
  mesh_options.probe_interval = std::chrono::milliseconds(flags.peer_probe_ms);
  mesh_options.write_timeout = std::chrono::milliseconds(flags.w_timeout_ms);
  mesh_options.hot_idle = std::chrono::milliseconds(flags.peer_idle_ms);
  divan::replicator::Mesh mesh(ioc, catalog, notifier, scheduler, client, std::move(mesh_options));

  auth_options.session_timeout = flags.session_timeout;
  auth_options.cors.origins = divan::http::server::CorsOptions::parse_origins(flags.cors_origins);
  auth_options.cors.credentials = flags.cors_credentials;
  const bool admin_party = auth_options.admins.empty();
  const bool cors = auth_options.cors.enabled();

  divan::http::server::ServerOptions server_options;
  server_options.bind = flags.bind;
  server_options.port = flags.port;
  server_options.max_request_body = flags.max_request_body;
  server_options.max_attachment_size = flags.max_attachment_size;
  server_options.threads = threads;
  server_options.io_context = &ioc;
  server_options.scheduler = &scheduler;
  server_options.mesh = &mesh;
  server_options.auth = std::make_shared<divan::http::server::AuthService>(std::move(auth_options), catalog);
  divan::http::server::Server server(server_options, catalog, notifier);
  uint16_t port = 0;
  try {
    port = server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", flags.bind, flags.port, e.what());
    return EXIT_FAILURE;
  }
  // Always the first line, whatever the log level: tests and tools read the port from it.
  std::fprintf(stderr, "listening on %s:%u (data in %s)\n", flags.bind.c_str(), port,
               flags.data_dir.c_str());
  std::fflush(stderr);
  if (hashed_in_file > 0) {
    spdlog::info("hashed {} plain password(s) in {}", hashed_in_file, flags.admins_file);
  }
  if (admin_party) {
    spdlog::warn("no server admin configured: every request is treated as admin (admin party). "
                 "Set one with --admin NAME:PASSWORD, DIVAN_ADMIN or --admins-file, and keep "
                 "--bind 127.0.0.1 until then");
  }
  if (cors) spdlog::info("CORS enabled for origins: {}", flags.cors_origins);
  scheduler.start();  // the _replicator jobs: after listening, so a local peer can be reached
  if (auto started = mesh.start(); !started) {
    spdlog::critical("{}", started.error().reason);
    return EXIT_FAILURE;
  }
  server.run();
  // The io_context has stopped. Cancel every replication (their last checkpoints are what they
  // wrote before) and let their coroutines unwind on this thread, bounded.
  mesh.stop();
  scheduler.stop();
  client.shutdown();
  ioc.restart();
  for (int i = 0; i < 500 && !(scheduler.idle() && mesh.idle()); ++i) {
    ioc.run_for(std::chrono::milliseconds(10));
  }
  catalog.close_all();  // drains every writer: acknowledged and queued writes are committed
  spdlog::info("stopped");
  return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Divan: a CouchDB-compatible document sync node"};
  app.require_subcommand(0, 1);
  ServeFlags flags;
  add_serve_flags(app, flags);
  // `serve` takes the same flags (and --config file) as plain `divan`: they fall through to it.
  app.add_subcommand("serve", "Run a node (the default)")
      ->fallthrough()
      ->footer("Every flag of `divan --help` applies: they fall through to serve.");
  divan::tools::ReplicateFlags replicate_flags;
  CLI::App* replicate_cmd = app.add_subcommand(
      "replicate", "Replicate SOURCE to TARGET once (or --continuous) and show the progress");
  divan::tools::add_replicate_flags(*replicate_cmd, replicate_flags);
  CLI11_PARSE(app, argc, argv);
  if (replicate_cmd->parsed()) return divan::tools::run_replicate(replicate_flags);
  return serve(flags);
}
