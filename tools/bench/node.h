// A `divan serve` child process started and owned by the bench.
//
// start() runs `<binary> serve --port 0 --bind 127.0.0.1 --data-dir <dir> --log-level warn` with
// stdout and stderr going to a log file, and reads the port from the first log line matching
// `listening on <ip>:<port>` (binding port 0 and reading it back cannot race, unlike picking a free
// port first). The child gets SIGKILL if the bench dies; the destructor stops it (SIGTERM, then
// SIGKILL) if stop() was not called.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace divan::bench {

class NodeProcess {
 public:
  struct Memory {
    std::uint64_t rss_bytes = 0;   // VmRSS: resident now
    std::uint64_t peak_bytes = 0;  // VmHWM: the most it has been resident
  };

  // Returns nullptr with `error` set (including the log tail) when the binary cannot be started or
  // prints no port within `timeout`.
  static std::unique_ptr<NodeProcess> start(const std::filesystem::path& binary,
                                            const std::filesystem::path& data_dir,
                                            const std::filesystem::path& log_file,
                                            const std::vector<std::string>& extra_args,
                                            std::chrono::seconds timeout, std::string& error);
  ~NodeProcess();
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  pid_t pid() const { return pid_; }
  unsigned short port() const { return port_; }

  // From /proc/<pid>/status; nullopt once the process is gone.
  std::optional<Memory> memory() const;
  // Resets VmHWM to the current VmRSS (writes 5 to /proc/<pid>/clear_refs, Linux 4.0+), so a later
  // memory() shows the peak of what ran in between; false when the kernel refused.
  bool reset_peak() const;
  // User plus system CPU time used so far, from /proc/<pid>/stat; nullopt once the process is gone.
  std::optional<std::chrono::duration<double>> cpu_time() const;
  // The last `bytes` of the log file.
  std::string log_tail(std::size_t bytes = 4000) const;

  struct Stopped {
    bool clean = false;       // exited with status 0 on SIGTERM
    std::string description;  // e.g. "exit 0 after 35 ms"
  };
  // SIGTERM, wait up to `timeout`, then SIGKILL; always reaps.
  Stopped stop(std::chrono::seconds timeout);

 private:
  NodeProcess(pid_t pid, std::filesystem::path log_file) : pid_(pid), log_file_(std::move(log_file)) {}
  bool wait_for_port(std::chrono::seconds timeout, std::string& error);

  pid_t pid_ = -1;  // -1 once reaped
  unsigned short port_ = 0;
  std::filesystem::path log_file_;
};

}  // namespace divan::bench
