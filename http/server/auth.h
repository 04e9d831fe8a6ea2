// Authentication and authorization building blocks, as CouchDB 3 does them (http-api.md §2): who a
// user is (UserCtx), password hashes (PBKDF2), Basic credentials, AuthSession cookie tokens, the
// `_security` object, and the access rules that decide, from the user, the security object and the
// kind of endpoint, whether a request may go on and which error it gets otherwise.
//
// Everything here is a pure function of its arguments (salts and secrets come in from the caller,
// the clock too), so the rules are table-tested without a server. auth_service.h holds the state
// (configured admins, the cookie secret, caches) and calls these per request.
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include <openssl/types.h>

#include "engine/error.h"

namespace divan::http::server {

// ---- Who is asking ------------------------------------------------------------------------------

// CouchDB's #user_ctx: a name (none for anonymous) and roles. Server admins have role `_admin`.
struct UserCtx {
  std::optional<std::string> name;
  std::vector<std::string> roles;

  bool has_role(std::string_view role) const;
  bool is_server_admin() const { return has_role("_admin"); }
  bool anonymous() const { return !name.has_value(); }
};

// ---- Passwords ----------------------------------------------------------------------------------

// PBKDF2 iterations for hashes we make. Each Basic or cookie login of an uncached credential costs
// one derivation on an io thread (about 5 ms at 10000 with SHA-256); verified credentials are cached
// (auth_service.h), so a keep-alive client pays it once, not per request.
inline constexpr uint32_t kPbkdf2Iterations = 10000;
// Hashes someone else wrote (a replicated _users doc, an admins file) may ask for more; beyond this
// one login would stall an io thread for seconds, so such a hash simply never verifies.
inline constexpr uint64_t kMaxPbkdf2Iterations = 10'000'000;

// A salted password hash as CouchDB stores it: derived key in lowercase hex, salt as text (CouchDB
// uses a 32-hex random string and hashes its ASCII bytes).
struct PasswordHash {
  std::string scheme = "pbkdf2";  // "pbkdf2", or "simple" (legacy sha1(password + salt))
  std::string prf = "sha256";     // pbkdf2 only: sha, sha224, sha256, sha384, sha512
  std::string derived_key;        // hex
  std::string salt;
  uint64_t iterations = kPbkdf2Iterations;
};

// PBKDF2-HMAC-<prf> of `password` and `salt` as lowercase hex, `key_length` bytes long (0: the
// digest size, as CouchDB's couch_passwords:pbkdf2). nullopt for an unknown prf or 0 iterations.
std::optional<std::string> pbkdf2_hex(std::string_view prf, std::string_view password,
                                      std::string_view salt, uint64_t iterations,
                                      size_t key_length = 0);
// A fresh hash of `password` with a random 32-hex salt (PBKDF2-SHA256).
PasswordHash hash_password(std::string_view password, uint32_t iterations = kPbkdf2Iterations);
// Constant-time check of `password` against `hash`; false for unknown schemes or absurd iteration
// counts (> kMaxPbkdf2Iterations).
bool verify_password(const PasswordHash& hash, std::string_view password);

// The admins-file / config form: "-pbkdf2:<prf>-<hex>,<salt>,<iterations>" (CouchDB 3.4+),
// "-pbkdf2-<hex>,<salt>,<iterations>" (older CouchDB: PRF sha1) or "-hashed-<sha1 hex>,<salt>"
// (legacy "simple"). nullopt when `value` is none of these (then it is a plain password).
std::optional<PasswordHash> parse_config_hash(std::string_view value);
// "-pbkdf2:<prf>-<hex>,<salt>,<iterations>" for a pbkdf2 hash.
std::string format_config_hash(const PasswordHash& hash);

// What a login is checked against: a server admin from the config, or a `_users` doc.
struct Credentials {
  std::string name;
  std::vector<std::string> roles;  // {"_admin"} for server admins
  PasswordHash hash;
};

// ---- Encodings ----------------------------------------------------------------------------------

// Hex, base64 and random bytes have one home each: base/hex.h, base/base64.h, engine/random.h.
// HMAC-SHA256 and SHA-256, raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);

// HMAC-SHA256 under one fixed key, keyed once: each digest() copies the keyed state, where the
// one-shot hmac_sha256() fetches the algorithm and hashes the key again on every call (most of
// the per-request cost of a cached Basic credential).
// Thread-safety: digest() may run on any threads at once.
class KeyedHmac {
 public:
  explicit KeyedHmac(std::string_view key);
  ~KeyedHmac();
  KeyedHmac(const KeyedHmac&) = delete;
  KeyedHmac& operator=(const KeyedHmac&) = delete;

  // hmac_sha256(key, data), raw bytes.
  std::string digest(std::string_view data) const;

 private:
  EVP_MAC_CTX* keyed_ = nullptr;
};
// Equal contents, in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

// ---- Basic credentials --------------------------------------------------------------------------

struct BasicCredentials {
  std::string name;
  std::string password;
};

// The `Authorization` header's Basic credentials (couch_httpd_auth:basic_name_pw): nullopt when the
// header is absent, not Basic, has no ':' or is the logout pair "_:_"; 400 bad_request
// "Authorization header has invalid base64 value" when it does not decode. The name ends at the
// first ':'; the password may contain ':'.
Result<std::optional<BasicCredentials>> parse_basic_authorization(std::string_view header);

// ---- AuthSession cookie tokens ------------------------------------------------------------------

// A session token is base64url("<name>:<hex unix seconds>:" + HMAC-SHA256(key, "<name>:<hex time>"))
// like CouchDB's, where key = server secret + the user's password salt, so changing a password
// ends that user's sessions.
std::string make_session_token(std::string_view name, uint64_t issued_at, std::string_view key);

struct SessionToken {
  std::string name;
  std::string time_hex;  // as sent: the MAC covers this exact text
  uint64_t issued_at = 0;
  std::string mac;       // raw bytes
};

// Splits a token; 400 bad_request "Malformed AuthSession cookie. Please clear your cookies." when
// it is not base64 or lacks the three ':'-separated parts. A bad time makes issued_at 0 (expired).
Result<SessionToken> parse_session_token(std::string_view cookie);
// MAC matches and now < issued_at + timeout.
bool verify_session_token(const SessionToken& token, std::string_view key, uint64_t now,
                          uint64_t timeout);
// True once less than 90% of the session is left: CouchDB then sends a fresh cookie.
bool session_needs_refresh(const SessionToken& token, uint64_t now, uint64_t timeout);

// The value of cookie `name` in a `Cookie:` header ("a=1; AuthSession=xyz"), if present.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

// ---- The _security object and the access rules ----------------------------------------------------

// A database's `_security` (http-api.md §4.8), read tolerantly: missing or malformed parts are empty.
struct SecurityObject {
  std::vector<std::string> admin_names;
  std::vector<std::string> admin_roles;
  std::vector<std::string> member_names;
  std::vector<std::string> member_roles;

  static SecurityObject parse(std::string_view json);
  // Members names and roles both empty: anyone may read and write non-design docs (§2.2).
  bool is_public() const { return member_names.empty() && member_roles.empty(); }
};

// couch_db:is_admin: server admin (`_admin` role), or named in admins.names, or holding one of
// admins.roles.
bool is_db_admin(const UserCtx& user, const SecurityObject& security);
// couch_db:is_member: db admin, or public db, or named in members.names / holding a members role.
bool is_member(const UserCtx& user, const SecurityObject& security);

// What an endpoint requires (chttpd_auth_request plus the checks CouchDB's handlers make).
enum class Access {
  kPublic,         // /, /_up, /_uuids, /_session
  kAuthenticated,  // /_replicate: any named user
  kServerAdmin,    // /_all_dbs, /_db_updates, other /_x, PUT/DELETE /{db}, _users/_replicator listings
  kDbAdmin,        // /{db}/_compact, /{db}/_view_cleanup (no membership check first, as CouchDB)
  kMember,         // everything else under /{db}: docs, _local docs, listings, feeds
  kMemberDbAdmin,  // member first, then db admin: PUT _security, PUT _revs_limit, design-doc writes
  kListing,        // kMember, but kServerAdmin on `_users`/`_replicator`: _all_docs, _changes
};

// The rule for a request (routes.h classify_request: the route table says which).
struct AccessTarget {
  Access access = Access::kPublic;
  std::string_view db;  // the database, for the db-level kinds; views the request's path
};

// nullopt when `user` may go on; else the CouchDB error (http-api.md §1.3, §2.2):
//   kAuthenticated  anonymous → 401 "You are not an authenticated user"
//   kServerAdmin    any non-admin → 401 "You are not a server admin."
//   kDbAdmin        non db admin → 401 "You are not a server or db admin."
//   kMember         anonymous → 401 "You are not authorized to access this db.",
//                   named non-member → 403 "You are not allowed to access this db."
//   kMemberDbAdmin  the kMember errors, then for a member who is no db admin 403 (anonymous: 401)
//                   "You are not a db or server admin."
// `security` is needed for the db-level kinds (nullptr: treated as the admin-only default).
std::optional<Error> check_access(Access access, const UserCtx& user, const SecurityObject* security);

// The design-doc write error for a user who is no db admin: 401 for anonymous, else 403,
// "You are not a db or server admin." (couch_db:check_is_admin).
Error not_db_admin_error(const UserCtx& user);

namespace auth_reason {
inline constexpr const char* kBadCredentials = "Name or password is incorrect.";
inline constexpr const char* kNotServerAdmin = "You are not a server admin.";
inline constexpr const char* kNotDbOrServerAdmin = "You are not a db or server admin.";
inline constexpr const char* kNotServerOrDbAdmin = "You are not a server or db admin.";
inline constexpr const char* kNotAuthorizedForDb = "You are not authorized to access this db.";
inline constexpr const char* kNotAllowedForDb = "You are not allowed to access this db.";
inline constexpr const char* kNotAuthenticated = "You are not an authenticated user";
}  // namespace auth_reason

}  // namespace divan::http::server
