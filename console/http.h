// The console's view of HTTP: a request read whole (bodies are bounded) and a
// responder that sends one response or a stream (server-sent events). The server
// (civet_server.h) fills these from civetweb; handlers and their tests see only this.
#ifndef BATON_CONSOLE_HTTP_H_
#define BATON_CONSOLE_HTTP_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::console {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // URL-decoded, without the query string
  std::string query;   // after '?', still URL-encoded; "" when none
  // Header names in lowercase; the first value of each.
  std::map<std::string, std::string> headers;
  std::string body;
  // The body was longer than the server's limit: `body` holds none of it.
  bool body_too_large = false;
  // Served over TLS (cookies get Secure).
  bool tls = false;

  // The header's value, "" when absent. REQUIRES: `name` in lowercase.
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
};

// One response per request: Send once, or Start a stream and Write to it.
// Not thread-safe: the request's thread uses it.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void Send(const HttpResponse& response) = 0;
  // The status line and headers of a response whose body follows in Writes and ends
  // when the handler returns (the connection closes). false: the client is gone.
  virtual bool Start(int status, const HttpHeaders& headers) = 0;
  virtual bool Write(std::string_view data) = 0;
};

// Handles every request; called on the server's threads, several at once.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(const HttpRequest& request, HttpResponder& responder) = 0;
};

}  // namespace baton::console

#endif  // BATON_CONSOLE_HTTP_H_
