// Reading and writing header field values (RFC 9110 §5.5, §5.6): the few rules every handler that
// looks at a header needs, in one place.
#pragma once

#include <string>
#include <string_view>

#include "base/text.h"
#include "engine/doc_json.h"
#include "engine/error.h"

namespace divan::http::server {

using engine::has_control_char;
using engine::kOctetStream;

using divan::trim_ows;  // base/text.h

// An entity tag without its weak prefix and quotes: `W/"x"` → `x`, `"x"` → `x`, `x` → `x`.
std::string_view unquote_etag(std::string_view tag);

// Whether an If-None-Match value names `tag` (the bare opaque tag, unquoted): a comma-separated list
// of entity tags, each with an optional W/ (weak comparison, RFC 9110 §13.1.2), or `*`.
bool etag_list_matches(std::string_view if_none_match, std::string_view tag);

// A request's Content-Encoding: none or "identity" → false, "gzip" → true (any case, surrounding
// whitespace ignored); anything else is 415 bad_content_type (chttpd_db, CouchDB's reason).
Result<bool> gzip_content_encoding(std::string_view content_encoding);

// The q of one Accept or Accept-Encoding element's parameters (";q=0.5;level=1"): 1 when absent,
// 0 for a malformed one (RFC 9110 §12.4.2: q is 0 to 1 with at most three decimals).
double accept_quality(std::string_view params);

// Whether an Accept-Encoding value admits gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip` with a q
// above 0, or `*` with one when gzip is not listed. An absent header admits identity only, as
// CouchDB reads it (couch_httpd:accepted_encodings).
bool accepts_gzip(std::string_view accept_encoding);

// A stored content type as a Content-Type value: kOctetStream for an empty one, or for one that
// could not be a header value (stored before control characters were refused on input).
std::string_view header_content_type(std::string_view stored);

}  // namespace divan::http::server
