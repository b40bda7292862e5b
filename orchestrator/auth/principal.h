// Who is calling: what the auth processor learned from a call's credentials.
#ifndef BATON_ORCHESTRATOR_AUTH_PRINCIPAL_H_
#define BATON_ORCHESTRATOR_AUTH_PRINCIPAL_H_

#include <string>
#include <vector>

#include "common/namespaces.h"
#include "orchestrator/auth/roles.h"

namespace baton::orchestrator::auth {

struct Principal {
  // The API key's principal, the JWT's `sub`, or the client certificate's common
  // name. "anonymous" when the orchestrator runs without --auth.
  std::string name;
  std::vector<Role> roles;
  // The namespaces it may use (common/namespaces.h); kAllNamespaces: every one.
  // Default: {"default"}.
  std::vector<std::string> namespaces;
  // How the caller proved it: "api_key:<key_id>", "jwt", "certificate" or "none".
  std::string credential;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_PRINCIPAL_H_
