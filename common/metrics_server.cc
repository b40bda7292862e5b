#include "common/metrics_server.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace baton::metrics {

struct MetricsServer::Scraped final : prometheus::Collectable {
  explicit Scraped(const Registry& registry) : registry(registry) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return registry.CollectScraped(); }
  const Registry& registry;
};

namespace {

absl::Status CheckListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", kMetricsListenFlag, "=", listen, ": expected HOST:PORT (127.0.0.1:9464; port 0: any free)"));
  }
  return absl::OkStatus();
}

}  // namespace

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, std::shared_ptr<Scraped> scraped, int port)
    : scraped_(std::move(scraped)), exposer_(std::move(exposer)), port_(port) {}

MetricsServer::~MetricsServer() = default;

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen, Registry& registry) {
  if (absl::Status s = CheckListen(listen); !s.ok()) return s;
  if (!registry.enabled()) return absl::FailedPreconditionError("the metrics registry is disabled");
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb throws when it cannot bind (a busy port, a host that is not an address).
    exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, " (HOST must be an IP address of ",
                                               "this machine and PORT free): ", e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) return absl::InternalError(absl::StrCat("metrics server on ", listen, " reports no port"));
  auto scraped = std::make_shared<Scraped>(registry);
  exposer->RegisterCollectable(registry.prometheus_registry());
  exposer->RegisterCollectable(scraped);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(exposer), std::move(scraped), ports.front()));
}

absl::Status CheckMetricsFlags(const Flags& flags) {
  if (!flags.Has(kMetricsListenFlag)) {
    if (flags.Has(kMetricsPortFileFlag)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", kMetricsPortFileFlag, " needs --", kMetricsListenFlag));
    }
    return absl::OkStatus();
  }
  return CheckListen(flags.GetString(kMetricsListenFlag));
}

absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetricsFromFlags(const Flags& flags, Registry& registry) {
  if (!MetricsEnabled(flags)) return std::unique_ptr<MetricsServer>();
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start(flags.GetString(kMetricsListenFlag), registry);
  if (!server.ok()) return server.status();
  if (flags.Has(kMetricsPortFileFlag)) {
    if (absl::Status s = WritePortFile(flags.GetString(kMetricsPortFileFlag), (*server)->port()); !s.ok()) return s;
  }
  BATON_LOG(INFO) << "metrics on http://" << flags.GetString(kMetricsListenFlag) << " (port " << (*server)->port()
                  << ") at /metrics";
  return server;
}

}  // namespace baton::metrics
