// Endpoint parsing. spec: replication-protocol.md §1, §3.1, §3.3. CouchDB reference:
// couch_replicator_parse:parse_rep_db/3 and couch_replicator_utils:normalize_basic_auth/1.
#include "replicator/endpoint.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

#include "base/base64.h"
#include "base/numbers.h"
#include "base/text.h"
#include "engine/catalog.h"

namespace divan::replicator {
namespace {

// CouchDB's reasons (couch_replicator_parse): an absent endpoint, and any URL it cannot use. The
// latter says "endpoint" whichever side it is, as CouchDB's does.
constexpr const char* kMissing = "Missing replicator database";
constexpr const char* kInvalidUrl = "endpoint has an invalid url";

// Headers that carry credentials: never part of the replication id (a rotated token must keep
// the checkpoints), and an Authorization header yields to explicit credentials.
bool is_credential_header(std::string_view name) {
  return ascii_iequals(name, "authorization") || ascii_iequals(name, "cookie");
}

// "Basic <base64(user:pass)>" (scheme case-insensitive, CouchDB maybe_remove_basic_auth): nullopt
// when the header is not Basic at all. A Basic header whose payload does not decode to "user:pass"
// still counts as Basic (it is removed) but yields no credentials, as in CouchDB.
std::optional<std::optional<Credentials>> basic_credentials(std::string_view value) {
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || !ascii_iequals(value.substr(0, space), "basic")) {
    return std::nullopt;
  }
  std::string_view payload = value.substr(space + 1);
  std::optional<Credentials> creds;
  if (auto decoded = base64_decode(payload)) {
    if (const size_t colon = decoded->find(':'); colon != std::string::npos) {
      creds = Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
    }
  }
  return creds;
}

// The path with each segment percent-decoded and re-encoded with only what a segment must
// escape, so "/a%2fb", "/a%2Fb" and "/db%24" and "/db$" each have one spelling ("/a%2Fb/",
// "/db$/"), always starting and ending with '/'.
std::string canonical_path(boost::urls::url_view url) {
  std::string path = "/";
  for (const std::string segment : url.segments()) {
    if (path.size() > 1) path += '/';
    path += boost::urls::encode(segment, boost::urls::pchars);
  }
  if (path.back() != '/') path += '/';
  return path;
}

}  // namespace

std::string percent_decode_lenient(std::string_view text) {
  auto pct = boost::urls::make_pct_string_view(text);
  if (!pct) return std::string(text);
  return pct->decode();  // default options: '+' is not a space
}

Result<Endpoint> Endpoint::parse(const Json& value) {
  if (value.is_null()) return fail(Code::kBadRequest, kMissing);

  std::string url_text;
  const Json* headers = nullptr;
  const Json* auth = nullptr;
  if (value.is_string()) {
    url_text = value.get<std::string>();
  } else if (value.is_object()) {
    auto it = value.find("url");
    if (it == value.end() || !it->is_string()) return fail(Code::kBadRequest, kInvalidUrl);
    url_text = it->get<std::string>();
    if (auto h = value.find("headers"); h != value.end() && !h->is_null()) headers = &*h;
    if (auto a = value.find("auth"); a != value.end() && !a->is_null()) auth = &*a;
  } else {
    return fail(Code::kBadRequest, kInvalidUrl);
  }

  Endpoint ep;
  auto parsed = boost::urls::parse_uri(url_text);
  if (!parsed) {
    // No scheme at all: a local database name (CouchDB 3 would refuse it). Database names cannot
    // contain ':', so anything that looks like "scheme:…" went down the URL path above.
    if (url_text.find(':') == std::string::npos) {
      if (auto valid = engine::Catalog::validate_name(url_text); !valid) {
        return tl::unexpected(valid.error());
      }
      ep.local_ = true;
      ep.db_name_ = url_text;
      return ep;
    }
    return fail(Code::kBadRequest, kInvalidUrl);
  }

  boost::urls::url url(*parsed);
  const auto scheme = url.scheme_id();
  if ((scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) ||
      !url.has_authority() || url.encoded_host().empty() || url.has_fragment()) {
    return fail(Code::kBadRequest, kInvalidUrl);
  }
  // Scheme and host are case-insensitive (RFC 3986 §6.2.2.1). The path is NOT given to Boost's
  // normalize(): the 1.81 one decodes "%2F" to "/", which turns the database "a/b" into document
  // "b" of database "a". Each path segment is decoded and re-encoded minimally instead
  // (canonical_path below).
  url.normalize_scheme();
  url.normalize_authority();

  ep.origin_.tls = scheme == boost::urls::scheme::https;
  ep.origin_.host = url.host_address();  // decoded; IPv6 without brackets
  if (url.has_port() && !url.port().empty()) {  // "host:" is the default port (RFC 3986 §3.2.3)
    // Boost's port_number() wraps ports above 65535; check the digits ourselves.
    const std::string_view digits = url.port();
    const auto port = parse_unsigned<unsigned>(digits);
    if (!port || *port == 0 || *port > 65535) return fail(Code::kBadRequest, kInvalidUrl);
    ep.origin_.port = static_cast<uint16_t>(*port);
  } else {
    ep.origin_.port = ep.origin_.tls ? 443 : 80;
  }
  ep.path_ = canonical_path(url);
  if (url.has_query()) ep.query_ = std::string(url.encoded_query());

  // Credentials, in CouchDB's order of precedence: auth.basic, then userinfo, then a Basic header.
  std::optional<Credentials> from_url;
  if (url.has_userinfo() && !url.user().empty()) {
    from_url = Credentials{url.user(), url.has_password() ? url.password() : std::string()};
  }
  std::optional<Credentials> from_auth;
  if (auth != nullptr) {
    if (!auth->is_object()) return fail(Code::kBadRequest, "endpoint `auth` must be an object");
    if (auto basic = auth->find("basic"); basic != auth->end() && basic->is_object()) {
      auto user = basic->find("username");
      auto pass = basic->find("password");
      // Like CouchDB, a half-filled basic object is ignored rather than refused.
      if (user != basic->end() && user->is_string() && pass != basic->end() && pass->is_string()) {
        from_auth = Credentials{user->get<std::string>(), pass->get<std::string>()};
      }
    }
  }
  std::optional<Credentials> from_header;
  if (headers != nullptr) {
    if (!headers->is_object()) {
      return fail(Code::kBadRequest, "endpoint `headers` must be an object of strings");
    }
    for (auto it = headers->begin(); it != headers->end(); ++it) {
      if (!it.value().is_string()) {
        return fail(Code::kBadRequest, "endpoint `headers` must be an object of strings");
      }
      const auto& v = it.value().get_ref<const std::string&>();
      if (ascii_iequals(it.key(), "authorization")) {
        if (auto basic = basic_credentials(v)) {
          if (!from_header) from_header = *basic;
          continue;  // a Basic header never stays a header
        }
      }
      ep.headers_.emplace_back(it.key(), v);
    }
  }
  if (from_auth) {
    ep.credentials_ = std::move(from_auth);
  } else if (from_url) {
    ep.credentials_ = std::move(from_url);
  } else if (from_header) {
    ep.credentials_ = std::move(from_header);
  }

  // Sorted by lower-cased name, one per name (the first given wins, as lists:ukeysort keeps).
  std::stable_sort(ep.headers_.begin(), ep.headers_.end(),
                   [](const auto& a, const auto& b) { return ascii_lower(a.first) < ascii_lower(b.first); });
  ep.headers_.erase(std::unique(ep.headers_.begin(), ep.headers_.end(),
                                [](const auto& a, const auto& b) { return ascii_iequals(a.first, b.first); }),
                    ep.headers_.end());
  return ep;
}

Headers Endpoint::request_headers() const {
  Headers out;
  if (local_) return out;
  if (credentials_) {
    out.emplace_back("Authorization",
                     "Basic " + base64_encode(credentials_->username + ":" +
                                                      credentials_->password));
  }
  for (const auto& [name, value] : headers_) {
    if (credentials_ && ascii_iequals(name, "authorization")) continue;
    out.emplace_back(name, value);
  }
  return out;
}

namespace {

// scheme://[userinfo@]host[:port]path[?query], the host bracketed when it is an IPv6 address and
// the port only when it is not the scheme's default.
std::string render(const http::client::Origin& origin, std::string_view userinfo,
                   std::string_view path, std::string_view query) {
  std::string out = origin.tls ? "https://" : "http://";
  if (!userinfo.empty()) {
    out += userinfo;
    out += '@';
  }
  const bool ipv6 = origin.host.find(':') != std::string::npos;
  if (ipv6) out += '[';
  out += origin.host;
  if (ipv6) out += ']';
  if (origin.port != (origin.tls ? 443 : 80)) {
    out += ':';
    out += std::to_string(origin.port);
  }
  out += path;
  if (!query.empty()) {
    out += '?';
    out += query;
  }
  return out;
}

}  // namespace

std::string Endpoint::url() const {
  if (local_) return db_name_;
  return render(origin_, "", path_, query_);
}

std::string Endpoint::redacted_url() const {
  if (local_ || !credentials_) return url();
  // The user name as it would appear in a URL's userinfo.
  std::string user(boost::urls::url().set_user(credentials_->username).encoded_user());
  return render(origin_, user + ":*****", path_, query_);
}

Json Endpoint::id_key() const {
  if (local_) return Json{{"local", db_name_}};
  Json headers = Json::array();
  for (const auto& [name, value] : headers_) {
    if (is_credential_header(name)) continue;
    headers.push_back(Json::array({ascii_lower(name), value}));
  }
  Json key;
  key["scheme"] = origin_.tls ? "https" : "http";
  key["user"] = credentials_ ? Json(credentials_->username) : Json(nullptr);
  key["host"] = origin_.host;
  key["port"] = origin_.port;
  key["path"] = path_;
  key["query"] = query_;
  key["headers"] = std::move(headers);
  return key;
}

}  // namespace divan::replicator
