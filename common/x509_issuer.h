// A small certificate authority over OpenSSL's C API: a self-signed CA and
// certificates it signs (EC P-256, SHA-256), as PEM. `baton up --tls` makes the local
// stack's certificates with it; tests make valid, expired and foreign ones.
//
// Thread-safe: free functions without shared state.
#ifndef BATON_COMMON_X509_ISSUER_H_
#define BATON_COMMON_X509_ISSUER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace baton {

// A certificate and its private key, PEM.
struct PemKeyPair {
  std::string cert_pem;
  std::string key_pem;
};

struct CertificateRequest {
  std::string common_name;               // subject CN; Required
  std::vector<std::string> dns_names;    // subjectAltName DNS entries. Default: none
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries. Default: none
  bool server = false;  // extendedKeyUsage serverAuth. Default: false
  bool client = false;  // extendedKeyUsage clientAuth. Default: false
  // Validity. Default: from an hour ago (clock skew) for a year.
  absl::Time not_before = absl::Now() - absl::Hours(1);
  absl::Time not_after = absl::Now() + absl::Hours(24 * 365);
};

// A self-signed CA certificate (basicConstraints CA:TRUE) named `common_name`.
absl::StatusOr<PemKeyPair> CreateCertificateAuthority(const std::string& common_name,
                                                      absl::Time not_before = absl::Now() - absl::Hours(1),
                                                      absl::Time not_after = absl::Now() + absl::Hours(24 * 3650));

// A leaf certificate for `request`, signed by `ca`.
absl::StatusOr<PemKeyPair> IssueCertificate(const PemKeyPair& ca, const CertificateRequest& request);

// Writes `contents` to `path` with permission `mode` (0600 for keys), atomically
// (a temp file in the same directory, then rename), so a process watching the file
// never reads half of it.
absl::Status WritePemFile(const std::string& path, const std::string& contents, int mode = 0644);

}  // namespace baton

#endif  // BATON_COMMON_X509_ISSUER_H_
