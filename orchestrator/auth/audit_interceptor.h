// Writes the audit log line of every audited call that reached a handler (calls the
// auth processor refused are logged by the processor). A server interceptor sees
// every call of every service in one place: the request (resource ids), the reply
// (ids the server chose, as a new run's) and the status sent, without any handler
// knowing about it. Calls of methods that are not audited get no interceptor.
#ifndef BATON_ORCHESTRATOR_AUTH_AUDIT_INTERCEPTOR_H_
#define BATON_ORCHESTRATOR_AUTH_AUDIT_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "orchestrator/auth/audit_log.h"
#include "orchestrator/auth/auth_processor.h"

namespace baton::orchestrator::auth {

// Holds references to `log` and `principals`, which must outlive the server.
class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  AuditInterceptorFactory(AuditLog& log, const PrincipalResolver& principals) : log_(log), principals_(principals) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  AuditLog& log_;
  const PrincipalResolver& principals_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_AUDIT_INTERCEPTOR_H_
