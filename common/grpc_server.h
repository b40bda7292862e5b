// Starting a gRPC server the same way in every Baton process: health checking and
// server reflection (v1alpha and v1, common/reflection_v1.h) on, bound to the given
// address (port 0 picks a free port).
#ifndef BATON_COMMON_GRPC_SERVER_H_
#define BATON_COMMON_GRPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>
#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "common/tls.h"

namespace grpc {
class AuthMetadataProcessor;
class Service;
namespace experimental {
class ServerInterceptorFactoryInterface;
}
}  // namespace grpc

namespace baton {

// Largest message a server receives or sends unless told otherwise. A server that
// limits its requests itself (the orchestrator, orchestrator/limits.h) receives a
// little more than its largest limit, so what is over a limit gets its own message.
inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

// Who may call a server (the orchestrator's --auth, orchestrator/auth/).
struct ServerAuthOptions {
  // Checks the credentials and role of every call before it reaches a handler. gRPC
  // runs a processor only on secure credentials: with TLS it is attached to them;
  // without TLS the server listens with local credentials instead (plaintext on the
  // wire, so plaintext clients work, but only peers on this host are accepted), and a
  // non-loopback address is refused. Default: none (no checks).
  std::shared_ptr<grpc::AuthMetadataProcessor> processor;
  // Observe every call (the audit log). Default: none.
  std::vector<std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the port actually bound
};

// Registers `services` (not owned; they must outlive the server), enables the
// standard health service and server reflection, and binds `address`
// ("127.0.0.1:0", "0.0.0.0:7233"...). Health answers SERVING for the server as a whole
// ("") and for each of `service_names` ("baton.v1.RunService"), which probes that name
// a service ask for; other names are NOT_FOUND. `tls` (common/tls.h): TLS with
// certificates reloaded from their files, plaintext when !tls.enabled(); whether the
// address may be served without TLS is the caller's decision (CheckListenSecurity).
absl::StatusOr<StartedServer> StartGrpcServer(const std::string& address,
                                              const std::vector<grpc::Service*>& services,
                                              const std::vector<std::string>& service_names = {},
                                              const ServerTlsOptions& tls = {},
                                              int max_receive_message_bytes = kDefaultMaxMessageBytes,
                                              const ServerAuthOptions& auth = {});

// Writes `port` to `path` atomically (write to a temp file, then rename), so a
// parent process polling for the file never reads half a number.
absl::Status WritePortFile(const std::string& path, int port);

// The first value of the metadata `key` (lowercase) the client sent; "" when none.
std::string ClientMetadataValue(const grpc::ServerContextBase& context, const std::string& key);
// Every value of `key` the client sent, in order, joined by ',' (as HTTP combines a
// header sent more than once); "" when none.
std::string ClientMetadataValues(const grpc::ServerContextBase& context, const std::string& key);

}  // namespace baton

#endif  // BATON_COMMON_GRPC_SERVER_H_
