// baton-orchestrator: stores runs durably and leases them to workers.
//
//   baton-orchestrator --data-dir=DIR [--listen=127.0.0.1:7233] [--port-file=F]
//                      [--lease-ttl-ms=10000] [--retry-backoff-ms=1000] [--max-attempts=3]
//                      [--lease-take-up-ms=2000] [--max-lease-losses=10]
//                      [--rate-limits=FILE] [--tls-cert=F --tls-key=F [--tls-client-ca=F]]
//                      [--insecure]
// --rate-limits: fleet-wide Messages API limits per model (orchestrator/rate_limiter.h).
// --max-input-bytes=8388608 --max-spec-bytes=1048576 --max-journal-entry-bytes=16777216
// --max-append-bytes=33554432 --max-page-bytes=4128768: sizes of requests and pages
// (orchestrator/limits.h, docs/operations.md "Limits").
// --max-commit-backlog-mb=64: writes waiting for the store past which CreateRun,
// ForkRun and AppendStep answer RESOURCE_EXHAUSTED with a retry delay (0: no bound).
// --auth [--jwt-jwks=F --jwt-issuer=ISS --jwt-audience=AUD [--jwt-clock-skew-seconds=60]]
// [--bootstrap-admin-key-file=F] [--audit-log=F]: authentication, roles and the audit
// log (orchestrator/auth/, docs/operations.md "Authentication and roles").
// --tls-*: TLS (common/tls.h); with --tls-client-ca every WorkerService call needs a
// client certificate from that CA. --insecure: allow a non-loopback --listen without TLS.
// --min-free-disk-mb=64: below this much free space in --data-dir writes are refused
// (RESOURCE_EXHAUSTED naming the disk) until there is room again (docs/operations.md).
// --commit-hold-ms=2: how long the store's writer waits for the rest of a worker's
// batch of steps, so they share one synced write (RunStore::HoldCommits).
// --worker-listen=ADDR [--worker-port-file=F]: serve WorkerService only there (a second
// server with the same TLS and auth settings), not on --listen (docs/operations.md,
// "Where workers connect").
// --metrics-listen=HOST:PORT [--metrics-port-file=F]: Prometheus metrics at /metrics
// (docs/operations.md, "Metrics"); off without it. OTEL_*: graph runs' spans
// (docs/operations.md, "Tracing").
// --default-retention=PERIOD (30d, 12h, 90s; 0: forever) [--retention-interval=60s]: ended
// runs of namespaces without a retention period of their own are deleted that long
// after they end; a sweep runs every interval (orchestrator/retention.h,
// docs/operations.md "Retention").
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/runtime.h"
#include "common/signals.h"
#include "common/tls.h"
#include "common/tracing/exporter_metrics.h"
#include "common/tracing/process_tracing.h"
#include "orchestrator/admin_service.h"
#include "orchestrator/auth/server_auth.h"
#include "orchestrator/graph_service.h"
#include "orchestrator/namespace_service.h"
#include "orchestrator/limits.h"
#include "orchestrator/retention.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/services.h"
#include "orchestrator/store/rocksdb_run_store.h"

namespace {


constexpr char kUsage[] =
    "usage: baton-orchestrator --data-dir=DIR [--listen=127.0.0.1:7233] [--port-file=F]\n"
    "         [--worker-listen=ADDR [--worker-port-file=F]]\n"
    "         [--lease-ttl-ms=10000] [--retry-backoff-ms=1000] [--max-attempts=3]\n"
    "         [--lease-take-up-ms=2000] [--max-lease-losses=10]\n"
    "         [--rate-limits=FILE] [--max-input-bytes=N] [--max-spec-bytes=N]\n"
    "         [--max-journal-entry-bytes=N] [--max-append-bytes=N] [--max-page-bytes=N]\n"
    "         [--tls-cert=F --tls-key=F [--tls-client-ca=F]] [--insecure]\n"
    "         [--encryption-key-file=F] [--max-commit-backlog-mb=64] [--min-free-disk-mb=64]\n"
    "         [--commit-hold-ms=2]\n"
    "         [--auth [--jwt-jwks=F --jwt-issuer=ISS --jwt-audience=AUD [--jwt-clock-skew-seconds=60]]\n"
    "          [--bootstrap-admin-key-file=F]] [--audit-log=F] [--log-format=text|json]\n"
    "         [--metrics-listen=HOST:PORT [--metrics-port-file=F]]\n"
    "         [--default-retention=0] [--retention-interval=60s]\n";

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("orchestrator");
  baton::BlockShutdownSignals();  // before any thread starts
  baton::DisableMutexDeadlockDetection();
  std::set<std::string> value_flags = {"data-dir", "listen", "port-file", "worker-listen", "worker-port-file", "lease-ttl-ms", "retry-backoff-ms",
                      "max-attempts", "lease-take-up-ms", "max-lease-losses", "rate-limits", "max-input-bytes", "max-spec-bytes",
                      "max-journal-entry-bytes", "max-append-bytes", "max-page-bytes", "encryption-key-file", "tls-cert", "tls-key", "tls-client-ca",
                      "max-commit-backlog-mb", "min-free-disk-mb", "commit-hold-ms", baton::metrics::kMetricsListenFlag,
                      baton::metrics::kMetricsPortFileFlag, "default-retention", "retention-interval"};
  value_flags.insert(baton::orchestrator::auth::kAuthValueFlags.begin(), baton::orchestrator::auth::kAuthValueFlags.end());
  value_flags.insert("log-format");
  baton::Flags flags(std::move(value_flags), {"help", baton::kInsecureFlag, baton::orchestrator::auth::kAuthFlag});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-orchestrator: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  // Graph runs' spans (OTEL_*; docs/operations.md "Tracing"). Declared before the
  // scheduler, which records them, so it is destroyed (and flushes) after it.
  absl::StatusOr<std::unique_ptr<baton::tracing::ProcessTracing>> tracing =
      baton::tracing::InitLogsAndTraces(flags, "baton-orchestrator");
  if (!tracing.ok()) {
    std::cerr << "baton-orchestrator: " << tracing.status().message() << "\n";
    return 2;
  }
  std::string error;
  baton::orchestrator::SchedulerOptions options;
  options.lease_ttl = absl::Milliseconds(flags.GetInt("lease-ttl-ms", 10'000, &error));
  options.retry_backoff_base = absl::Milliseconds(flags.GetInt("retry-backoff-ms", 1'000, &error));
  options.default_max_attempts = static_cast<int>(flags.GetInt("max-attempts", 3, &error));
  const int64_t backlog_mb = flags.GetInt("max-commit-backlog-mb", 64, &error);
  if (error.empty() && (backlog_mb < 0 || backlog_mb > (int64_t{1} << 20))) {
    error = "--max-commit-backlog-mb must be between 0 (no bound) and 1048576";
  }
  options.max_commit_backlog_bytes = static_cast<size_t>(backlog_mb) << 20;
  options.lease_take_up = absl::Milliseconds(flags.GetInt("lease-take-up-ms", 2'000, &error));
  options.max_lease_losses = static_cast<int>(flags.GetInt("max-lease-losses", 10, &error));
  baton::orchestrator::InputLimits limits;
  const std::pair<const char*, int64_t*> limit_flags[] = {
      {"max-input-bytes", &limits.max_input_bytes},
      {"max-spec-bytes", &limits.max_spec_bytes},
      {"max-journal-entry-bytes", &limits.max_journal_entry_bytes},
      {"max-append-bytes", &limits.max_append_bytes},
      {"max-page-bytes", &limits.max_page_bytes},
  };
  for (const auto& [name, value] : limit_flags) {
    *value = flags.GetInt(name, *value, &error);
    if (error.empty() && (*value < 1 || *value > baton::orchestrator::kMaxLimitBytes)) {
      error = absl::StrCat("--", name, " must be between 1 and ", baton::orchestrator::kMaxLimitBytes);
    }
  }
  const int64_t min_free_disk_mb = flags.GetInt("min-free-disk-mb", 64, &error);
  if (error.empty() && min_free_disk_mb < 0) error = "--min-free-disk-mb must be >= 0";
  const int64_t commit_hold_ms = flags.GetInt("commit-hold-ms", 2, &error);
  if (error.empty() && (commit_hold_ms < 0 || commit_hold_ms > 60'000)) {
    error = "--commit-hold-ms must be between 0 (no wait) and 60000";
  }
  baton::orchestrator::RetentionOptions retention;
  retention.default_retention = absl::Seconds(flags.GetSeconds("default-retention", 0, &error));
  retention.interval = absl::Seconds(flags.GetSeconds("retention-interval", 60, &error));
  if (error.empty() && retention.interval < absl::Seconds(1)) error = "--retention-interval must be >= 1s";
  const std::string data_dir = flags.GetString("data-dir");
  if (error.empty() && data_dir.empty()) error = "--data-dir is required";
  if (error.empty() && options.lease_ttl < absl::Milliseconds(100)) error = "--lease-ttl-ms must be >= 100";
  if (error.empty() && options.lease_take_up < absl::ZeroDuration()) {
    error = "--lease-take-up-ms must be >= 0 (0: no take-up window)";
  }
  if (error.empty() && options.max_lease_losses < 1) error = "--max-lease-losses must be >= 1";
  if (absl::Status s = baton::metrics::CheckMetricsFlags(flags); error.empty() && !s.ok()) {
    error = std::string(s.message());
  }
  if (!error.empty()) {
    std::cerr << "baton-orchestrator: " << error << "\n" << kUsage;
    return 2;
  }
  const std::string listen = flags.GetString("listen", "127.0.0.1:7233");
  const baton::ServerTlsOptions tls = baton::ServerTlsFromFlags(flags);
  if (absl::Status s = baton::ValidateServerTls(tls); !s.ok()) {
    std::cerr << "baton-orchestrator: " << s.message() << "\n";
    return 2;
  }
  absl::StatusOr<baton::orchestrator::auth::AuthOptions> auth_options =
      baton::orchestrator::auth::AuthOptionsFromFlags(flags, data_dir);
  if (!auth_options.ok()) {
    std::cerr << "baton-orchestrator: " << auth_options.status().message() << "\n" << kUsage;
    return 2;
  }
  // Workers' own address (WorkerService only), when set; else they share --listen.
  const std::string worker_listen = flags.GetString("worker-listen", "");
  if (worker_listen.empty() && flags.Has("worker-port-file")) {
    std::cerr << "baton-orchestrator: --worker-port-file needs --worker-listen\n" << kUsage;
    return 2;
  }
  for (const std::string& address : {listen, worker_listen}) {
    if (address.empty()) continue;
    if (absl::Status s = baton::CheckListenSecurity(address, tls.enabled(), auth_options->enabled,
                                                    flags.GetBool(baton::kInsecureFlag));
        !s.ok()) {
      std::cerr << "baton-orchestrator: " << s.message() << "\n";
      return 2;
    }
  }

  // Prometheus metrics: every component registers its own; served once all are up.
  baton::metrics::Registry metrics(baton::metrics::MetricsEnabled(flags));
  baton::tracing::RegisterExporterMetrics(**tracing, metrics);
  baton::orchestrator::RocksDbStoreOptions store_options;
  store_options.path = data_dir;
  store_options.metrics = &metrics;
  // Encryption at rest (docs/operations.md): AES-256-GCM, data keys wrapped by the
  // key-encryption keys in this file.
  store_options.encryption_key_file = flags.GetString("encryption-key-file", "");
  // A full disk (docs/operations.md): writes stop below this much free space, before
  // RocksDB runs out, and resume by themselves.
  store_options.min_free_disk_bytes = static_cast<uint64_t>(min_free_disk_mb) << 20;
  store_options.max_commit_hold = absl::Milliseconds(commit_hold_ms);
  auto store = baton::orchestrator::RocksDbRunStore::Open(store_options);
  if (!store.ok()) {
    BATON_LOG(ERROR) << "cannot open the store: " << store.status();
    return 1;
  }
  baton::orchestrator::Scheduler scheduler(**store, baton::SystemClock::Get(), options);
  if (absl::Status s = scheduler.Recover(); !s.ok()) {
    BATON_LOG(ERROR) << "recovery failed: " << s;
    return 1;
  }
  scheduler.RegisterMetrics(metrics);
  baton::orchestrator::EventHub hub;
  hub.RegisterMetrics(metrics);
  scheduler.SetEventListener([&hub](const std::vector<baton::v1::RunEvent>& events) { hub.Publish(events); });
  scheduler.Start();
  // Retention (docs/operations.md): deletes through the store, beside the scheduler.
  baton::orchestrator::RetentionSweeper sweeper(**store, baton::SystemClock::Get(), retention);
  sweeper.Start();

  baton::orchestrator::RunServiceImpl run_service(scheduler, **store, hub, limits);
  baton::orchestrator::AgentServiceImpl agent_service(**store, limits);
  baton::orchestrator::GraphServiceImpl graph_service(**store, limits);
  // Fleet-wide Messages API rate limits (workers ask before each call).
  baton::orchestrator::RateLimitConfig rate_config;
  if (flags.Has("rate-limits")) {
    absl::StatusOr<baton::orchestrator::RateLimitConfig> loaded =
        baton::orchestrator::RateLimitConfig::Load(flags.GetString("rate-limits"));
    if (!loaded.ok()) {
      std::cerr << "baton-orchestrator: --rate-limits: " << loaded.status().message() << "\n";
      return 2;
    }
    rate_config = *std::move(loaded);
  }
  baton::orchestrator::RateLimiter rate_limiter(baton::SystemClock::Get(), rate_config);
  baton::orchestrator::WorkerServiceImpl worker_service(scheduler, **store, options.lease_ttl, &hub, &rate_limiter,
                                                        limits);
  // mTLS: a worker's identity is its client certificate.
  worker_service.RequireClientCertificates(!tls.client_ca_file.empty());
  worker_service.RegisterMetrics(metrics);
  // Authentication, roles and the audit log (docs/operations.md); outlives the server.
  absl::StatusOr<std::unique_ptr<baton::orchestrator::auth::ServerAuth>> auth =
      baton::orchestrator::auth::ServerAuth::Start(*auth_options, baton::SystemClock::Get());
  if (!auth.ok()) {
    BATON_LOG(ERROR) << auth.status();
    return 1;
  }
  // Namespaces (docs/operations.md): each call sees only its caller's.
  baton::orchestrator::NamespaceServiceImpl namespace_service(scheduler, **store);
  const baton::orchestrator::auth::PrincipalResolver& principals = (*auth)->principals();
  const baton::orchestrator::NamespacesOf namespaces_of = [&principals](const grpc::ServerContextBase& ctx) {
    return principals.Of(ctx).namespaces;
  };
  run_service.SetNamespacesOf(namespaces_of);
  if (auth_options->enabled) {
    run_service.SetCallerOf([&principals](const grpc::ServerContextBase& ctx) { return principals.Of(ctx).name; });
  }
  agent_service.SetNamespacesOf(namespaces_of);
  graph_service.SetNamespacesOf(namespaces_of);
  worker_service.SetNamespacesOf(namespaces_of);
  namespace_service.SetNamespacesOf(namespaces_of);
  // Backups (docs/operations.md), admin role only.
  baton::orchestrator::AdminServiceImpl admin_service(**store);
  std::vector<grpc::Service*> services = {&run_service, &agent_service, &graph_service, &namespace_service,
                                          &admin_service};
  std::vector<std::string> service_names = {
      baton::v1::RunService::service_full_name(), baton::v1::AgentService::service_full_name(),
      baton::v1::GraphService::service_full_name(), baton::v1::NamespaceService::service_full_name(),
      baton::v1::AdminService::service_full_name()};
  // WhoAmI, with and without --auth (clients show who they are and what they may do).
  services.push_back((*auth)->identity_service());
  service_names.push_back(baton::v1::IdentityService::service_full_name());
  if ((*auth)->key_service() != nullptr) {
    services.push_back((*auth)->key_service());
    service_names.push_back(baton::v1::KeyService::service_full_name());
  }
  if (worker_listen.empty()) {
    services.push_back(&worker_service);
    service_names.push_back(baton::v1::WorkerService::service_full_name());
  }
  auto server = baton::StartGrpcServer(listen, services, service_names, tls,
                                       baton::orchestrator::MaxReceiveMessageBytes(limits),
                                       (*auth)->server_options());
  if (!server.ok()) {
    BATON_LOG(ERROR) << server.status();
    return 1;
  }
  // WorkerService on its own listener: same TLS, same credentials and roles.
  absl::StatusOr<baton::StartedServer> worker_server = baton::StartedServer{};
  if (!worker_listen.empty()) {
    worker_server = baton::StartGrpcServer(worker_listen, {&worker_service},
                                           {baton::v1::WorkerService::service_full_name()}, tls,
                                           baton::orchestrator::MaxReceiveMessageBytes(limits),
                                           (*auth)->server_options());
    if (!worker_server.ok()) {
      BATON_LOG(ERROR) << "--worker-listen: " << worker_server.status();
      return 1;
    }
  }
  for (const auto& [flag, port] : {std::pair<const char*, int>{"port-file", server->port},
                                   std::pair<const char*, int>{"worker-port-file", worker_server->port}}) {
    if (!flags.Has(flag)) continue;
    if (absl::Status s = baton::WritePortFile(flags.GetString(flag), port); !s.ok()) {
      BATON_LOG(ERROR) << s;
      return 1;
    }
  }
  // Declared after everything its scrapes read, so it stops first.
  absl::StatusOr<std::unique_ptr<baton::metrics::MetricsServer>> metrics_server =
      baton::metrics::ServeMetricsFromFlags(flags, metrics);
  if (!metrics_server.ok()) {
    BATON_LOG(ERROR) << "--metrics-listen: " << metrics_server.status();
    return 1;
  }
  BATON_LOG(INFO) << "serving on port " << server->port
                  << (worker_listen.empty() ? "" : absl::StrCat(" (workers on port ", worker_server->port, ")"))
                  << (tls.enabled() ? " with TLS" : " without TLS")
                  << (tls.client_ca_file.empty() ? "" : " (workers need client certificates)")
                  << (auth_options->enabled ? ", authentication on" : ", authentication off") << ", data in "
                  << data_dir;

  baton::WaitForShutdownSignal();
  BATON_LOG(INFO) << "shutting down";
  // Parked polls answer first so Shutdown's wait for in-flight calls is short.
  scheduler.Shutdown();
  sweeper.Stop();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  if (worker_server->server != nullptr) worker_server->server->Shutdown(absl::ToChronoTime(deadline));
  server->server->Shutdown(absl::ToChronoTime(deadline));
  return 0;
}
