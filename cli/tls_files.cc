#include "cli/tls_files.h"

#include <filesystem>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/x509_issuer.h"

namespace baton::cli {
namespace {

// Local certificates last a year; a stack started with less than a day left renews
// them all (clients then need the new CA, which they read from stack.json).
constexpr absl::Duration kValidity = absl::Hours(24 * 365);

bool AllUsable(const LocalTlsFiles& files) {
  for (const std::string* path : {&files.ca_cert, &files.ca_key, &files.server_cert, &files.server_key,
                                  &files.worker_cert, &files.worker_key, &files.cli_cert, &files.cli_key}) {
    if (!std::filesystem::exists(*path)) return false;
  }
  // The modification time stands for the issue date: the files are only written here.
  std::error_code ec;
  auto written = std::filesystem::last_write_time(files.server_cert, ec);
  if (ec) return false;
  auto age = std::filesystem::file_time_type::clock::now() - written;
  return age < std::chrono::hours(24 * 364);
}

}  // namespace

LocalTlsFiles LocalTlsPaths(const std::string& data_dir) {
  LocalTlsFiles files;
  files.dir = (std::filesystem::path(data_dir) / "tls").string();
  auto in = [&](const char* name) { return (std::filesystem::path(files.dir) / name).string(); };
  files.ca_cert = in("ca.pem");
  files.ca_key = in("ca.key");
  files.server_cert = in("server.pem");
  files.server_key = in("server.key");
  files.worker_cert = in("worker.pem");
  files.worker_key = in("worker.key");
  files.cli_cert = in("cli.pem");
  files.cli_key = in("cli.key");
  return files;
}

absl::StatusOr<LocalTlsFiles> EnsureLocalTls(const std::string& data_dir) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(data_dir, ec).lexically_normal().string();
  LocalTlsFiles files = LocalTlsPaths(ec ? data_dir : absolute);
  if (AllUsable(files)) return files;
  std::filesystem::create_directories(files.dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create ", files.dir, ": ", ec.message()));
  std::filesystem::permissions(files.dir, std::filesystem::perms::owner_all, ec);

  const absl::Time now = absl::Now();
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("Baton local CA", now - absl::Hours(1), now + kValidity);
  if (!ca.ok()) return ca.status();
  CertificateRequest server{.common_name = "localhost",
                            .dns_names = {"localhost"},
                            .ip_addresses = {"127.0.0.1", "::1"},
                            .server = true,
                            .not_before = now - absl::Hours(1),
                            .not_after = now + kValidity};
  CertificateRequest worker{.common_name = kLocalWorkerIdentity,
                            .client = true,
                            .not_before = now - absl::Hours(1),
                            .not_after = now + kValidity};
  CertificateRequest cli{.common_name = "baton-cli",
                         .client = true,
                         .not_before = now - absl::Hours(1),
                         .not_after = now + kValidity};
  std::vector<std::tuple<const CertificateRequest*, std::string*, std::string*>> leaves = {
      {&server, &files.server_cert, &files.server_key},
      {&worker, &files.worker_cert, &files.worker_key},
      {&cli, &files.cli_cert, &files.cli_key}};
  // The old CA goes first and the new one is written last: a crash half-way leaves a
  // set without ca.pem, which AllUsable refuses, so the next `baton up --tls` starts
  // over.
  std::filesystem::remove(files.ca_cert, ec);
  for (const auto& [request, cert_path, key_path] : leaves) {
    absl::StatusOr<PemKeyPair> pair = IssueCertificate(*ca, *request);
    if (!pair.ok()) return pair.status();
    if (absl::Status s = WritePemFile(*key_path, pair->key_pem, 0600); !s.ok()) return s;
    if (absl::Status s = WritePemFile(*cert_path, pair->cert_pem, 0644); !s.ok()) return s;
  }
  if (absl::Status s = WritePemFile(files.ca_key, ca->key_pem, 0600); !s.ok()) return s;
  if (absl::Status s = WritePemFile(files.ca_cert, ca->cert_pem, 0644); !s.ok()) return s;
  return files;
}

}  // namespace baton::cli
