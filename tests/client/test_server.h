// A scripted HTTP/1.1 server on 127.0.0.1 for the client tests, plain or TLS. It runs on its own
// io_context and thread, reads each request with Beast, asks the test's handler what to do, and
// does exactly that: write raw bytes (so a test can send malformed, truncated, chunked, gzip or
// HTTP/1.0 answers), after a delay, then close or keep the connection; or never answer at all. It
// counts connections (accepted, open now, most open at once) and records every request.
//
// Thread-safety: the handler runs on the server's thread; every accessor may be called from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace divan::http::client::test {

struct Received {
  std::string method;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  int connection = 0;  // which connection carried it: 1 for the first accepted, 2, …

  // The first header of that name (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

// What the server does with one request.
struct Reply {
  std::string raw;                     // written as is (see response())
  std::chrono::milliseconds delay{0};  // waited before writing
  bool hang = false;                   // never answer: read until the client closes
  bool close_after = false;            // close the connection once `raw` is written
};

// A well-formed response: status line, Content-Length, `headers`, body.
std::string response(unsigned status, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {});

struct ServerTls {
  std::string cert;  // PEM chain
  std::string key;   // PEM
};

class TestServer {
 public:
  using Handler = std::function<Reply(const Received&)>;

  // Listens on 127.0.0.1 on a free port; TLS when `tls` is given.
  explicit TestServer(Handler handler, const ServerTls* tls = nullptr);
  // Stops the server: every connection is closed, the thread joined.
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int open() const { return open_.load(); }
  int max_open() const { return max_open_.load(); }
  std::vector<Received> requests() const;

  // Wait (polling, at most `within`) until open() == n, or until n requests arrived. False on
  // timeout.
  bool wait_open(int n, std::chrono::milliseconds within = std::chrono::seconds(2)) const;
  bool wait_requests(size_t n, std::chrono::milliseconds within = std::chrono::seconds(2)) const;

  struct Impl;  // test_server.cpp (public so its coroutines can name it)

 private:
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds within) const;

  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> max_open_{0};
  mutable std::mutex mu_;
  std::vector<Received> requests_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace divan::http::client::test
