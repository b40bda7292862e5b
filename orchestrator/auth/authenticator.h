// From credentials to a Principal, and from a Principal and a method to a decision.
// No gRPC here: the auth processor (auth_processor.h) feeds it the `authorization`
// metadata and the method of each call.
#ifndef BATON_ORCHESTRATOR_AUTH_AUTHENTICATOR_H_
#define BATON_ORCHESTRATOR_AUTH_AUTHENTICATOR_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/auth/jwt.h"
#include "orchestrator/auth/key_registry.h"
#include "orchestrator/auth/principal.h"

namespace baton::orchestrator::auth {

// Thread-safe. Holds pointers to the key registry and the JWT verifier, which must
// outlive it.
class Authenticator {
 public:
  // `jwt` may be null: JWTs are then refused.
  Authenticator(const KeyRegistry& keys, const baton::auth::JwtVerifier* jwt) : keys_(keys), jwt_(jwt) {}

  // `authorization` is the metadata value, "Bearer <API key or JWT>". UNAUTHENTICATED
  // naming what is wrong; the message never contains the credential.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;

  // A client whose certificate the TLS layer verified (mTLS): a worker, named by the
  // certificate's common name.
  static Principal CertificatePrincipal(std::string_view common_name);

 private:
  const KeyRegistry& keys_;
  const baton::auth::JwtVerifier* const jwt_;
};

// OK when one of the principal's roles grants what `method` needs; otherwise
// PERMISSION_DENIED naming the method, the role it needs and the principal's roles.
absl::Status Authorize(const Principal& principal, std::string_view method);

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_AUTHENTICATOR_H_
