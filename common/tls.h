// Transport security for every gRPC server and channel in Baton: the one place that
// makes server and channel credentials (TLS from PEM files, reloaded when the files
// change; plaintext only when no TLS is configured), reads TLS settings from flags and
// the environment, decides whether a server may listen without TLS, and reads the
// verified identity of a peer's client certificate (mTLS).
//
// Certificates are read through gRPC's FileWatcherCertificateProvider: the files are
// re-read every `refresh_interval_s` seconds and new handshakes use what they hold, so
// a renewed certificate needs no restart. Replace a key and its certificate together
// and atomically (write both, then rename), or a handshake may see a pair that does not
// match (gRPC then keeps the previous pair).
//
// Thread-safe: free functions without shared state.
#ifndef BATON_COMMON_TLS_H_
#define BATON_COMMON_TLS_H_

#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/flags.h"

namespace grpc {
class AuthContext;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace baton {

// How often certificate files are re-read. Default: 5 s; the environment variable
// BATON_TLS_REFRESH_SECONDS (1..3600) overrides it.
unsigned TlsRefreshSecondsFromEnvironment();

// A server's TLS. Empty cert_file and key_file: plaintext.
struct ServerTlsOptions {
  std::string cert_file;       // PEM certificate chain. Default: none
  std::string key_file;        // PEM private key. Default: none
  // When set, clients are asked for a certificate and one they present must chain to
  // this CA; clients without one still connect (services that need one check it with
  // VerifiedPeerIdentity). Default: none (no client certificates asked for).
  std::string client_ca_file;
  unsigned refresh_interval_s = TlsRefreshSecondsFromEnvironment();  // Default: 5

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// A client's TLS. Empty ca_file: plaintext (the client was not configured for TLS).
struct ClientTlsOptions {
  std::string ca_file;    // PEM CA bundle that must sign the server's certificate. Default: none
  std::string cert_file;  // client certificate for mTLS (with key_file). Default: none
  std::string key_file;
  unsigned refresh_interval_s = TlsRefreshSecondsFromEnvironment();  // Default: 5

  bool enabled() const { return !ca_file.empty(); }
};

// Checks that the options are complete (a certificate needs its key and the other way
// round; a client certificate needs a CA) and that every named file is a readable PEM
// file. INVALID_ARGUMENT naming the flag. For start-up: a server or client with a bad
// TLS configuration exits instead of running without it.
absl::Status ValidateServerTls(const ServerTlsOptions& options);
absl::Status ValidateClientTls(const ClientTlsOptions& options);

// TLS credentials reading the files of `options` (see above), or insecure credentials
// when !options.enabled(). INVALID_ARGUMENT when the options are incomplete; files are
// checked by the Validate functions, not here (a missing file fails handshakes, not
// this call).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsOptions& options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ClientTlsOptions& options);

// Flags of servers: --tls-cert, --tls-key, --tls-client-ca, --insecure.
inline const std::set<std::string> kServerTlsValueFlags = {"tls-cert", "tls-key", "tls-client-ca"};
inline constexpr char kInsecureFlag[] = "insecure";
ServerTlsOptions ServerTlsFromFlags(const Flags& flags);

// Flags of clients: --ca, --cert, --key; each falls back to the environment variable
// BATON_CA, BATON_CERT, BATON_KEY.
inline const std::set<std::string> kClientTlsValueFlags = {"ca", "cert", "key"};
ClientTlsOptions ClientTlsFromFlags(const Flags& flags);
// The environment alone (BATON_CA, BATON_CERT, BATON_KEY).
ClientTlsOptions ClientTlsFromEnvironment();

// True for addresses only this host can reach: 127.0.0.0/8, ::1, localhost, unix:.
// "0.0.0.0:7233", "[::]:7233", ":7233" and other hosts are not.
bool IsLoopbackAddress(const std::string& address);

// May a server listen on `address`? Refuses (FAILED_PRECONDITION, saying why and what
// to do) a non-loopback address unless the server has both TLS and authentication, or
// `insecure` was given explicitly (--insecure).
absl::Status CheckListenSecurity(const std::string& address, bool tls, bool auth, bool insecure);

// The identity of the verified client certificate of a call: its subject common name,
// else its first subject alternative name. UNAUTHENTICATED, naming what is missing,
// when the connection is not TLS or the client presented no certificate. (A
// certificate that does not chain to the server's --tls-client-ca fails the
// handshake; the call never arrives.)
absl::StatusOr<std::string> VerifiedPeerIdentity(const grpc::AuthContext& context);

// A worker's reported id must be its certificate identity, or that identity followed
// by "/" and anything ("baton-worker/worker-1"), so processes sharing one certificate
// stay distinguishable while none can report another certificate's id.
// PERMISSION_DENIED naming both otherwise.
absl::Status CheckWorkerId(const std::string& identity, const std::string& worker_id);

// The identity (subject common name, else first DNS subject alternative name) of the
// PEM certificate in `cert_file`.
absl::StatusOr<std::string> CertificateFileIdentity(const std::string& cert_file);

}  // namespace baton

#endif  // BATON_COMMON_TLS_H_
