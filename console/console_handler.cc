#include "console/console_handler.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "console/exposed_services.h"
#include "console/http_errors.h"

namespace baton::console {
namespace {

// On every response: the page runs only its own files (no inline script, nothing from
// elsewhere), in no frame; the browser does not guess types or send the URL onwards.
const HttpHeaders& SecurityHeaders() {
  static const HttpHeaders headers = {
      {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return headers;
}

// Adds SecurityHeaders to what a handler sends; logs server-side failures.
class SecureResponder final : public HttpResponder {
 public:
  SecureResponder(HttpResponder& inner, const HttpRequest& request) : inner_(inner), request_(request) {}

  void Send(const HttpResponse& response) override {
    HttpResponse out = response;
    out.headers.insert(out.headers.end(), SecurityHeaders().begin(), SecurityHeaders().end());
    if (request_.method == "HEAD") out.body.clear();
    // The path only: a token is never in a URL, and bodies are not logged.
    if (out.status >= 500) {
      BATON_LOG(WARNING) << request_.method << " " << request_.path << ": " << out.status;
    }
    inner_.Send(out);
  }
  bool Start(int status, const HttpHeaders& headers) override {
    HttpHeaders all = headers;
    all.insert(all.end(), SecurityHeaders().begin(), SecurityHeaders().end());
    return inner_.Start(status, all);
  }
  bool Write(std::string_view data) override { return inner_.Write(data); }

 private:
  HttpResponder& inner_;
  const HttpRequest& request_;
};

HttpResponse JsonResponse(std::string body) {
  return HttpResponse{200, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}, std::move(body)};
}

HttpResponse MethodNotAllowed(const std::string& allowed) {
  HttpResponse response = ErrorResponse(
      absl::InvalidArgumentError(absl::StrCat("method not allowed here; use ", allowed)), 405);
  response.headers.emplace_back("Allow", allowed);
  return response;
}

// CSRF: a state-changing request must say it is JSON. A cross-site form cannot send
// that type without a CORS preflight, which this server never grants.
std::optional<HttpResponse> CheckJsonContentType(const HttpRequest& request) {
  std::string type = absl::AsciiStrToLower(request.Header("content-type"));
  type = std::string(absl::StripAsciiWhitespace(type.substr(0, type.find(';'))));
  if (type == "application/json") return std::nullopt;
  return ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
                           "Content-Type must be application/json (got \"", request.Header("content-type"), "\")")),
                       415);
}

HttpResponse TooLarge() {
  return ErrorResponse(absl::InvalidArgumentError("request body: larger than 4 MiB"), 413);
}

}  // namespace

ConsoleHandler::ConsoleHandler(std::shared_ptr<grpc::Channel> channel, const Clock& clock, ConsoleOptions options)
    : options_(std::move(options)),
      gateway_(channel, options_.call_timeout),
      watch_stub_(v1::RunService::NewStub(channel)),
      sessions_(clock, options_.sessions),
      static_files_(options_.static_dir) {}

void ConsoleHandler::Handle(const HttpRequest& request, HttpResponder& raw) {
  SecureResponder responder(raw, request);
  if (request.path == "/api/session") {
    responder.Send(Session(request));
  } else if (absl::StartsWith(request.path, "/api/v1/")) {
    if (std::optional<HttpResponse> response = Api(request, responder); response.has_value()) {
      responder.Send(*response);
    }
  } else if (absl::StartsWith(request.path, "/api/") || request.path == "/api") {
    responder.Send(ErrorResponse(absl::NotFoundError(absl::StrCat("no route ", request.path))));
  } else if (request.method != "GET" && request.method != "HEAD") {
    responder.Send(MethodNotAllowed("GET"));
  } else {
    responder.Send(static_files_.Get(request.path));
  }
}

HttpResponse ConsoleHandler::Session(const HttpRequest& request) {
  if (request.method == "GET") {
    absl::StatusOr<std::string> who = WhoAmI(TokenOf(request));
    return who.ok() ? JsonResponse(*std::move(who)) : ErrorResponse(who.status());
  }
  if (request.method != "POST" && request.method != "DELETE") return MethodNotAllowed("GET, POST, DELETE");
  if (std::optional<HttpResponse> refused = CheckJsonContentType(request); refused.has_value()) return *refused;
  if (request.body_too_large) return TooLarge();
  if (request.method == "POST") return SignIn(request);
  if (std::string id = CookieValue(request.Header("cookie"), kSessionCookie); !id.empty()) sessions_.Delete(id);
  return HttpResponse{204, {{"Set-Cookie", SessionCookie("", options_.secure_cookies || request.tls)}}, ""};
}

HttpResponse ConsoleHandler::SignIn(const HttpRequest& request) {
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return ErrorResponse(absl::InvalidArgumentError(R"(request body: expected a JSON object {"token": "..."})"));
  }
  auto token = body.find("token");
  if (token == body.end() || !token->is_string() || token->get<std::string>().empty()) {
    return ErrorResponse(absl::InvalidArgumentError("token: required, the API key or bearer token to sign in with"));
  }
  absl::StatusOr<std::string> who = WhoAmI(token->get<std::string>());
  if (!who.ok()) {
    BATON_LOG(INFO) << "sign-in refused: " << who.status().code();
    return ErrorResponse(who.status());
  }
  const std::string id = sessions_.Create(token->get<std::string>());
  const nlohmann::json identity = nlohmann::json::parse(*who, nullptr, false);
  BATON_LOG(INFO) << "signed in: principal \""
                  << (identity.is_object() ? identity.value("principal", std::string()) : std::string()) << "\"";
  HttpResponse response = JsonResponse(*std::move(who));
  response.headers.emplace_back("Set-Cookie", SessionCookie(id, options_.secure_cookies || request.tls));
  return response;
}

std::optional<HttpResponse> ConsoleHandler::Api(const HttpRequest& request, HttpResponder& responder) {
  // "/api/v1/{Service}/{Method}"
  std::vector<std::string> parts = absl::StrSplit(request.path.substr(8), '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return ErrorResponse(absl::NotFoundError(absl::StrCat("no route ", request.path, " (/api/v1/{Service}/{Method})")));
  }
  if (parts[0] == "RunService" && parts[1] == "WatchRun") {
    if (request.method != "GET") return MethodNotAllowed("GET");
    absl::StatusOr<v1::WatchRunRequest> watch = WatchRequestOf(request.query, request.Header("last-event-id"));
    if (!watch.ok()) return ErrorResponse(watch.status());
    ServeWatch(*watch_stub_, *watch, TokenOf(request), responder, stopping_, options_.watch);
    return std::nullopt;
  }
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method = FindUnaryMethod(parts[0], parts[1]);
  if (!method.ok()) return ErrorResponse(method.status());
  if (request.method != "POST") return MethodNotAllowed("POST");
  if (std::optional<HttpResponse> refused = CheckJsonContentType(request); refused.has_value()) return *refused;
  if (request.body_too_large) return TooLarge();
  absl::StatusOr<std::string> answer = gateway_.Call(**method, request.body, TokenOf(request));
  return answer.ok() ? JsonResponse(*std::move(answer)) : ErrorResponse(answer.status());
}

absl::StatusOr<std::string> ConsoleHandler::WhoAmI(const std::string& token) {
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method = FindUnaryMethod("IdentityService", "WhoAmI");
  if (!method.ok()) return method.status();
  return gateway_.Call(**method, "", token);
}

std::string ConsoleHandler::TokenOf(const HttpRequest& request) {
  const std::string authorization = request.Header("authorization");
  if (authorization.size() > 7 && absl::EqualsIgnoreCase(authorization.substr(0, 7), "Bearer ")) {
    return std::string(absl::StripAsciiWhitespace(authorization.substr(7)));
  }
  if (std::string id = CookieValue(request.Header("cookie"), kSessionCookie); !id.empty()) {
    return sessions_.Token(id).value_or("");
  }
  return "";
}

}  // namespace baton::console
