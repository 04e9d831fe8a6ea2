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

namespace divan::http {

template <typename T>
using Task = boost::asio::awaitable<T>;

class AuthService;  // auth_service.h

struct ServerContext {
  engine::Catalog& catalog;
  changes::Notifier& notifier;
  std::string version = "3.4.2";  // what GET / reports: clients feature-sniff a 3.x CouchDB
  // Admins, sessions, _security and CORS (auth_service.h); nullptr: no checks, everyone is admin.
  AuthService* auth = nullptr;
};

using Handler = Task<Response> (*)(Request&, ServerContext&);

// The database named by the first path segment. An illegal name is simply absent here (404
// "Database does not exist.", http-api.md §4.1); creation validates names itself. The notifier
// watches every database a handler opens, so feeds and _db_updates hear of its commits.
Result<std::shared_ptr<engine::Database>> open_database(const Request& req, ServerContext& ctx);

// {"ok":true,"id":…,"rev":…} with `ETag: "<rev>"` and Location: the answer to a one-doc write.
Response doc_written(const Request& req, std::string_view id, std::string_view rev,
                     bhttp::status status);

// Hands ops to the database's writer and resumes on the caller's executor once they committed.
Task<Result<std::vector<engine::WriteOutcome>>> write(engine::Database& db,
                                                      std::vector<engine::WriteOp> ops);

}  // namespace divan::http
