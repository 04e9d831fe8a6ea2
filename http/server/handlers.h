// Every endpoint handler, grouped by the file that implements it. routes.cpp maps paths and methods
// to these; each one is a Handler (handler.h).
#pragma once

#include <optional>
#include <string>

#include "http/server/handler.h"

namespace divan::http::server {

// handlers_server.cpp: /, /_up, /_all_dbs, /_uuids
Task<Response> handle_welcome(Request& req, ServerContext& ctx);
Task<Response> handle_up(Request& req, ServerContext& ctx);
Task<Response> handle_all_dbs(Request& req, ServerContext& ctx);
Task<Response> handle_uuids(Request& req, ServerContext& ctx);

// handlers_session.cpp: /_session (cookie login, who am I, logout)
Task<Response> handle_session(Request& req, ServerContext& ctx);

// handlers_db.cpp: /{db} and its settings
Task<Response> handle_db_info(Request& req, ServerContext& ctx);
Task<Response> handle_db_create(Request& req, ServerContext& ctx);
Task<Response> handle_db_delete(Request& req, ServerContext& ctx);
Task<Response> handle_db_post(Request& req, ServerContext& ctx);
Task<Response> handle_ensure_full_commit(Request& req, ServerContext& ctx);
Task<Response> handle_revs_limit_get(Request& req, ServerContext& ctx);
Task<Response> handle_revs_limit_put(Request& req, ServerContext& ctx);
Task<Response> handle_security_get(Request& req, ServerContext& ctx);
Task<Response> handle_security_put(Request& req, ServerContext& ctx);

// handlers_maintenance.cpp: compaction, purge, and the view endpoints without views
Task<Response> handle_compact(Request& req, ServerContext& ctx);
Task<Response> handle_accepted_noop(Request& req, ServerContext& ctx);  // _compact/{ddoc}, _view_cleanup
Task<Response> handle_purge(Request& req, ServerContext& ctx);
Task<Response> handle_purged_infos_limit_get(Request& req, ServerContext& ctx);
Task<Response> handle_purged_infos_limit_put(Request& req, ServerContext& ctx);

// handlers_doc.cpp: /{db}/{docid}, /{db}/_design/{name}, /{db}/_local/{name}
Task<Response> handle_doc_get(Request& req, ServerContext& ctx);
Task<Response> handle_doc_put(Request& req, ServerContext& ctx);
Task<Response> handle_doc_delete(Request& req, ServerContext& ctx);

// handlers_attachments.cpp: /{db}/{docid}/{att…} and /{db}/_design/{name}/{att…} (§7.2)
Task<Response> handle_attachment_get(Request& req, ServerContext& ctx);
Task<Response> handle_attachment_put(Request& req, ServerContext& ctx);
Task<Response> handle_attachment_delete(Request& req, ServerContext& ctx);

// handlers_bulk_docs.cpp: many writes in one request
Task<Response> handle_bulk_docs(Request& req, ServerContext& ctx);

// handlers_bulk.cpp: the replicator's read endpoints
Task<Response> handle_bulk_get(Request& req, ServerContext& ctx);
Task<Response> handle_revs_diff(Request& req, ServerContext& ctx);

// handlers_changes.cpp: the feeds
Task<Response> handle_changes(Request& req, ServerContext& ctx);
Task<Response> handle_db_updates(Request& req, ServerContext& ctx);

// handlers_replication.cpp: the replicator's endpoints (replication-protocol.md §8, §9)
Task<Response> handle_replicate(Request& req, ServerContext& ctx);
Task<Response> handle_scheduler_jobs(Request& req, ServerContext& ctx);
Task<Response> handle_scheduler_docs(Request& req, ServerContext& ctx);
Task<Response> handle_mesh(Request& req, ServerContext& ctx);
Task<Response> handle_mesh_peers(Request& req, ServerContext& ctx);
Task<Response> handle_mesh_peer_delete(Request& req, ServerContext& ctx);
Task<Response> handle_active_tasks(Request& req, ServerContext& ctx);

// handlers_all_docs.cpp: id-ordered listings
Task<Response> handle_all_docs(Request& req, ServerContext& ctx);
Task<Response> handle_design_docs(Request& req, ServerContext& ctx);
Task<Response> handle_local_docs(Request& req, ServerContext& ctx);

// The document id a /{db}/… path names: "_design/x" and "_local/x" rejoin their two segments.
std::string doc_id_from_path(const Request& req);

// The parent rev of a write (handlers_doc.cpp): body `_rev`, `?rev=`, `If-Match` (quotes
// optional); every one given must agree, else bad_request with CouchDB's reasons (§6.2, §1.4).
Result<std::optional<std::string>> requested_rev(const Request& req,
                                                 const std::optional<std::string>& body_rev);

}  // namespace divan::http::server
