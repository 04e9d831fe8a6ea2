// The large-attachment scenario (see scenarios.h): one client PUTs one big attachment, streamed from
// memory in 1 MiB writes, then GETs it back whole a few times; beside it, the same bytes through
// raw SQLite incremental blob I/O (the node's storage), and the node's peak RSS growth.
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstring>
#include <random>

#include "interrupt.h"
#include "scenario_support.h"
#include "scenarios.h"

namespace divan::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace std::chrono_literals;

constexpr std::size_t kSlice = std::size_t{1} << 20;  // client writes, and the node's read slices
constexpr int kGets = 5;
constexpr std::chrono::seconds kTimeout = 120s;

std::string random_bytes(std::size_t bytes) {
  std::mt19937_64 rng(44);
  std::string out(bytes, '\0');
  for (std::size_t i = 0; i < bytes; i += 8) {
    const std::uint64_t word = rng();
    std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, bytes - i));
  }
  return out;
}

double mib_per_s(std::size_t bytes, Seconds took) {
  return took.count() > 0 ? static_cast<double>(bytes) / kMiB / took.count() : 0;
}

Seconds median(std::vector<Seconds> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---- over HTTP

struct Transfer {
  Seconds took{};  // first byte sent to last byte of the answer (connect excluded)
  unsigned status = 0;
  std::string error;  // I/O error, when status == 0
  std::string body;

  bool ok() const { return status / 100 == 2; }
  std::string describe() const {
    return status == 0 ? "I/O error: " + error : "HTTP " + std::to_string(status) + " " + body.substr(0, 160);
  }
};

// Sends `head`, then `body` (when given) in 1 MiB writes, and reads the whole answer, however large.
asio::awaitable<Transfer> exchange(const Target& target, const std::string& head, const std::string* body) {
  Transfer out;
  beast::error_code ec;
  auto nothrow = asio::redirect_error(asio::use_awaitable, ec);
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(kTimeout);
  co_await stream.async_connect(target.endpoint, nothrow);
  const Clock::time_point start = Clock::now();
  if (!ec) co_await asio::async_write(stream, asio::buffer(head), nothrow);
  for (std::size_t at = 0; body && !ec && at < body->size(); at += kSlice) {
    co_await asio::async_write(stream, asio::buffer(body->data() + at, std::min(kSlice, body->size() - at)),
                               nothrow);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);  // the default (8 MB) would refuse the attachment
  if (!ec) co_await http::async_read(stream, buffer, parser, nothrow);
  out.took = Clock::now() - start;
  if (ec) {
    out.error = ec.message();
    co_return out;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  co_return out;
}

Transfer transfer(const Target& target, const std::string& head, const std::string* body = nullptr) {
  asio::io_context ioc;
  Transfer out;
  asio::co_spawn(ioc, exchange(target, head, body), [&out](std::exception_ptr e, Transfer t) {
    if (e) std::rethrow_exception(e);  // only bad_alloc and the like: no I/O throws
    out = std::move(t);
  });
  ioc.run();
  return out;
}

// PUT of `bytes` octets with no rev: creates the doc. Written by hand: serialise_request() holds
// the whole body, and this one goes out in slices.
std::string put_head(const Target& target, const std::string& path, std::size_t bytes) {
  std::string head = "PUT " + path + " HTTP/1.1\r\nHost: " + target.host + "\r\nAccept: application/json\r\n";
  if (!target.authorization.empty()) head += "Authorization: " + target.authorization + "\r\n";
  head += "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(bytes) + "\r\n\r\n";
  return head;
}

// "+3.2 MiB" of peak RSS since `before` (VmRSS when the peak was reset, else VmHWM), or "?".
std::string peak_growth(const NodeProcess& node, bool reset, const std::optional<NodeProcess::Memory>& before) {
  const auto after = node.memory();
  if (!before || !after) return "?";
  const double base = static_cast<double>(reset ? before->rss_bytes : before->peak_bytes);
  return format("%+.1f MiB", (static_cast<double>(after->peak_bytes) - base) / kMiB);
}

// ---- raw SQLite: the same bytes as one BLOB, written and read in 1 MiB slices

struct BlobFigures {
  Seconds write{};        // INSERT zeroblob + incremental writes + fsync'd COMMIT
  Seconds read_reopen{};  // median: one sqlite3_blob_open per slice, as the node reads
  Seconds read_once{};    // median: one handle for all slices
  std::string error;
};

BlobFigures sqlite_blob(const std::filesystem::path& dir, const std::string& data) {
  BlobFigures out;
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "blob.db";
  std::filesystem::remove(file);
  sqlite3* db = nullptr;
  auto fail = [&](const char* what) {
    out.error = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "cannot open");
    if (db) sqlite3_close_v2(db);
    return out;
  };
  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; };
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) return fail("open");
  if (!exec("PRAGMA journal_mode=WAL") || !exec("PRAGMA synchronous=FULL") ||
      !exec("CREATE TABLE atts (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")) {
    return fail("create");
  }
  const int size = static_cast<int>(data.size());
  const Clock::time_point start = Clock::now();
  sqlite3_stmt* insert = nullptr;
  bool ok = exec("BEGIN IMMEDIATE") &&
            sqlite3_prepare_v2(db, "INSERT INTO atts (id, data) VALUES (1, zeroblob(?1))", -1, &insert, nullptr) ==
                SQLITE_OK;
  if (ok) {
    sqlite3_bind_int(insert, 1, size);
    ok = sqlite3_step(insert) == SQLITE_DONE;
  }
  sqlite3_finalize(insert);
  sqlite3_blob* blob = nullptr;
  ok = ok && sqlite3_blob_open(db, "main", "atts", "data", 1, 1, &blob) == SQLITE_OK;
  for (int at = 0; ok && at < size; at += static_cast<int>(kSlice)) {
    ok = sqlite3_blob_write(blob, data.data() + at, std::min(static_cast<int>(kSlice), size - at), at) == SQLITE_OK;
  }
  sqlite3_blob_close(blob);
  if (!ok || !exec("COMMIT")) return fail("write");
  out.write = Clock::now() - start;

  std::string back(data.size(), '\0');
  std::vector<Seconds> reopen, once;
  for (int round = 0; ok && round < kGets; ++round) {
    Clock::time_point t = Clock::now();
    for (int at = 0; ok && at < size; at += static_cast<int>(kSlice)) {
      ok = sqlite3_blob_open(db, "main", "atts", "data", 1, 0, &blob) == SQLITE_OK &&
           sqlite3_blob_read(blob, back.data() + at, std::min(static_cast<int>(kSlice), size - at), at) == SQLITE_OK;
      sqlite3_blob_close(blob);
    }
    reopen.push_back(Clock::now() - t);
    t = Clock::now();
    ok = ok && sqlite3_blob_open(db, "main", "atts", "data", 1, 0, &blob) == SQLITE_OK;
    for (int at = 0; ok && at < size; at += static_cast<int>(kSlice)) {
      ok = sqlite3_blob_read(blob, back.data() + at, std::min(static_cast<int>(kSlice), size - at), at) == SQLITE_OK;
    }
    sqlite3_blob_close(blob);
    once.push_back(Clock::now() - t);
  }
  if (!ok || back != data) return fail("read");
  out.read_reopen = median(reopen);
  out.read_once = median(once);
  sqlite3_close_v2(db);
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace

void run_att_large(const BenchContext& ctx) {
  const std::string db = "bench_att_large";
  if (!fresh_database(ctx, "att-large", db)) return;
  const std::size_t bytes = static_cast<std::size_t>(ctx.att_large_mib) * kSlice;
  const std::string data = random_bytes(bytes);
  const std::string path = "/" + db + "/big/a.bin";
  const NodeProcess* node = ctx.node;

  // The node's peak RSS is reset before each phase when the kernel lets us, so an earlier
  // scenario's peak cannot hide this one's.
  bool reset = node && node->reset_peak();
  auto before = node ? node->memory() : std::nullopt;
  const Transfer put = transfer(ctx.target, put_head(ctx.target, path, bytes), &data);
  if (!put.ok()) {
    print_note("att-large", "skipped: PUT " + path + " -> " + put.describe());
    return drop_database(ctx, db);
  }
  const std::string put_rss = node ? peak_growth(*node, reset, before) : std::string();

  reset = node && node->reset_peak();
  before = node ? node->memory() : std::nullopt;
  const std::string get_request = serialise_request(ctx.target, http::verb::get, path);
  std::vector<Seconds> gets;
  for (int i = 0; i < kGets && !interrupted(); ++i) {
    const Transfer get = transfer(ctx.target, get_request);
    if (!get.ok() || get.body != data) {
      print_note("att-large", "GET " + path + " -> " + get.describe().substr(0, 60) +
                                  format(" (%zu of %zu bytes%s)", get.body.size(), bytes,
                                         get.body.size() == bytes ? ", different" : ""));
      return drop_database(ctx, db);
    }
    gets.push_back(get.took);
  }
  if (gets.empty()) return drop_database(ctx, db);
  const std::string get_rss = node ? peak_growth(*node, reset, before) : std::string();
  const auto [fastest, slowest] = std::minmax_element(gets.begin(), gets.end());

  print_figure("att-large-in", mib_per_s(bytes, put.took), "MiB/s",
               format("%d MiB PUT in 1 MiB writes, %.3f s to the 201", ctx.att_large_mib, put.took.count()), 1);
  print_figure("att-large-out", mib_per_s(bytes, median(gets)), "MiB/s",
               format("median of %zu GETs, %.3f s  (%.1f-%.1f MiB/s)  bytes checked", gets.size(),
                      median(gets).count(), mib_per_s(bytes, *slowest), mib_per_s(bytes, *fastest)),
               1);
  if (node) {
    const auto now = node->memory();
    print_note("att-large-rss", "node peak RSS growth: PUT " + put_rss + ", GETs " + get_rss +
                                    format("  (VmRSS now %.1f MiB%s)", now ? now->rss_bytes / kMiB : 0.0,
                                           reset ? "" : "; VmHWM not resettable: growth over the earlier peak"));
  } else {
    print_note("att-large-rss", "unavailable: the bench did not start the node");
  }

  const BlobFigures blob = sqlite_blob(ctx.work_dir / "sqlite-blob", data);
  if (!blob.error.empty()) {
    print_note("sqlite-blob", "error: " + blob.error);
  } else {
    print_figure("sqlite-blob-in", mib_per_s(bytes, blob.write), "MiB/s",
                 format("raw SQLite, zeroblob + 1 MiB blob writes + fsync'd COMMIT, %.3f s", blob.write.count()), 1);
    print_figure("sqlite-blob-out", mib_per_s(bytes, blob.read_reopen), "MiB/s",
                 format("blob re-opened per 1 MiB slice (as the node), median of %d; one handle: %.1f MiB/s", kGets,
                        mib_per_s(bytes, blob.read_once)),
                 1);
  }
  drop_database(ctx, db);
}

}  // namespace divan::bench
