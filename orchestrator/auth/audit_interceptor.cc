#include "orchestrator/auth/audit_interceptor.h"

#include <string>
#include <string_view>

#include "baton/v1/admin.pb.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/auth.pb.h"
#include "baton/v1/graph.pb.h"
#include "baton/v1/namespace.pb.h"
#include "baton/v1/run_service.pb.h"
#include "common/namespaces.h"
#include "orchestrator/auth/auth_processor.h"
#include "orchestrator/auth/roles.h"

namespace baton::orchestrator::auth {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The resource an audited request names; "" when the server chooses it (the reply names it).
std::string RequestResource(std::string_view method, const void* message) {
  if (message == nullptr) return "";
  if (method == "/baton.v1.RunService/CancelRun") return static_cast<const v1::CancelRunRequest*>(message)->run_id();
  if (method == "/baton.v1.RunService/ForkRun") return static_cast<const v1::ForkRunRequest*>(message)->run_id();
  if (method == "/baton.v1.RunService/DecideApproval") {
    return static_cast<const v1::DecideApprovalRequest*>(message)->approval_id();
  }
  if (method == "/baton.v1.AgentService/PutAgent") return static_cast<const v1::PutAgentRequest*>(message)->agent().name();
  if (method == "/baton.v1.GraphService/PutGraph") return static_cast<const v1::PutGraphRequest*>(message)->graph().name();
  if (method == "/baton.v1.KeyService/RevokeKey") return static_cast<const v1::RevokeKeyRequest*>(message)->key_id();
  if (method == "/baton.v1.NamespaceService/PutNamespace") {
    return static_cast<const v1::PutNamespaceRequest*>(message)->namespace_().name();
  }
  if (method == "/baton.v1.AdminService/Backup") return static_cast<const v1::BackupRequest*>(message)->dir();
  return "";
}

// The resource the reply names when the server created it: the new run (a fork's
// new run replaces the source in the line), the new key.
std::string ReplyResource(std::string_view method, const void* message) {
  if (message == nullptr) return "";
  if (method == "/baton.v1.RunService/CreateRun" || method == "/baton.v1.RunService/ForkRun") {
    return static_cast<const v1::Run*>(message)->run_id();
  }
  if (method == "/baton.v1.KeyService/CreateKey") {
    return static_cast<const v1::CreateKeyResponse*>(message)->key().key_id();
  }
  return "";
}

// The namespace of the resource: a run's (or its approval's) id names it; specs and
// new runs carry it in the reply, namespace settings are named by it. "" when the call
// names none (keys).
std::string ResourceNamespace(std::string_view method, const std::string& resource, const void* reply) {
  if (method.starts_with("/baton.v1.NamespaceService/")) return resource;
  if (method.starts_with("/baton.v1.KeyService/") || method.starts_with("/baton.v1.AdminService/")) return "";
  if (reply != nullptr) {
    if (method == "/baton.v1.AgentService/PutAgent") {
      return static_cast<const v1::PutAgentResponse*>(reply)->agent().namespace_();
    }
    if (method == "/baton.v1.GraphService/PutGraph") {
      return static_cast<const v1::PutGraphResponse*>(reply)->graph().namespace_();
    }
  }
  if (method.starts_with("/baton.v1.RunService/") && !resource.empty()) return std::string(NamespaceOfRunId(resource));
  return "";
}

// One per audited call; gRPC deletes it when the call ends.
class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(AuditLog& log, const PrincipalResolver& principals, grpc::experimental::ServerRpcInfo* info)
      : log_(log), principals_(principals), info_(info) {
    entry_.method = info->method();
    if (entry_.method.starts_with('/')) entry_.method.erase(0, 1);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    const std::string_view method = info_->method();
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      entry_.resource = RequestResource(method, methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (std::string id = ReplyResource(method, methods->GetSendMessage()); !id.empty()) entry_.resource = std::move(id);
      reply_namespace_ = ResourceNamespace(method, entry_.resource, methods->GetSendMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      entry_.principal = principals_.Of(*info_->server_context()).name;
      entry_.result = static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      entry_.ns = reply_namespace_.empty() ? ResourceNamespace(method, entry_.resource, nullptr) : reply_namespace_;
      log_.Record(entry_);
    }
    methods->Proceed();
  }

 private:
  std::string reply_namespace_;
  AuditLog& log_;
  const PrincipalResolver& principals_;
  grpc::experimental::ServerRpcInfo* const info_;
  AuditEntry entry_;
};

}  // namespace

grpc::experimental::Interceptor* AuditInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (!IsAudited(info->method())) return nullptr;
  return new AuditInterceptor(log_, principals_, info);
}

}  // namespace baton::orchestrator::auth
