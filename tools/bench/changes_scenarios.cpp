// The _changes scenarios (see scenarios.h): reading a whole feed, write-to-delivery latency on a
// live feed, and what idle live feeds cost the node. Feeds are read with ChangesStream, which
// scans the body as it arrives and never keeps it. Every wait has a deadline.
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <memory>
#include <random>

#include "base/numbers.h"
#include "changes_stream.h"
#include "interrupt.h"
#include "scenario_support.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace std::chrono_literals;
using Ms = std::chrono::duration<double, std::milli>;


// co_spawn's completion: no I/O throws here (redirect_error), so only bad_alloc and the like.
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// Runs `ioc` on this thread until `done()`, `deadline`, an interrupt, or nothing left to run,
// looking at done() every `slice`. Handlers stamp their own times, so the slice never shows in a
// figure; it only costs the bench a wake-up per slice.
template <class Done>
void run_until(asio::io_context& ioc, Clock::time_point deadline, Done done, Clock::duration slice = 2ms) {
  while (!done() && !interrupted()) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return;
    ioc.restart();
    ioc.run_for(std::min<Clock::duration>(deadline - now, slice));
    if (ioc.stopped()) return;  // no work left: done() cannot change any more
  }
}

// Serves the sockets for `d`, waking only to notice an interrupt.
void run_for(asio::io_context& ioc, Clock::duration d) {
  run_until(ioc, Clock::now() + d, [] { return false; }, 100ms);
}

// Opens the feed; "" when it answered 200 (and its body is now streaming), otherwise why not.
asio::awaitable<std::string> open_feed(ChangesStream& feed, const Target& target, const std::string& request,
                                       std::chrono::seconds timeout) {
  const beast::error_code ec = co_await feed.open(target, request, timeout);
  if (ec) co_return "I/O error: " + ec.message();
  if (feed.status() == 200) co_return std::string();
  co_await feed.read_body(nullptr, timeout);  // the error's body, for describe()
  co_return feed.describe();
}

// ---- changes-read

// Reads per variant: enough for a median that a noisy neighbour cannot set alone.
constexpr std::size_t kReads = 5;

struct FeedRead {
  Seconds took{};  // connect to last byte: the client's work is included
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;  // body bytes, chunk framing excluded
  std::optional<std::uint64_t> last_seq;
  std::string error;  // empty when the feed was read to its end
};

asio::awaitable<void> read_feed(const Target& target, const std::string& request, FeedRead& out) {
  ChangesStream feed(co_await asio::this_coro::executor, 64 * 1024);
  const Clock::time_point start = Clock::now();
  out.error = co_await open_feed(feed, target, request, 60s);
  if (!out.error.empty()) co_return;
  RowCounter rows;
  std::string tail;  // the body's last bytes, where last_seq is
  constexpr std::size_t kTail = 256;
  const beast::error_code ec = co_await feed.read_body(
      [&](std::string_view piece) {
        rows.feed(piece);
        out.bytes += piece.size();
        tail.append(piece.substr(piece.size() - std::min(piece.size(), kTail)));
        if (tail.size() > kTail) tail.erase(0, tail.size() - kTail);
      },
      120s);
  out.took = Clock::now() - start;
  if (ec) out.error = "I/O error while reading: " + ec.message();
  out.rows = rows.rows();
  out.last_seq = last_seq_in(tail);
}

FeedRead read_whole_feed(const Target& target, const std::string& request) {
  asio::io_context ioc;
  FeedRead out;
  asio::co_spawn(ioc, read_feed(target, request, out), rethrow);
  ioc.run();
  return out;
}

// Reads the feed at `path` up to kReads times within the measure window (at least once) and prints
// the median rate, with the row count checked against `expected_rows`.
void measure_feed_reads(const BenchContext& ctx, const char* name, const std::string& path,
                        std::uint64_t expected_rows, const std::string& extra) {
  const std::string request = serialise_request(ctx.target, http::verb::get, path);
  std::vector<double> rates;
  FeedRead last;
  std::string mismatch;
  const CpuMeter meter(ctx.node);
  const Clock::time_point stop_at = Clock::now() + ctx.load.measure;
  while (rates.size() < kReads && (rates.empty() || Clock::now() < stop_at) && !interrupted()) {
    last = read_whole_feed(ctx.target, request);
    if (!last.error.empty()) return print_note(name, "failed: GET " + path + " -> " + last.error);
    if (last.rows != expected_rows && mismatch.empty()) {
      mismatch = format("  ROW COUNT MISMATCH: read %d got %llu rows, expected %llu", static_cast<int>(rates.size()),
                        static_cast<unsigned long long>(last.rows), static_cast<unsigned long long>(expected_rows));
    }
    rates.push_back(static_cast<double>(last.rows) / last.took.count());
  }
  if (rates.empty()) return;
  const CpuUse cpu = meter.stop();
  std::sort(rates.begin(), rates.end());
  const std::size_t mid = rates.size() / 2;
  const double median = rates.size() % 2 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2;
  const std::string last_seq = last.last_seq ? std::to_string(*last.last_seq) : "?";
  std::string detail = format("median of %zu reads (min %.0f max %.0f)  %llu rows  %.1f MiB/read  last_seq %s  %s",
                              rates.size(), rates.front(), rates.back(), static_cast<unsigned long long>(last.rows),
                              static_cast<double>(last.bytes) / kMiB, last_seq.c_str(), cpu.describe().c_str());
  if (!extra.empty()) detail += "  " + extra;
  print_figure(name, median, "rows/s", detail + mismatch);
}

// ---- changes-latency

constexpr std::size_t kLatencyWrites = 2000;
// The pause before each write is uniform in [0, kMaxPause]: writes land at random moments relative
// to the node's own work, never in a tight loop that group commit would merge.
constexpr auto kMaxPause = 4ms;
// After the last write, how long rows of acknowledged writes may still take to arrive.
constexpr auto kDeliveryGrace = 2s;

// One PUT per entry; a time stays zero for what did not happen.
struct LatencyProbe {
  std::vector<std::string> requests;  // PUT /<db>/lat-000000 …, pre-serialised
  std::vector<Clock::time_point> sent, acked, delivered;
  std::size_t written = 0;  // requests sent
  std::size_t acked_count = 0;
  std::size_t delivered_count = 0;
  std::size_t failed_writes = 0;  // non-2xx answers
  bool closing = false;           // the feed is being closed by us, not by the server
  std::string error;              // the first failure
};

std::string probe_id(std::size_t i) { return format("lat-%06zu", i); }

std::optional<std::size_t> probe_index(std::string_view id) {
  constexpr std::string_view kPrefix = "lat-";
  if (!id.starts_with(kPrefix)) return std::nullopt;
  id.remove_prefix(kPrefix.size());
  return parse_unsigned<std::size_t>(id);
}

// Reads the live feed until the writer closes it, stamping each probe row with its arrival.
asio::awaitable<void> watch_feed(ChangesStream& feed, LatencyProbe& probe) {
  LineSplitter lines;
  const beast::error_code ec = co_await feed.read_body(
      [&](std::string_view piece) {
        const Clock::time_point now = Clock::now();
        lines.feed(piece, [&](std::string_view line) {
          const auto i = probe_index(row_id(line));
          if (!i || *i >= probe.delivered.size() || probe.delivered[*i] != Clock::time_point{}) return;
          probe.delivered[*i] = now;
          ++probe.delivered_count;
        });
      },
      std::nullopt);
  if (!probe.closing && probe.error.empty()) {
    probe.error = "the feed ended before the writes did: " + (ec ? ec.message() : std::string("by the server"));
  }
}

// PUTs the probe docs one by one on one keep-alive connection, each after a random pause, until
// all are written or `stop_at`.
asio::awaitable<void> write_probes(const Target& target, LatencyProbe& probe, Clock::time_point stop_at) {
  const auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  auto nothrow = asio::redirect_error(asio::use_awaitable, ec);
  beast::tcp_stream stream(executor);
  stream.expires_after(10s);
  co_await stream.async_connect(target.endpoint, nothrow);
  if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;  // (Must persist between reads)
  std::minstd_rand rng(42);
  std::uniform_int_distribution<long> pause_us(0, std::chrono::microseconds(kMaxPause).count());
  asio::steady_timer pause(executor);
  for (std::size_t i = 0; !ec && i < probe.requests.size() && Clock::now() < stop_at && !interrupted(); ++i) {
    pause.expires_after(std::chrono::microseconds(pause_us(rng)));
    co_await pause.async_wait(nothrow);
    http::response<http::string_body> res;
    stream.expires_after(10s);
    probe.sent[i] = Clock::now();
    ++probe.written;
    co_await asio::async_write(stream, asio::buffer(probe.requests[i]), nothrow);
    if (!ec) co_await http::async_read(stream, buffer, res, nothrow);
    if (ec) break;
    if (res.result_int() / 100 != 2) {
      if (probe.error.empty()) probe.error = "PUT answered HTTP " + std::to_string(res.result_int()) + " " + res.body();
      ++probe.failed_writes;
      continue;
    }
    probe.acked[i] = Clock::now();
    ++probe.acked_count;
  }
  if (ec && probe.error.empty()) probe.error = "writer: " + ec.message();
}

asio::awaitable<void> probe_latency(const Target& target, const std::string& feed_request, ChangesStream& feed,
                                    LatencyProbe& probe, Clock::duration write_for) {
  const auto executor = co_await asio::this_coro::executor;
  probe.error = co_await open_feed(feed, target, feed_request, 10s);
  if (!probe.error.empty()) co_return;
  // The header came, so the node has subscribed this feed: every write from here on is a row.
  asio::co_spawn(executor, watch_feed(feed, probe), rethrow);
  co_await write_probes(target, probe, Clock::now() + write_for);
  const Clock::time_point deadline = Clock::now() + kDeliveryGrace;
  asio::steady_timer poll(executor);
  beast::error_code ignored;
  while (probe.delivered_count < probe.acked_count && Clock::now() < deadline) {
    poll.expires_after(1ms);
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  probe.closing = true;
  feed.close();  // watch_feed's read ends with operation_aborted
}

// ---- changes-idle

// How long the node's CPU is watched while every feed is idle. Heartbeats come every 30 s, so none
// falls inside: the figure is the cost of merely holding the feeds.
constexpr auto kIdleWatch = 3s;
// How long the write's row may take to reach every feed.
constexpr auto kFanOutDeadline = 10s;

struct IdleFeeds {
  explicit IdleFeeds(std::size_t n) : row_at(n) {}

  std::vector<std::unique_ptr<ChangesStream>> feeds;
  std::vector<Clock::time_point> row_at;  // when each feed got the write's row; zero until then
  std::size_t open = 0;                   // answered 200
  std::size_t failed = 0;                 // never opened
  std::size_t ended = 0;                  // opened, then ended before we closed them
  std::size_t got_row = 0;
  bool closing = false;
  std::string first_error;

  void note_error(std::string error) {
    if (first_error.empty()) first_error = std::move(error);
  }
};

asio::awaitable<void> hold_feed(const Target& target, const std::string& request, IdleFeeds& idle, std::size_t i) {
  ChangesStream& feed = *idle.feeds[i];
  if (std::string error = co_await open_feed(feed, target, request, 30s); !error.empty()) {
    ++idle.failed;
    idle.note_error("open: " + error);
    co_return;
  }
  ++idle.open;
  RowCounter rows;
  const beast::error_code ec = co_await feed.read_body(
      [&](std::string_view piece) {
        rows.feed(piece);
        if (rows.rows() == 0 || idle.row_at[i] != Clock::time_point{}) return;
        idle.row_at[i] = Clock::now();
        ++idle.got_row;
      },
      std::nullopt);
  if (!idle.closing) {
    ++idle.ended;
    idle.note_error("a feed ended by itself: " + (ec ? ec.message() : std::string("the server ended it")));
  }
}

struct Write {
  Clock::time_point sent, answered;
  Response response;
  bool done = false;
};

asio::awaitable<void> put_doc(const Target& target, const std::string& path, Write& write) {
  write.sent = Clock::now();
  write.response = co_await async_call(target, http::verb::put, path, R"({"fan":"out"})", 10s);
  write.answered = Clock::now();
  write.done = true;
}

std::string mib(const std::optional<NodeProcess::Memory>& memory) {
  return memory ? format("%.1f MiB", static_cast<double>(memory->rss_bytes) / kMiB) : "?";
}

}  // namespace

void run_changes_read(const BenchContext& ctx) {
  const char* name = "changes-read";
  const std::string db = "bench_changes";
  if (!fresh_database(ctx, name, db)) return;
  Seconds preload_time{};
  if (!preload(ctx, name, db, ctx.changes_docs, preload_time)) return drop_database(ctx, db);
  const auto docs = static_cast<std::uint64_t>(ctx.changes_docs);
  measure_feed_reads(ctx, name, "/" + db + "/_changes", docs,
                     format("preload %d docs %.2f s", ctx.changes_docs, preload_time.count()));
  if (!interrupted()) measure_feed_reads(ctx, "changes-docs", "/" + db + "/_changes?include_docs=true", docs,
                                         "include_docs=true");
  drop_database(ctx, db);
}

void run_changes_latency(const BenchContext& ctx) {
  const char* name = "changes-latency";
  const std::string db = "bench_latency";
  if (!fresh_database(ctx, name, db)) return;
  LatencyProbe probe;
  for (std::size_t i = 0; i < kLatencyWrites; ++i) {
    probe.requests.push_back(serialise_request(ctx.target, http::verb::put, "/" + db + "/" + probe_id(i),
                                               format(R"({"n":%zu,"text":"lorem ipsum dolor sit amet"})", i)));
  }
  probe.sent.resize(kLatencyWrites);
  probe.acked.resize(kLatencyWrites);
  probe.delivered.resize(kLatencyWrites);
  const std::string feed_request = serialise_request(
      ctx.target, http::verb::get, "/" + db + "/_changes?feed=continuous&since=now&heartbeat=10000");
  // Bounded by count and by time: 2000 writes at ~2.5 ms each fit in 10 s on a quiet machine.
  const Clock::duration write_for = ctx.load.warmup + std::max<Clock::duration>(ctx.load.measure, 10s);

  asio::io_context ioc;
  ChangesStream feed(ioc.get_executor());
  const CpuMeter meter(ctx.node);
  const Clock::time_point start = Clock::now();
  asio::co_spawn(ioc, probe_latency(ctx.target, feed_request, feed, probe, write_for), rethrow);
  ioc.run();
  const CpuUse cpu = meter.stop();

  // Writes sent during the warm-up are not counted; a missing row is counted, not timed.
  const Clock::time_point count_from = start + ctx.load.warmup;
  Latencies after_ack, after_sent, put;
  std::size_t counted = 0, missing = 0, before_ack = 0;
  for (std::size_t i = 0; i < probe.written; ++i) {
    if (probe.sent[i] < count_from || probe.acked[i] == Clock::time_point{}) continue;
    ++counted;
    put.add(probe.acked[i] - probe.sent[i]);
    if (probe.delivered[i] == Clock::time_point{}) {
      ++missing;
      continue;
    }
    after_ack.add(probe.delivered[i] - probe.acked[i]);
    after_sent.add(probe.delivered[i] - probe.sent[i]);
    if (probe.delivered[i] < probe.acked[i]) ++before_ack;
  }
  if (after_ack.size() == 0) {
    print_note(name, "no figure: " + (probe.error.empty() ? std::string("no write was delivered") : probe.error));
    return drop_database(ctx, db);
  }
  const double p50_ack = Ms(after_ack.percentile(0.5)).count();
  print_figure(name, p50_ack, "ms",
               "row delivered after the PUT's answer: " + after_ack.summary() +
                   format("  (%zu rows came before the answer)  %zu writes  missing %zu  failed %zu  pause 0-%lld ms  ",
                          before_ack, counted, missing, probe.failed_writes,
                          static_cast<long long>(kMaxPause.count())) +
                   cpu.describe(),
               3);
  const double p50_sent = Ms(after_sent.percentile(0.5)).count();
  print_figure("changes-lat-sent", p50_sent, "ms",
               "row delivered after the PUT was sent: " + after_sent.summary() + "  (PUT answered: " + put.summary() +
                   ")",
               3);
  if (!probe.error.empty()) print_note("", "first error: " + probe.error);
  drop_database(ctx, db);
}

void run_changes_idle(const BenchContext& ctx) {
  const char* name = "changes-idle";
  const std::string db = "bench_idle";
  if (!fresh_database(ctx, name, db)) return;
  const auto n = static_cast<std::size_t>(ctx.idle_feeds);
  const std::string request = serialise_request(
      ctx.target, http::verb::get, "/" + db + "/_changes?feed=continuous&since=now&heartbeat=30000");
  asio::io_context ioc;  // every feed on this one thread
  IdleFeeds idle(n);
  for (std::size_t i = 0; i < n; ++i) idle.feeds.push_back(std::make_unique<ChangesStream>(ioc.get_executor()));

  // Open them all, let the node settle, then look at it.
  const auto rss_before = ctx.node ? ctx.node->memory() : std::nullopt;
  const Clock::time_point open_start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) asio::co_spawn(ioc, hold_feed(ctx.target, request, idle, i), rethrow);
  run_until(ioc, open_start + 30s, [&] { return idle.open + idle.failed == n; });
  const Seconds open_took = Clock::now() - open_start;
  run_for(ioc, 1s);
  const auto rss_open = ctx.node ? ctx.node->memory() : std::nullopt;
  const CpuMeter meter(ctx.node);
  run_for(ioc, kIdleWatch);
  const CpuUse idle_cpu = meter.stop();

  std::string opened = format("%zu of %zu feeds open in %.2f s", idle.open, n, open_took.count());
  if (idle.failed) opened += format("  failed %zu", idle.failed);
  if (rss_before && rss_open) {
    const double delta = (static_cast<double>(rss_open->rss_bytes) - static_cast<double>(rss_before->rss_bytes));
    print_figure(name, delta / kMiB, "MiB",
                 "node RSS growth: " + opened + format("  rss %s -> %s  (%.1f KiB/feed)", mib(rss_before).c_str(),
                                                       mib(rss_open).c_str(),
                                                       idle.open ? delta / 1024.0 / static_cast<double>(idle.open) : 0.0),
                 1);
    print_figure("changes-idle-cpu", idle_cpu.node * 100, "% core",
                 format("node CPU while the feeds sat idle for %.0f s  (resolution %.2f %%: one clock tick)  "
                        "bench %.2f %%",
                        Seconds(kIdleWatch).count(), 100.0 / static_cast<double>(sysconf(_SC_CLK_TCK)) /
                                                         Seconds(kIdleWatch).count(),
                        idle_cpu.bench * 100),
                 2);
  } else {
    print_note(name, opened + "  (node RSS and CPU: only when the bench starts the node)");
  }

  // One write: every open feed should get its row.
  Write write;
  const std::string path = "/" + db + "/fan-out";
  asio::co_spawn(ioc, put_doc(ctx.target, path, write), rethrow);
  run_until(ioc, Clock::now() + kFanOutDeadline,
            [&] { return write.done && idle.got_row + idle.ended >= idle.open; });
  Latencies fan_out;
  Clock::time_point last{};
  for (const Clock::time_point at : idle.row_at) {
    if (at == Clock::time_point{}) continue;
    fan_out.add(at - write.sent);
    last = std::max(last, at);
  }
  std::string put = "unanswered";
  if (write.done) {
    put = write.response.status ? format("HTTP %u in %.3f ms", write.response.status,
                                         Ms(write.answered - write.sent).count())
                                : write.response.describe();
  }
  if (fan_out.size() == 0) {
    print_note("changes-fanout", format("0 of %zu feeds got the row  (PUT %s)", idle.open, put.c_str()));
  } else {
    print_figure("changes-fanout", Ms(last - write.sent).count(), "ms",
                 format("until the last of %zu/%zu feeds got the row, from the PUT sent  ", idle.got_row, idle.open) +
                     fan_out.summary() + "  (PUT " + put + ")",
                 3);
  }

  // Close them all; the node must carry on.
  idle.closing = true;
  for (auto& feed : idle.feeds) feed->close();
  ioc.restart();
  ioc.run_for(5s);  // returns as soon as every coroutine has seen its socket closed
  const Clock::time_point up_sent = Clock::now();
  const Response up = call(ctx.target, http::verb::get, "/_up", {}, 5s);
  std::string after = format("closed %zu feeds; GET /_up -> %s in %.1f ms", idle.open, up.describe().c_str(),
                             Ms(Clock::now() - up_sent).count());
  if (ctx.node) after += "  rss " + mib(ctx.node->memory());
  if (idle.ended) after += format("  %zu feeds ended early", idle.ended);
  print_note(name, after);
  if (!idle.first_error.empty()) print_note("", "first error: " + idle.first_error);
  drop_database(ctx, db);
}

}  // namespace divan::bench
