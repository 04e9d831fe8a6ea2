#include "http/server/write_concern.h"

#include <nlohmann/json.hpp>

#include "http/server/params.h"
#include "http/server/response.h"
#include "replicator/mesh.h"

namespace divan::http::server {

Result<std::optional<WriteConcern>> parse_write_concern(const Request& req,
                                                        const ServerContext& ctx) {
  auto w = uint_param(req, "w");
  if (!w || (*w && **w == 0)) {
    return fail(Code::kBadRequest, "w must be a positive integer (the number of nodes to wait for)");
  }
  auto timeout = uint_param(req, "w_timeout");
  if (!timeout) return tl::unexpected(timeout.error());
  if (!*w || **w == 1) return std::optional<WriteConcern>();
  WriteConcern concern;
  concern.w = static_cast<size_t>(**w);
  concern.timeout = *timeout ? std::chrono::milliseconds(**timeout)
                    : ctx.mesh ? ctx.mesh->write_timeout()
                               : std::chrono::milliseconds(0);
  return std::optional<WriteConcern>(concern);
}

Task<Response> await_write_concern(WriteConcern concern, ServerContext& ctx, std::string db,
                                   std::vector<std::pair<std::string, std::string>> revs,
                                   Response answer) {
  size_t reached = 1;  // this node
  if (ctx.mesh && !revs.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + concern.timeout;
    reached += co_await ctx.mesh->count_copies(std::move(db), std::move(revs), concern.w - 1,
                                               deadline);
  } else if (revs.empty()) {
    reached = concern.w;  // nothing was written: nothing to wait for
  }
  answer.set("X-Divan-W-Reached", std::to_string(reached));
  if (reached >= concern.w) co_return answer;
  answer.result(bhttp::status::accepted);
  auto body = nlohmann::ordered_json::parse(answer.body(), nullptr, false);
  if (body.is_object()) {
    body["w_reached"] = reached;
    answer.body() = body.dump();
    answer.prepare_payload();
  }
  co_return answer;
}

Task<Response> await_write_concern(WriteConcern concern, ServerContext& ctx, const Request& req,
                                   std::string id, std::string rev, Response answer) {
  std::vector<std::pair<std::string, std::string>> revs;
  revs.emplace_back(std::move(id), std::move(rev));
  co_return co_await await_write_concern(concern, ctx, req.path().at(0), std::move(revs),
                                         std::move(answer));
}

}  // namespace divan::http::server
