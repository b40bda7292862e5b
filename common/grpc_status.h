// The one border between absl::Status and grpc::Status (the codes share numbers).
//
// A retry delay (a quota's RESOURCE_EXHAUSTED says when to try again) travels as an
// absl::Status payload inside the orchestrator and as a google.rpc.RetryInfo in the
// standard "grpc-status-details-bin" trailer on the wire, which gRPC libraries of
// every language decode.
#ifndef BATON_COMMON_GRPC_STATUS_H_
#define BATON_COMMON_GRPC_STATUS_H_

#include <optional>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace google::rpc {
class Status;
}  // namespace google::rpc

namespace grpc {
class CallbackServerContext;
class ServerUnaryReactor;
}  // namespace grpc

namespace baton {

// `status` with a retry delay attached. REQUIRES: !status.ok().
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);
// The retry delay attached to `status`, if any.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);
std::optional<absl::Duration> RetryDelay(const grpc::Status& status);

// With the retry delay, if any, in the status details.
grpc::Status ToGrpcStatus(const absl::Status& s);
// With the retry delay of the status details, if any.
absl::Status FromGrpcStatus(const grpc::Status& s);

// A status carried inside a response (each step's result in a batch) and back: the
// code, the message and the retry delay make the trip as they do in a call's trailer.
void ToRpcStatus(const absl::Status& s, google::rpc::Status* out);
grpc::Status FromRpcStatus(const google::rpc::Status& s);

// A unary callback handler that is done at once: its default reactor, finished with
// `status` (ToGrpcStatus).
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status);

}  // namespace baton

#endif  // BATON_COMMON_GRPC_STATUS_H_
