#include "common/metrics_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>
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

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, std::shared_ptr<Scraped> scraped,
                             std::string host, int port)
    : scraped_(std::move(scraped)), exposer_(std::move(exposer)), host_(std::move(host)), port_(port) {}

namespace {

// Opens and at once closes a connection to host:port (nothing is sent, so the
// server's reader sees the end at once). Failures are ignored: the server may be gone.
void Knock(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const bool connected = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
    if (connected) break;
  }
  freeaddrinfo(found);
}

}  // namespace

MetricsServer::~MetricsServer() {
  // civetweb's listener polls in quanta of 2 s and looks at the stop request only
  // between them, so stopping took up to 2 s (after a scrape, always about 2). A
  // connection ends its poll: knock until the exposer is gone.
  std::atomic<bool> stopped{false};
  std::thread knocker([this, &stopped] {
    while (!stopped.load(std::memory_order_acquire)) {
      Knock(host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true, std::memory_order_release);
  knocker.join();
}

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
  // The destructor connects to the listener: a wildcard address is reached on loopback.
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), std::move(scraped), std::move(host), ports.front()));
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
