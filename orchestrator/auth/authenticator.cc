#include "orchestrator/auth/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "orchestrator/auth/api_key.h"

namespace baton::orchestrator::auth {

absl::StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() < kBearer.size() || !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kBearer.size()), "bearer ")) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <API key or JWT>\"");
  }
  std::string_view credential = authorization.substr(kBearer.size());
  while (!credential.empty() && absl::ascii_isspace(credential.front())) credential.remove_prefix(1);
  while (!credential.empty() && absl::ascii_isspace(credential.back())) credential.remove_suffix(1);
  if (credential.empty()) return absl::UnauthenticatedError("authorization: empty bearer credential");
  if (LooksLikeApiKey(credential)) return keys_.Authenticate(credential);
  if (jwt_ == nullptr) {
    return absl::UnauthenticatedError(
        "authorization: not an API key (bk_...), and JWTs are not accepted (no --jwt-jwks)");
  }
  absl::StatusOr<baton::auth::VerifiedToken> token = jwt_->Verify(credential);
  if (!token.ok()) return absl::UnauthenticatedError(absl::StrCat("JWT: ", token.status().message()));
  Principal principal;
  principal.name = token->subject;
  for (const std::string& role : token->roles) {
    // Unknown role names in a token grant nothing; they are not an error, as an
    // identity provider may put roles of other systems in the same claim.
    if (std::optional<Role> r = ParseRole(role); r.has_value()) principal.roles.push_back(*r);
  }
  principal.namespaces = token->namespaces;
  if (principal.namespaces.empty()) principal.namespaces.push_back(kDefaultNamespace);
  principal.credential = "jwt";
  return principal;
}

Principal Authenticator::CertificatePrincipal(std::string_view common_name) {
  Principal principal;
  principal.name = std::string(common_name);
  principal.roles = {Role::kWorker};
  // The operator named this identity a worker (--worker-cert-identities); a worker
  // bound to namespaces authenticates with a worker key instead.
  principal.namespaces = {kAllNamespaces};
  principal.credential = "certificate";
  return principal;
}

absl::Status Authorize(const Principal& principal, std::string_view method) {
  std::optional<Permission> needed = RequiredPermission(method);
  if (!needed.has_value()) {
    return absl::PermissionDeniedError(absl::StrCat(std::string(method), " is not allowed for any role"));
  }
  for (Role role : principal.roles) {
    if (RoleGrants(role, *needed)) return absl::OkStatus();
  }
  std::vector<std::string> roles;
  for (Role role : principal.roles) roles.emplace_back(RoleName(role));
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(method), " needs role ", std::string(RoleName(LeastRoleFor(*needed))),
      *needed == Permission::kWork ? "" : " or higher", "; principal \"", principal.name, "\" has ",
      roles.empty() ? "no role" : absl::StrCat("role ", absl::StrJoin(roles, ", "))));
}

}  // namespace baton::orchestrator::auth
