// The node's authentication and authorization service (http-api.md §2): configured server admins,
// the AuthSession secret, credential caches and CORS, plus the per-request steps the server runs
// around every handler:
//
//   before_route()     CORS preflight → authenticate (AuthSession cookie, then Basic) → the access
//                      rules of auth.h against the database's `_security`. A Response comes back
//                      when the request must not reach its handler. (What a `_users` write may
//                      contain is the engine's to enforce, for every writer: users_db.h.)
//   finish_response()  a refreshed AuthSession cookie and the CORS headers.
//
// With no admin configured every request runs as admin ("admin party", as CouchDB), yet wrong
// credentials still get 401 and `_users` users still log in as themselves.
//
// Thread-safety: every method may be called from any thread; the configuration is immutable and the
// caches take an internal mutex (never held across a PBKDF2 derivation or a database read).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/catalog.h"
#include "engine/database.h"
#include "http/server/auth.h"
#include "http/server/cors.h"
#include "http/server/handler.h"
#include "http/server/request.h"

namespace divan::http::server {

struct AuthOptions {
  std::vector<Credentials> admins;  // server admins, hashes only; empty: admin party
  std::string secret;               // AuthSession HMAC secret (auth_config.h keeps it on disk)
  uint64_t session_timeout = 600;   // seconds a cookie stays valid (CouchDB's default)
  CorsOptions cors;
};

// Who sent a request, as before_route() established it; Request::auth() hands it to handlers.
struct RequestAuth {
  UserCtx user;
  std::string_view authenticated;  // "cookie", "default" (Basic or admin party), "" anonymous
  std::string set_cookie;          // a fresh AuthSession cookie for the response, when due
  bool db_admin = true;            // may write design docs (and any `_users` doc) of the path's db
  const AuthService* service = nullptr;  // the service that set this up
};

// Who a request writes as, for the engine's write rules (engine/write_policy.h): its user, and
// whether that user is an admin of the path's database. The node itself without an AuthService.
engine::Writer request_writer(const Request& req);

// finish_response() for a handler that sends its own response header (a streamed feed): call it
// on the header before sending. No-op when the request went through no AuthService.
void add_auth_headers(const Request& req, Response& res);

class AuthService {
 public:
  AuthService(AuthOptions options, engine::Catalog& catalog);
  ~AuthService();
  AuthService(const AuthService&) = delete;
  AuthService& operator=(const AuthService&) = delete;

  bool admin_party() const;
  uint64_t session_timeout() const;

  // Runs before routing; sets req.auth(). Returns the answer to send instead of routing: a CORS
  // preflight 204, 400 for a malformed Authorization/AuthSession, 401/403/404 per the access rules.
  std::optional<Response> before_route(Request& req);
  // Adds a refreshed AuthSession cookie (unless the handler set one) and the CORS headers.
  void finish_response(const Request& req, Response& res) const;

  // The login data for `name`: a configured admin, else the `_users` doc (cached until `_users`
  // next commits); nullptr when there is none.
  std::shared_ptr<const Credentials> find_credentials(std::string_view name);
  // Whether `password` is `creds`'s. A verified (name, password) pair is remembered, keyed by a
  // keyed digest of the password, so repeated logins skip PBKDF2.
  bool check_password(const Credentials& creds, std::string_view password);
  // `Set-Cookie` values: a new session for `creds` issued at `now`, and the emptied cookie.
  std::string session_cookie(const Credentials& creds, uint64_t now) const;
  static std::string clear_session_cookie();
  static uint64_t now_seconds();

 private:
  std::optional<Response> before_route_checks(Request& req);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace divan::http::server
