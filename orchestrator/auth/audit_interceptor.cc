#include "orchestrator/auth/audit_interceptor.h"

#include <string>
#include <string_view>

#include "baton/v1/agent.pb.h"
#include "baton/v1/auth.pb.h"
#include "baton/v1/graph.pb.h"
#include "baton/v1/run_service.pb.h"
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
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      entry_.principal = principals_.Of(*info_->server_context()).name;
      entry_.result = static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      log_.Record(entry_);
    }
    methods->Proceed();
  }

 private:
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
