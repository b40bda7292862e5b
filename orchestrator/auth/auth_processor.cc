#include "orchestrator/auth/auth_processor.h"


#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/tls.h"

namespace baton::orchestrator::auth {
namespace {

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

std::optional<std::string_view> Find(const grpc::AuthMetadataProcessor::InputMetadata& md, std::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return std::nullopt;
  return View(it->second);
}

}  // namespace

grpc::Status AuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                    OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) {
  std::string_view method = Find(auth_metadata, ":path").value_or("");
  if (IsOpenMethod(method)) return grpc::Status::OK;
  // Not consumed: PrincipalResolver reads it again from the call's metadata.
  std::optional<std::string_view> authorization = Find(auth_metadata, "authorization");

  absl::StatusOr<Principal> principal;
  if (authorization.has_value()) {
    principal = authenticator_.Authenticate(*authorization);
  } else if (absl::StatusOr<std::string> identity = VerifiedPeerIdentity(*context);
             identity.ok() && options_.worker_cert_identities.contains(*identity)) {
    principal = Authenticator::CertificatePrincipal(*identity);
  } else {
    principal = absl::UnauthenticatedError(
        "no credentials: send the metadata \"authorization: Bearer <API key or JWT>\" (baton: --api-key-file or "
        "BATON_API_KEY)");
  }
  absl::Status decision = principal.ok() ? Authorize(*principal, method) : principal.status();
  if (!decision.ok()) {
    if (options_.audit != nullptr && IsAudited(method)) {
      AuditEntry entry;
      if (principal.ok()) entry.principal = principal->name;
      entry.method = std::string(method.starts_with('/') ? method.substr(1) : method);
      entry.result = decision.code();
      options_.audit->Record(std::move(entry));
    }
    return ToGrpcStatus(decision);
  }
  return grpc::Status::OK;
}

Principal PrincipalResolver::Of(const grpc::ServerContextBase& context) const {
  if (authenticator_ == nullptr) return Principal{"anonymous", {}, {kAllNamespaces}, "none"};
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    absl::StatusOr<Principal> principal = authenticator_->Authenticate(View(it->second));
    if (principal.ok()) return *std::move(principal);
    return Principal{"", {}, {kDefaultNamespace}, "invalid"};
  }
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
      !worker_cert_identities_.empty() && auth != nullptr) {
    if (absl::StatusOr<std::string> identity = VerifiedPeerIdentity(*auth);
        identity.ok() && worker_cert_identities_.contains(*identity)) {
      return Authenticator::CertificatePrincipal(*identity);
    }
  }
  return Principal{"", {}, {kDefaultNamespace}, "none"};
}

}  // namespace baton::orchestrator::auth
