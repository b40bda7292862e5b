#include "console/exposed_services.h"

#include "absl/strings/str_cat.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/auth.pb.h"
#include "baton/v1/graph.pb.h"
#include "baton/v1/namespace.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::console {
namespace {

// The service's file, by a message of that file: naming the message also links the
// file's descriptors into the generated pool (the proto library is static).
const google::protobuf::ServiceDescriptor* ExposedService(const std::string& name) {
  const google::protobuf::FileDescriptor* files[] = {
      v1::CreateRunRequest::descriptor()->file(), v1::PutAgentRequest::descriptor()->file(),
      v1::PutGraphRequest::descriptor()->file(), v1::Namespace::descriptor()->file(),
      v1::WhoAmIRequest::descriptor()->file()};
  constexpr std::string_view kExposed[] = {"RunService", "AgentService", "GraphService", "NamespaceService",
                                           "IdentityService"};
  for (std::string_view exposed : kExposed) {
    if (exposed != name) continue;
    for (const google::protobuf::FileDescriptor* file : files) {
      if (const auto* service = file->FindServiceByName(name); service != nullptr) return service;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<const google::protobuf::MethodDescriptor*> FindUnaryMethod(const std::string& service,
                                                                        const std::string& method) {
  const google::protobuf::ServiceDescriptor* found = ExposedService(service);
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("no service \"", service,
                                            "\" here (RunService, AgentService, GraphService, NamespaceService, "
                                            "IdentityService)"));
  }
  const google::protobuf::MethodDescriptor* m = found->FindMethodByName(method);
  if (m == nullptr) return absl::NotFoundError(absl::StrCat("no method \"", method, "\" in ", service));
  if (m->client_streaming() || m->server_streaming()) {
    return absl::NotFoundError(absl::StrCat(service, ".", method, " streams: GET /api/v1/", service, "/", method,
                                            " serves it as server-sent events"));
  }
  return m;
}

}  // namespace baton::console
