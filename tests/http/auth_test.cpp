// Admins, sessions, users, _security and CORS (http-api.md §2, §4.8): the pure pieces of auth.h
// (PBKDF2, Basic, cookie tokens, the access-rule table), the `_users` doc rules, CORS, and a few
// requests through the route table with an AuthService attached.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>

#include "base/base64.h"
#include "engine/random.h"
#include "base/hex.h"
#include "http/server/auth.h"
#include "http/server/auth_config.h"
#include "http/server/auth_service.h"
#include "http/server/cors.h"
#include "http/server/errors.h"
#include "http/server/response.h"
#include "http/server/routes.h"
#include "http/server/users_db.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::status;
using bhttp::verb;

// ---- PBKDF2 -------------------------------------------------------------------------------------

TEST_CASE("PBKDF2 known vectors (RFC 6070 for SHA-1; the same inputs for SHA-256)") {
  CHECK(pbkdf2_hex("sha", "password", "salt", 1, 20) == "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  CHECK(pbkdf2_hex("sha", "password", "salt", 2, 20) == "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
  CHECK(pbkdf2_hex("sha", "password", "salt", 4096, 20) ==
        "4b007901b765489abead49d926f721d065a429c1");
  CHECK(pbkdf2_hex("sha256", "password", "salt", 1) ==
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  CHECK(pbkdf2_hex("sha256", "password", "salt", 2) ==
        "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
  CHECK(pbkdf2_hex("sha256", "password", "salt", 4096) ==
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  // Python: hashlib.pbkdf2_hmac('sha256', b'passwordPASSWORDpassword', b'saltSALT…salt', 4096, 40)
  CHECK(pbkdf2_hex("sha256", "passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt",
                   4096, 40) ==
        "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9");
  CHECK_FALSE(pbkdf2_hex("md5", "password", "salt", 1));
  CHECK_FALSE(pbkdf2_hex("sha256", "password", "salt", 0));
}

TEST_CASE("KeyedHmac: HMAC-SHA256 under a fixed key (RFC 4231 case 2), as the one-shot form") {
  const KeyedHmac jefe("Jefe");
  CHECK(to_hex(jefe.digest("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const KeyedHmac keyed(std::string(100, 'k'));  // a key longer than the block size
  for (std::string_view data : {std::string_view(), std::string_view("pw"),
                                std::string_view("a much longer password, 40+ bytes long...")}) {
    CHECK(keyed.digest(data) == hmac_sha256(std::string(100, 'k'), data));
    CHECK(keyed.digest(data) == keyed.digest(data));  // the keyed state is never consumed
  }
}

TEST_CASE("hash_password: salted, verifiable, never the same twice") {
  PasswordHash a = hash_password("apple", 1000);
  PasswordHash b = hash_password("apple", 1000);
  CHECK(a.scheme == "pbkdf2");
  CHECK(a.prf == "sha256");
  CHECK(a.salt.size() == 32);
  CHECK(a.derived_key.size() == 64);
  CHECK(a.salt != b.salt);
  CHECK(a.derived_key != b.derived_key);
  CHECK(verify_password(a, "apple"));
  CHECK_FALSE(verify_password(a, "apples"));
  CHECK_FALSE(verify_password(a, ""));
  PasswordHash absurd = a;
  absurd.iterations = kMaxPbkdf2Iterations + 1;
  CHECK_FALSE(verify_password(absurd, "apple"));
}

TEST_CASE("admin hashes in CouchDB's config forms") {
  PasswordHash h = hash_password("secret", 1000);
  std::string text = format_config_hash(h);
  CHECK(text.starts_with("-pbkdf2:sha256-"));
  auto parsed = parse_config_hash(text);
  REQUIRE(parsed);
  CHECK(parsed->derived_key == h.derived_key);
  CHECK(parsed->salt == h.salt);
  CHECK(parsed->iterations == 1000);
  CHECK(verify_password(*parsed, "secret"));

  // CouchDB < 3.4 wrote PBKDF2-SHA1 under "-pbkdf2-".
  std::string sha1_key = *pbkdf2_hex("sha", "secret", "abcd", 10, 20);
  auto legacy = parse_config_hash("-pbkdf2-" + sha1_key + ",abcd,10");
  REQUIRE(legacy);
  CHECK(legacy->prf == "sha");
  CHECK(verify_password(*legacy, "secret"));
  CHECK_FALSE(verify_password(*legacy, "Secret"));

  // Legacy "simple": sha1(password + salt).
  auto simple = parse_config_hash("-hashed-0123abcd,salt");
  REQUIRE(simple);
  CHECK(simple->scheme == "simple");

  CHECK_FALSE(parse_config_hash("apple"));
  CHECK_FALSE(parse_config_hash("-pbkdf2:md5-aa,bb,1"));
  CHECK_FALSE(parse_config_hash("-pbkdf2-aa,bb"));
  CHECK_FALSE(parse_config_hash("-pbkdf2-aa,bb,zero"));
}

// ---- Encodings and Basic ------------------------------------------------------------------------

TEST_CASE("regress: Basic credentials and cookies are each read in one base64 alphabet") {
  // auth.cpp had its own decoder that took '+' and '-' both as 62 and '/' and '_' both as 63.
  // Basic credentials are standard base64 (CouchDB: base64:decode); cookies are base64url.
  const std::string creds = "jan:pass>>>";  // standard "amFuOnBhc3M+Pj4=", URL "…M-Pj4="
  auto standard = parse_basic_authorization("Basic " + base64_encode(creds));
  REQUIRE((standard && *standard));
  CHECK((*standard)->password == "pass>>>");
  auto url = parse_basic_authorization("Basic " + base64_encode(creds, Base64Alphabet::kUrl));
  REQUIRE_FALSE(url);
  CHECK(url.error().reason == "Authorization header has invalid base64 value");
  CHECK_FALSE(parse_basic_authorization("Basic YWRtOvv_"));  // "adm:\xfb\xff" in the URL alphabet

  const std::string token = make_session_token("jan?>", 0x5F5E100, "key");
  CHECK(token.find_first_of("+/=") == std::string::npos);
  REQUIRE(parse_session_token(token));
  std::string standard_token = token;
  std::replace(standard_token.begin(), standard_token.end(), '-', '+');
  std::replace(standard_token.begin(), standard_token.end(), '_', '/');
  REQUIRE(standard_token != token);  // fixed name, time and key: this token has a '-' or '_'
  CHECK_FALSE(parse_session_token(standard_token));
}

TEST_CASE("§2.1 Basic credentials") {
  auto parse = [](std::string_view header) { return parse_basic_authorization(header); };
  auto ok = parse("Basic " + base64_encode("jan:apple"));
  REQUIRE(ok);
  REQUIRE(*ok);
  CHECK((*ok)->name == "jan");
  CHECK((*ok)->password == "apple");
  auto colons = parse("basic " + base64_encode("jan:a:b:c"));  // scheme is case-insensitive
  REQUIRE((colons && *colons));
  CHECK((*colons)->password == "a:b:c");
  auto empty_password = parse("Basic " + base64_encode("jan:"));
  REQUIRE((empty_password && *empty_password));
  CHECK((*empty_password)->password.empty());
  CHECK((parse("") && !*parse("")));
  CHECK((parse("Bearer abc") && !*parse("Bearer abc")));
  CHECK((parse("Basic " + base64_encode("nocolon")) && !*parse("Basic " + base64_encode("nocolon"))));
  CHECK((parse("Basic " + base64_encode("_:_")) && !*parse("Basic " + base64_encode("_:_"))));
  auto bad = parse("Basic !!!");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Code::kBadRequest);
  CHECK(bad.error().reason == "Authorization header has invalid base64 value");
}

// ---- Cookie tokens ------------------------------------------------------------------------------

TEST_CASE("§2.1 AuthSession token: sign, verify, expiry, tampering") {
  const std::string key = "server-secret" + std::string("user-salt");
  const uint64_t t0 = 1'700'000'000;
  std::string cookie = make_session_token("jan", t0, key);
  CHECK(cookie.find('=') == std::string::npos);  // base64url without padding
  auto token = parse_session_token(cookie);
  REQUIRE(token);
  CHECK(token->name == "jan");
  CHECK(token->issued_at == t0);
  CHECK(token->time_hex == "6553F100");  // CouchDB writes the time as uppercase hex

  CHECK(verify_session_token(*token, key, t0, 600));
  CHECK(verify_session_token(*token, key, t0 + 599, 600));
  CHECK_FALSE(verify_session_token(*token, key, t0 + 600, 600));       // expired
  CHECK_FALSE(verify_session_token(*token, "other" + key, t0, 600));   // another secret or salt

  SessionToken forged = *token;
  forged.name = "admin";
  CHECK_FALSE(verify_session_token(forged, key, t0, 600));
  forged = *token;
  forged.time_hex = "7553F100";  // pushing the time forward breaks the MAC
  forged.issued_at = 0x7553F100;
  CHECK_FALSE(verify_session_token(forged, key, t0, 600));

  // Refresh once less than 90% of the session is left (CouchDB: TimeLeft < Timeout * 0.9).
  CHECK_FALSE(session_needs_refresh(*token, t0, 600));
  CHECK_FALSE(session_needs_refresh(*token, t0 + 60, 600));
  CHECK(session_needs_refresh(*token, t0 + 61, 600));

  for (std::string_view bad : {"!!!", "amFu", "amFuOjEy"}) {  // not base64; "jan"; "jan:12"
    CAPTURE(bad);
    auto parsed = parse_session_token(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Code::kBadRequest);
    CHECK(parsed.error().reason == "Malformed AuthSession cookie. Please clear your cookies.");
  }
  auto bad_time = parse_session_token(base64_encode("jan:zz:mac", Base64Alphabet::kUrl));
  REQUIRE(bad_time);
  CHECK(bad_time->issued_at == 0);
  CHECK_FALSE(verify_session_token(*bad_time, key, t0, 600));
}

TEST_CASE("cookie header parsing") {
  CHECK(cookie_value("AuthSession=abc", "AuthSession") == "abc");
  CHECK(cookie_value("a=1; AuthSession=abc; b=2", "AuthSession") == "abc");
  CHECK(cookie_value("a=1;AuthSession=\"abc\"", "AuthSession") == "abc");
  CHECK(cookie_value("AuthSession=", "AuthSession") == "");
  CHECK_FALSE(cookie_value("XAuthSession=abc; b=2", "AuthSession"));
  CHECK_FALSE(cookie_value("", "AuthSession"));
}

// ---- The access-rule table ----------------------------------------------------------------------

UserCtx anonymous() { return {}; }
UserCtx admin() { return {std::nullopt, {"_admin"}}; }
UserCtx named(std::string name, std::vector<std::string> roles = {}) {
  return {std::move(name), std::move(roles)};
}

const char* kDefaultSecurity = R"({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}})";
const char* kMembersOnly =
    R"({"admins":{"names":["boss"],"roles":["chiefs"]},"members":{"names":["bob"],"roles":["team"]}})";
const char* kPublic = R"({"admins":{"names":[],"roles":[]},"members":{"names":[],"roles":[]}})";

TEST_CASE("§4.8 security objects, membership and db admins") {
  SecurityObject sec = SecurityObject::parse(kMembersOnly);
  CHECK(sec.member_names == std::vector<std::string>{"bob"});
  CHECK_FALSE(sec.is_public());
  CHECK(is_member(named("bob"), sec));
  CHECK(is_member(named("x", {"team"}), sec));
  CHECK(is_member(named("boss"), sec));           // db admins are members
  CHECK(is_member(named("y", {"chiefs"}), sec));
  CHECK(is_member(admin(), sec));                 // _admin always qualifies
  CHECK_FALSE(is_member(named("eve"), sec));
  CHECK_FALSE(is_member(anonymous(), sec));
  CHECK(is_db_admin(named("boss"), sec));
  CHECK_FALSE(is_db_admin(named("bob"), sec));
  CHECK(SecurityObject::parse(kPublic).is_public());
  CHECK(SecurityObject::parse("{}").is_public());
  CHECK(is_member(anonymous(), SecurityObject::parse("{}")));
  CHECK(SecurityObject::parse("not json").is_public());
  CHECK_FALSE(SecurityObject::parse(kDefaultSecurity).is_public());
  // Non-string entries are ignored, not fatal.
  CHECK(SecurityObject::parse(R"({"members":{"names":[1,"a"]}})").member_names ==
        std::vector<std::string>{"a"});
}

struct Row {
  const char* who;  // anon, admin, bob (member), eve (non-member), boss (db admin)
  verb method;
  const char* path;
  unsigned status;  // 0: allowed
  const char* reason;
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') path.remove_prefix(1);
    if (path.empty()) break;
    auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

TEST_CASE("§2.2 access rules: who may do what on a members-only database") {
  const std::map<std::string, UserCtx> users = {
      {"anon", anonymous()}, {"admin", admin()},        {"bob", named("bob")},
      {"eve", named("eve")}, {"boss", named("boss")}, {"teamster", named("t", {"team"})}};
  SecurityObject sec = SecurityObject::parse(kMembersOnly);
  const char* kServer = "You are not a server admin.";
  const char* kAuthz = "You are not authorized to access this db.";
  const char* kAllowed = "You are not allowed to access this db.";
  const char* kDbAdmin = "You are not a db or server admin.";
  const Row rows[] = {
      // public endpoints
      {"anon", verb::get, "/", 0, ""},
      {"anon", verb::get, "/_up", 0, ""},
      {"anon", verb::get, "/_uuids", 0, ""},
      {"anon", verb::post, "/_session", 0, ""},
      {"eve", verb::delete_, "/_session", 0, ""},
      // server-admin endpoints: 401 for every non-admin, authenticated or not
      {"anon", verb::get, "/_all_dbs", 401, kServer},
      {"bob", verb::get, "/_all_dbs", 401, kServer},
      {"boss", verb::head, "/_all_dbs", 401, kServer},
      {"admin", verb::get, "/_all_dbs", 0, ""},
      {"bob", verb::get, "/_db_updates", 401, kServer},
      {"boss", verb::put, "/db", 401, kServer},
      {"boss", verb::delete_, "/db", 401, kServer},
      {"admin", verb::put, "/db", 0, ""},
      {"bob", verb::get, "/_users", 0, ""},  // db level: the _users security object decides
      {"bob", verb::get, "/_users/_all_docs", 401, kServer},
      {"bob", verb::get, "/_replicator/_changes", 401, kServer},
      {"bob", verb::put, "/_users", 401, kServer},
      {"bob", verb::get, "/_scheduler/jobs", 401, kServer},
      {"bob", verb::get, "/_up/extra", 401, kServer},
      // _replicate: any named user
      {"anon", verb::post, "/_replicate", 401, "You are not an authenticated user"},
      {"eve", verb::post, "/_replicate", 0, ""},
      // membership: anonymous 401, named non-member 403, reads and writes alike
      {"anon", verb::get, "/db", 401, kAuthz},
      {"anon", verb::get, "/db/doc", 401, kAuthz},
      {"anon", verb::put, "/db/doc", 401, kAuthz},
      {"eve", verb::get, "/db", 403, kAllowed},
      {"eve", verb::get, "/db/doc", 403, kAllowed},
      {"eve", verb::post, "/db/_bulk_docs", 403, kAllowed},
      {"eve", verb::get, "/db/_changes", 403, kAllowed},
      {"eve", verb::get, "/db/_security", 403, kAllowed},
      {"eve", verb::put, "/db/_security", 403, kAllowed},
      {"eve", verb::put, "/db/_design/x", 403, kAllowed},
      // members read and write docs, _local docs, listings; read _security
      {"bob", verb::get, "/db", 0, ""},
      {"bob", verb::put, "/db/doc", 0, ""},
      {"bob", verb::delete_, "/db/doc", 0, ""},
      {"bob", verb::put, "/db/doc/att.txt", 0, ""},
      {"bob", verb::put, "/db/_local/cp", 0, ""},
      {"bob", verb::post, "/db/_bulk_docs", 0, ""},
      {"bob", verb::post, "/db/_revs_diff", 0, ""},
      {"bob", verb::get, "/db/_changes", 0, ""},
      {"bob", verb::get, "/db/_all_docs", 0, ""},
      {"bob", verb::get, "/db/_security", 0, ""},
      {"bob", verb::get, "/db/_revs_limit", 0, ""},
      {"bob", verb::get, "/db/_design/x", 0, ""},
      {"teamster", verb::put, "/db/doc", 0, ""},
      // ...but not design docs, _security or _revs_limit
      {"bob", verb::put, "/db/_design/x", 403, kDbAdmin},
      {"bob", verb::delete_, "/db/_design/x", 403, kDbAdmin},
      {"bob", verb::put, "/db/_design/x/att", 403, kDbAdmin},
      {"bob", verb::put, "/db/_security", 403, kDbAdmin},
      {"bob", verb::put, "/db/_revs_limit", 403, kDbAdmin},
      // db admins (by name or role) may
      {"boss", verb::put, "/db/_design/x", 0, ""},
      {"boss", verb::put, "/db/_security", 0, ""},
      {"boss", verb::post, "/db/_compact", 0, ""},
      {"bob", verb::post, "/db/_compact", 401, "You are not a server or db admin."},
      {"admin", verb::put, "/db/_security", 0, ""},
  };
  for (const Row& row : rows) {
    CAPTURE(std::string(row.who));
    CAPTURE(std::string(row.path));
    CAPTURE(std::string(bhttp::to_string(row.method)));
    AccessTarget target = classify_request(row.method, split_path(row.path));
    auto error = check_access(target.access, users.at(row.who), &sec);
    if (row.status == 0) {
      CHECK_FALSE(error.has_value());
    } else {
      REQUIRE(error.has_value());
      CHECK(static_cast<unsigned>(error_info(error->code).status) == row.status);
      CHECK(error->reason == row.reason);
    }
  }
}

TEST_CASE("§2.2 access rules: public and default (admin-only) databases") {
  SecurityObject open = SecurityObject::parse(kPublic);
  SecurityObject closed = SecurityObject::parse(kDefaultSecurity);
  auto check = [](Access access, const UserCtx& user, const SecurityObject& sec) {
    auto error = check_access(access, user, &sec);
    return error ? static_cast<unsigned>(error_info(error->code).status) : 0u;
  };
  auto doc_put = classify_request(verb::put, {"db", "doc"}).access;
  auto ddoc_put = classify_request(verb::put, {"db", "_design", "x"}).access;
  CHECK(check(doc_put, anonymous(), open) == 0);  // empty members: public for non-design docs
  CHECK(check(doc_put, named("eve"), open) == 0);
  CHECK(check(ddoc_put, anonymous(), open) == 401);
  CHECK(check(ddoc_put, named("eve"), open) == 403);
  CHECK(check(doc_put, anonymous(), closed) == 401);
  CHECK(check(doc_put, named("eve"), closed) == 403);
  CHECK(check(doc_put, admin(), closed) == 0);
  CHECK(check(ddoc_put, admin(), closed) == 0);
  // No security object at hand reads as the admin-only default.
  CHECK(check_access(doc_put, named("eve"), nullptr)->code == Code::kForbidden);
}

// ---- _users docs --------------------------------------------------------------------------------

TEST_CASE("§2.1 user docs: the password is replaced by pbkdf2 fields") {
  Json doc = Json::parse(
      R"({"_id":"org.couchdb.user:jan","name":"jan","password":"apple","roles":[],"type":"user","salt":"old"})");
  auto changed = hash_user_doc_password(doc);
  REQUIRE(changed);
  CHECK(*changed);
  CHECK_FALSE(doc.contains("password"));
  CHECK(doc["password_scheme"] == "pbkdf2");
  CHECK(doc["pbkdf2_prf"] == "sha256");
  CHECK(doc["iterations"] == kPbkdf2Iterations);
  CHECK(doc["salt"] != "old");
  CHECK(doc.begin().key() == "password_scheme");  // CouchDB puts them first
  CHECK(doc["name"] == "jan");
  auto creds = credentials_from_user_doc("jan", doc);
  REQUIRE(creds);
  CHECK(verify_password(creds->hash, "apple"));
  CHECK_FALSE(verify_password(creds->hash, "pear"));

  Json untouched = Json::parse(R"({"name":"jan","roles":[]})");
  CHECK_FALSE(*hash_user_doc_password(untouched));
  Json bad = Json::parse(R"({"password":5})");
  CHECK_FALSE(hash_user_doc_password(bad));
}

TEST_CASE("§2.1 user docs: the _auth validation and ownership rules") {
  auto doc = [](std::string_view text) { return Json::parse(text); };
  const std::string id = "org.couchdb.user:jan";
  Json good = doc(R"({"name":"jan","roles":[],"type":"user"})");
  auto reason = [](const std::optional<Error>& e) { return e ? e->reason : std::string("ok"); };

  CHECK(reason(validate_user_doc_write(good, id, false, nullptr, admin(), true)) == "ok");
  CHECK(reason(validate_user_doc_write(doc(R"({"name":"jan","roles":[]})"), id, false, nullptr,
                                       admin(), true)) == "doc.type must be user");
  CHECK(reason(validate_user_doc_write(doc(R"({"type":"user","roles":[]})"), id, false, nullptr,
                                       admin(), true)) == "doc.name is required");
  CHECK(reason(validate_user_doc_write(doc(R"({"name":"jan","type":"user"})"), id, false, nullptr,
                                       admin(), true)) == "doc.roles must exist");
  CHECK(reason(validate_user_doc_write(doc(R"({"name":"bob","roles":[],"type":"user"})"), id,
                                       false, nullptr, admin(), true)) ==
        "Doc ID must be of the form org.couchdb.user:name");
  CHECK(reason(validate_user_doc_write(doc(R"({"name":"jan","roles":["_admin"],"type":"user"})"),
                                       id, false, nullptr, admin(), true)) ==
        "No system roles (starting with underscore) in users db.");

  // A user updates its own doc, but may not change its roles.
  Json old = doc(R"({"name":"jan","roles":["a"],"type":"user"})");
  Json same_roles = doc(R"({"name":"jan","roles":["a"],"type":"user","email":"j@x"})");
  Json new_roles = doc(R"({"name":"jan","roles":["a","b"],"type":"user"})");
  CHECK(reason(validate_user_doc_write(same_roles, id, false, &old, named("jan"), false)) == "ok");
  CHECK(reason(validate_user_doc_write(new_roles, id, false, &old, named("jan"), false)) ==
        "Only _admin may edit roles");
  CHECK(reason(validate_user_doc_write(new_roles, id, false, &old, admin(), true)) == "ok");
  // Someone else's doc: 404 missing for named users, as couch_users_db answers.
  auto other = validate_user_doc_write(good, id, false, &old, named("eve"), false);
  REQUIRE(other);
  CHECK(other->code == Code::kNotFound);
  // Anonymous signup: only without roles, only for a new doc.
  CHECK(reason(validate_user_doc_write(good, id, false, nullptr, anonymous(), false)) == "ok");
  CHECK(reason(validate_user_doc_write(new_roles, id, false, nullptr, anonymous(), false)) ==
        "Only _admin may set roles");
  CHECK(reason(validate_user_doc_write(good, id, false, &old, anonymous(), false)) ==
        "You may only update your own user document.");
  // Deletes: admins and the user itself.
  CHECK(reason(validate_user_doc_write(Json::object(), id, true, &old, named("jan"), false)) == "ok");
  CHECK(reason(validate_user_doc_write(Json::object(), id, true, &old, anonymous(), false)) ==
        "Only admins may delete other user docs.");
}

// ---- CORS ---------------------------------------------------------------------------------------

Request with_headers(verb method, std::string_view target,
                     std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
  RawRequest raw = raw_request(method, target);
  for (const auto& [name, value] : headers) raw.set(name, value);
  return Request(std::move(raw));
}

TEST_CASE("§2.2 CORS preflight and response headers") {
  CorsOptions cors;
  cors.origins = CorsOptions::parse_origins(" http://a.test , http://b.test ");
  CHECK(cors.origins == std::vector<std::string>{"http://a.test", "http://b.test"});

  Request pre = with_headers(verb::options, "/db", {{"Origin", "http://a.test"},
                                                    {"Access-Control-Request-Method", "PUT"},
                                                    {"Access-Control-Request-Headers",
                                                     "Content-Type, Authorization"}});
  auto res = cors_preflight(cors, pre);
  REQUIRE(res);
  CHECK(res->result() == status::no_content);
  CHECK((*res)[bhttp::field::access_control_allow_origin] == "http://a.test");
  CHECK((*res)[bhttp::field::access_control_allow_methods] ==
        "GET, HEAD, POST, PUT, DELETE, COPY, OPTIONS");
  CHECK((*res)[bhttp::field::access_control_allow_headers] == "Content-Type, Authorization");
  CHECK((*res)[bhttp::field::access_control_max_age] == "600");
  CHECK(res->find(bhttp::field::access_control_allow_credentials) == res->end());

  CHECK_FALSE(cors_preflight(cors, with_headers(verb::options, "/db",
                                                {{"Origin", "http://evil.test"},
                                                 {"Access-Control-Request-Method", "PUT"}})));
  CHECK_FALSE(cors_preflight(cors, with_headers(verb::options, "/db", {{"Origin", "http://a.test"}})));
  CHECK_FALSE(cors_preflight(cors, with_headers(verb::options, "/db",
                                                {{"Origin", "http://a.test"},
                                                 {"Access-Control-Request-Method", "PUT"},
                                                 {"Access-Control-Request-Headers", "x-evil"}})));
  CHECK_FALSE(cors_preflight(CorsOptions{}, pre));  // off by default

  Response normal = json_response(status::ok, "{}");
  add_cors_headers(cors, with_headers(verb::get, "/", {{"Origin", "http://b.test"}}), normal);
  CHECK(normal[bhttp::field::access_control_allow_origin] == "http://b.test");
  CHECK(normal[bhttp::field::access_control_expose_headers] ==
        "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, "
        "x-couch-update-newrev, x-couchdb-body-time");
  Response other = json_response(status::ok, "{}");
  add_cors_headers(cors, with_headers(verb::get, "/", {{"Origin", "http://evil.test"}}), other);
  CHECK(other.find(bhttp::field::access_control_allow_origin) == other.end());

  CorsOptions any{{"*"}, false};
  Response star = json_response(status::ok, "{}");
  add_cors_headers(any, with_headers(verb::get, "/", {{"Origin", "http://x.test"}}), star);
  CHECK(star[bhttp::field::access_control_allow_origin] == "*");
  CorsOptions credentials{{"*"}, true};
  Response echoed = json_response(status::ok, "{}");
  add_cors_headers(credentials, with_headers(verb::get, "/", {{"Origin", "http://x.test"}}), echoed);
  CHECK(echoed[bhttp::field::access_control_allow_origin] == "http://x.test");
  CHECK(echoed[bhttp::field::access_control_allow_credentials] == "true");
}

// ---- Through the route table --------------------------------------------------------------------

// A node with an admin "admin:secret", a member "bob:pw" of db (members-only) and an AuthService.
struct AuthNode : Node {
  std::unique_ptr<AuthService> service;
  std::string admin_basic = "Basic " + base64_encode("admin:secret");
  std::string bob_basic = "Basic " + base64_encode("bob:pw");
  std::string eve_basic = "Basic " + base64_encode("eve:pw");

  AuthNode() {
    ensure_system_databases(catalog);
    AuthOptions options;
    Credentials admin;
    admin.name = "admin";
    admin.hash = hash_password("secret", 1000);
    options.admins.push_back(admin);
    options.secret = engine::random_hex(32);
    service = std::make_unique<AuthService>(std::move(options), catalog);
    ctx.auth = service.get();
    for (const char* name : {"bob", "eve"}) {
      std::string body = std::string(R"({"name":")") + name +
                         R"(","password":"pw","roles":[],"type":"user"})";
      REQUIRE(send(verb::put, std::string("/_users/org.couchdb.user:") + name, body,
                   {{"Authorization", admin_basic}})
                  .result() == status::created);
    }
    REQUIRE(send(verb::put, "/db/_security",
                 R"({"members":{"names":["bob"]},"admins":{"roles":["_admin"]}})",
                 {{"Authorization", admin_basic}})
                .result() == status::ok);
  }

  Response send(verb method, std::string_view target, std::string body = {},
                std::initializer_list<std::pair<std::string_view, std::string>> headers = {}) {
    RawRequest raw = raw_request(method, target, std::move(body));
    for (const auto& [name, value] : headers) raw.set(name, value);
    Request req(std::move(raw));
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    std::optional<Response> out;
    std::exception_ptr error;
    boost::asio::co_spawn(ioc, handle_request(req, ctx), [&](std::exception_ptr e, Response res) {
      error = e;
      out = std::move(res);
      work.reset();
    });
    ioc.run();
    if (error) std::rethrow_exception(error);
    REQUIRE(out.has_value());
    service->finish_response(req, *out);
    return std::move(*out);
  }
};

TEST_CASE_FIXTURE(AuthNode, "§2.1 Basic: wrong credentials are 401 everywhere, right ones work") {
  std::string wrong = "Basic " + base64_encode("admin:nope");
  for (const char* path : {"/", "/_up", "/_all_dbs", "/db", "/nope"}) {
    CAPTURE(path);
    check_error(send(verb::get, path, {}, {{"Authorization", wrong}}), status::unauthorized,
                "unauthorized", "Name or password is incorrect.");
  }
  check_error(send(verb::get, "/db", {}, {{"Authorization", "Basic " + base64_encode("ghost:x")}}),
              status::unauthorized, "unauthorized", "Name or password is incorrect.");
  CHECK(send(verb::get, "/_all_dbs", {}, {{"Authorization", admin_basic}}).result() == status::ok);
  CHECK(send(verb::get, "/db", {}, {{"Authorization", bob_basic}}).result() == status::ok);
  check_error(send(verb::get, "/db", {}, {{"Authorization", eve_basic}}), status::forbidden,
              "forbidden", "You are not allowed to access this db.");
  check_error(send(verb::get, "/db"), status::unauthorized, "unauthorized",
              "You are not authorized to access this db.");
}

TEST_CASE_FIXTURE(AuthNode, "§2.1 stored user docs keep no password; users read only their own") {
  Response own = send(verb::get, "/_users/org.couchdb.user:bob", {}, {{"Authorization", bob_basic}});
  REQUIRE(own.result() == status::ok);
  Json doc = body_json(own);
  CHECK_FALSE(doc.contains("password"));
  CHECK(doc["password_scheme"] == "pbkdf2");
  // Others' docs follow the `_users` security object (admin-only by default).
  check_error(send(verb::get, "/_users/org.couchdb.user:eve", {}, {{"Authorization", bob_basic}}),
              status::forbidden, "forbidden", "You are not allowed to access this db.");
  check_error(send(verb::get, "/_users/org.couchdb.user:bob"), status::unauthorized, "unauthorized",
              "You are not authorized to access this db.");
  // bob changes his own password (roles unchanged), then logs in with it.
  std::string rev = doc["_rev"];
  Response put = send(verb::put, "/_users/org.couchdb.user:bob",
                      R"({"_rev":")" + rev + R"(","name":"bob","password":"new","roles":[],"type":"user"})",
                      {{"Authorization", bob_basic}});
  CHECK(put.result() == status::created);
  CHECK(send(verb::get, "/db", {}, {{"Authorization", "Basic " + base64_encode("bob:new")}}).result() ==
        status::ok);
  check_error(send(verb::get, "/db", {}, {{"Authorization", bob_basic}}), status::unauthorized,
              "unauthorized", "Name or password is incorrect.");
}

TEST_CASE_FIXTURE(AuthNode, "§10 _bulk_docs: a member's design docs fail per doc, the rest is written") {
  Response res = send(verb::post, "/db/_bulk_docs",
                      R"({"docs":[{"_id":"a"},{"_id":"_design/x"},{"_id":"b"}]})",
                      {{"Authorization", bob_basic}});
  REQUIRE(res.result() == status::created);
  Json items = body_json(res);
  REQUIRE(items.size() == 3);
  CHECK(items[0]["ok"] == true);
  CHECK(items[1] == Json{{"id", "_design/x"}, {"error", "forbidden"},
                         {"reason", "You are not a db or server admin."}});
  CHECK(items[2]["id"] == "b");
  CHECK(items[2]["ok"] == true);
  check_error(send(verb::post, "/db", R"({"_id":"_design/y"})", {{"Authorization", bob_basic}}),
              status::forbidden, "forbidden", "You are not a db or server admin.");
  CHECK(send(verb::post, "/db", R"({"_id":"c"})", {{"Authorization", bob_basic}}).result() ==
        status::created);
}

TEST_CASE_FIXTURE(AuthNode, "regress: a member's _bulk_docs without design docs writes every doc") {
  // take_denied_writes() once moved every op out of the batch while looking for refusals.
  Response res = send(verb::post, "/db/_bulk_docs", R"({"docs":[{"_id":"m1"},{"_id":"m2"}]})",
                      {{"Authorization", bob_basic}});
  REQUIRE(res.result() == status::created);
  Json items = body_json(res);
  REQUIRE(items.size() == 2);
  CHECK(items[0]["id"] == "m1");
  CHECK(items[0]["ok"] == true);
  CHECK(items[1]["id"] == "m2");
  CHECK(items[1]["ok"] == true);
  CHECK(send(verb::get, "/db/m2", {}, {{"Authorization", bob_basic}}).result() == status::ok);
}

TEST_CASE_FIXTURE(AuthNode, "§2.1 _session: cookie login, userCtx, refresh headers") {
  Response login = send(verb::post, "/_session", "name=bob&password=pw",
                        {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(login.result() == status::ok);
  CHECK(body_json(login) == Json{{"ok", true}, {"name", "bob"}, {"roles", Json::array()}});
  std::string set_cookie(login[bhttp::field::set_cookie]);
  REQUIRE(set_cookie.starts_with("AuthSession="));
  CHECK(set_cookie.find("Path=/") != std::string::npos);
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  std::string cookie = set_cookie.substr(0, set_cookie.find(';'));

  Response who = send(verb::get, "/_session", {}, {{"Cookie", cookie}});
  Json info = body_json(who);
  CHECK(info["userCtx"] == Json{{"name", "bob"}, {"roles", Json::array()}});
  CHECK(info["info"]["authenticated"] == "cookie");
  CHECK(who.find(bhttp::field::set_cookie) == who.end());  // fresh cookie: no refresh yet

  Json anon = body_json(send(verb::get, "/_session"));
  CHECK(anon["userCtx"] == Json{{"name", nullptr}, {"roles", Json::array()}});
  CHECK_FALSE(anon["info"].contains("authenticated"));

  Response bad = send(verb::post, "/_session", R"({"name":"bob","password":"x"})");
  check_error(bad, status::unauthorized, "unauthorized", "Name or password is incorrect.");
  CHECK(bad[bhttp::field::set_cookie].starts_with("AuthSession=;"));
  check_error(send(verb::post, "/_session", "name=bob", {{"Content-Type", "text/plain"}}),
              status::unsupported_media_type, "bad_content_type",
              "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'");

  // An old cookie (issued 9 minutes ago) still works and gets a refreshed one.
  auto creds = service->find_credentials("bob");
  REQUIRE(creds);
  std::string old_cookie = service->session_cookie(*creds, AuthService::now_seconds() - 540);
  Response refreshed = send(verb::get, "/db", {}, {{"Cookie", old_cookie.substr(0, old_cookie.find(';'))}});
  CHECK(refreshed.result() == status::ok);
  CHECK(refreshed[bhttp::field::set_cookie].starts_with("AuthSession="));
  // An expired one is ignored: the request is anonymous.
  std::string expired = service->session_cookie(*creds, AuthService::now_seconds() - 601);
  check_error(send(verb::get, "/db", {}, {{"Cookie", expired.substr(0, expired.find(';'))}}),
              status::unauthorized, "unauthorized", "You are not authorized to access this db.");
}

TEST_CASE("admin from flag and admins file: plain passwords are hashed and written back") {
  auto admin = admin_from_flag("root:pa:ss");
  REQUIRE(admin);
  CHECK(admin->name == "root");
  CHECK(verify_password(admin->hash, "pa:ss"));
  CHECK_FALSE(admin_from_flag("nocolon"));
  CHECK_FALSE(admin_from_flag(":pw"));

  TempDir dir;
  auto path = dir.path() / "admins.ini";
  PasswordHash kept = hash_password("old", 1000);
  {
    std::ofstream out(path);
    out << "; comment\n[couchdb]\nx = 1\n[admins]\nalice = plain secret\nbob = "
        << format_config_hash(kept) << "\n";
  }
  auto file = load_admins_file(path);
  REQUIRE(file);
  CHECK(file->hashed_now == 1);
  REQUIRE(file->admins.size() == 2);
  CHECK(file->admins[0].name == "alice");
  CHECK(verify_password(file->admins[0].hash, "plain secret"));
  CHECK(verify_password(file->admins[1].hash, "old"));
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("plain secret") == std::string::npos);
  CHECK(text.find("alice = -pbkdf2:sha256-") != std::string::npos);
  CHECK(text.find("[couchdb]\nx = 1\n") != std::string::npos);
  CHECK((fs::status(path).permissions() & fs::perms::others_read) == fs::perms::none);
  auto again = load_admins_file(path);  // now all hashed: nothing to rewrite
  REQUIRE(again);
  CHECK(again->hashed_now == 0);
  CHECK(verify_password(again->admins[0].hash, "plain secret"));

  CHECK_FALSE(load_admins_file(dir.path() / "missing.ini"));
  std::string secret = load_or_create_auth_secret(dir.path());
  CHECK(secret.size() == 64);
  CHECK(load_or_create_auth_secret(dir.path()) == secret);  // persisted
}

}  // namespace
}  // namespace divan::http::server::test
