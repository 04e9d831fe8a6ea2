#include "http/server/request.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace divan::http::server {

Request::Request(RawRequest&& raw) : raw_(std::move(raw)) {
  auto url = boost::urls::parse_origin_form(raw_.target());
  if (!url) {
    target_valid_ = false;
    return;
  }
  for (auto segment : url->segments()) path_.push_back(std::string(segment));
  if (!path_.empty() && path_.back().empty()) {
    path_.pop_back();
    trailing_slash_ = true;
  }
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
