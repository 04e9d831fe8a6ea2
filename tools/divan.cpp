// `divan` — one CouchDB-compatible node: `divan serve` (the default) runs the HTTP server over the
// databases in a data directory until SIGINT/SIGTERM.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "engine/catalog.h"
#include "http/server/server.h"

namespace {

struct ServeFlags {
  std::string bind = "127.0.0.1";
  uint16_t port = 5984;
  std::string data_dir = "data";
  size_t max_request_body = 64 << 20;
  std::string log_level = "info";
  size_t threads = 0;
};

void add_serve_flags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--bind", flags.bind, "Address to listen on")->envname("DIVAN_BIND")->capture_default_str();
  app.add_option("--port", flags.port, "TCP port; 0 picks a free one (the first log line says which)")
      ->envname("DIVAN_PORT")->capture_default_str();
  app.add_option("--data-dir", flags.data_dir, "Directory holding one SQLite file per database")
      ->envname("DIVAN_DATA_DIR")->capture_default_str();
  app.add_option("--max-request-body", flags.max_request_body,
                 "Largest request body in bytes; larger ones get 413")
      ->envname("DIVAN_MAX_REQUEST_BODY")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info (one line per request), warn, error, off")
      ->envname("DIVAN_LOG_LEVEL")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--threads", flags.threads, "HTTP threads; 0 = one per core")
      ->envname("DIVAN_THREADS")->capture_default_str();
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
  divan::engine::CatalogOptions catalog_options;
  catalog_options.data_dir = flags.data_dir;
  divan::engine::Catalog catalog(catalog_options);

  divan::http::ServerOptions server_options;
  server_options.bind = flags.bind;
  server_options.port = flags.port;
  server_options.max_request_body = flags.max_request_body;
  server_options.threads = flags.threads;
  divan::http::Server server(server_options, catalog);
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
  server.run();
  catalog.close_all();  // drains every writer: acknowledged and queued writes are committed
  spdlog::info("stopped");
  return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Divan: a CouchDB-compatible document sync node"};
  app.require_subcommand(0, 1);
  ServeFlags flags;
  add_serve_flags(app, flags);  // plain `divan` serves too
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run a node (the default)");
  add_serve_flags(*serve_cmd, flags);
  CLI11_PARSE(app, argc, argv);
  return serve(flags);
}
