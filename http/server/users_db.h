// The `_users` database as CouchDB 3 keeps it (http-api.md §2.1; couch_users_db.erl and the
// `_design/_auth` validation function): user docs `org.couchdb.user:<name>` whose `password` is
// replaced by PBKDF2 fields before they are stored, the rules on who may write which user doc, and
// reading a user's credentials back for logins.
//
// Thread-safety: free functions; the Database calls are themselves thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/catalog.h"
#include "engine/database.h"
#include "engine/error.h"
#include "engine/write_policy.h"
#include "http/server/auth.h"

namespace divan::http::server {

inline constexpr std::string_view kUsersDb = "_users";
inline constexpr std::string_view kReplicatorDb = "_replicator";
inline constexpr std::string_view kUserDocPrefix = "org.couchdb.user:";

// Creates `_users` and `_replicator` when missing: CouchDB's system databases exist from the start
// (http-api.md §2.1). Throws std::runtime_error if one can be neither created nor opened.
void ensure_system_databases(engine::Catalog& catalog);

// couch_users_db:save_doc: a string `password` in `doc` (an object) is replaced by
// password_scheme "pbkdf2", pbkdf2_prf "sha256", salt, iterations and derived_key, placed first;
// older password fields go (`preserve_salt: true` keeps the salt). No `password` or a null one:
// unchanged. Returns whether `doc` changed; 400 bad_request when `password` is not a string.
Result<bool> hash_user_doc_password(nlohmann::ordered_json& doc);

// The `_design/_auth` validation of a normal (non-design, non-local) doc written to `_users`, plus
// couch_users_db:before_doc_update's ownership rule. `doc` is the new body (may lack `_id`; `id` is
// authoritative), `old` the current winner body or nullptr, `admin` whether `user` is a server or
// `_users` db admin. nullopt when allowed; else forbidden (or not_found "missing" for a named
// non-admin writing someone else's doc, as CouchDB answers).
std::optional<Error> validate_user_doc_write(const nlohmann::ordered_json& doc, std::string_view id,
                                             bool deleted, const nlohmann::ordered_json* old,
                                             const UserCtx& user, bool admin);

// The engine's write rules for `_users` (engine/write_policy.h), so every writer (an HTTP handler,
// a replication, a tool) goes through them: prepare() hashes a `password` into PBKDF2 fields
// (hash_user_doc_password), validate() applies validate_user_doc_write to normal (non-design)
// docs against the current winner.
class UsersDbPolicy final : public engine::WritePolicy {
 public:
  Result<void> prepare(engine::DocUpdate& update, const engine::Writer& writer) const override;
  std::optional<Error> validate(const engine::DocUpdate& update,
                                const std::optional<std::string>& old_body,
                                const engine::Writer& writer) const override;
};

// The write rules of the node's system databases, by name: UsersDbPolicy for `_users`,
// replicator::ReplicatorDbPolicy for `_replicator` and `*/_replicator`, nothing for the others. For CatalogOptions::write_policies; every Catalog of a node gets it.
engine::WritePolicies system_write_policies();

// The body of `id`'s winning revision, nullopt when absent or deleted.
std::optional<nlohmann::ordered_json> read_winner_body(engine::Database& db, std::string_view id);

// A user's login data from its `_users` doc body: nullopt unless it has a usable password hash.
std::optional<Credentials> credentials_from_user_doc(std::string_view name,
                                                     const nlohmann::ordered_json& body);

}  // namespace divan::http::server
