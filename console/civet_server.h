// The console's HTTP server: civetweb (Debian's libcivetweb), one thread per
// connection from a fixed pool, every request handed to one HttpHandler. civetweb's
// header stays in civet_server.cc.
#ifndef BATON_CONSOLE_CIVET_SERVER_H_
#define BATON_CONSOLE_CIVET_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "console/http.h"

struct mg_connection;
struct mg_context;

namespace baton::console {

struct CivetServerOptions {
  // HOST:PORT; port 0 picks a free one. Default: 127.0.0.1:8233.
  std::string listen = "127.0.0.1:8233";
  // Requests served at once. A browser watching a run holds one for as long as it
  // watches (server-sent events). Default: 64.
  int threads = 64;
  // Bodies longer than this reach the handler as body_too_large. Default: 4 MiB.
  size_t max_body_bytes = 4 << 20;
};

// Serves until destroyed. Thread-safe; `handler` must outlive it.
class CivetServer {
 public:
  // INVALID_ARGUMENT for a malformed --listen, UNAVAILABLE when it cannot bind.
  static absl::StatusOr<std::unique_ptr<CivetServer>> Start(const CivetServerOptions& options,
                                                            HttpHandler& handler);
  // Stops accepting, waits for the requests in progress (streams end when their
  // handler returns).
  ~CivetServer();
  CivetServer(const CivetServer&) = delete;
  CivetServer& operator=(const CivetServer&) = delete;

  int port() const { return port_; }

 private:
  CivetServer(HttpHandler& handler, size_t max_body_bytes) : handler_(handler), max_body_bytes_(max_body_bytes) {}
  static int Dispatch(::mg_connection* conn, void* self);

  HttpHandler& handler_;
  const size_t max_body_bytes_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace baton::console

#endif  // BATON_CONSOLE_CIVET_SERVER_H_
