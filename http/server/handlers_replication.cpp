// The replicator's endpoints (replication-protocol.md §8, §9; http-api.md §3): POST /_replicate,
// GET /_scheduler/jobs[/{id}], GET /_scheduler/docs[/{db}[/{docid}]] and GET /_active_tasks (the
// Scheduler's replications and the databases' compactions). The work is the Scheduler's
// (replicator/scheduler.h); these only parse and answer.
#include <string>
#include <vector>

#include "http/server/auth_service.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "replicator/job_state.h"
#include "replicator/replicator_db.h"
#include "replicator/scheduler.h"
#include "replicator/spec.h"
#include "replicator/sync.h"

namespace divan::http::server {

namespace {

using Json = nlohmann::ordered_json;

const Error kNoScheduler{Code::kNotFound, "this node runs no replications"};

Response json_answer(bhttp::status status, const Json& body) {
  return json_response(status, body.dump());
}

// A local endpoint reads or writes a database of this node directly: a user who is no server
// admin must be a member of it, as over HTTP (http-api.md §2.2).
std::optional<Error> check_local_endpoint(const Request& req, ServerContext& ctx,
                                          const replicator::Endpoint& endpoint) {
  if (!endpoint.is_local()) return std::nullopt;
  const RequestAuth* auth = req.auth();
  if (!auth || auth->user.is_server_admin()) return std::nullopt;
  auto db = ctx.catalog.open(endpoint.db_name());
  if (!db) return std::nullopt;  // the replication reports db_not_found itself
  SecurityObject security = SecurityObject::parse((*db)->security());
  return check_access(Access::kMember, auth->user, &security);
}

// limit / skip query parameters (CouchDB's defaults: 100 / 0).
Result<std::pair<size_t, size_t>> paging(const Request& req) {
  auto limit = uint_param(req, "limit");
  if (!limit) return tl::unexpected(limit.error());
  auto skip = uint_param(req, "skip");
  if (!skip) return tl::unexpected(skip.error());
  return std::pair<size_t, size_t>{limit->value_or(100), skip->value_or(0)};
}

}  // namespace

Task<Response> handle_replicate(Request& req, ServerContext& ctx) {
  if (!ctx.scheduler) co_return error_response(kNoScheduler);
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto body = parse_json_object(req.body());
  if (!body) co_return error_response(body.error());
  auto spec = replicator::parse_replicate_body(*body);
  if (!spec) co_return error_response(spec.error());
  if (!spec->cancel) {
    for (const auto* endpoint : {&spec->source, &spec->target}) {
      if (auto refused = check_local_endpoint(req, ctx, *endpoint)) {
        co_return error_response(*refused);
      }
    }
  }
  // Not `cond ? co_await a : co_await b`: GCC 12 miscompiles co_await inside ?:.
  Result<replicator::Scheduler::ReplicateAnswer> answer = tl::unexpected(Error{});
  if (spec->bidirectional) {
    answer = co_await replicator::replicate_both(*ctx.scheduler, std::move(*spec),
                                                 request_writer(req));
  } else {
    answer = co_await ctx.scheduler->replicate(std::move(*spec), request_writer(req));
  }
  if (!answer) co_return error_response(answer.error());
  co_return json_answer(answer->accepted ? bhttp::status::accepted : bhttp::status::ok,
                        answer->body);
}

Task<Response> handle_scheduler_jobs(Request& req, ServerContext& ctx) {
  if (!ctx.scheduler) co_return error_response(kNoScheduler);
  const auto& path = req.path();
  if (path.size() == 3) {
    auto job = ctx.scheduler->job(path[2]);
    if (!job) co_return error_response({Code::kNotFound, reason::kMissing});
    co_return json_answer(bhttp::status::ok, *job);
  }
  auto page = paging(req);
  if (!page) co_return error_response(page.error());
  co_return json_answer(bhttp::status::ok, ctx.scheduler->jobs(page->first, page->second));
}

// /_scheduler/docs/{db}[/{docid}]: the database may be given with unescaped '/'
// (`/_scheduler/docs/other/_replicator/mydoc`, spec §9.3): it runs to the segment `_replicator`,
// and the rest is the document id.
Task<Response> handle_scheduler_docs(Request& req, ServerContext& ctx) {
  if (!ctx.scheduler) co_return error_response(kNoScheduler);
  const auto& path = req.path();
  std::string rest;
  for (size_t i = 2; i < path.size(); ++i) {
    if (i > 2) rest.push_back('/');
    rest += path[i];
  }
  std::optional<std::string> db;
  std::optional<std::string> doc_id;
  if (!rest.empty()) {
    const std::string marker(replicator::kReplicatorDb);
    size_t at = rest.find(marker);
    while (at != std::string::npos) {
      size_t end = at + marker.size();
      if ((at == 0 || rest[at - 1] == '/') && (end == rest.size() || rest[end] == '/')) break;
      at = rest.find(marker, at + 1);
    }
    if (at == std::string::npos) co_return error_response({Code::kNotFound, reason::kMissing});
    db = rest.substr(0, at + marker.size());
    if (at + marker.size() < rest.size()) doc_id = rest.substr(at + marker.size() + 1);
  }
  if (doc_id) {
    auto doc = ctx.scheduler->doc(*db, *doc_id);
    if (!doc) co_return error_response({Code::kNotFound, reason::kMissing});
    co_return json_answer(bhttp::status::ok, *doc);
  }
  auto page = paging(req);
  if (!page) co_return error_response(page.error());
  std::vector<std::string> states;
  if (auto text = req.param("states")) {
    std::string_view list = *text;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view name = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (!replicator::parse_state(name)) {
        co_return error_response(
            {Code::kBadRequest, "Unknown replication state: " + std::string(name)});
      }
      states.emplace_back(name);
    }
  }
  co_return json_answer(bhttp::status::ok,
                        ctx.scheduler->docs(db, page->first, page->second, states));
}

namespace {

// A running compaction as CouchDB lists it (type database_compaction).
Json compaction_task(const engine::Database& db, const engine::CompactionStatus& c) {
  Json task;
  task["type"] = "database_compaction";
  task["database"] = db.name();
  task["pid"] = "<compaction:" + db.name() + ">";
  task["phase"] = c.phase;
  task["changes_done"] = c.changes_done;
  task["total_changes"] = c.total_changes;
  task["progress"] = c.total_changes == 0 ? 0 : c.changes_done * 100 / c.total_changes;
  task["started_on"] = c.started_on;
  task["updated_on"] = c.updated_on;
  return task;
}

}  // namespace

Task<Response> handle_active_tasks(Request&, ServerContext& ctx) {
  Json tasks = Json::array();
  if (ctx.scheduler) {
    for (auto& task : ctx.scheduler->active_tasks()) tasks.push_back(std::move(task));
  }
  for (const auto& db : ctx.catalog.open_databases()) {
    engine::CompactionStatus c = db->compaction();
    if (c.running) tasks.push_back(compaction_task(*db, c));
  }
  co_return json_answer(bhttp::status::ok, tasks);
}

}  // namespace divan::http::server
