#include "http/server/header_values.h"

#include <algorithm>

#include <boost/beast/core/string.hpp>

namespace divan::http::server {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view unquote_etag(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
  return tag;
}

bool etag_list_matches(std::string_view if_none_match, std::string_view tag) {
  while (!if_none_match.empty()) {
    size_t comma = if_none_match.find(',');
    std::string_view item = trim_ows(if_none_match.substr(0, comma));
    if_none_match = comma == std::string_view::npos ? std::string_view()
                                                    : if_none_match.substr(comma + 1);
    if (item == "*") return true;
    if (!item.empty() && unquote_etag(item) == tag) return true;
  }
  return false;
}

Result<bool> gzip_content_encoding(std::string_view content_encoding) {
  content_encoding = trim_ows(content_encoding);
  if (content_encoding.empty() || boost::beast::iequals(content_encoding, "identity")) return false;
  if (boost::beast::iequals(content_encoding, "gzip")) return true;
  return fail(Code::kBadContentType, "Only gzip and identity content-encodings are supported");
}

std::string_view header_content_type(std::string_view stored) {
  if (stored.empty() || has_control_char(stored)) return kOctetStream;
  return stored;
}

}  // namespace divan::http::server
