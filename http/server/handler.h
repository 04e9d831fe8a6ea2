// What every endpoint handler is: a coroutine from a Request to a Response, run on the connection's
// strand. Handlers read the engine inline (point reads are fast and never wait for the writer) and
// co_await writes, so an io thread never waits on an fsync.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "changes/notifier.h"
#include "engine/catalog.h"
#include "engine/database.h"
#include "http/server/request.h"

namespace divan::replicator {
class Mesh;
class Scheduler;
}

namespace divan::http::server {

template <typename T>
using Task = boost::asio::awaitable<T>;

class AuthService;  // auth_service.h

struct ServerContext {
  engine::Catalog& catalog;
  changes::Notifier& notifier;
  std::string version = "3.4.2";  // what GET / reports: clients feature-sniff a 3.x CouchDB
  // Admins, sessions, _security and CORS (auth_service.h); nullptr: no checks, everyone is admin.
  AuthService* auth = nullptr;
  // ServerOptions::max_attachment_size: the most attachment bytes one request may store, counted
  // decoded (a gzip upload is bounded by what it inflates to, not by what it sends).
  uint64_t max_attachment_size = uint64_t{1} << 30;
  // The node's replications (replicator/scheduler.h); nullptr: the replication endpoints answer
  // that this node runs none.
  replicator::Scheduler* scheduler = nullptr;
  // The node's sync mesh (replicator/mesh.h); nullptr: /_mesh answers that there is none.
  replicator::Mesh* mesh = nullptr;
};

using Handler = Task<Response> (*)(Request&, ServerContext&);

// The database named by the first path segment. An illegal name is simply absent here (404
// "Database does not exist.", http-api.md §4.1); creation validates names itself. The notifier
// watches every database the catalog opens, so feeds and _db_updates hear of its commits.
Result<std::shared_ptr<engine::Database>> open_database(const Request& req, ServerContext& ctx);

// Appends `s` percent-encoded as a URL path segment ('/' included, as couch_util:url_encode), in
// place (no temporary string per segment).
void append_segment(std::string& out, std::string_view s);

// {"ok":true,"id":…,"rev":…} with `ETag: "<rev>"` and Location: the answer to a one-doc write.
Response doc_written(const Request& req, std::string_view id, std::string_view rev,
                     bhttp::status status);

// Hands ops to the database's writer as the request's user (auth_service.h request_writer) and
// resumes on the caller's executor once they committed.
Task<Result<std::vector<engine::WriteOutcome>>> write(const Request& req, engine::Database& db,
                                                      std::vector<engine::WriteOp> ops);

// One write through write(): the new rev, or the error of the write or of its outcome.
Task<Result<std::string>> write_one(const Request& req, engine::Database& db, engine::WriteOp op);

}  // namespace divan::http::server
