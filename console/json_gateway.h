// The generic JSON gateway: a request message as JSON in, the orchestrator's answer as
// JSON out, for any unary method the descriptor pool describes, through one generic
// gRPC stub. It knows no method: no business logic, no per-method code; the
// orchestrator checks every call as it checks any client's.
#ifndef BATON_CONSOLE_JSON_GATEWAY_H_
#define BATON_CONSOLE_JSON_GATEWAY_H_

#include <memory>
#include <string>
#include <string_view>

#include <google/protobuf/descriptor.h>
#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace baton::console {

// Metadata and deadline of a call made for a browser: "authorization: Bearer <token>"
// when `bearer_token` is not empty.
void PrepareContext(grpc::ClientContext& context, const std::string& bearer_token, absl::Duration timeout);

// Thread-safe; calls block the calling thread (an HTTP server thread) until the answer.
class JsonGateway {
 public:
  // Default timeout: 30 s per call.
  explicit JsonGateway(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout = absl::Seconds(30))
      : stub_(std::move(channel)), timeout_(timeout) {}

  // Parses `json` into the method's request (an empty body is {}), calls it, prints
  // the response. INVALID_ARGUMENT naming where the JSON went wrong; otherwise the
  // orchestrator's status.
  absl::StatusOr<std::string> Call(const google::protobuf::MethodDescriptor& method, std::string_view json,
                                   const std::string& bearer_token);

 private:
  grpc::GenericStub stub_;
  const absl::Duration timeout_;
};

}  // namespace baton::console

#endif  // BATON_CONSOLE_JSON_GATEWAY_H_
