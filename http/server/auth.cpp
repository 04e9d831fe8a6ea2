#include "http/server/auth.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "base/base64.h"
#include "base/hex.h"
#include "base/numbers.h"
#include "base/text.h"
#include "engine/random.h"
#include "http/server/header_values.h"

namespace divan::http::server {

namespace {


// CouchDB's PRF names (couch_httpd_auth:verify_prf).
const EVP_MD* digest_for(std::string_view prf) {
  if (prf == "sha256") return EVP_sha256();
  if (prf == "sha" || prf == "sha1") return EVP_sha1();
  if (prf == "sha224") return EVP_sha224();
  if (prf == "sha384") return EVP_sha384();
  if (prf == "sha512") return EVP_sha512();
  return nullptr;
}

std::string digest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &length, md, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool any_role_in(const UserCtx& user, const std::vector<std::string>& roles) {
  return std::any_of(user.roles.begin(), user.roles.end(),
                     [&](const std::string& role) { return contains(roles, role); });
}

std::vector<std::string> string_list(const nlohmann::json& object, const char* group,
                                     const char* list) {
  std::vector<std::string> out;
  auto g = object.find(group);
  if (g == object.end() || !g->is_object()) return out;
  auto l = g->find(list);
  if (l == g->end() || !l->is_array()) return out;
  for (const auto& v : *l) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

// ---- UserCtx ------------------------------------------------------------------------------------

bool UserCtx::has_role(std::string_view role) const { return contains(roles, role); }

// ---- Passwords ----------------------------------------------------------------------------------

std::optional<std::string> pbkdf2_hex(std::string_view prf, std::string_view password,
                                      std::string_view salt, uint64_t iterations,
                                      size_t key_length) {
  const EVP_MD* md = digest_for(prf);
  if (!md || iterations == 0 || iterations > static_cast<uint64_t>(INT32_MAX)) return std::nullopt;
  if (key_length == 0) key_length = static_cast<size_t>(EVP_MD_get_size(md));
  std::string key(key_length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), md,
                        static_cast<int>(key_length), reinterpret_cast<unsigned char*>(key.data())) != 1) {
    return std::nullopt;
  }
  return to_hex(key);
}

PasswordHash hash_password(std::string_view password, uint32_t iterations) {
  PasswordHash hash;
  hash.salt = engine::random_hex(16);
  hash.iterations = iterations;
  hash.derived_key = *pbkdf2_hex(hash.prf, password, hash.salt, iterations);
  return hash;
}

bool verify_password(const PasswordHash& hash, std::string_view password) {
  std::string expected;
  if (hash.scheme == "pbkdf2") {
    if (hash.iterations > kMaxPbkdf2Iterations) return false;
    // The stored key's length decides the derived length (CouchDB writes the digest size).
    auto derived = pbkdf2_hex(hash.prf, password, hash.salt, hash.iterations,
                              hash.derived_key.size() / 2);
    if (!derived || hash.derived_key.empty()) return false;
    expected = std::move(*derived);
  } else if (hash.scheme == "simple") {
    std::string both(password);
    both += hash.salt;
    expected = to_hex(digest(EVP_sha1(), both));
  } else {
    return false;
  }
  return constant_time_equal(expected, ascii_lower(hash.derived_key));
}

std::optional<PasswordHash> parse_config_hash(std::string_view value) {
  value = trim_ows(value);
  PasswordHash hash;
  auto split = [](std::string_view s, std::vector<std::string_view>& parts) {
    parts.clear();
    size_t start = 0;
    while (true) {
      size_t comma = s.find(',', start);
      parts.push_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  };
  std::vector<std::string_view> parts;
  if (value.starts_with("-hashed-")) {
    split(value.substr(8), parts);
    if (parts.size() != 2 || parts[0].empty()) return std::nullopt;
    hash.scheme = "simple";
    hash.prf.clear();
    hash.derived_key = std::string(parts[0]);
    hash.salt = std::string(parts[1]);
    hash.iterations = 0;
    return hash;
  }
  std::string_view rest;
  if (value.starts_with("-pbkdf2-")) {
    hash.prf = "sha";  // CouchDB before 3.4 wrote PBKDF2-SHA1 under this prefix
    rest = value.substr(8);
  } else if (value.starts_with("-pbkdf2:")) {
    auto dash = value.find('-', 8);
    if (dash == std::string_view::npos) return std::nullopt;
    hash.prf = std::string(value.substr(8, dash - 8));
    if (!digest_for(hash.prf)) return std::nullopt;
    rest = value.substr(dash + 1);
  } else {
    return std::nullopt;
  }
  split(rest, parts);
  if (parts.size() != 3 || parts[0].empty()) return std::nullopt;
  hash.derived_key = std::string(parts[0]);
  hash.salt = std::string(parts[1]);
  auto iterations = parse_unsigned<uint64_t>(parts[2]);
  if (!iterations || *iterations == 0) return std::nullopt;
  hash.iterations = *iterations;
  return hash;
}

std::string format_config_hash(const PasswordHash& hash) {
  return "-pbkdf2:" + hash.prf + "-" + hash.derived_key + "," + hash.salt + "," +
         std::to_string(hash.iterations);
}

// ---- Encodings ----------------------------------------------------------------------------------

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length)) {
    throw std::runtime_error("HMAC failed");
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

KeyedHmac::KeyedHmac(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed_ = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);
  char sha256_name[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", sha256_name, 0),
                               OSSL_PARAM_construct_end()};
  if (!keyed_ || !EVP_MAC_init(keyed_, reinterpret_cast<const unsigned char*>(key.data()),
                               key.size(), params)) {
    EVP_MAC_CTX_free(keyed_);
    throw std::runtime_error("HMAC-SHA256 unavailable");
  }
}

KeyedHmac::~KeyedHmac() { EVP_MAC_CTX_free(keyed_); }

std::string KeyedHmac::digest(std::string_view data) const {
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(keyed_),
                                                                &EVP_MAC_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  size_t length = 0;
  if (!ctx ||
      !EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()),
                      data.size()) ||
      !EVP_MAC_final(ctx.get(), out.data(), &length, out.size())) {
    throw std::runtime_error("HMAC failed");
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Basic credentials --------------------------------------------------------------------------

Result<std::optional<BasicCredentials>> parse_basic_authorization(std::string_view header) {
  header = trim_ows(header);
  if (header.size() < 6) return std::optional<BasicCredentials>();
  if (ascii_lower(header.substr(0, 6)) != "basic ") return std::optional<BasicCredentials>();
  // The standard alphabet only, as CouchDB's base64:decode: a '-' or '_' is not base64 here.
  auto decoded = base64_decode(trim_ows(header.substr(6)), Base64Alphabet::kStandard);
  if (!decoded) return fail(Code::kBadRequest, "Authorization header has invalid base64 value");
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::optional<BasicCredentials>();
  BasicCredentials credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  if (credentials.name == "_" && credentials.password == "_") {
    return std::optional<BasicCredentials>();  // CouchDB's "log me out" pair
  }
  return std::optional<BasicCredentials>(std::move(credentials));
}

// ---- AuthSession cookie tokens ------------------------------------------------------------------

std::string make_session_token(std::string_view name, uint64_t issued_at, std::string_view key) {
  char hex[17];
  auto [end, ec] = std::to_chars(hex, hex + sizeof(hex), issued_at, 16);
  std::string time_hex(hex, end);
  std::transform(time_hex.begin(), time_hex.end(), time_hex.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string data(name);
  data += ':';
  data += time_hex;
  std::string mac = hmac_sha256(key, data);
  data += ':';
  data += mac;
  return base64_encode(data, Base64Alphabet::kUrl);
}

Result<SessionToken> parse_session_token(std::string_view cookie) {
  static constexpr const char* kMalformed = "Malformed AuthSession cookie. Please clear your cookies.";
  auto decoded = base64_decode(cookie, Base64Alphabet::kUrl);
  if (!decoded) return fail(Code::kBadRequest, kMalformed);
  auto first = decoded->find(':');
  if (first == std::string::npos) return fail(Code::kBadRequest, kMalformed);
  auto second = decoded->find(':', first + 1);
  if (second == std::string::npos) return fail(Code::kBadRequest, kMalformed);
  SessionToken token;
  token.name = decoded->substr(0, first);
  token.time_hex = decoded->substr(first + 1, second - first - 1);
  token.mac = decoded->substr(second + 1);
  token.issued_at = parse_unsigned<uint64_t>(token.time_hex, 16).value_or(0);
  return token;
}

bool verify_session_token(const SessionToken& token, std::string_view key, uint64_t now,
                          uint64_t timeout) {
  if (token.issued_at == 0 || now >= token.issued_at + timeout) return false;
  std::string data = token.name + ":" + token.time_hex;
  return constant_time_equal(hmac_sha256(key, data), token.mac);
}

bool session_needs_refresh(const SessionToken& token, uint64_t now, uint64_t timeout) {
  uint64_t expires = token.issued_at + timeout;
  uint64_t left = expires > now ? expires - now : 0;
  return 10 * left < 9 * timeout;  // couch_httpd_auth: TimeLeft < Timeout * 0.9
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = trim_ows(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim_ows(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

// ---- The _security object and the access rules ----------------------------------------------------

SecurityObject SecurityObject::parse(std::string_view json) {
  SecurityObject security;
  auto object = nlohmann::json::parse(json, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return security;
  security.admin_names = string_list(object, "admins", "names");
  security.admin_roles = string_list(object, "admins", "roles");
  security.member_names = string_list(object, "members", "names");
  security.member_roles = string_list(object, "members", "roles");
  return security;
}

bool is_db_admin(const UserCtx& user, const SecurityObject& security) {
  if (user.is_server_admin() || any_role_in(user, security.admin_roles)) return true;
  return user.name && contains(security.admin_names, *user.name);
}

bool is_member(const UserCtx& user, const SecurityObject& security) {
  if (is_db_admin(user, security) || security.is_public()) return true;
  if (any_role_in(user, security.member_roles)) return true;
  return user.name && contains(security.member_names, *user.name);
}

// spec: http-api.md §2.2; the shape follows CouchDB's chttpd_auth_request:authorize_request_int.
Error not_db_admin_error(const UserCtx& user) {
  return Error{user.anonymous() ? Code::kUnauthorized : Code::kForbidden,
               auth_reason::kNotDbOrServerAdmin};
}

std::optional<Error> check_access(Access access, const UserCtx& user,
                                  const SecurityObject* security) {
  static const SecurityObject kAdminOnly{{}, {"_admin"}, {}, {"_admin"}};
  if (!security) security = &kAdminOnly;
  switch (access) {
    case Access::kPublic:
      return std::nullopt;
    case Access::kAuthenticated:
      if (user.anonymous() && !user.is_server_admin()) {
        return Error{Code::kUnauthorized, auth_reason::kNotAuthenticated};
      }
      return std::nullopt;
    case Access::kServerAdmin:
      if (user.is_server_admin()) return std::nullopt;
      return Error{Code::kUnauthorized, auth_reason::kNotServerAdmin};
    case Access::kDbAdmin:
      if (is_db_admin(user, *security)) return std::nullopt;
      return Error{Code::kUnauthorized, auth_reason::kNotServerOrDbAdmin};
    case Access::kMember:
    case Access::kListing:  // the route table resolves it per database; as kMember otherwise
    case Access::kMemberDbAdmin:
      if (!is_member(user, *security)) {
        if (user.anonymous()) return Error{Code::kUnauthorized, auth_reason::kNotAuthorizedForDb};
        return Error{Code::kForbidden, auth_reason::kNotAllowedForDb};
      }
      if (access == Access::kMemberDbAdmin && !is_db_admin(user, *security)) {
        return not_db_admin_error(user);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace divan::http::server
