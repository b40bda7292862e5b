// Prometheus metrics (docs/operations.md, "Metrics"): a registry of counters, gauges
// and histograms, and gauges computed when scraped. prometheus-cpp stays behind this
// header: the classes here hold pointers into it, so the files that measure include
// only this.
//
// Every process makes one Registry. Off (no --metrics-listen) it hands out empty
// handles, and measuring costs a null check; on, a handle updates its prometheus-cpp
// metric (an atomic add, or a short lock for a histogram's buckets).
#ifndef BATON_COMMON_METRICS_H_
#define BATON_COMMON_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
struct MetricFamily;
template <typename T>
class Family;
}  // namespace prometheus

namespace baton::metrics {

using Labels = std::map<std::string, std::string>;

// A monotonically increasing count. Copyable; empty (a no-op) when metrics are off.
class Counter {
 public:
  Counter() = default;
  explicit Counter(prometheus::Counter* counter) : counter_(counter) {}
  void Increment(double by = 1) const;

 private:
  prometheus::Counter* counter_ = nullptr;
};

// A value that goes up and down. Copyable; empty (a no-op) when metrics are off.
class Gauge {
 public:
  Gauge() = default;
  explicit Gauge(prometheus::Gauge* gauge) : gauge_(gauge) {}
  void Set(double value) const;
  void Increment(double by = 1) const;
  void Decrement(double by = 1) const;

 private:
  prometheus::Gauge* gauge_ = nullptr;
};

// Observations counted into buckets. Copyable; empty (a no-op) when metrics are off.
class Histogram {
 public:
  Histogram() = default;
  explicit Histogram(prometheus::Histogram* histogram) : histogram_(histogram) {}
  void Observe(double value) const;
  // In seconds.
  void ObserveDuration(absl::Duration d) const { Observe(absl::ToDoubleSeconds(d)); }

 private:
  prometheus::Histogram* histogram_ = nullptr;
};

// A metric with labels: one time series per set of label values. With(...) finds or
// makes the series (a lock and a hash lookup: keep it off per-step paths, or keep the
// handle it returns). Label values must be few (model, tool, outcome names), never
// ids. Copyable; empty when metrics are off.
class CounterFamily {
 public:
  CounterFamily() = default;
  explicit CounterFamily(prometheus::Family<prometheus::Counter>* family) : family_(family) {}
  // False when metrics are off: skip building labels.
  bool enabled() const { return family_ != nullptr; }
  Counter With(const Labels& labels) const;

 private:
  prometheus::Family<prometheus::Counter>* family_ = nullptr;
};

class GaugeFamily {
 public:
  GaugeFamily() = default;
  explicit GaugeFamily(prometheus::Family<prometheus::Gauge>* family) : family_(family) {}
  bool enabled() const { return family_ != nullptr; }
  Gauge With(const Labels& labels) const;

 private:
  prometheus::Family<prometheus::Gauge>* family_ = nullptr;
};

class HistogramFamily {
 public:
  HistogramFamily() = default;
  HistogramFamily(prometheus::Family<prometheus::Histogram>* family, std::vector<double> buckets)
      : family_(family), buckets_(std::move(buckets)) {}
  bool enabled() const { return family_ != nullptr; }
  Histogram With(const Labels& labels) const;

 private:
  prometheus::Family<prometheus::Histogram>* family_ = nullptr;
  std::vector<double> buckets_;
};

// An `outcome` label from a call's status: "ok", or the code in snake case
// ("unavailable", "deadline_exceeded", ...).
std::string OutcomeOf(const absl::Status& status);

// Bucket upper bounds that fit what they measure (a +Inf bucket is always added).
struct Buckets {
  // Messages API calls and their time to first token: 50 ms to 10 minutes.
  static std::vector<double> ModelCall();
  // Tool calls (built-in and MCP): 1 ms to 5 minutes.
  static std::vector<double> ToolCall();
  // Store writes and the calls that wait for them (AppendStep): 100 µs to 2.5 s.
  static std::vector<double> Commit();
  // Waiting in the queue (submit to start): 10 ms to 1 hour.
  static std::vector<double> QueueWait();
  // Counts of things in a group (batches per group commit): 1 to 1024, powers of 2.
  static std::vector<double> GroupSize();
};

// Samples of metrics computed at scrape time (a ScrapeCollector's output).
class ScrapeWriter {
 public:
  explicit ScrapeWriter(std::vector<prometheus::MetricFamily>* out) : out_(out) {}
  // Declares a family (so it is exposed even with no samples) and selects it for Add.
  void Gauge(const std::string& name, const std::string& help);
  void Counter(const std::string& name, const std::string& help);
  // One sample of the family selected last.
  void Add(const Labels& labels, double value);

 private:
  std::vector<prometheus::MetricFamily>* out_;
};
// Fills a scrape's samples. Runs on the metrics server's thread at each scrape; it
// must be thread-safe and short, and outlive the server.
using ScrapeCollector = std::function<void(ScrapeWriter&)>;

// Thread-safe. Owns the metrics; a MetricsServer (metrics_server.h) exposes them.
class Registry {
 public:
  // `enabled` false: every Add* returns an empty handle and collectors are dropped.
  explicit Registry(bool enabled);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  bool enabled() const { return registry_ != nullptr; }

  // Names are the full Prometheus names (baton_..., counters end in _total). Adding a
  // name twice returns the same metric.
  Counter AddCounter(const std::string& name, const std::string& help);
  CounterFamily AddCounterFamily(const std::string& name, const std::string& help);
  Gauge AddGauge(const std::string& name, const std::string& help);
  GaugeFamily AddGaugeFamily(const std::string& name, const std::string& help);
  Histogram AddHistogram(const std::string& name, const std::string& help, const std::vector<double>& buckets);
  HistogramFamily AddHistogramFamily(const std::string& name, const std::string& help, std::vector<double> buckets);
  // Metrics computed when scraped (gauges read from a component's state, values a
  // library keeps itself): no work on the measured path at all.
  void AddScrapeCollector(ScrapeCollector collector);

  // For the server: the registry and the collectors, as prometheus-cpp collectables.
  std::shared_ptr<prometheus::Registry> prometheus_registry() const { return registry_; }
  // Every collector's samples, in the order the collectors were added.
  std::vector<prometheus::MetricFamily> CollectScraped() const;

 private:
  struct Collectors;
  std::shared_ptr<prometheus::Registry> registry_;  // null when disabled
  std::unique_ptr<Collectors> collectors_;
};

}  // namespace baton::metrics

#endif  // BATON_COMMON_METRICS_H_
