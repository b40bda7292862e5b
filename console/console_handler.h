// Everything baton-console answers, by path: the session (sign-in, who, sign-out), the
// JSON gateway to the orchestrator's unary methods, WatchRun as server-sent events,
// and the front end's static files. It holds no business logic: each /api call is one
// orchestrator call made with the caller's credential (docs/operations.md, "Web
// console").
#ifndef BATON_CONSOLE_CONSOLE_HANDLER_H_
#define BATON_CONSOLE_CONSOLE_HANDLER_H_

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/time/time.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "common/clock.h"
#include "console/http.h"
#include "console/json_gateway.h"
#include "console/sessions.h"
#include "console/static_files.h"
#include "console/watch_stream.h"

namespace baton::console {

struct ConsoleOptions {
  // The front end's files (index.html, app.js, app.css). Default: none (503 page).
  std::string static_dir;
  // Session cookies get Secure even over plain HTTP, for a console behind a TLS
  // proxy. Default: false (Secure only when the request came over TLS).
  bool secure_cookies = false;
  // Each gateway call's deadline. Default: 30 s.
  absl::Duration call_timeout = absl::Seconds(30);
  WatchOptions watch;
  SessionOptions sessions;
};

// Thread-safe: the HTTP server calls Handle on many threads. `clock` must outlive it.
class ConsoleHandler final : public HttpHandler {
 public:
  ConsoleHandler(std::shared_ptr<grpc::Channel> channel, const Clock& clock, ConsoleOptions options);

  void Handle(const HttpRequest& request, HttpResponder& responder) override;
  // Streams end within a second from now on (call before stopping the server, which
  // waits for them).
  void Stop() { stopping_ = true; }

 private:
  HttpResponse Session(const HttpRequest& request);
  HttpResponse SignIn(const HttpRequest& request);
  // The API (under /api/v1/): a unary call or a watch (which answers itself; then
  // the returned response is not sent).
  std::optional<HttpResponse> Api(const HttpRequest& request, HttpResponder& responder);
  // WhoAmI with `token`: the response JSON.
  absl::StatusOr<std::string> WhoAmI(const std::string& token);
  // The credential of a request: its Authorization: Bearer header, else its session's
  // token, else "" (the orchestrator decides; without --auth it needs none).
  std::string TokenOf(const HttpRequest& request);

  const ConsoleOptions options_;
  JsonGateway gateway_;
  std::unique_ptr<v1::RunService::Stub> watch_stub_;
  SessionStore sessions_;
  StaticFiles static_files_;
  std::atomic<bool> stopping_{false};
};

}  // namespace baton::console

#endif  // BATON_CONSOLE_CONSOLE_HANDLER_H_
