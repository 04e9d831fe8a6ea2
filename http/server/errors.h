// The one place that turns an Error into CouchDB's {status, "error", "reason"} (chttpd error_info).
// Handlers never pick an error status themselves.
#pragma once

#include <ostream>  // (boost/beast/http/status.hpp needs it declared)
#include <string_view>

#include <boost/beast/http/status.hpp>

#include "engine/error.h"

namespace divan::http::server {

struct ErrorInfo {
  boost::beast::http::status status;
  std::string_view error;  // CouchDB's "error" string, e.g. "not_found"
};

ErrorInfo error_info(Code code);

}  // namespace divan::http::server
