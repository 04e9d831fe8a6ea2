#include "node.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace divan::bench {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Polls waitpid(WNOHANG) until the child is reaped or `deadline`; returns the wait status.
std::optional<int> reap_before(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;  // not our child any more (already reaped): nothing to wait for
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const char* log_file, const std::vector<char*>& argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed or killed bench
  const int log = open(log_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log >= 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
  }
  if (null >= 0) dup2(null, STDIN_FILENO);
  execv(argv[0], argv.data());
  _exit(127);
}

}  // namespace

std::unique_ptr<NodeProcess> NodeProcess::start(const std::filesystem::path& binary,
                                                const std::filesystem::path& data_dir,
                                                const std::filesystem::path& log_file,
                                                const std::vector<std::string>& extra_args,
                                                std::chrono::seconds timeout, std::string& error) {
  if (access(binary.c_str(), X_OK) != 0) {
    error = "no executable divan at " + binary.string() + " (use --divan PATH or --url URL)";
    return nullptr;
  }
  std::vector<std::string> args = {binary.string(), "serve",      "--port", "0",     "--bind",
                                   "127.0.0.1",     "--data-dir", data_dir.string(), "--log-level", "warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = log_file.string();
  // Emptied here, before the fork: the child truncates it too, but only after the parent may have
  // read a restarted node's old 'listening on' line (and its old port).
  std::error_code ignored;
  std::filesystem::remove(log_file, ignored);

  const pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) exec_child(log_path.c_str(), argv);

  std::unique_ptr<NodeProcess> node(new NodeProcess(pid, log_file));
  if (!node->wait_for_port(timeout, error)) return nullptr;  // the destructor stops the child
  return node;
}

bool NodeProcess::wait_for_port(std::chrono::seconds timeout, std::string& error) {
  static const std::regex kListening(R"(listening on [\d.]+:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::smatch m;
    const std::string log = read_file(log_file_);
    if (std::regex_search(log, m, kListening)) {
      port_ = static_cast<unsigned short>(std::stoul(m[1].str()));
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error = "divan exited before listening (" + describe_status(status) + "); log:\n" + log_tail();
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      error = "divan printed no 'listening on' line within " + std::to_string(timeout.count()) + " s; log:\n" +
              log_tail();
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) stop(10s);
}

std::optional<NodeProcess::Memory> NodeProcess::memory() const {
  if (pid_ <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  if (!in) return std::nullopt;
  Memory memory;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint64_t kib = 0;
    fields >> key >> kib;
    if (key == "VmRSS:") memory.rss_bytes = kib * 1024;
    if (key == "VmHWM:") memory.peak_bytes = kib * 1024;
  }
  return memory;
}

bool NodeProcess::reset_peak() const {
  if (pid_ <= 0) return false;
  std::ofstream out("/proc/" + std::to_string(pid_) + "/clear_refs");
  out << "5" << std::flush;
  return static_cast<bool>(out);
}

std::optional<std::chrono::duration<double>> NodeProcess::cpu_time() const {
  if (pid_ <= 0) return std::nullopt;
  const std::string stat = read_file("/proc/" + std::to_string(pid_) + "/stat");
  // The command name (field 2) may contain spaces; fields after its ')' are space separated,
  // starting with field 3 (state). utime and stime are fields 14 and 15, in clock ticks.
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  double ticks = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n >= 14) ticks += std::stod(field);
  }
  return std::chrono::duration<double>(ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

std::string NodeProcess::log_tail(std::size_t bytes) const {
  const std::string log = read_file(log_file_);
  return log.size() <= bytes ? log : "…" + log.substr(log.size() - bytes);
}

NodeProcess::Stopped NodeProcess::stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return {false, "already stopped"};
  const auto start = std::chrono::steady_clock::now();
  kill(pid_, SIGTERM);
  std::optional<int> status = reap_before(pid_, start + timeout);
  std::string how;
  if (!status) {
    kill(pid_, SIGKILL);
    status = reap_before(pid_, std::chrono::steady_clock::now() + 10s);
    how = " (did not stop on SIGTERM within " + std::to_string(timeout.count()) + " s; sent SIGKILL)";
  }
  pid_ = -1;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  const bool clean = how.empty() && status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  return {clean, (status ? describe_status(*status) : "not reaped") + " after " + std::to_string(ms.count()) + " ms" +
                     how};
}

}  // namespace divan::bench
