// A small HTTP/1.1 server on POSIX sockets: one thread per connection, keep-alive,
// Content-Length request bodies, responses with Content-Length or streamed with
// chunked transfer encoding. Enough for a local test double, not for the internet.
#ifndef BATON_WORKERS_MODEL_SIM_HTTP_SERVER_H_
#define BATON_WORKERS_MODEL_SIM_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "workers/model_sim/http_message.h"

namespace baton::model_sim {

// Called on the connection's thread, possibly from many threads at once. It owns the
// request it is given.
using HttpHandler = std::function<HttpResponse(HttpRequest)>;

struct HttpServerOptions {
  // host:port to bind; port 0 picks a free one. IPv6 as "[::1]:0".
  // Default: "127.0.0.1:0".
  std::string listen = "127.0.0.1:0";
  // Larger request bodies get 413. Default: 64 MiB.
  size_t max_body_bytes = size_t{64} << 20;
  // Connections beyond this get 503 and are closed. Default: 512.
  int max_connections = 512;
  // An idle keep-alive connection is closed after this many seconds. Default: 300.
  int idle_timeout_seconds = 300;
};

// Thread-safe. Start() once, Stop() once (the destructor stops too). The handler
// must outlive the server.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens, then serves on background threads.
  absl::Status Start();
  // The bound port. REQUIRES: Start() returned OK.
  int port() const { return port_; }
  // Stops accepting, wakes waits and closes open connections, joins every thread.
  void Stop();

 private:
  struct Connection {
    int fd = -1;
    bool done = false;
    std::thread thread;
  };

  void AcceptLoop();
  void Serve(Connection* conn);
  // Reads and answers one request (`buf` keeps bytes read past it); false to close.
  bool ServeOne(int fd, std::string& buf);
  // Writes `response` to a request of `method` and HTTP `version`; false when the peer
  // is gone or the server is stopping.
  bool WriteResponse(int fd, absl::string_view method, absl::string_view version, const HttpResponse& response,
                     bool keep_alive);
  // Sleeps for `d`; false when the server stopped meanwhile.
  bool Wait(absl::Duration d);
  void ReapFinished();

  const HttpServerOptions options_;
  const HttpHandler handler_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  absl::Notification stopping_;

  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // std::list: Serve() holds a pointer to its element while it runs.
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
  // Declared last: joined in Stop() before anything above goes away.
  std::thread accept_thread_;
};

// "HTTP/1.1 429 Too Many Requests" style reason phrase ("Unknown" when unlisted).
const char* HttpReasonPhrase(int status);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_HTTP_SERVER_H_
