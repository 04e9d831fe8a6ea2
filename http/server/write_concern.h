// Write concern across the mesh's peers: `?w=N` on document writes (PUT, POST, DELETE, attachment
// PUT/DELETE, _bulk_docs). The write commits here as always; its answer then waits until N nodes
// (this one included) hold the new revisions, or `?w_timeout=ms` (MeshOptions::write_timeout by
// default) passes, when it becomes 202 Accepted with the count reached (`X-Divan-W-Reached`, and
// `"w_reached"` in an object body). Without `w` (or with w=1) nothing changes and nothing waits.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/server/handler.h"

namespace divan::http::server {

struct WriteConcern {
  size_t w = 1;
  std::chrono::milliseconds timeout{0};
};

// `w` and `w_timeout` of the request: nullopt without `w` or for w=1. bad_request for a `w` that
// is not a positive integer or a `w_timeout` that is not a non-negative one.
Result<std::optional<WriteConcern>> parse_write_concern(const Request& req,
                                                        const ServerContext& ctx);

// `answer` (a 2xx write answer) once the copies are there, else as 202 with the count reached.
// `revs`: the (doc id, rev) pairs the write made.
Task<Response> await_write_concern(WriteConcern concern, ServerContext& ctx, std::string db,
                                   std::vector<std::pair<std::string, std::string>> revs,
                                   Response answer);

// await_write_concern for a one-document write of the request's database.
Task<Response> await_write_concern(WriteConcern concern, ServerContext& ctx, const Request& req,
                                   std::string id, std::string rev, Response answer);

}  // namespace divan::http::server
