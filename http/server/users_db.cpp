#include "http/server/users_db.h"

#include <algorithm>
#include <stdexcept>

#include "engine/doc_json.h"
#include "replicator/replicator_db.h"

namespace divan::http::server {

using Json = nlohmann::ordered_json;

namespace {

Error forbidden(std::string reason) { return Error{Code::kForbidden, std::move(reason)}; }

// The fields couch_users_db:remove_password_fields drops before writing fresh ones.
bool is_password_field(std::string_view key) {
  for (std::string_view f : {"derived_key", "iterations", "password", "password_scheme",
                             "password_sha", "preserve_salt", "pbkdf2_prf", "salt"}) {
    if (key == f) return true;
  }
  return false;
}

std::optional<std::string> string_field(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::vector<std::string> sorted_roles(const Json* doc) {
  std::vector<std::string> roles;
  if (!doc) return roles;
  auto it = doc->find("roles");
  if (it == doc->end() || !it->is_array()) return roles;
  for (const auto& r : *it) roles.push_back(r.is_string() ? r.get<std::string>() : r.dump());
  std::sort(roles.begin(), roles.end());
  return roles;
}

}  // namespace

void ensure_system_databases(engine::Catalog& catalog) {
  for (std::string_view name : {kUsersDb, kReplicatorDb}) {
    if (catalog.open(name)) continue;
    auto created = catalog.create(name);
    if (!created && created.error().code != Code::kFileExists) {
      throw std::runtime_error("cannot create " + std::string(name) + ": " + created.error().reason);
    }
  }
}

Result<bool> hash_user_doc_password(Json& doc) {
  auto password = doc.find("password");
  if (password == doc.end() || password->is_null()) return false;
  if (!password->is_string()) return fail(Code::kBadRequest, "password must be a string");
  std::string clear = password->get<std::string>();
  PasswordHash hash = hash_password(clear);
  auto preserve = doc.find("preserve_salt");
  if (preserve != doc.end() && preserve->is_boolean() && preserve->get<bool>()) {
    if (auto salt = string_field(doc, "salt")) {
      hash.salt = *salt;
      hash.derived_key = *pbkdf2_hex(hash.prf, clear, hash.salt, hash.iterations);
    }
  }
  Json out = Json::object();
  out["password_scheme"] = "pbkdf2";
  out["pbkdf2_prf"] = hash.prf;
  out["salt"] = hash.salt;
  out["iterations"] = hash.iterations;
  out["derived_key"] = hash.derived_key;
  for (auto& [key, value] : doc.items()) {
    if (!is_password_field(key)) out[key] = std::move(value);
  }
  doc = std::move(out);
  return true;
}

// spec: http-api.md §2.1; CouchDB's _design/_auth validate_doc_update, in its order.
std::optional<Error> validate_user_doc_write(const Json& doc, std::string_view id, bool deleted,
                                             const Json* old, const UserCtx& user, bool admin) {
  std::optional<std::string> doc_name = id.starts_with(kUserDocPrefix)
                                            ? std::optional<std::string>(id.substr(kUserDocPrefix.size()))
                                            : std::nullopt;
  // couch_users_db:before_doc_update: a named non-admin may only write its own doc.
  if (!admin && user.name && doc_name != user.name) return Error{Code::kNotFound, reason::kMissing};

  if (deleted) {
    std::optional<std::string> old_name = old ? string_field(*old, "name") : std::nullopt;
    if (admin || (user.name && old_name == user.name)) return std::nullopt;
    return forbidden("Only admins may delete other user docs.");
  }
  if (string_field(doc, "type") != "user") return forbidden("doc.type must be user");
  auto name = string_field(doc, "name");
  if (!name || name->empty()) return forbidden("doc.name is required");
  auto roles = doc.find("roles");
  if (roles == doc.end() || roles->is_null()) return forbidden("doc.roles must exist");
  if (!roles->is_array()) return forbidden("doc.roles must be an array");
  for (const auto& role : *roles) {
    if (!role.is_string()) return forbidden("doc.roles can only contain strings");
  }
  if (id != std::string(kUserDocPrefix) + *name) {
    return forbidden("Doc ID must be of the form org.couchdb.user:name");
  }
  if (old && string_field(*old, "name") != name) return forbidden("Usernames can not be changed.");
  if (doc.contains("password_sha") && !doc.contains("salt")) {
    return forbidden("Users with password_sha must have a salt.");
  }
  if (string_field(doc, "password_scheme") == "pbkdf2") {
    auto it = doc.find("iterations");
    if (it == doc.end() || !it->is_number()) return forbidden("iterations must be a number.");
    if (!string_field(doc, "derived_key")) return forbidden("derived_key must be a string.");
  }
  if (!admin) {
    if (old) {
      if (user.name != name) return forbidden("You may only update your own user document.");
      if (sorted_roles(old) != sorted_roles(&doc)) return forbidden("Only _admin may edit roles");
    } else if (!roles->empty()) {
      return forbidden("Only _admin may set roles");
    }
  }
  for (const auto& role : *roles) {
    const std::string& r = role.get_ref<const std::string&>();
    if (r != "_metrics" && r.starts_with('_')) {
      return forbidden("No system roles (starting with underscore) in users db.");
    }
  }
  if (name->starts_with('_')) return forbidden("Username may not start with underscore.");
  if (name->find(':') != std::string::npos) {
    return forbidden("Character `:` is not allowed in usernames.");
  }
  return std::nullopt;
}

Result<void> UsersDbPolicy::prepare(engine::DocUpdate& update, const engine::Writer&) const {
  if (update.id().starts_with(engine::kDesignPrefix)) return {};
  Json body = Json::parse(update.body(), nullptr, false);
  if (!body.is_object()) return {};
  auto hashed = hash_user_doc_password(body);
  if (!hashed) return tl::unexpected(hashed.error());
  if (!*hashed) return {};
  auto rewritten = std::move(update).with_body(body);
  if (!rewritten) return tl::unexpected(rewritten.error());
  update = std::move(*rewritten);
  return {};
}

std::optional<Error> UsersDbPolicy::validate(const engine::DocUpdate& update,
                                             const std::optional<std::string>& old_body,
                                             const engine::Writer& writer) const {
  if (update.id().starts_with(engine::kDesignPrefix)) return std::nullopt;
  Json body = Json::parse(update.body(), nullptr, false);
  if (!body.is_object()) body = Json::object();
  std::optional<Json> old;
  if (old_body) {
    old = Json::parse(*old_body, nullptr, false);
    if (!old->is_object()) old.reset();
  }
  UserCtx user{writer.name, writer.roles};
  return validate_user_doc_write(body, update.id(), update.deleted(), old ? &*old : nullptr, user,
                                 writer.db_admin);
}

engine::WritePolicies system_write_policies() {
  auto users = std::make_shared<const UsersDbPolicy>();
  auto replications = std::make_shared<const replicator::ReplicatorDbPolicy>();
  return [users, replications](std::string_view db) -> std::shared_ptr<const engine::WritePolicy> {
    if (db == kUsersDb) return users;
    if (replicator::is_replicator_db(db)) return replications;
    return nullptr;
  };
}

std::optional<Json> read_winner_body(engine::Database& db, std::string_view id) {
  auto snapshot = db.snapshot();
  if (!snapshot) return std::nullopt;
  auto doc = snapshot->doc(id);
  if (!doc || doc->tree.empty()) return std::nullopt;
  revtree::Leaf winner = doc->tree.winner();
  if (winner.deleted) return std::nullopt;
  auto body = snapshot->body(id, winner.rev);
  if (!body) return std::nullopt;
  auto json = Json::parse(*body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

std::optional<Credentials> credentials_from_user_doc(std::string_view name, const Json& body) {
  Credentials creds;
  creds.name = std::string(name);
  if (auto roles = body.find("roles"); roles != body.end() && roles->is_array()) {
    for (const auto& role : *roles) {
      if (role.is_string()) creds.roles.push_back(role.get<std::string>());
    }
  }
  auto salt = string_field(body, "salt");
  if (!salt) return std::nullopt;
  creds.hash.salt = *salt;
  std::string scheme = string_field(body, "password_scheme").value_or("simple");
  if (scheme == "pbkdf2") {
    auto key = string_field(body, "derived_key");
    auto iterations = body.find("iterations");
    if (!key || iterations == body.end() || !iterations->is_number_unsigned()) return std::nullopt;
    creds.hash.scheme = "pbkdf2";
    creds.hash.prf = string_field(body, "pbkdf2_prf").value_or("sha");
    creds.hash.derived_key = *key;
    creds.hash.iterations = iterations->get<uint64_t>();
  } else if (scheme == "simple") {
    auto sha = string_field(body, "password_sha");
    if (!sha) return std::nullopt;
    creds.hash.scheme = "simple";
    creds.hash.derived_key = *sha;
  } else {
    return std::nullopt;
  }
  return creds;
}

}  // namespace divan::http::server
