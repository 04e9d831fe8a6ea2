// /_session: cookie login, "who am I", logout (http-api.md §2.1; couch_httpd_auth:handle_session_req).
// The CouchDB replicator logs in here first (form-encoded POST, no Authorization header) and then
// sends the AuthSession cookie on every request; a 200 without the cookie would fail its job.
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <nlohmann/json.hpp>

#include "http/multipart/multipart.h"
#include "http/server/auth_service.h"
#include "http/server/handlers.h"
#include "http/server/json_body.h"
#include "http/server/response.h"

namespace divan::http::server {

namespace {

using Json = nlohmann::ordered_json;

struct LoginForm {
  std::optional<std::string> name;      // `name`
  std::optional<std::string> username;  // `username`, another spelling CouchDB accepts
  std::string password;
};

// The login body: form-encoded or a JSON object of strings; anything else is 415.
Result<LoginForm> parse_login(const Request& req) {
  LoginForm form;
  auto put = [&form](std::string_view key, std::string value) {
    if (key == "name") form.name = std::move(value);
    else if (key == "username") form.username = std::move(value);
    else if (key == "password") form.password = std::move(value);
  };
  // The media type alone, case-folded (http/multipart's one parser).
  const std::string media_type =
      multipart::parse_media_type(req.header(bhttp::field::content_type)).value_or("");
  if (media_type == "application/x-www-form-urlencoded") {
    // Parsed as the query of "/?<body>", the way Request parses query strings.
    std::string target = "/?" + req.body();
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return form;
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    for (auto param : url->params(opts)) {
      put(param.key, param.has_value ? std::string(param.value) : std::string());
    }
    return form;
  }
  if (media_type == "application/json") {
    auto json = parse_json_object(req.body());
    if (!json) return tl::unexpected(json.error());
    for (auto& [key, value] : json->items()) {
      if (key != "name" && key != "username" && key != "password") continue;
      if (!value.is_string()) return fail(Code::kBadRequest, key + " must be a string");
      put(key, value.get<std::string>());
    }
    return form;
  }
  return fail(Code::kBadContentType,
              "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'");
}

// couch_httpd_auth:extract_username.
Result<std::string> login_name(const LoginForm& form) {
  if (!form.name && !form.username) {
    return fail(Code::kBadRequest, "request body must contain a username");
  }
  if (form.name && form.username && *form.name != *form.username) {
    return fail(Code::kBadRequest, "request body contains different usernames");
  }
  return form.name ? *form.name : *form.username;
}

// `?next=/path` (or `?fail=` after a failed login): 302 to it instead of the JSON status.
void maybe_redirect(const Request& req, std::string_view param, Response& res) {
  auto target = req.param(param);
  if (!target) return;
  res.result(bhttp::status::found);
  std::string location(*target);
  if (location.starts_with('/')) {
    location = "http://" + std::string(req.header(bhttp::field::host)) + location;
  }
  res.set(bhttp::field::location, location);
}

Response roles_reply(bhttp::status status, const std::optional<std::string>& name,
                     const std::vector<std::string>& roles) {
  Json body = {{"ok", true}, {"name", name ? Json(*name) : Json(nullptr)}, {"roles", roles}};
  return json_response(status, body.dump());
}

Response login(Request& req, AuthService& auth) {
  auto form = parse_login(req);
  if (!form) return error_response(form.error());
  auto name = login_name(*form);
  if (!name) return error_response(name.error());
  auto creds = auth.find_credentials(*name);
  if (!creds || !auth.check_password(*creds, form->password)) {
    Response res = error_response({Code::kUnauthorized, auth_reason::kBadCredentials});
    res.set(bhttp::field::set_cookie, AuthService::clear_session_cookie());
    maybe_redirect(req, "fail", res);
    return res;
  }
  Response res = roles_reply(bhttp::status::ok, creds->name, creds->roles);
  res.set(bhttp::field::set_cookie, auth.session_cookie(*creds, AuthService::now_seconds()));
  maybe_redirect(req, "next", res);
  return res;
}

Response session_info(const Request& req) {
  const RequestAuth* who = req.auth();
  UserCtx user;
  std::string_view handler;
  if (who) {
    user = who->user;
    handler = who->authenticated;
  } else {
    user.roles = {"_admin"};  // no auth service (unit tests): everyone is admin
    handler = "default";
  }
  if (user.anonymous() && req.param("basic") == "true") {
    return error_response({Code::kUnauthorized, "Please login."});
  }
  Json info = {{"authentication_handlers", {"cookie", "default"}}};
  if (!handler.empty()) info["authenticated"] = std::string(handler);
  Json body = {{"ok", true},
               {"userCtx", {{"name", user.name ? Json(*user.name) : Json(nullptr)},
                            {"roles", user.roles}}},
               {"info", std::move(info)}};
  return json_response(bhttp::status::ok, body.dump());
}

Response logout(const Request& req) {
  Response res = json_response(bhttp::status::ok, R"({"ok":true})");
  res.set(bhttp::field::set_cookie, AuthService::clear_session_cookie());
  maybe_redirect(req, "next", res);
  return res;
}

}  // namespace

Task<Response> handle_session(Request& req, ServerContext& ctx) {
  switch (req.method()) {
    case bhttp::verb::post:
      if (!ctx.auth) co_return error_response({Code::kNotFound, reason::kMissing});
      co_return login(req, *ctx.auth);
    case bhttp::verb::delete_:
      co_return logout(req);
    default:
      co_return session_info(req);
  }
}

}  // namespace divan::http::server
