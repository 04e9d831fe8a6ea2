#include "http/server/response.h"

#include "http/server/errors.h"

namespace divan::http {

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

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

}  // namespace divan::http
