// The sync mesh's endpoints (replicator/mesh.h): GET /_mesh (health: 200 when every peer is
// reachable, else 503, so a load balancer can use it; JSON, or ?format=prometheus), GET|POST
// /_mesh/peers, DELETE
// /_mesh/peers/{name}. The work is the Mesh's; these only parse and answer.
#include <string>

#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "replicator/mesh.h"
#include "replicator/mesh_metrics.h"

namespace divan::http::server {

namespace {

const Error kNoMesh{Code::kNotFound, "this node runs no sync mesh"};

}  // namespace

// ?format=prometheus: the same data as Prometheus text (replicator/mesh_metrics.h).
Task<Response> handle_mesh(Request& req, ServerContext& ctx) {
  if (!ctx.mesh) co_return error_response(kNoMesh);
  auto health = ctx.mesh->health();
  const auto status = health.healthy ? bhttp::status::ok : bhttp::status::service_unavailable;
  auto format = req.param("format");
  if (!format || *format == "json") co_return json_response(status, health.body.dump());
  if (*format != "prometheus") {
    co_return error_response(Error{Code::kBadRequest, "format must be json or prometheus"});
  }
  Response res{status, 11};
  res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(bhttp::field::cache_control, "must-revalidate");
  res.body() = replicator::mesh_prometheus_text(health.body);
  co_return res;
}

Task<Response> handle_mesh_peers(Request& req, ServerContext& ctx) {
  if (!ctx.mesh) co_return error_response(kNoMesh);
  if (req.method() == bhttp::verb::get) {
    co_return json_response(bhttp::status::ok, ctx.mesh->peers().dump());
  }
  if (auto ok = require_json_content_type(req); !ok) co_return error_response(ok.error());
  auto body = parse_json_object(req.body());
  if (!body) co_return error_response(body.error());
  auto url = body->find("url");
  if (url == body->end() || !url->is_string()) {
    co_return error_response(Error{Code::kBadRequest, "`url` must be the peer's URL"});
  }
  auto added = ctx.mesh->add_peer(url->get<std::string>());
  if (!added) co_return error_response(added.error());
  co_return json_response(bhttp::status::created, added->dump());
}

Task<Response> handle_mesh_peer_delete(Request& req, ServerContext& ctx) {
  if (!ctx.mesh) co_return error_response(kNoMesh);
  const auto& path = req.path();
  auto removed = ctx.mesh->remove_peer(path.back());
  if (!removed) co_return error_response(removed.error());
  co_return json_response(bhttp::status::ok, removed->dump());
}

}  // namespace divan::http::server
