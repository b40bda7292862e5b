// The one place where the orchestrator authenticates and authorizes calls: a gRPC
// AuthMetadataProcessor attached to the server's credentials. It runs in the
// transport for every call of every service before the call reaches a handler, so a
// refused call never runs any service code, and a new method cannot skip it: a
// method missing from roles.cc's table is refused (roles_test walks every service
// descriptor). Health checks and reflection stay open.
//
// gRPC runs a processor only with secure server credentials: TLS, or local
// credentials (plaintext, loopback peers only) when auth is on without TLS
// (common/grpc_server.h). docs/operations.md, "Authentication and roles", says why
// this and not an interceptor or a call in each handler.
#ifndef BATON_ORCHESTRATOR_AUTH_AUTH_PROCESSOR_H_
#define BATON_ORCHESTRATOR_AUTH_AUTH_PROCESSOR_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>

#include "orchestrator/auth/audit_log.h"
#include "orchestrator/auth/authenticator.h"
#include "orchestrator/auth/principal.h"

namespace baton::orchestrator::auth {

struct AuthProcessorOptions {
  // A client without a bearer credential whose certificate the TLS layer verified
  // (VerifiedPeerIdentity, common/tls.h) is a worker named by the certificate, when
  // its identity is one of these (--worker-cert-identities). Default: none.
  std::set<std::string> worker_cert_identities;
  // Refused attempts of audited methods are written here. Default: none.
  AuditLog* audit = nullptr;
};

// Thread-safe; non-blocking (runs inline in the transport: a key check is a hash-map
// lookup and one SHA-256, a JWT check one signature verification). Holds a
// reference to the authenticator, which must outlive the server.
class AuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  AuthProcessor(const Authenticator& authenticator, AuthProcessorOptions options)
      : authenticator_(authenticator), options_(options) {}

  bool IsBlocking() const override { return false; }

  // UNAUTHENTICATED for missing or bad credentials, PERMISSION_DENIED for a role that
  // does not allow the method. Nothing is stored: in gRPC 1.51 the AuthContext a
  // processor gets belongs to the connection, not the call, so properties added here
  // would be seen by every later call on the connection (and pile up). Handlers learn
  // the principal from PrincipalResolver instead.
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  const Authenticator& authenticator_;
  const AuthProcessorOptions options_;
};

// The principal of a call that reached a handler (the processor let it through), for
// the audit log and, later, namespaces: authenticates the call's authorization
// metadata again (a hash-map lookup and a SHA-256 for a key, a signature check for a
// JWT), else its verified client certificate. Thread-safe. Holds a pointer to the
// authenticator, which must outlive it.
class PrincipalResolver {
 public:
  // `authenticator` null: the server runs without --auth; every call is
  // {"anonymous", no roles, {"*"}, "none"}.
  PrincipalResolver(const Authenticator* authenticator, std::set<std::string> worker_cert_identities)
      : authenticator_(authenticator), worker_cert_identities_(std::move(worker_cert_identities)) {}

  // A principal named "" when the credential stopped being valid since the processor
  // checked it (a key revoked in between).
  Principal Of(const grpc::ServerContextBase& context) const;

 private:
  const Authenticator* const authenticator_;
  const std::set<std::string> worker_cert_identities_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_AUTH_PROCESSOR_H_
