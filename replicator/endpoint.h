// One side of a replication: the database named by a `source` or `target` value.
//
// spec: replication-protocol.md §1 (endpoint forms), §3.1 (credentials, redaction, trailing '/'),
// §3.3 (what of an endpoint goes into the replication id).
//
// A value is either
//   - a URL string "http(s)://[user:pass@]host[:port]/path/db" (a REMOTE database), or
//   - the object form {"url": …, "headers": {…}, "auth": {"basic": {"username", "password"}}}, or
//   - a string without a scheme: a LOCAL database name, which Divan serves directly from its engine
//     (CouchDB 3 refuses these with `local_endpoints_not_supported`; we do not).
// Credentials may come from the URL's userinfo (percent-decoded), from `auth.basic`, or from an
// `Authorization: Basic …` header; like CouchDB (couch_replicator_utils:normalize_basic_auth) the
// first of auth.basic, userinfo, header wins, and all of them are removed from the URL and the
// header list and kept only as credentials. What is left is a normalised URL without secrets, the
// remaining headers (sorted), and the credentials: so no log line, status page or replication id
// can carry a password by accident.
//
// Immutable value; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "http/client/client.h"

namespace divan::replicator {

using Json = nlohmann::ordered_json;

// Which end of a replication a call went to (for error reasons and the read-only-source rule).
enum class Side { kSource, kTarget };
inline const char* side_name(Side side) { return side == Side::kSource ? "source" : "target"; }

struct Credentials {
  std::string username;
  std::string password;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class Endpoint {
 public:
  // Parses a `source`/`target` value (any JSON; absent or null = missing). Errors are bad_request
  // with CouchDB's reasons: "Missing replicator database" (absent), "endpoint has an invalid url"
  // (unparsable URL, scheme other than http/https, object without a string `url`); and, ours, for
  // malformed `headers`/`auth`. A local name must pass engine::Catalog::validate_name
  // (illegal_database_name with CouchDB's reason otherwise).
  [[nodiscard]] static Result<Endpoint> parse(const Json& value);

  bool is_local() const { return local_; }

  // LOCAL only: the database name.
  const std::string& db_name() const { return db_name_; }

  // REMOTE only.
  // Where the HTTP client sends this endpoint's requests: host as a resolver wants it (a name, an
  // IPv4 address, or an IPv6 one without []), the effective port (80/443 when the URL names none).
  const http::client::Origin& origin() const { return origin_; }
  // The database path, percent-encoded as a request target wants it and ending with '/': "/db/",
  // "/a%2Fb/" for the database "a/b". One spelling per path: each segment is decoded and
  // re-encoded escaping only what a segment must ("/a%2fb" and "/db%24" become "/a%2Fb/" and
  // "/db$/"). Requests append to it ("/db/_changes").
  const std::string& path() const { return path_; }
  // The URL's query string without '?', kept verbatim (CouchDB keeps it; almost always empty).
  const std::string& query() const { return query_; }
  const std::optional<Credentials>& credentials() const { return credentials_; }
  // The headers given in the object form, Basic credentials removed, sorted by lower-cased name
  // (one per name, the first given wins).
  const Headers& headers() const { return headers_; }

  // The headers to send on every request to this endpoint: headers() plus
  // `Authorization: Basic base64(user:password)` when there are credentials (which then replace
  // any other Authorization header). Empty for a local endpoint.
  Headers request_headers() const;

  // "http://host:5984/db/": normalised (lower-case scheme and host, default port omitted), no
  // credentials. A local endpoint: its name.
  std::string url() const;
  // url() as CouchDB shows endpoints in logs, _scheduler and _active_tasks when there are
  // credentials: "http://adm:*****@host:5984/db/" (the password is never shown, not even its
  // length). Without credentials, or local: url().
  std::string redacted_url() const;

  // What of this endpoint goes into the replication id (spec §3.3 "Ours"): for a remote database
  // {"scheme","user","host","port","path","query","headers"} with the effective port, the user name
  // (or null) but never the password, and the headers minus any that carry credentials
  // (Authorization, Cookie), lower-cased names, sorted; for a local one {"local": name}. Changing a
  // password keeps the id, and so the checkpoints.
  Json id_key() const;

 private:
  bool local_ = false;
  std::string db_name_;
  http::client::Origin origin_;
  std::string path_;
  std::string query_;
  std::optional<Credentials> credentials_;
  Headers headers_;
};

// Percent-decodes `text` when it is validly percent-encoded, else returns it unchanged (as
// CouchDB's unquote does with stray '%'). Unlike CouchDB's mochiweb unquote, '+' stays '+': doc
// ids such as "+15551234" are common, and a '+' that turned into a space would silently replicate
// a different document.
std::string percent_decode_lenient(std::string_view text);

}  // namespace divan::replicator
