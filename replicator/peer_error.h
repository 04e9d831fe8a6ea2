// How a call to a replication peer failed: the one error type every Peer method returns, and the
// input of the retry policy (retry_policy.h), which decides from it alone whether to retry the
// request, wait for the host, crash the job or give up.
//
// Pure value type; thread-safe as values.
#pragma once

#include <string>

#include "engine/error.h"

namespace divan::replicator {

struct PeerError {
  enum class Kind {
    kTransport,  // no connection: refused, unreachable, DNS, TLS (the host, not this request)
    kLost,       // the connection broke after the request went out: reset, cut mid-response, a
                 // malformed response (a glitch of this request: the host answered it)
    kTimeout,    // no (complete) answer within the request's timeout
    kHttp,       // the remote answered with an error status (`status`, `code`, `reason` below)
    kLocal,      // a local database (LocalPeer) refused: `code` and `reason` as the engine gave them
  };
  Kind kind = Kind::kTransport;
  unsigned status = 0;          // kHttp: the HTTP status; 0 otherwise
  Code code = Code::kInternal;  // kHttp: mapped from status and the body's "error"; kLocal: the engine's
  std::string error;            // CouchDB's "error" member when the body had one ("not_found", …)
  std::string reason;           // for logs and the scheduler: what happened, credentials redacted
};

}  // namespace divan::replicator
