// The orchestrator's authentication, roles and audit log, wired from flags: what
// main.cc adds to its server. Owns the key store, registry, JWT verifier,
// authenticator, processor, KeyService, IdentityService and audit log, in destruction-safe order.
#ifndef BATON_ORCHESTRATOR_AUTH_SERVER_AUTH_H_
#define BATON_ORCHESTRATOR_AUTH_SERVER_AUTH_H_

#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/auth/jwt.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/grpc_server.h"
#include "orchestrator/auth/audit_log.h"
#include "orchestrator/auth/auth_processor.h"
#include "orchestrator/auth/authenticator.h"
#include "orchestrator/auth/identity_service.h"
#include "orchestrator/auth/key_registry.h"
#include "orchestrator/auth/key_service.h"
#include "orchestrator/auth/key_store.h"

namespace baton::orchestrator::auth {

struct AuthOptions {
  // --auth: every call (but health and reflection) needs an API key or JWT.
  // Default: false (no checks, as before authentication existed).
  bool enabled = false;
  // --jwt-jwks, --jwt-issuer, --jwt-audience, --jwt-clock-skew-seconds. Default: no
  // jwks_file, JWTs refused.
  baton::auth::JwtConfig jwt;
  // --bootstrap-admin-key-file: when the store holds no key, an admin key is created
  // and written here (mode 0600). Default: none.
  std::string bootstrap_admin_key_file;
  // --audit-log: one JSON line per state-changing call. Default: none.
  std::string audit_log_file;
  // The orchestrator's --data-dir; keys live in DATA_DIR/auth-keys.
  std::string data_dir;
  // --worker-cert-identities (with --tls-client-ca): the identities (certificate
  // common name, else first SAN) whose verified client certificate alone makes a
  // caller a worker. Other certificates from the same CA (a CLI's) grant nothing.
  // Default: none (workers authenticate with a worker key).
  std::set<std::string> worker_cert_identities;
};

inline const std::set<std::string> kAuthValueFlags = {"jwt-jwks", "jwt-issuer", "jwt-audience",
                                                      "jwt-clock-skew-seconds", "bootstrap-admin-key-file",
                                                      "audit-log", "worker-cert-identities"};
inline constexpr char kAuthFlag[] = "auth";

// INVALID_ARGUMENT naming the flag: JWT or bootstrap flags without --auth, an
// incomplete JWT configuration, a negative skew.
absl::StatusOr<AuthOptions> AuthOptionsFromFlags(const Flags& flags, const std::string& data_dir);

// Not thread-safe to construct; afterwards its parts are. Must outlive the server.
class ServerAuth {
 public:
  // Opens the key store, creates the bootstrap admin key if asked and the store has
  // none, loads the JWKS and opens the audit log.
  static absl::StatusOr<std::unique_ptr<ServerAuth>> Start(const AuthOptions& options, const Clock& clock);

  ServerAuth(const ServerAuth&) = delete;
  ServerAuth& operator=(const ServerAuth&) = delete;
  ~ServerAuth();

  // For StartGrpcServer: the processor (with --auth) and the audit interceptor (with
  // --audit-log).
  ServerAuthOptions server_options() const { return server_options_; }
  // KeyService, served only with --auth; null otherwise.
  KeyServiceImpl* key_service() const { return key_service_.get(); }
  // IdentityService (WhoAmI), served with and without --auth.
  IdentityServiceImpl* identity_service() const { return identity_service_.get(); }
  // Who made a call, for handlers (namespaces, later).
  const PrincipalResolver& principals() const { return *principals_; }

 private:
  ServerAuth() = default;
  void AddAuditInterceptor();  // with --audit-log; REQUIRES: principals_ set

  // Declaration order is construction order; each member uses only those above it.
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<KeyStore> key_store_;
  std::unique_ptr<KeyRegistry> keys_;
  std::unique_ptr<baton::auth::JwtVerifier> jwt_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<KeyServiceImpl> key_service_;
  std::unique_ptr<PrincipalResolver> principals_;
  std::unique_ptr<IdentityServiceImpl> identity_service_;
  ServerAuthOptions server_options_;
};

// Writes `key` to `path` with mode 0600 (a temp file renamed over it).
absl::Status WriteSecretFile(const std::string& path, const std::string& key);

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_SERVER_AUTH_H_
