#include "tools/replicate_cmd.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/fmt/fmt.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "http/client/client.h"
#include "http/server/users_db.h"
#include "replicator/rep_id.h"
#include "replicator/scheduler.h"
#include "replicator/spec.h"
#include "replicator/sync.h"

namespace divan::tools {

namespace asio = boost::asio;
using replicator::Json;
using replicator::ReplicationSpec;
using replicator::Scheduler;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

void fail_line(const std::string& reason) {
  std::fprintf(stderr, "divan replicate: %s\n", reason.c_str());
}

// The `_replicate` body the flags describe; parse_replicate_body checks it as the server does.
std::optional<Json> replicate_body(const ReplicateFlags& flags) {
  Json body = Json::object();
  body["source"] = flags.source;
  body["target"] = flags.target;
  if (flags.continuous) body["continuous"] = true;
  if (flags.bidirectional) body["bidirectional"] = true;
  if (flags.create_target) body["create_target"] = true;
  if (!flags.doc_ids.empty()) body["doc_ids"] = flags.doc_ids;
  if (!flags.selector.empty()) {
    auto selector = Json::parse(flags.selector, nullptr, false);
    if (selector.is_discarded()) {
      fail_line("--selector is not JSON: " + flags.selector);
      return std::nullopt;
    }
    body["selector"] = std::move(selector);
  }
  return body;
}

// What the progress line shows, summed over the run's jobs (two when bidirectional).
struct Progress {
  uint64_t docs_written = 0;
  uint64_t checked = 0;  // revisions checked: how far through the changes it is
  std::optional<uint64_t> pending;
  bool any = false;
};

Progress progress_of(const Scheduler& scheduler, const std::vector<std::string>& ids) {
  Progress p;
  for (const auto& id : ids) {
    auto status = scheduler.status(id);
    if (!status) continue;
    p.any = true;
    p.docs_written += status->info.value("docs_written", uint64_t{0});
    p.checked += status->info.value("revisions_checked", uint64_t{0});
    const Json& pending = status->info.contains("changes_pending")
                              ? status->info["changes_pending"] : Json();
    if (pending.is_number_unsigned()) p.pending = p.pending.value_or(0) + pending.get<uint64_t>();
  }
  return p;
}

std::string eta_text(double seconds) {
  if (seconds < 0 || seconds > 99 * 3600) return "--:--";
  const auto s = static_cast<uint64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Draws the progress: a bar redrawn in place on a terminal, a line every few seconds otherwise.
class ProgressView {
 public:
  explicit ProgressView(bool tty) : tty_(tty), start_(SteadyClock::now()), last_(start_) {}

  std::chrono::milliseconds interval() const {
    return tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(2000);
  }

  void set_baseline(const Progress& p) { baseline_ = p; }

  void show(const Progress& p) {
    if (!p.any) return;
    if (!baseline_) baseline_ = p;
    const auto now = SteadyClock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    const uint64_t written = p.docs_written - std::min(p.docs_written, baseline_->docs_written);
    if (dt > 0) {
      const double instant = static_cast<double>(written - std::min(written, last_written_)) / dt;
      rate_ = rate_ < 0 ? instant : 0.7 * rate_ + 0.3 * instant;  // smoothed
    }
    last_ = now;
    last_written_ = written;
    const uint64_t checked = p.checked - std::min(p.checked, baseline_->checked);
    const std::string pending = p.pending ? fmt::format("{}", *p.pending) : "?";
    const std::string eta =
        p.pending && rate_ > 0 ? eta_text(static_cast<double>(*p.pending) / rate_) : "--:--";
    if (!tty_) {
      std::printf("progress: %llu docs written, %.0f docs/s, %s changes pending, ETA %s\n",
                  static_cast<unsigned long long>(written), std::max(rate_, 0.0), pending.c_str(),
                  eta.c_str());
      std::fflush(stdout);
      return;
    }
    double fraction = 0;
    if (p.pending) {
      const double total = static_cast<double>(checked + *p.pending);
      fraction = total > 0 ? static_cast<double>(checked) / total : 1.0;
    }
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '-');
    std::printf("\r[%s] %3.0f%%  %llu docs  %.0f docs/s  %s pending  ETA %s   ", bar.c_str(),
                fraction * 100, static_cast<unsigned long long>(written), std::max(rate_, 0.0),
                pending.c_str(), eta.c_str());
    std::fflush(stdout);
    drawn_ = true;
  }

  // A terminal's bar at 100% with the run's final count: a short run still shows one.
  void complete(uint64_t written) {
    if (!tty_) return;
    std::printf("\r[%s] 100%%  %llu docs  %.0f docs/s  0 pending  ETA 0:00   ",
                std::string(30, '#').c_str(), static_cast<unsigned long long>(written),
                seconds() > 0 ? static_cast<double>(written) / seconds() : 0.0);
    drawn_ = true;
  }

  // Ends the bar's line before anything else is printed.
  void finish() {
    if (drawn_) std::printf("\n");
    drawn_ = false;
  }

  double seconds() const {
    return std::chrono::duration<double>(SteadyClock::now() - start_).count();
  }

 private:
  bool tty_;
  SteadyClock::time_point start_;
  SteadyClock::time_point last_;
  std::optional<Progress> baseline_;
  uint64_t last_written_ = 0;
  double rate_ = -1;
  bool drawn_ = false;
};

// A one-shot answer's work of this run: its history entry minus the one before (the counters
// are cumulative across runs).
struct RunSummary {
  uint64_t docs_read = 0;
  uint64_t docs_written = 0;
  uint64_t failures = 0;
  std::string last_seq;
};

RunSummary summary_of(const Json& answer) {
  RunSummary s;
  if (answer.value("no_changes", false) || !answer.contains("history")) return s;
  const Json& history = answer["history"];
  auto counter = [&](const char* key) {
    uint64_t now = history.size() > 0 ? history[0].value(key, uint64_t{0}) : 0;
    uint64_t before = history.size() > 1 ? history[1].value(key, uint64_t{0}) : 0;
    return now - std::min(now, before);
  };
  s.docs_read = counter("docs_read");
  s.docs_written = counter("docs_written");
  s.failures = counter("doc_write_failures");
  const Json& seq = answer.contains("source_last_seq") ? answer["source_last_seq"] : Json();
  s.last_seq = seq.is_string() ? seq.get<std::string>() : seq.dump();
  return s;
}

void print_summary(const std::string& what, const Json& answer, double seconds) {
  const RunSummary s = summary_of(answer);
  if (answer.value("no_changes", false)) {
    std::printf("%s: nothing to replicate (already up to date)\n", what.c_str());
    return;
  }
  std::printf("%s: %llu docs written, %llu read, %llu failures in %.1f s (%.0f docs/s); "
              "checkpoint at source seq %s\n",
              what.c_str(), static_cast<unsigned long long>(s.docs_written),
              static_cast<unsigned long long>(s.docs_read),
              static_cast<unsigned long long>(s.failures), seconds,
              seconds > 0 ? static_cast<double>(s.docs_written) / seconds : 0.0,
              s.last_seq.c_str());
}

// Everything one invocation runs on. Declared in dependency order: destroyed in reverse.
struct Node {
  explicit Node(const std::filesystem::path& data_dir, const std::string& ca_file)
      : catalog(catalog_options(data_dir)),
        notifier(catalog),
        client(ioc.get_executor(), client_options(ca_file)),
        scheduler(ioc, catalog, notifier, client) {}

  static engine::CatalogOptions catalog_options(const std::filesystem::path& data_dir) {
    engine::CatalogOptions options;
    options.data_dir = data_dir;
    options.write_policies = http::server::system_write_policies();
    return options;
  }
  static http::client::ClientOptions client_options(const std::string& ca_file) {
    http::client::ClientOptions options;
    options.ca_file = ca_file;
    return options;
  }

  engine::Catalog catalog;
  changes::Notifier notifier;
  asio::io_context ioc{2};
  http::client::Client client;
  Scheduler scheduler;
};

// Runs the replication `spec` describes on `node`; returns the exit code.
class Runner {
 public:
  Runner(Node& node, ReplicationSpec spec, bool tty)
      : node_(node), spec_(std::move(spec)), view_(tty) {
    if (spec_.bidirectional) {
      auto [forward, reverse] = replicator::split_bidirectional(spec_);
      ids_.push_back(job_id(forward));
      ids_.push_back(job_id(reverse));
    } else {
      ids_.push_back(job_id(spec_));
    }
  }

  // run() and the progress it draws share this strand: lines never interleave.
  const asio::any_io_executor& strand() const { return strand_; }

  asio::awaitable<int> run() {
    asio::co_spawn(strand_, show_progress(), asio::detached);
    int code = kExitFailed;  // not `c ? co_await a : co_await b`: GCC 12 miscompiles it
    if (spec_.continuous) {
      code = co_await run_continuous();
    } else {
      code = co_await run_one_shot();
    }
    done_ = true;
    co_return code;
  }

  // Ctrl-C / SIGTERM: the first stops gracefully (a last checkpoint), the next at once.
  void interrupt() {
    if (interrupted_.exchange(true)) {
      node_.scheduler.stop();
      return;
    }
    for (const auto& id : ids_) {
      ReplicationSpec cancel;
      cancel.cancel = true;
      cancel.replication_id = id;
      asio::co_spawn(node_.ioc, node_.scheduler.replicate(std::move(cancel), engine::Writer::node()),
                     asio::detached);
    }
  }

 private:
  std::string job_id(const ReplicationSpec& spec) const {
    return replicator::replication_id(node_.catalog.server_uuid(), spec).full();
  }

  std::string what() const {
    return fmt::format("{} {} {}", spec_.source.redacted_url(),
                       spec_.bidirectional ? "<->" : "->", spec_.target.redacted_url());
  }

  asio::awaitable<Result<Scheduler::ReplicateAnswer>> replicate() {
    const engine::Writer writer = engine::Writer::node();
    if (spec_.bidirectional) {
      co_return co_await replicator::replicate_both(node_.scheduler, spec_, writer);
    }
    co_return co_await node_.scheduler.replicate(spec_, writer);
  }

  asio::awaitable<int> run_one_shot() {
    auto answer = co_await replicate();
    done_ = true;  // no progress line after this one
    if (interrupted_ || !answer) view_.finish();
    if (interrupted_) {
      std::printf("%s: stopped; the checkpoint is saved, the next run resumes from it\n",
                  what().c_str());
      co_return kExitInterrupted;
    }
    if (!answer) {
      fail_line(what() + ": " + answer.error().reason);
      co_return kExitFailed;
    }
    uint64_t written = 0;
    if (spec_.bidirectional) {
      written = summary_of(answer->body["source_to_target"]).docs_written +
                summary_of(answer->body["target_to_source"]).docs_written;
    } else {
      written = summary_of(answer->body).docs_written;
    }
    view_.complete(written);
    view_.finish();
    if (spec_.bidirectional) {
      print_summary(spec_.source.redacted_url() + " -> " + spec_.target.redacted_url(),
                    answer->body["source_to_target"], view_.seconds());
      print_summary(spec_.target.redacted_url() + " -> " + spec_.source.redacted_url(),
                    answer->body["target_to_source"], view_.seconds());
    } else {
      print_summary(what(), answer->body, view_.seconds());
    }
    co_return kExitOk;
  }

  // Starts the job(s), then follows them until interrupted or until they fail for good.
  asio::awaitable<int> run_continuous() {
    auto answer = co_await replicate();
    if (!answer) {
      fail_line(what() + ": " + answer.error().reason);
      co_return kExitFailed;
    }
    asio::steady_timer timer(node_.ioc);
    for (;;) {
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      bool any = false;
      for (const auto& id : ids_) {
        auto status = node_.scheduler.status(id);
        if (!status) continue;
        any = true;
        if (status->state == "failed") {
          view_.finish();
          fail_line(what() + ": " + status->last_error);
          co_return kExitFailed;
        }
      }
      if (!any) break;  // cancelled (Ctrl-C): the runs wrote their last checkpoint
    }
    view_.finish();
    std::printf("%s: stopped; the checkpoint is saved, the next run resumes from it\n",
                what().c_str());
    co_return kExitInterrupted;
  }

  asio::awaitable<void> show_progress() {
    asio::steady_timer timer(node_.ioc);
    // The counters are cumulative over runs (from the checkpoint): take the first ones seen, as
    // the run starts, as this run's zero.
    for (int i = 0; i < 500 && !done_; ++i) {
      Progress first = progress_of(node_.scheduler, ids_);
      if (first.any) {
        view_.set_baseline(first);
        break;
      }
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    while (!done_) {
      timer.expires_after(view_.interval());
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!done_) view_.show(progress_of(node_.scheduler, ids_));
    }
  }

  Node& node_;
  asio::any_io_executor strand_ = asio::make_strand(node_.ioc);
  ReplicationSpec spec_;
  ProgressView view_;
  std::vector<std::string> ids_;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> done_{false};
};

}  // namespace

void add_replicate_flags(CLI::App& cmd, ReplicateFlags& flags) {
  cmd.add_option("source", flags.source, "Source: a URL (http(s)://user:pass@host:port/db) or a "
                                         "database name of --data-dir")
      ->required();
  cmd.add_option("target", flags.target, "Target: a URL or a database name of --data-dir")
      ->required();
  cmd.add_flag("--continuous", flags.continuous, "Keep replicating until Ctrl-C");
  cmd.add_flag("--bidirectional", flags.bidirectional, "Both ways: source to target and back");
  cmd.add_flag("--create-target", flags.create_target, "Create the target database if missing");
  cmd.add_option("--doc-ids", flags.doc_ids, "Only these documents (comma-separated)")
      ->delimiter(',');
  cmd.add_option("--selector", flags.selector, "Only documents matching this Mango selector (JSON)");
  cmd.add_option("--data-dir", flags.data_dir,
                 "Data directory of local database names (default ./data when one is named)");
  cmd.add_option("--ca-file", flags.ca_file, "PEM file of CAs trusted for https:// endpoints");
  cmd.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

int run_replicate(const ReplicateFlags& flags) {
  auto logger = spdlog::stderr_logger_mt("divan");
  logger->set_pattern("[%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(flags.log_level));

  auto body = replicate_body(flags);
  if (!body) return kExitUsage;
  auto spec = replicator::parse_replicate_body(*body);
  if (!spec) {
    fail_line(spec.error().reason);
    return kExitUsage;
  }
  // Local names need the data directory. Without any, a private temporary one holds the uuid the
  // replication id is made from (checkpoints then resume only with --data-dir given).
  const bool local = spec->source.is_local() || spec->target.is_local();
  std::filesystem::path data_dir = flags.data_dir;
  std::optional<std::filesystem::path> temporary;
  if (data_dir.empty() && local) data_dir = "data";
  if (data_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "divan-replicate-XXXXXX");
    if (!::mkdtemp(pattern.data())) {
      fail_line("cannot make a temporary directory");
      return kExitFailed;
    }
    data_dir = pattern;
    temporary = data_dir;
  } else if (!std::filesystem::is_directory(data_dir)) {
    fail_line("no data directory " + data_dir.string() + " (for the local database names)");
    return kExitUsage;
  }

  int code = kExitFailed;
  {
    Node node(data_dir, flags.ca_file);
    Runner runner(node, std::move(*spec), ::isatty(STDOUT_FILENO) == 1);
    asio::signal_set signals(node.ioc, SIGINT, SIGTERM);
    std::function<void()> arm = [&] {
      signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        runner.interrupt();
        arm();
      });
    };
    arm();
    asio::co_spawn(runner.strand(), runner.run(), [&](std::exception_ptr e, int result) {
      code = e ? kExitFailed : result;
      signals.cancel();
      node.ioc.stop();
    });
    std::thread helper([&] { node.ioc.run(); });
    node.ioc.run();
    helper.join();
    // Let the runs unwind (their checkpoints are written), bounded, then close the files.
    node.scheduler.stop();
    node.client.shutdown();
    node.ioc.restart();
    for (int i = 0; i < 500 && !node.scheduler.idle(); ++i) {
      node.ioc.run_for(std::chrono::milliseconds(10));
    }
    node.catalog.close_all();
  }
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(*temporary, ec);
  }
  return code;
}

}  // namespace divan::tools
