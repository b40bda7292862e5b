// IdentityService: tells a caller who the orchestrator takes it for (principal, roles,
// namespaces), so a client such as the web console shows the principal and offers only
// what the roles allow. Served with and without --auth; every role may call it.
#ifndef BATON_ORCHESTRATOR_AUTH_IDENTITY_SERVICE_H_
#define BATON_ORCHESTRATOR_AUTH_IDENTITY_SERVICE_H_

#include "baton/v1/auth.grpc.pb.h"
#include "orchestrator/auth/auth_processor.h"

namespace baton::orchestrator::auth {

// Thread-safe. Holds a reference to the resolver, which must outlive it.
class IdentityServiceImpl final : public v1::IdentityService::CallbackService {
 public:
  // `auth_enabled` false (no --auth): every caller is told principal "", roles
  // ["admin"] and namespaces ["*"], since every call is allowed.
  IdentityServiceImpl(const PrincipalResolver& principals, bool auth_enabled)
      : principals_(principals), auth_enabled_(auth_enabled) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* reply) override;

 private:
  const PrincipalResolver& principals_;
  const bool auth_enabled_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_IDENTITY_SERVICE_H_
