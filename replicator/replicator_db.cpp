#include "replicator/replicator_db.h"

#include <optional>
#include <string>

#include "engine/doc_json.h"
#include "replicator/spec.h"

namespace divan::replicator {

namespace {

constexpr const char* kOtherUsersDoc = "Can't update replication documents from other users.";

bool admin(const engine::Writer& writer) { return writer.server_admin() || writer.db_admin; }

std::optional<std::string> owner_of(const Json& body) {
  auto it = body.find("owner");
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Only interactive writes of replication documents are the user's to get right.
bool checked(const engine::DocUpdate& update) {
  return !update.replicated() && !update.deleted() &&
         !update.id().starts_with(engine::kDesignPrefix);
}

}  // namespace

bool is_replicator_db(std::string_view db_name) {
  return db_name == kReplicatorDb ||
         (db_name.size() > kReplicatorDb.size() && db_name.ends_with(kReplicatorDb) &&
          db_name[db_name.size() - kReplicatorDb.size() - 1] == '/');
}

Result<void> ReplicatorDbPolicy::prepare(engine::DocUpdate& update,
                                         const engine::Writer& writer) const {
  if (!checked(update)) return {};
  Json body = Json::parse(update.body(), nullptr, false);
  if (!body.is_object()) return {};  // validate() refuses it
  auto owner = owner_of(body);
  if (owner) {
    if (*owner != writer.name && !admin(writer)) return fail(Code::kForbidden, kOtherUsersDoc);
    return {};
  }
  if (!writer.name) return {};
  body["owner"] = *writer.name;
  auto stamped = std::move(update).with_body(body);
  if (!stamped) return tl::unexpected(stamped.error());
  update = std::move(*stamped);
  return {};
}

std::optional<Error> ReplicatorDbPolicy::validate(const engine::DocUpdate& update,
                                                  const std::optional<std::string>& old_body,
                                                  const engine::Writer& writer) const {
  if (update.replicated() || update.id().starts_with(engine::kDesignPrefix)) return std::nullopt;
  if (!admin(writer) && old_body) {
    Json old = Json::parse(*old_body, nullptr, false);
    auto owner = old.is_object() ? owner_of(old) : std::nullopt;
    if (owner && *owner != writer.name) return Error{Code::kForbidden, kOtherUsersDoc};
  }
  if (!checked(update)) return std::nullopt;
  Json body = Json::parse(update.body(), nullptr, false);
  if (body.is_object()) {
    auto state = body.find("_replication_state");
    if (state != body.end() && *state == "failed") return std::nullopt;
  }
  body["_id"] = update.id();
  auto spec = parse_replicator_doc(body);
  if (!spec) return Error{Code::kForbidden, spec.error().reason};
  // Ours: a filter Divan cannot run is refused now rather than failing the job later.
  if (auto supported = check_filter_supported(*spec); !supported) {
    return Error{Code::kForbidden, supported.error().reason};
  }
  return std::nullopt;
}

}  // namespace divan::replicator
