#include "http/server/header_values.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <boost/beast/core/string.hpp>

namespace divan::http::server {


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

double accept_quality(std::string_view params) {
  for (size_t start = 0; start < params.size();) {
    size_t end = std::min(params.find(';', start), params.size());
    std::string_view param = trim_ows(params.substr(start, end - start));
    start = end + 1;
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') continue;
    std::string_view value = trim_ows(param.substr(2));
    double q = 0;
    auto [last, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
    if (ec != std::errc() || last != value.data() + value.size() || q < 0 || q > 1) return 0;
    return q;
  }
  return 1;
}

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<bool> gzip, any;
  while (!accept_encoding.empty()) {
    size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = trim_ows(item.substr(0, semi));
    const bool acceptable =
        accept_quality(semi == std::string_view::npos ? "" : item.substr(semi)) > 0;
    if (boost::beast::iequals(coding, "gzip") || boost::beast::iequals(coding, "x-gzip")) {
      gzip = acceptable;
    } else if (coding == "*") {
      any = acceptable;
    }
  }
  return gzip.value_or(any.value_or(false));
}

}  // namespace divan::http::server
