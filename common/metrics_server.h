// The HTTP endpoint Prometheus scrapes: GET /metrics on --metrics-listen, served by
// prometheus-cpp's exposer (civetweb) on threads of its own.
#ifndef BATON_COMMON_METRICS_SERVER_H_
#define BATON_COMMON_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "common/metrics.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace baton::metrics {

// Every process's flags: --metrics-listen=HOST:PORT (off when absent; port 0 picks a
// free one) and --metrics-port-file=F (the port bound, as the other port files).
inline constexpr char kMetricsListenFlag[] = "metrics-listen";
inline constexpr char kMetricsPortFileFlag[] = "metrics-port-file";
inline constexpr char kMetricsUsage[] = "[--metrics-listen=HOST:PORT [--metrics-port-file=F]]";

// Serves a Registry's metrics until destroyed. Not copyable. Destroy it before the
// components whose scrape collectors it calls (declare it after them).
class MetricsServer {
 public:
  // Binds `listen` ("127.0.0.1:9464", "0.0.0.0:0"; HOST is an IP address) and serves
  // /metrics. `registry` must be enabled and outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen, Registry& registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  struct Scraped;  // the registry's collectors as a prometheus-cpp collectable
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, std::shared_ptr<Scraped> scraped, std::string host,
                int port);

  // The exposer's threads call into scraped_: declared after it, so stopped first.
  std::shared_ptr<Scraped> scraped_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;  // where the destructor knocks: the listen address, loopback for a wildcard
  int port_ = 0;
};

// INVALID_ARGUMENT naming the flag when --metrics-port-file comes without
// --metrics-listen or --metrics-listen is not HOST:PORT.
absl::Status CheckMetricsFlags(const Flags& flags);
// Whether the process measures: --metrics-listen is set.
inline bool MetricsEnabled(const Flags& flags) { return flags.Has(kMetricsListenFlag); }
// Starts serving `registry` when --metrics-listen is set (else null) and writes the
// port to --metrics-port-file.
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetricsFromFlags(const Flags& flags, Registry& registry);

}  // namespace baton::metrics

#endif  // BATON_COMMON_METRICS_SERVER_H_
