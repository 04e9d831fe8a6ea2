#include "http/server/errors.h"

namespace divan::http::server {

ErrorInfo error_info(Code code) {
  CodeInfo info = code_info(code);
  return {static_cast<boost::beast::http::status>(info.status), info.error};
}

}  // namespace divan::http::server
