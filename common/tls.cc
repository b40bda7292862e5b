#include "common/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/openssl_ptr.h"

namespace baton {
namespace {

constexpr unsigned kDefaultRefreshSeconds = 5;

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  ERR_clear_error();
  return buffer;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}


absl::StatusOr<X509Ptr> ParseCertificate(const std::string& pem, const std::string& path) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM certificate (", OpenSslError(), ")"));
  }
  return cert;
}

absl::StatusOr<PkeyPtr> ParsePrivateKey(const std::string& pem, const std::string& path) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM private key (", OpenSslError(), ")"));
  }
  return key;
}

// A readable certificate file (and, with `key_file`, its matching key). `flag`
// names the flag in errors.
absl::Status CheckCertificateFiles(const std::string& cert_flag, const std::string& cert_file,
                                   const std::string& key_flag, const std::string& key_file) {
  absl::StatusOr<std::string> cert_pem = ReadFile(cert_file);
  if (!cert_pem.ok()) return absl::InvalidArgumentError(absl::StrCat("--", cert_flag, ": ", cert_pem.status().message()));
  absl::StatusOr<X509Ptr> cert = ParseCertificate(*cert_pem, cert_file);
  if (!cert.ok()) return absl::InvalidArgumentError(absl::StrCat("--", cert_flag, ": ", cert.status().message()));
  if (key_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> key_pem = ReadFile(key_file);
  if (!key_pem.ok()) return absl::InvalidArgumentError(absl::StrCat("--", key_flag, ": ", key_pem.status().message()));
  absl::StatusOr<PkeyPtr> key = ParsePrivateKey(*key_pem, key_file);
  if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("--", key_flag, ": ", key.status().message()));
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--", key_flag, ": the key in ", key_file, " does not match the certificate in ", cert_file));
  }
  return absl::OkStatus();
}

std::string FlagOrEnv(const Flags& flags, const std::string& flag, const char* env) {
  if (flags.Has(flag)) return flags.GetString(flag);
  const char* value = std::getenv(env);
  return value != nullptr ? value : "";
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

unsigned TlsRefreshSecondsFromEnvironment() {
  unsigned seconds = 0;
  const char* env = std::getenv("BATON_TLS_REFRESH_SECONDS");
  if (env != nullptr && absl::SimpleAtoi(env, &seconds) && seconds >= 1 && seconds <= 3600) return seconds;
  return kDefaultRefreshSeconds;
}

absl::Status ValidateServerTls(const ServerTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key (client certificates are "
                                        "only asked for over TLS)");
    }
    return absl::OkStatus();
  }
  if (options.cert_file.empty()) return absl::InvalidArgumentError("--tls-key needs --tls-cert");
  if (options.key_file.empty()) return absl::InvalidArgumentError("--tls-cert needs --tls-key");
  if (absl::Status s = CheckCertificateFiles("tls-cert", options.cert_file, "tls-key", options.key_file); !s.ok()) {
    return s;
  }
  if (!options.client_ca_file.empty()) return CheckCertificateFiles("tls-client-ca", options.client_ca_file, "", "");
  return absl::OkStatus();
}

absl::Status ValidateClientTls(const ClientTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(options.cert_file.empty() ? "--key (BATON_KEY) needs --cert (BATON_CERT)"
                                                                : "--cert (BATON_CERT) needs --key (BATON_KEY)");
  }
  if (!options.enabled()) {
    if (!options.cert_file.empty()) {
      return absl::InvalidArgumentError("--cert (BATON_CERT) needs --ca (BATON_CA): a client certificate is only "
                                        "sent over TLS");
    }
    return absl::OkStatus();
  }
  if (absl::Status s = CheckCertificateFiles("ca", options.ca_file, "", ""); !s.ok()) return s;
  if (!options.cert_file.empty()) return CheckCertificateFiles("cert", options.cert_file, "key", options.key_file);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) return ValidateServerTls(options);
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) return ValidateServerTls(options);
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, options.client_ca_file, options.refresh_interval_s);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options.client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    // Asked for and verified when present: RunService clients without a certificate
    // still connect; WorkerService and ToolService refuse them per call.
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ClientTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty() || (!options.enabled() && !options.cert_file.empty())) {
    return ValidateClientTls(options);
  }
  if (!options.enabled()) return grpc::InsecureChannelCredentials();
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider;
  if (options.cert_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(options.ca_file,
                                                                                    options.refresh_interval_s);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options.key_file, options.cert_file, options.ca_file, options.refresh_interval_s);
  }
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_root_certs();
  if (!options.cert_file.empty()) tls.watch_identity_key_cert_pairs();
  // The server's certificate must chain to the CA and name the host dialled (gRPC's
  // default verifier checks the host name against the SANs).
  tls.set_verify_server_certs(true);
  tls.set_check_call_host(true);
  return grpc::experimental::TlsCredentials(tls);
}

ServerTlsOptions ServerTlsFromFlags(const Flags& flags) {
  ServerTlsOptions options;
  options.cert_file = flags.GetString("tls-cert");
  options.key_file = flags.GetString("tls-key");
  options.client_ca_file = flags.GetString("tls-client-ca");
  return options;
}

ClientTlsOptions ClientTlsFromFlags(const Flags& flags) {
  ClientTlsOptions options;
  options.ca_file = FlagOrEnv(flags, "ca", "BATON_CA");
  options.cert_file = FlagOrEnv(flags, "cert", "BATON_CERT");
  options.key_file = FlagOrEnv(flags, "key", "BATON_KEY");
  return options;
}

ClientTlsOptions ClientTlsFromEnvironment() {
  ClientTlsOptions options;
  options.ca_file = Getenv("BATON_CA");
  options.cert_file = Getenv("BATON_CERT");
  options.key_file = Getenv("BATON_KEY");
  return options;
}

bool IsLoopbackAddress(const std::string& address) {
  absl::string_view a = address;
  if (absl::StartsWith(a, "unix:") || absl::StartsWith(a, "unix-abstract:")) return true;
  absl::ConsumePrefix(&a, "ipv4:");
  absl::ConsumePrefix(&a, "ipv6:");
  absl::ConsumePrefix(&a, "dns:");
  absl::string_view host;
  if (absl::StartsWith(a, "[")) {
    size_t close = a.find(']');
    if (close == absl::string_view::npos) return false;
    host = a.substr(1, close - 1);
  } else {
    size_t colon = a.rfind(':');
    host = colon == absl::string_view::npos ? a : a.substr(0, colon);
  }
  const std::string h = absl::AsciiStrToLower(host);
  if (h == "localhost" || h == "::1") return true;
  // 127.0.0.0/8, written as four numbers.
  if (!absl::StartsWith(h, "127.")) return false;
  int dots = 0;
  for (char c : h) {
    if (c == '.') {
      ++dots;
    } else if (!absl::ascii_isdigit(c)) {
      return false;
    }
  }
  return dots == 3;
}

absl::Status CheckListenSecurity(const std::string& address, bool tls, bool auth, bool insecure) {
  if (insecure || IsLoopbackAddress(address) || (tls && auth)) return absl::OkStatus();
  std::string missing = !tls && !auth ? "TLS and authentication" : (!tls ? "TLS" : "authentication");
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to listen on ", address, " without ", missing,
      ": anyone who reaches that address could read every run and start new ones. Configure ", missing,
      " (TLS: --tls-cert and --tls-key), listen on a loopback address (127.0.0.1), or pass --insecure to accept "
      "the risk"));
}

absl::StatusOr<std::string> VerifiedPeerIdentity(const grpc::AuthContext& context) {
  std::vector<grpc::string_ref> security = context.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  bool is_tls = false;
  for (const grpc::string_ref& value : security) {
    // "tls" from TlsServerCredentials (ours), "ssl" from SslServerCredentials.
    if (value == GRPC_TLS_TRANSPORT_SECURITY_TYPE || value == GRPC_SSL_TRANSPORT_SECURITY_TYPE) is_tls = true;
  }
  if (!is_tls) {
    return absl::UnauthenticatedError(
        "a client certificate is required, but this connection is not TLS (connect with --ca, --cert and --key)");
  }
  // The x509 properties exist only for a certificate the handshake verified. (Not
  // IsPeerAuthenticated(): an auth metadata processor may set a peer identity of its
  // own, an API key's principal, which is not a certificate.)
  if (context.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    return absl::UnauthenticatedError(
        "a client certificate is required, but none was presented (give this client --cert and --key, signed by "
        "the server's --tls-client-ca)");
  }
  for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    std::vector<grpc::string_ref> values = context.FindPropertyValues(property);
    if (!values.empty() && !values.front().empty()) return std::string(values.front().data(), values.front().size());
  }
  return absl::UnauthenticatedError("the client certificate names no subject (no common name, no SAN)");
}

absl::Status CheckWorkerId(const std::string& identity, const std::string& worker_id) {
  if (worker_id == identity || absl::StartsWith(worker_id, identity + "/")) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("worker_id \"", worker_id, "\" does not belong to the client "
                                                  "certificate \"", identity, "\" (use \"", identity,
                                                  "\" or \"", identity, "/NAME\")"));
}

absl::StatusOr<std::string> CertificateFileIdentity(const std::string& cert_file) {
  absl::StatusOr<std::string> pem = ReadFile(cert_file);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<X509Ptr> cert = ParseCertificate(*pem, cert_file);
  if (!cert.ok()) return cert.status();
  char cn[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert->get()), NID_commonName, cn, sizeof(cn));
  if (n > 0) return std::string(cn, n);
  GENERAL_NAMES* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  std::string identity;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names) && identity.empty(); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      identity.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)), ASN1_STRING_length(dns));
    }
  }
  GENERAL_NAMES_free(names);
  if (identity.empty()) return absl::InvalidArgumentError(absl::StrCat(cert_file, ": the certificate names no subject"));
  return identity;
}

}  // namespace baton
