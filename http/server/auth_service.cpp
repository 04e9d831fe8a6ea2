#include "http/server/auth_service.h"

#include <chrono>
#include <ctime>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/thread_annotations.h"
#include "engine/random.h"
#include "http/server/response.h"
#include "http/server/routes.h"
#include "http/server/users_db.h"

namespace divan::http::server {

namespace {

using bhttp::verb;

// Cache bounds: a full cache is simply emptied (entries are cheap to rebuild; an attacker cycling
// names or passwords must not grow memory without limit).
constexpr size_t kMaxCachedUsers = 10000;
constexpr size_t kMaxVerifiedPasswords = 10000;


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

}  // namespace

struct AuthService::Impl {
  AuthOptions options;
  engine::Catalog& catalog;
  std::map<std::string, std::shared_ptr<const Credentials>, std::less<>> admins;
  // Keys the password digests kept in `verified`, so the cache never holds a bare hash of one.
  const KeyedHmac cache_mac{engine::random_hex(32)};
  std::shared_ptr<const RequestAuth> party_auth;  // the shared context of an admin-party request

  struct CachedUser {
    uint64_t generation = 0;                   // `_users` update_seq when read
    std::shared_ptr<const Credentials> creds;  // null: no such user
  };
  Mutex mu;
  std::unordered_map<std::string, CachedUser> users GUARDED_BY(mu);
  // name '\0' keyed digest of the password → "derived_key,salt" it verified against.
  std::unordered_map<std::string, std::string> verified GUARDED_BY(mu);
  // The `_users` the cached entries were read from. An entry is valid while that database's
  // update_seq is still the one it was read at: the writer publishes update_seq before it answers
  // the write, so a client that changed its password is never checked against the old hash.
  std::weak_ptr<engine::Database> users_db GUARDED_BY(mu);

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
    MutexLock lock(s.mu);
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
  MutexLock lock(s.mu);
  if (s.users_db.lock() != *db) return creds;  // `_users` was replaced meanwhile: don't cache
  if (s.users.size() >= kMaxCachedUsers) s.users.clear();
  s.users[key] = Impl::CachedUser{generation, creds};
  return creds;
}

bool AuthService::check_password(const Credentials& creds, std::string_view password) {
  auto& s = *impl_;
  std::string key = creds.name;
  key.push_back('\0');
  key += s.cache_mac.digest(password);
  std::string stamp = creds.hash.derived_key + "," + creds.hash.salt;
  {
    MutexLock lock(s.mu);
    auto it = s.verified.find(key);
    if (it != s.verified.end() && it->second == stamp) return true;
  }
  if (!verify_password(creds.hash, password)) return false;  // PBKDF2: outside the lock
  MutexLock lock(s.mu);
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
  return std::nullopt;
}

void AuthService::finish_response(const Request& req, Response& res) const {
  const RequestAuth* auth = req.auth();
  if (auth && !auth->set_cookie.empty() && res.find(bhttp::field::set_cookie) == res.end()) {
    res.set(bhttp::field::set_cookie, auth->set_cookie);
  }
  if (impl_->options.cors.enabled()) add_cors_headers(impl_->options.cors, req, res);
}

engine::Writer request_writer(const Request& req) {
  const RequestAuth* auth = req.auth();
  if (!auth) return engine::Writer::node();
  return engine::Writer{auth->user.name, auth->user.roles, auth->db_admin};
}

void add_auth_headers(const Request& req, Response& res) {
  if (const RequestAuth* auth = req.auth(); auth && auth->service) {
    auth->service->finish_response(req, res);
  }
}

}  // namespace divan::http::server
