// The certificates of `baton up --tls`: a local CA and the certificates it signs, in
// DATA_DIR/tls/ (keys mode 0600). Made once and reused by later `baton up --tls` on the
// same directory, so clients that trust the CA keep working across restarts.
#ifndef BATON_CLI_TLS_FILES_H_
#define BATON_CLI_TLS_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/tls.h"

namespace baton::cli {

// The identity of the workers' (and the bridge's) client certificate. Worker ids of a
// TLS stack are "baton-worker/worker-N" (common/tls.h CheckWorkerId).
inline constexpr char kLocalWorkerIdentity[] = "baton-worker";

struct LocalTlsFiles {
  std::string dir;          // DATA_DIR/tls
  std::string ca_cert;      // ca.pem: the local CA every process trusts
  std::string ca_key;       // ca.key
  std::string server_cert;  // server.pem: 127.0.0.1, ::1 and localhost (orchestrator, bridge)
  std::string server_key;
  std::string worker_cert;  // worker.pem: client certificate of workers and the bridge
  std::string worker_key;
  std::string cli_cert;     // cli.pem: client certificate of the `baton` CLI
  std::string cli_key;

  // How a client of this stack connects: the CA and the CLI's certificate.
  ClientTlsOptions CliOptions() const { return {ca_cert, cli_cert, cli_key}; }
};

// The paths under `data_dir` (absolute when `data_dir` is), whether or not they exist.
LocalTlsFiles LocalTlsPaths(const std::string& data_dir);

// Creates the CA and certificates unless every file already exists and the
// certificates are valid for at least another day; returns their paths.
absl::StatusOr<LocalTlsFiles> EnsureLocalTls(const std::string& data_dir);

}  // namespace baton::cli

#endif  // BATON_CLI_TLS_FILES_H_
