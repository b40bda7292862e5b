#include "orchestrator/auth/identity_service.h"

#include "common/grpc_status.h"
#include "common/namespaces.h"

namespace baton::orchestrator::auth {

grpc::ServerUnaryReactor* IdentityServiceImpl::WhoAmI(grpc::CallbackServerContext* ctx,
                                                      const v1::WhoAmIRequest* request, v1::WhoAmIResponse* reply) {
  reply->set_auth_enabled(auth_enabled_);
  if (!auth_enabled_) {
    reply->add_roles(std::string(RoleName(Role::kAdmin)));
    reply->add_namespaces(kAllNamespaces);
    return FinishNow(ctx, absl::OkStatus());
  }
  // The auth processor let the call through, so its credential was valid a moment ago.
  const Principal principal = principals_.Of(*ctx);
  if (principal.name.empty()) {
    return FinishNow(ctx, absl::UnauthenticatedError("the credential stopped being valid (revoked?)"));
  }
  reply->set_principal(principal.name);
  for (Role role : principal.roles) reply->add_roles(std::string(RoleName(role)));
  for (const std::string& ns : principal.namespaces) reply->add_namespaces(ns);
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace baton::orchestrator::auth
