// Starting a gRPC server the same way in every Baton process: health checking and
// reflection on, bound to the given address (port 0 picks a free port).
#ifndef BATON_COMMON_GRPC_SERVER_H_
#define BATON_COMMON_GRPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"

namespace grpc {
class Service;
}

namespace baton {

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the port actually bound
};

// Registers `services` (not owned; they must outlive the server), enables the
// standard health service and server reflection, and binds `address`
// ("127.0.0.1:0", "0.0.0.0:7233"...). Health answers SERVING for the server as a whole
// ("") and for each of `service_names` ("baton.v1.RunService"), which probes that name
// a service ask for; other names are NOT_FOUND.
absl::StatusOr<StartedServer> StartGrpcServer(const std::string& address,
                                              const std::vector<grpc::Service*>& services,
                                              const std::vector<std::string>& service_names = {});

// Writes `port` to `path` atomically (write to a temp file, then rename), so a
// parent process polling for the file never reads half a number.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace baton

#endif  // BATON_COMMON_GRPC_SERVER_H_
