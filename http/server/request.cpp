#include "http/server/request.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace divan::http::server {

std::optional<std::vector<std::string>> decode_path(std::string_view target,
                                                    bool* trailing_slash) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  const auto segments = url->segments();
  std::vector<std::string> path;
  path.reserve(segments.size());
  for (auto segment : segments) {
    if (!segment.empty()) path.push_back(std::string(segment));
  }
  if (trailing_slash) *trailing_slash = !segments.empty() && segments.back().empty();
  return path;
}

Request::Request(RawRequest&& raw) : raw_(std::move(raw)) {
  auto url = boost::urls::parse_origin_form(raw_.target());
  auto path = decode_path(raw_.target(), &trailing_slash_);
  if (!url || !path) {
    target_valid_ = false;
    return;
  }
  path_ = std::move(*path);
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (auto param : url->params(opts)) {
    params_.emplace_back(std::string(param.key), param.has_value ? std::string(param.value) : "");
  }
}

std::optional<std::string_view> Request::param(std::string_view key) const {
  for (auto it = params_.rbegin(); it != params_.rend(); ++it) {
    if (it->first == key) return std::string_view(it->second);
  }
  return std::nullopt;
}

std::string_view Request::header(bhttp::field field) const {
  auto it = raw_.find(field);
  return it == raw_.end() ? std::string_view() : std::string_view(it->value());
}

std::string_view Request::header(std::string_view name) const {
  auto it = raw_.find(name);
  return it == raw_.end() ? std::string_view() : std::string_view(it->value());
}

}  // namespace divan::http::server
