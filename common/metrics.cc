#include "common/metrics.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace baton::metrics {

void Counter::Increment(double by) const {
  if (counter_ != nullptr) counter_->Increment(by);
}

void Gauge::Set(double value) const {
  if (gauge_ != nullptr) gauge_->Set(value);
}
void Gauge::Increment(double by) const {
  if (gauge_ != nullptr) gauge_->Increment(by);
}
void Gauge::Decrement(double by) const {
  if (gauge_ != nullptr) gauge_->Decrement(by);
}

void Histogram::Observe(double value) const {
  if (histogram_ != nullptr) histogram_->Observe(value);
}

Counter CounterFamily::With(const Labels& labels) const {
  return family_ == nullptr ? Counter() : Counter(&family_->Add(labels));
}

Gauge GaugeFamily::With(const Labels& labels) const {
  return family_ == nullptr ? Gauge() : Gauge(&family_->Add(labels));
}

Histogram HistogramFamily::With(const Labels& labels) const {
  return family_ == nullptr ? Histogram() : Histogram(&family_->Add(labels, buckets_));
}

std::string OutcomeOf(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

std::vector<double> Buckets::ModelCall() {
  return {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600};
}
std::vector<double> Buckets::ToolCall() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
std::vector<double> Buckets::Commit() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
}
std::vector<double> Buckets::QueueWait() {
  return {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}
std::vector<double> Buckets::GroupSize() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

namespace {
prometheus::MetricFamily& Declare(std::vector<prometheus::MetricFamily>* out, const std::string& name,
                                  const std::string& help, prometheus::MetricType type) {
  prometheus::MetricFamily& family = out->emplace_back();
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}
}  // namespace

void ScrapeWriter::Gauge(const std::string& name, const std::string& help) {
  Declare(out_, name, help, prometheus::MetricType::Gauge);
}

void ScrapeWriter::Counter(const std::string& name, const std::string& help) {
  Declare(out_, name, help, prometheus::MetricType::Counter);
}

void ScrapeWriter::Add(const Labels& labels, double value) {
  if (out_->empty()) return;  // no family declared: a collector's mistake, not the scrape's
  prometheus::MetricFamily& family = out_->back();
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

struct Registry::Collectors {
  mutable absl::Mutex mu;
  std::vector<ScrapeCollector> list ABSL_GUARDED_BY(mu);
};

Registry::Registry(bool enabled)
    : registry_(enabled ? std::make_shared<prometheus::Registry>() : nullptr),
      collectors_(std::make_unique<Collectors>()) {}

Registry::~Registry() = default;

Counter Registry::AddCounter(const std::string& name, const std::string& help) {
  return AddCounterFamily(name, help).With({});
}

CounterFamily Registry::AddCounterFamily(const std::string& name, const std::string& help) {
  if (!enabled()) return CounterFamily();
  return CounterFamily(&prometheus::BuildCounter().Name(name).Help(help).Register(*registry_));
}

Gauge Registry::AddGauge(const std::string& name, const std::string& help) {
  return AddGaugeFamily(name, help).With({});
}

GaugeFamily Registry::AddGaugeFamily(const std::string& name, const std::string& help) {
  if (!enabled()) return GaugeFamily();
  return GaugeFamily(&prometheus::BuildGauge().Name(name).Help(help).Register(*registry_));
}

Histogram Registry::AddHistogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets) {
  return AddHistogramFamily(name, help, buckets).With({});
}

HistogramFamily Registry::AddHistogramFamily(const std::string& name, const std::string& help,
                                             std::vector<double> buckets) {
  if (!enabled()) return HistogramFamily();
  return HistogramFamily(&prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_),
                         std::move(buckets));
}

void Registry::AddScrapeCollector(ScrapeCollector collector) {
  if (!enabled()) return;
  absl::MutexLock lock(&collectors_->mu);
  collectors_->list.push_back(std::move(collector));
}

std::vector<prometheus::MetricFamily> Registry::CollectScraped() const {
  std::vector<ScrapeCollector> collectors;
  {
    absl::MutexLock lock(&collectors_->mu);
    collectors = collectors_->list;
  }
  std::vector<prometheus::MetricFamily> out;
  ScrapeWriter writer(&out);
  for (const ScrapeCollector& collect : collectors) collect(writer);
  return out;
}

}  // namespace baton::metrics
