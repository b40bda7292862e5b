// baton-orchestrator: stores runs durably and leases them to workers.
//
//   baton-orchestrator --data-dir=DIR [--listen=127.0.0.1:7233] [--port-file=F]
//                      [--lease-ttl-ms=10000] [--retry-backoff-ms=1000] [--max-attempts=3]
//                      [--rate-limits=FILE]
// --rate-limits: fleet-wide Messages API limits per model (orchestrator/rate_limiter.h).
#include <cstdio>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/signals.h"
#include "orchestrator/graph_service.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/services.h"
#include "orchestrator/store/rocksdb_run_store.h"

namespace {


constexpr char kUsage[] =
    "usage: baton-orchestrator --data-dir=DIR [--listen=127.0.0.1:7233] [--port-file=F]\n"
    "         [--lease-ttl-ms=10000] [--retry-backoff-ms=1000] [--max-attempts=3]\n"
    "         [--rate-limits=FILE]\n";

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("orchestrator");
  baton::BlockShutdownSignals();  // before any thread starts
  // Debian's Abseil is built without NDEBUG, so every Mutex::Lock would also update
  // the deadlock detector's lock graph: about 6% of the orchestrator's CPU under
  // load (bench/, docs/PERFORMANCE.md). Tests keep the detector on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  baton::Flags flags({"data-dir", "listen", "port-file", "lease-ttl-ms", "retry-backoff-ms",
                      "max-attempts", "rate-limits"},
                     {"help"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-orchestrator: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  std::string error;
  baton::orchestrator::SchedulerOptions options;
  options.lease_ttl = absl::Milliseconds(flags.GetInt("lease-ttl-ms", 10'000, &error));
  options.retry_backoff_base = absl::Milliseconds(flags.GetInt("retry-backoff-ms", 1'000, &error));
  options.default_max_attempts = static_cast<int>(flags.GetInt("max-attempts", 3, &error));
  const std::string data_dir = flags.GetString("data-dir");
  if (error.empty() && data_dir.empty()) error = "--data-dir is required";
  if (error.empty() && options.lease_ttl < absl::Milliseconds(100)) error = "--lease-ttl-ms must be >= 100";
  if (!error.empty()) {
    std::cerr << "baton-orchestrator: " << error << "\n" << kUsage;
    return 2;
  }

  baton::orchestrator::RocksDbStoreOptions store_options;
  store_options.path = data_dir;
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
  baton::orchestrator::EventHub hub;
  scheduler.SetEventListener([&hub](const std::vector<baton::v1::RunEvent>& events) { hub.Publish(events); });
  scheduler.Start();

  baton::orchestrator::RunServiceImpl run_service(scheduler, **store, hub);
  baton::orchestrator::AgentServiceImpl agent_service(**store);
  baton::orchestrator::GraphServiceImpl graph_service(**store);
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
  baton::orchestrator::WorkerServiceImpl worker_service(scheduler, **store, options.lease_ttl, &hub, &rate_limiter);
  auto server = baton::StartGrpcServer(flags.GetString("listen", "127.0.0.1:7233"),
                                       {&run_service, &agent_service, &graph_service, &worker_service},
                                       {baton::v1::RunService::service_full_name(),
                                        baton::v1::AgentService::service_full_name(),
                                        baton::v1::GraphService::service_full_name(),
                                        baton::v1::WorkerService::service_full_name()});
  if (!server.ok()) {
    BATON_LOG(ERROR) << server.status();
    return 1;
  }
  if (flags.Has("port-file")) {
    if (absl::Status s = baton::WritePortFile(flags.GetString("port-file"), server->port); !s.ok()) {
      BATON_LOG(ERROR) << s;
      return 1;
    }
  }
  BATON_LOG(INFO) << "serving on port " << server->port << ", data in " << data_dir;

  baton::WaitForShutdownSignal();
  BATON_LOG(INFO) << "shutting down";
  // Parked polls answer first so Shutdown's wait for in-flight calls is short.
  scheduler.Shutdown();
  server->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  return 0;
}
