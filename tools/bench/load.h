// The load generator: N keep-alive clients on one io_context on the calling thread (the server under
// test shares the machine, so the generator must cost little CPU). Each client is a coroutine that
// writes a pre-serialised request, reads the whole response, records the latency and repeats until
// the window closes. No request is built or serialised inside the loop, except by a Workload's
// `generate`, which patches a pre-serialised template (a counter in the path and the body).
//
// Thread-safety: run_load() blocks the calling thread until every client has stopped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "http_call.h"
#include "stats.h"

namespace divan::bench {

// What the clients send: complete HTTP/1.1 messages from serialise_request().
struct Workload {
  std::vector<std::string> requests;
  // Pick a request uniformly at random each round (GET by random id); otherwise each client walks
  // the list from its own starting point.
  bool random = false;
  // A 2xx answer whose body contains "error" counts as an error (_bulk_docs reports per-doc
  // failures inside a 201).
  bool error_in_body_fails = false;
  // When set, `requests` is not used: each round a client asks for request number n (0, 1, 2, …
  // across all clients) into its own buffer. For workloads where no request may repeat, such as
  // PUTs that each create a document; it must be cheap (copy a template, patch a few bytes).
  std::function<void(std::uint64_t n, std::string& request)> generate;
};

struct LoadConfig {
  int clients = 16;
  Clock::duration warmup = std::chrono::milliseconds(500);
  Clock::duration measure = std::chrono::seconds(5);
  // How long after the window a request may still be in flight before its socket is closed: bounds
  // the run even if the server hangs.
  Clock::duration grace = std::chrono::seconds(10);
};

struct LoadResult {
  Seconds window{};                // length of the measured window
  std::uint64_t ok = 0;            // 2xx answers completed inside the window
  std::uint64_t errors = 0;        // non-2xx answers and I/O errors inside the window
  std::uint64_t acked_total = 0;   // 2xx answers over the whole run (warm-up and tail too)
  std::uint64_t reconnects = 0;    // connections re-opened after an error or Connection: close
  std::uint64_t abandoned = 0;     // requests still unanswered `grace` after the window
  std::string first_error;         // the first error seen, for the report
  Latencies latencies;             // of the ok answers inside the window

  double per_second() const { return window.count() > 0 ? static_cast<double>(ok) / window.count() : 0; }
};

LoadResult run_load(const Target& target, const Workload& workload, const LoadConfig& config);

}  // namespace divan::bench
