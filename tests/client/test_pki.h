// A throwaway PKI for the TLS tests, generated in-process with OpenSSL's C API: a CA and two server
// certificates it signed, one for "localhost" and 127.0.0.1, one for "wrong.example" only.
// EC P-256 keys, so generating all three takes milliseconds.
#pragma once

#include <string>

namespace divan::http::client::test {

struct TestPki {
  std::string ca_cert;      // PEM
  std::string server_cert;  // PEM, SAN DNS:localhost, IP:127.0.0.1, signed by the CA
  std::string server_key;   // PEM
  std::string wrong_cert;   // PEM, SAN DNS:wrong.example only, signed by the CA
  std::string wrong_key;    // PEM
  std::string ca_file;      // ca_cert written to a temp file (removed at exit)
};

// Generated on first use, then shared. Thread-safe.
const TestPki& test_pki();

}  // namespace divan::http::client::test
