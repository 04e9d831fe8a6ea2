#include "stats.h"

#include "interrupt.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace divan::bench {

Window Window::starting_now(Clock::duration warmup, Clock::duration measure) {
  const Clock::time_point begin = Clock::now() + warmup;
  return Window{begin, begin + measure};
}

Seconds Window::covered_at(Clock::time_point t) const {
  if (t <= begin) return Seconds::zero();
  return t >= end ? length() : Seconds(t - begin);
}

Clock::duration Latencies::percentile(double q) {
  if (samples_.empty()) return Clock::duration::zero();
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  const double rank = std::ceil(q * static_cast<double>(samples_.size()));
  const std::size_t index = rank < 1 ? 0 : std::min(samples_.size() - 1, static_cast<std::size_t>(rank) - 1);
  std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(index), samples_.end());
  return Clock::duration(samples_[index]);
}

std::string Latencies::summary() {
  if (samples_.empty()) return {};
  using Ms = std::chrono::duration<double, std::milli>;
  const double p50 = Ms(percentile(0.50)).count();
  const double p99 = Ms(percentile(0.99)).count();
  return format("p50 %.3f ms  p99 %.3f ms", p50, p99);
}

void print_figure(std::string_view name, double value, std::string_view unit, std::string_view detail,
                  int decimals) {
  std::printf("%-16.*s %11.*f %-10.*s %.*s\n", static_cast<int>(name.size()), name.data(), decimals, value,
              static_cast<int>(unit.size()), unit.data(), static_cast<int>(detail.size()), detail.data());
  if (std::fflush(stdout) != 0) request_interrupt();  // stdout is gone (`| head`): nobody reads on
}

void print_note(std::string_view name, std::string_view text) {
  std::printf("%-16.*s %.*s\n", static_cast<int>(name.size()), name.data(), static_cast<int>(text.size()),
              text.data());
  if (std::fflush(stdout) != 0) request_interrupt();
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

}  // namespace divan::bench
