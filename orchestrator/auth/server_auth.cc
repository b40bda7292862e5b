#include "orchestrator/auth/server_auth.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "orchestrator/auth/audit_interceptor.h"
#include "orchestrator/auth/auth_processor.h"
#include "orchestrator/auth/rocksdb_key_store.h"

namespace baton::orchestrator::auth {

absl::StatusOr<AuthOptions> AuthOptionsFromFlags(const Flags& flags, const std::string& data_dir) {
  AuthOptions options;
  options.enabled = flags.GetBool(kAuthFlag);
  options.data_dir = data_dir;
  options.audit_log_file = flags.GetString("audit-log");
  options.bootstrap_admin_key_file = flags.GetString("bootstrap-admin-key-file");
  if (flags.Has("worker-cert-identities")) {
    if (flags.GetString("tls-client-ca").empty()) {
      return absl::InvalidArgumentError("--worker-cert-identities needs --tls-client-ca (certificates to verify)");
    }
    for (absl::string_view id : absl::StrSplit(flags.GetString("worker-cert-identities"), ',', absl::SkipEmpty())) {
      options.worker_cert_identities.insert(std::string(id));
    }
  }
  for (const char* flag : {"jwt-jwks", "jwt-issuer", "jwt-audience", "jwt-clock-skew-seconds",
                           "bootstrap-admin-key-file"}) {
    if (flags.Has(flag) && !options.enabled) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs --auth"));
    }
  }
  if (flags.Has("jwt-jwks") || flags.Has("jwt-issuer") || flags.Has("jwt-audience")) {
    options.jwt.jwks_file = flags.GetString("jwt-jwks");
    options.jwt.issuer = flags.GetString("jwt-issuer");
    if (flags.Has("jwt-audience")) options.jwt.audiences = {flags.GetString("jwt-audience")};
    if (options.jwt.jwks_file.empty() || options.jwt.issuer.empty() || options.jwt.audiences.front().empty()) {
      return absl::InvalidArgumentError("JWTs need --jwt-jwks, --jwt-issuer and --jwt-audience together");
    }
    std::string error;
    int64_t skew = flags.GetInt("jwt-clock-skew-seconds", 60, &error);
    if (!error.empty()) return absl::InvalidArgumentError(error);
    if (skew < 0 || skew > 3600) return absl::InvalidArgumentError("--jwt-clock-skew-seconds must be 0..3600");
    options.jwt.clock_skew = absl::Seconds(skew);
  } else if (flags.Has("jwt-clock-skew-seconds")) {
    return absl::InvalidArgumentError("--jwt-clock-skew-seconds needs --jwt-jwks");
  }
  return options;
}

absl::Status WriteSecretFile(const std::string& path, const std::string& key) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  std::string line = key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerAuth>> ServerAuth::Start(const AuthOptions& options, const Clock& clock) {
  std::unique_ptr<ServerAuth> auth(new ServerAuth());
  if (!options.audit_log_file.empty()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(options.audit_log_file, clock);
    if (!audit.ok()) return absl::InvalidArgumentError(absl::StrCat("--audit-log: ", audit.status().message()));
    auth->audit_ = *std::move(audit);
  }
  if (!options.enabled) {
    auth->principals_ = std::make_unique<PrincipalResolver>(nullptr, std::set<std::string>());
    auth->identity_service_ = std::make_unique<IdentityServiceImpl>(*auth->principals_, false);
    auth->AddAuditInterceptor();
    return auth;
  }

  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbKeyStore> store, RocksDbKeyStore::Open(options.data_dir + "/auth-keys"));
  auth->key_store_ = std::move(store);
  ASSIGN_OR_RETURN(auth->keys_, KeyRegistry::Open(*auth->key_store_, clock));
  if (!options.bootstrap_admin_key_file.empty()) {
    if (auth->keys_->Empty()) {
      ASSIGN_OR_RETURN(KeyRegistry::CreatedKey admin, auth->keys_->Create("admin", {"admin"}, {kAllNamespaces}));
      RETURN_IF_ERROR(WriteSecretFile(options.bootstrap_admin_key_file, admin.secret));
      // The key id only: the secret is in the file and nowhere else.
      BATON_LOG(INFO) << "created admin key " << admin.key.key_id() << " in " << options.bootstrap_admin_key_file;
    } else {
      BATON_LOG(INFO) << "the store holds API keys: no bootstrap admin key created";
    }
  }
  if (!options.jwt.jwks_file.empty()) {
    absl::StatusOr<std::unique_ptr<baton::auth::JwtVerifier>> jwt = baton::auth::JwtVerifier::Create(options.jwt, clock);
    if (!jwt.ok()) return absl::InvalidArgumentError(absl::StrCat("--jwt-jwks: ", jwt.status().message()));
    auth->jwt_ = *std::move(jwt);
  }
  auth->authenticator_ = std::make_unique<Authenticator>(*auth->keys_, auth->jwt_.get());
  auth->key_service_ = std::make_unique<KeyServiceImpl>(*auth->keys_);
  auth->principals_ =
      std::make_unique<PrincipalResolver>(auth->authenticator_.get(), options.worker_cert_identities);
  auth->identity_service_ = std::make_unique<IdentityServiceImpl>(*auth->principals_, true);
  auth->AddAuditInterceptor();
  AuthProcessorOptions processor_options;
  processor_options.worker_cert_identities = options.worker_cert_identities;
  processor_options.audit = auth->audit_.get();
  auth->server_options_.processor = std::make_shared<AuthProcessor>(*auth->authenticator_, processor_options);
  return auth;
}

ServerAuth::~ServerAuth() = default;

void ServerAuth::AddAuditInterceptor() {
  if (audit_ == nullptr) return;
  server_options_.interceptors.push_back(std::make_shared<AuditInterceptorFactory>(*audit_, *principals_));
}

}  // namespace baton::orchestrator::auth
