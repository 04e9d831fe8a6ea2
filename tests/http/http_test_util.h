// Helpers shared by the HTTP tests: building requests without a socket, running a request through
// the route table on a private io_context, and a Catalog in a temporary data directory.
#pragma once

#include <doctest/doctest.h>
#include <zlib.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"
#include "engine/catalog.h"
#include "engine/database.h"
#include "http/server/handler.h"
#include "http/server/request.h"
#include "http/server/routes.h"
#include "http/server/users_db.h"
#include "revtree/rev_id.h"

namespace divan::http::server::test {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

inline RawRequest raw_request(bhttp::verb method, std::string_view target, std::string body = {},
                              std::string_view content_type = "application/json") {
  RawRequest raw{method, target, 11};
  raw.set(bhttp::field::host, "localhost:5984");
  if (!body.empty() && !content_type.empty()) raw.set(bhttp::field::content_type, content_type);
  raw.body() = std::move(body);
  raw.prepare_payload();
  return raw;
}

inline Request make_request(std::string_view target) {
  return Request(raw_request(bhttp::verb::get, target));
}

using ::divan::test::TempDir;

inline engine::CatalogOptions test_options(const TempDir& dir) {
  engine::CatalogOptions options;
  options.data_dir = dir.path();
  options.fsync = false;  // tests check behaviour, not durability
  options.write_policies = system_write_policies();  // as the node has them (tools/divan.cpp)
  return options;
}

// A node without sockets: one database "db" and a way to run requests through the route table.
struct Node {
  TempDir dir;
  engine::Catalog catalog{test_options(dir)};
  changes::Notifier notifier{catalog};
  ServerContext ctx{catalog, notifier};
  std::shared_ptr<engine::Database> db = *catalog.create("db");

  // Runs the request to completion on a private io_context (the handler may co_await a write).
  Response call(bhttp::verb method, std::string_view target, std::string body = {},
                std::string_view content_type = "application/json") {
    return run(raw_request(method, target, std::move(body), content_type));
  }
  // The same with any headers.
  Response run(RawRequest raw) {
    Request req(std::move(raw));
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);  // a pending write holds no other asio work
    std::optional<Response> out;
    std::exception_ptr error;
    boost::asio::co_spawn(ioc, handle_request(req, ctx), [&](std::exception_ptr e, Response res) {
      error = e;
      out = std::move(res);
      work.reset();
    });
    ioc.run();
    if (error) std::rethrow_exception(error);
    REQUIRE(out.has_value());
    return std::move(*out);
  }
  Response get(std::string_view target) { return call(bhttp::verb::get, target); }
  Response post(std::string_view target, std::string body,
                std::string_view content_type = "application/json") {
    return call(bhttp::verb::post, target, std::move(body), content_type);
  }

  void write(std::vector<engine::WriteOp> ops) {
    auto result = db->write(std::move(ops));
    REQUIRE(result.has_value());
    for (const auto& outcome : *result) REQUIRE_FALSE(outcome.error.has_value());
  }
  // A new_edits=false write of `_revisions {start, ids}` (newest first) with a compact JSON body.
  void replicate(std::string id, uint64_t start, std::vector<std::string> ids,
                 std::string body = "{}", bool deleted = false) {
    auto update = engine::DocUpdate::replicated(std::move(id), revtree::RevPath{start, std::move(ids)},
                                                deleted, Json::parse(body));
    REQUIRE(update.has_value());
    std::vector<engine::WriteOp> ops;
    ops.push_back(std::move(*update));
    write(std::move(ops));
  }
  void put_local(std::string id, std::string body, uint64_t counter = 0) {
    engine::LocalUpdate update;
    update.id = std::move(id);
    update.rev_counter = counter;
    update.body = std::move(body);
    std::vector<engine::WriteOp> ops;
    ops.push_back(std::move(update));
    write(std::move(ops));
  }
};

// `bytes` gzip-compressed (Content-Encoding: gzip bodies and parts).
inline std::string gzip(std::string_view bytes) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&zs, bytes.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The body of a JSON reply, which must end with CouchDB's newline.
inline std::string body_text(const Response& res) {
  std::string body = res.body();
  CHECK_MESSAGE(!body.empty(), "empty body");
  if (!body.empty()) {
    CHECK(body.back() == '\n');
    body.pop_back();
  }
  return body;
}

inline Json body_json(const Response& res) {
  auto json = Json::parse(body_text(res), nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  return json;
}

// Checks status, `error` and `reason` of an error reply.
inline void check_error(const Response& res, bhttp::status status, std::string_view error,
                        std::string_view reason) {
  CHECK(res.result() == status);
  Json body = body_json(res);
  CHECK((body == Json{{"error", error}, {"reason", reason}}));
}

// Percent-encodes a query value (JSON text in URLs: keys, startkey…).
inline std::string qs(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

}  // namespace divan::http::server::test
