#include "http/server/response.h"

#include "http/server/errors.h"

namespace divan::http::server {

Response json_response(bhttp::status status, std::string body) {
  Response res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "must-revalidate");
  body.push_back('\n');  // CouchDB ends every JSON reply with a newline
  res.body() = std::move(body);
  return res;
}

Response error_response(const Error& error) {
  ErrorInfo info = error_info(error.code);
  std::string body = "{\"error\":";
  append_json_string(body, info.error);
  body += ",\"reason\":";
  append_json_string(body, error.reason);
  body.push_back('}');
  return json_response(info.status, std::move(body));
}

Response method_not_allowed(std::string_view methods) {
  Response res = error_response({Code::kMethodNotAllowed, "Only " + std::string(methods) + " allowed"});
  res.set(bhttp::field::allow, methods);
  return res;
}

}  // namespace divan::http::server
