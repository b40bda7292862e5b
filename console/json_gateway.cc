#include "console/json_gateway.h"

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "common/proto_json.h"

namespace baton::console {

void PrepareContext(grpc::ClientContext& context, const std::string& bearer_token, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + bearer_token);
}

absl::StatusOr<std::string> JsonGateway::Call(const google::protobuf::MethodDescriptor& method,
                                              std::string_view json, const std::string& bearer_token) {
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method.input_type());
  std::unique_ptr<google::protobuf::Message> request(prototype->New());
  if (!absl::StripAsciiWhitespace(absl::string_view(json.data(), json.size())).empty()) {
    if (absl::Status s = JsonToMessage(json, *request); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request body (", method.input_type()->name(), "): ", s.message()));
    }
  }
  std::string bytes;
  request->SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::ClientContext context;
  PrepareContext(context, bearer_token, timeout_);
  absl::Notification done;
  grpc::Status status;
  stub_.UnaryCall(&context, absl::StrCat("/", method.service()->full_name(), "/", method.name()),
                  grpc::StubOptions(), &request_buffer, &response_buffer, [&](grpc::Status s) {
                    status = std::move(s);
                    done.Notify();
                  });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::InternalError("cannot read the orchestrator's answer");
  std::string response_bytes;
  for (const grpc::Slice& s : slices) response_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  std::unique_ptr<google::protobuf::Message> response(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method.output_type())->New());
  if (!response->ParseFromString(response_bytes)) {
    return absl::InternalError(absl::StrCat("cannot parse the orchestrator's ", method.output_type()->name()));
  }
  return MessageToJsonLine(*response);
}

}  // namespace baton::console
