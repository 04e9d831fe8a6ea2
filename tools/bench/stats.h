// Latency samples and the one-line figures divan-bench prints.
//
// Every figure comes from a measured window that starts after a warm-up: an operation counts when it
// completes inside the window. Latencies are wall-clock (steady_clock) from the first byte sent (or
// the SQLite call made) to the last byte of the answer. Single-threaded: no locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace divan::bench {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// When a scenario measures: [start + warmup, start + warmup + measure).
struct Window {
  Clock::time_point begin;
  Clock::time_point end;

  static Window starting_now(Clock::duration warmup, Clock::duration measure);
  bool contains(Clock::time_point t) const { return t >= begin && t < end; }
  Seconds length() const { return end - begin; }
  // How much of the window had passed at `t` (all of it once it has closed): the divisor for a
  // rate when a run stops early.
  Seconds covered_at(Clock::time_point t) const;
};

class Latencies {
 public:
  void reserve(std::size_t n) { samples_.reserve(n); }
  void add(Clock::duration d) { samples_.push_back(d.count()); }
  std::size_t size() const { return samples_.size(); }

  // Nearest-rank percentile for q in [0, 1]; zero when there are no samples. Reorders the samples.
  Clock::duration percentile(double q);

  // "p50 0.412 ms  p99 1.830 ms", or "" when there are no samples.
  std::string summary();

 private:
  std::vector<Clock::rep> samples_;
};

// Prints one aligned figure line and flushes, so figures appear as they are made even when piped:
//   "<name>  <value> <unit>  <detail>", the value with `decimals` digits after the point.
void print_figure(std::string_view name, double value, std::string_view unit, std::string_view detail,
                  int decimals = 0);

// Prints a free-form line under the same name column ("machine", "node", ...).
void print_note(std::string_view name, std::string_view text);

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace divan::bench
