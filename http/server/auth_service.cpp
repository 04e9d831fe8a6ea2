#include "http/server/auth_service.h"

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "http/server/response.h"
#include "http/server/users_db.h"

namespace divan::http::server {

using Json = nlohmann::ordered_json;

namespace {

using bhttp::verb;

// Cache bounds: a full cache is simply emptied (entries are cheap to rebuild; an attacker cycling
// names or passwords must not grow memory without limit).
constexpr size_t kMaxCachedUsers = 10000;
constexpr size_t kMaxVerifiedPasswords = 10000;

constexpr std::string_view kDesignPrefix = "_design/";
constexpr std::string_view kLocalPrefix = "_local/";

const std::vector<std::string> kAdminRoles{"_admin"};

std::string http_date(uint64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

bool is_plain_doc_id(std::string_view id) { return !id.empty() && id.front() != '_'; }

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool multipart(const Request& req) {
  std::string_view type = req.header(bhttp::field::content_type);
  return type.size() >= 9 && (type.substr(0, 9) == "multipart" || type.substr(0, 9) == "Multipart");
}

}  // namespace

struct AuthService::Impl {
  AuthOptions options;
  engine::Catalog& catalog;
  std::map<std::string, std::shared_ptr<const Credentials>, std::less<>> admins;
  // Keys the password digests kept in `verified`, so the cache never holds a bare hash of one.
  const std::string cache_key = random_hex(32);
  std::shared_ptr<const RequestAuth> party_auth;  // the shared context of an admin-party request

  struct CachedUser {
    uint64_t generation = 0;                   // `_users` update_seq when read
    std::shared_ptr<const Credentials> creds;  // null: no such user
  };
  std::mutex mu;
  std::unordered_map<std::string, CachedUser> users;  // GUARDED_BY(mu)
  // name '\0' keyed digest of the password → "derived_key,salt" it verified against.
  std::unordered_map<std::string, std::string> verified;  // GUARDED_BY(mu)
  // The `_users` the cached entries were read from. An entry is valid while that database's
  // update_seq is still the one it was read at: the writer publishes update_seq before it answers
  // the write, so a client that changed its password is never checked against the old hash.
  std::weak_ptr<engine::Database> users_db;  // GUARDED_BY(mu)

  Impl(AuthOptions opts, engine::Catalog& cat) : options(std::move(opts)), catalog(cat) {
    for (auto& admin : options.admins) {
      admin.roles = kAdminRoles;
      admins[admin.name] = std::make_shared<const Credentials>(admin);
    }
    auto party = std::make_shared<RequestAuth>();
    party->user.roles = kAdminRoles;
    party->authenticated = "default";
    party_auth = std::move(party);
  }
  void set_service(const AuthService* self) {
    std::const_pointer_cast<RequestAuth>(party_auth)->service = self;
  }

  Result<std::shared_ptr<const RequestAuth>> authenticate(const Request& req, AuthService& self);
  std::optional<Error> authorize(const Request& req, RequestAuth& auth);
  struct UsersVerdict {
    bool allow = false;          // own doc: no membership needed
    std::optional<Error> error;  // refused
  };
  UsersVerdict users_doc_rules(const Request& req, const RequestAuth& auth,
                               const SecurityObject& security);
  std::optional<Error> prepare_users_write(Request& req, const RequestAuth& auth);
};

// ---- Authentication -----------------------------------------------------------------------------

// spec: http-api.md §2.1. CouchDB's handler order: the AuthSession cookie first, then Basic; with
// neither, admin party makes everyone admin and otherwise the request is anonymous.
Result<std::shared_ptr<const RequestAuth>> AuthService::Impl::authenticate(const Request& req,
                                                                           AuthService& self) {
  std::string_view cookies = req.header(bhttp::field::cookie);
  if (!cookies.empty()) {
    auto value = cookie_value(cookies, "AuthSession");
    if (value && !value->empty()) {
      auto token = parse_session_token(*value);
      if (!token) return tl::unexpected(token.error());
      uint64_t now = now_seconds();
      auto creds = self.find_credentials(token->name);
      if (creds && verify_session_token(*token, options.secret + creds->hash.salt, now,
                                        options.session_timeout)) {
        auto auth = std::make_shared<RequestAuth>();
        auth->user.name = creds->name;
        auth->user.roles = creds->roles;
        auth->authenticated = "cookie";
        if (session_needs_refresh(*token, now, options.session_timeout)) {
          auth->set_cookie = self.session_cookie(*creds, now);
        }
        return std::shared_ptr<const RequestAuth>(std::move(auth));
      }
      // An expired or foreign cookie is ignored, as CouchDB does: the next handler decides.
    }
  }
  auto basic = parse_basic_authorization(req.header(bhttp::field::authorization));
  if (!basic) return tl::unexpected(basic.error());
  if (*basic) {
    auto creds = self.find_credentials((*basic)->name);
    if (!creds || !self.check_password(*creds, (*basic)->password)) {
      return fail(Code::kUnauthorized, auth_reason::kBadCredentials);
    }
    auto auth = std::make_shared<RequestAuth>();
    auth->user.name = creds->name;
    auth->user.roles = creds->roles;
    auth->authenticated = "default";
    return std::shared_ptr<const RequestAuth>(std::move(auth));
  }
  if (admins.empty()) return party_auth;
  return std::shared_ptr<const RequestAuth>(std::make_shared<RequestAuth>());
}

std::shared_ptr<const Credentials> AuthService::find_credentials(std::string_view name) {
  auto& s = *impl_;
  if (auto it = s.admins.find(name); it != s.admins.end()) return it->second;
  auto db = s.catalog.open(kUsersDb);
  if (!db) return nullptr;
  std::string key(name);
  // Taken before the read: a commit racing with it leaves the entry stale, read again next time.
  uint64_t generation = (*db)->update_seq();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.users_db.lock() != *db) {
      s.users_db = *db;  // first use, or `_users` was deleted and created again
      s.users.clear();
    }
    auto it = s.users.find(key);
    if (it != s.users.end() && it->second.generation == generation) return it->second.creds;
  }
  std::shared_ptr<const Credentials> creds;
  if (auto body = read_winner_body(**db, std::string(kUserDocPrefix) + key)) {
    if (auto parsed = credentials_from_user_doc(name, *body)) {
      creds = std::make_shared<const Credentials>(std::move(*parsed));
    }
  }
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.users_db.lock() != *db) return creds;  // `_users` was replaced meanwhile: don't cache
  if (s.users.size() >= kMaxCachedUsers) s.users.clear();
  s.users[key] = Impl::CachedUser{generation, creds};
  return creds;
}

bool AuthService::check_password(const Credentials& creds, std::string_view password) {
  auto& s = *impl_;
  std::string key = creds.name;
  key.push_back('\0');
  key += hmac_sha256(s.cache_key, password);
  std::string stamp = creds.hash.derived_key + "," + creds.hash.salt;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.verified.find(key);
    if (it != s.verified.end() && it->second == stamp) return true;
  }
  if (!verify_password(creds.hash, password)) return false;  // PBKDF2: outside the lock
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.verified.size() >= kMaxVerifiedPasswords) s.verified.clear();
  s.verified[key] = std::move(stamp);
  return true;
}

std::string AuthService::session_cookie(const Credentials& creds, uint64_t now) const {
  uint64_t timeout = impl_->options.session_timeout;
  std::string token = make_session_token(creds.name, now, impl_->options.secret + creds.hash.salt);
  return "AuthSession=" + token + "; Version=1; Expires=" + http_date(now + timeout) +
         "; Max-Age=" + std::to_string(timeout) + "; Path=/; HttpOnly";
}

std::string AuthService::clear_session_cookie() {
  return "AuthSession=; Version=1; Path=/; HttpOnly";
}

uint64_t AuthService::now_seconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// ---- Authorization ------------------------------------------------------------------------------

// spec: http-api.md §2.2.
std::optional<Error> AuthService::Impl::authorize(const Request& req, RequestAuth& auth) {
  if (auth.user.is_server_admin()) return std::nullopt;
  AccessTarget target = classify_request(req.method(), req.path());
  if (target.access == Access::kPublic || target.access == Access::kAuthenticated ||
      target.access == Access::kServerAdmin) {
    auth.db_admin = false;
    return check_access(target.access, auth.user, nullptr);
  }
  auto db = catalog.open(target.db);
  if (!db) {
    auth.db_admin = false;
    return std::nullopt;  // the handler answers 404 "Database does not exist." (or 400)
  }
  SecurityObject security = SecurityObject::parse((*db)->security());
  auth.db_admin = is_db_admin(auth.user, security);
  if (auth.db_admin) return std::nullopt;
  if (target.db == kUsersDb) {
    UsersVerdict verdict = users_doc_rules(req, auth, security);
    if (verdict.allow || verdict.error) return verdict.error;
  }
  if (auto error = check_access(target.access, auth.user, &security)) return error;
  // POST /{db} of a design doc is a design-doc write too; only its body says so.
  const auto& path = req.path();
  if (path.size() == 1 && req.method() == verb::post && !multipart(req)) {
    auto json = Json::parse(req.body(), nullptr, false);
    if (json.is_object()) {
      auto id = json.find("_id");
      if (id != json.end() && id->is_string() &&
          id->get_ref<const std::string&>().starts_with(kDesignPrefix)) {
        return not_db_admin_error(auth.user);
      }
    }
  }
  return std::nullopt;
}

// `_users` doc paths for users who are no `_users` admin (couch_users_db before_doc_update /
// after_doc_read): one's own doc needs no membership; another user's doc reads and writes as
// 404 "missing" (anonymous may create one when the db is open to it: signup); design docs are
// admin-only even to read. Neither allow nor error: the ordinary rules decide.
AuthService::Impl::UsersVerdict AuthService::Impl::users_doc_rules(const Request& req,
                                                                   const RequestAuth& auth,
                                                                   const SecurityObject& security) {
  const auto& path = req.path();
  if (path.size() < 2) return {};
  verb method = req.method() == verb::head ? verb::get : req.method();
  const std::string& id = path[1];
  const auto& user = auth.user;
  if (id == "_design" && path.size() >= 3 && method == verb::get) {
    if (auto error = check_access(Access::kMember, user, &security)) return {false, error};
    return {false, Error{Code::kForbidden,
                         "Only administrators can view design docs in the users database."}};
  }
  if (!is_plain_doc_id(id)) return {};
  if (user.name && id == std::string(kUserDocPrefix) + *user.name) return {true, std::nullopt};
  if (auto error = check_access(Access::kMember, user, &security)) return {false, error};
  if (method == verb::get || user.name) return {false, Error{Code::kNotFound, reason::kMissing}};
  return {};  // anonymous write of a user doc: the _auth rules decide (signup)
}

// ---- `_users` writes ----------------------------------------------------------------------------

// PUT/DELETE /_users/{id} and POST /_users: hash `password` and apply the user-doc rules before the
// handler stores anything. POST /_users/_bulk_docs: hash every doc's password here; the rules run
// per doc in take_denied_writes().
std::optional<Error> AuthService::Impl::prepare_users_write(Request& req, const RequestAuth& auth) {
  const auto& path = req.path();
  if (path.empty() || path[0] != kUsersDb) return std::nullopt;
  verb method = req.method();
  bool single_doc = path.size() == 2 && is_plain_doc_id(path[1]) &&
                    (method == verb::put || method == verb::delete_);
  bool post_doc = path.size() == 1 && method == verb::post;
  bool bulk = path.size() == 2 && path[1] == "_bulk_docs" && method == verb::post;
  if (!single_doc && !post_doc && !bulk) return std::nullopt;
  if (multipart(req)) {
    // Replicated user docs (multipart/related PUT) carry hashes already; only admins may push them.
    if (!auth.db_admin) return Error{Code::kForbidden, "Only admins may replicate user docs."};
    return std::nullopt;
  }
  auto db = catalog.open(kUsersDb);
  if (!db) return std::nullopt;

  if (bulk) {
    auto json = Json::parse(req.body(), nullptr, false);
    if (!json.is_object()) return std::nullopt;  // the handler reports the bad body
    auto docs = json.find("docs");
    if (docs == json.end() || !docs->is_array()) return std::nullopt;
    bool changed = false;
    for (auto& doc : *docs) {
      if (!doc.is_object()) continue;
      auto hashed = hash_user_doc_password(doc);
      if (!hashed) return hashed.error();
      changed = changed || *hashed;
    }
    if (changed) req.mutable_body() = dump(json);
    return std::nullopt;
  }

  Json doc = Json::object();
  if (method != verb::delete_) {
    doc = Json::parse(req.body(), nullptr, false);
    if (!doc.is_object()) return std::nullopt;  // the handler reports the bad body
  }
  std::string id;
  if (single_doc) {
    id = path[1];
  } else if (auto it = doc.find("_id"); it != doc.end() && it->is_string()) {
    id = it->get<std::string>();
    if (id.starts_with(kDesignPrefix) || id.starts_with(kLocalPrefix)) return std::nullopt;
  }
  bool deleted = method == verb::delete_;
  if (auto it = doc.find("_deleted"); it != doc.end() && it->is_boolean()) {
    deleted = deleted || it->get<bool>();
  }
  auto hashed = hash_user_doc_password(doc);
  if (!hashed) return hashed.error();
  auto old = id.empty() ? std::nullopt : read_winner_body(**db, id);
  if (auto error = validate_user_doc_write(doc, id, deleted, old ? &*old : nullptr, auth.user,
                                           auth.db_admin)) {
    return error;
  }
  if (*hashed) req.mutable_body() = dump(doc);
  return std::nullopt;
}

// ---- The service --------------------------------------------------------------------------------

AuthService::AuthService(AuthOptions options, engine::Catalog& catalog)
    : impl_(std::make_unique<Impl>(std::move(options), catalog)) {
  impl_->set_service(this);
}

AuthService::~AuthService() = default;

bool AuthService::admin_party() const { return impl_->admins.empty(); }

uint64_t AuthService::session_timeout() const { return impl_->options.session_timeout; }

std::optional<Response> AuthService::before_route(Request& req) {
  // Reads of `_users` and `_security` may throw on I/O errors, like any handler's reads.
  try {
    return before_route_checks(req);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: auth error: {}", req.method_string(), req.target(), e.what());
    return error_response({Code::kInternal, e.what()});
  }
}

std::optional<Response> AuthService::before_route_checks(Request& req) {
  auto& s = *impl_;
  if (req.method() == verb::options && s.options.cors.enabled()) {
    if (auto preflight = cors_preflight(s.options.cors, req)) return preflight;
  }
  auto authenticated = s.authenticate(req, *this);
  if (!authenticated) return error_response(authenticated.error());
  if (*authenticated == s.party_auth) {
    req.set_auth(s.party_auth);
  } else {
    // Non-admin contexts get their per-database verdict (db_admin) filled in below.
    auto auth = std::const_pointer_cast<RequestAuth>(std::move(*authenticated));
    auth->service = this;
    auto error = s.authorize(req, *auth);
    req.set_auth(auth);
    if (error) return error_response(*error);
  }
  if (!req.path().empty() && req.path()[0] == kUsersDb) {
    if (auto error = s.prepare_users_write(req, *req.auth())) return error_response(*error);
  }
  return std::nullopt;
}

void AuthService::finish_response(const Request& req, Response& res) const {
  const RequestAuth* auth = req.auth();
  if (auth && !auth->set_cookie.empty() && res.find(bhttp::field::set_cookie) == res.end()) {
    res.set(bhttp::field::set_cookie, auth->set_cookie);
  }
  if (impl_->options.cors.enabled()) add_cors_headers(impl_->options.cors, req, res);
}

void add_auth_headers(const Request& req, Response& res) {
  if (const RequestAuth* auth = req.auth(); auth && auth->service) {
    auth->service->finish_response(req, res);
  }
}

// ---- Hooks for the write handlers ---------------------------------------------------------------

DeniedWrites take_denied_writes(const Request& req, ServerContext& ctx,
                                std::vector<engine::WriteOp>& ops) {
  DeniedWrites denied;
  const RequestAuth* auth = req.auth();
  if (!auth || req.path().empty()) return denied;
  bool users_db = req.path()[0] == kUsersDb;
  if (auth->db_admin && !users_db) return denied;  // the common case: nothing to check

  std::shared_ptr<engine::Database> db;
  if (users_db) {
    if (auto opened = ctx.catalog.open(kUsersDb)) db = *opened;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    std::optional<Error> error;
    std::string rev;
    if (const auto* update = std::get_if<engine::DocUpdate>(&ops[i])) {
      if (update->revisions() && !update->revisions()->ids.empty()) {
        rev = update->revisions()->newest().str();
      }
      if (update->id().starts_with(kDesignPrefix)) {
        if (!auth->db_admin) error = not_db_admin_error(auth->user);
      } else if (users_db && db) {
        auto body = Json::parse(update->body(), nullptr, false);
        if (!body.is_object()) body = Json::object();
        auto old = read_winner_body(*db, update->id());
        error = validate_user_doc_write(body, update->id(), update->deleted(), old ? &*old : nullptr,
                                        auth->user, auth->db_admin);
      }
    }
    if (error) denied.items.push_back({i, std::move(*error), std::move(rev)});
  }
  if (denied.items.empty()) return denied;
  std::vector<engine::WriteOp> kept;
  kept.reserve(ops.size() - denied.items.size());
  auto next_denied = denied.items.begin();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (next_denied != denied.items.end() && next_denied->index == i) {
      ++next_denied;
    } else {
      kept.push_back(std::move(ops[i]));
    }
  }
  ops = std::move(kept);
  return denied;
}

void restore_denied_writes(std::vector<engine::WriteOutcome>& outcomes, DeniedWrites&& denied) {
  if (denied.items.empty()) return;
  std::vector<engine::WriteOutcome> merged;
  merged.reserve(outcomes.size() + denied.items.size());
  size_t next = 0;
  for (auto& item : denied.items) {
    while (merged.size() < item.index && next < outcomes.size()) {
      merged.push_back(std::move(outcomes[next++]));
    }
    engine::WriteOutcome outcome;
    outcome.error = std::move(item.error);
    outcome.rev = std::move(item.rev);
    merged.push_back(std::move(outcome));
  }
  while (next < outcomes.size()) merged.push_back(std::move(outcomes[next++]));
  outcomes = std::move(merged);
}

}  // namespace divan::http::server
