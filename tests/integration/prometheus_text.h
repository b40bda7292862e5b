// Prometheus' text exposition format (version 0.0.4), parsed strictly for tests: what
// a scrape of a Baton process's /metrics says, family by family.
#ifndef BATON_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_
#define BATON_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace baton::testing {

using MetricLabels = std::map<std::string, std::string>;

struct MetricSample {
  std::string name;  // as written: a histogram's are NAME_bucket, NAME_sum, NAME_count
  MetricLabels labels;
  double value = 0;
};

// One scrape. Every sample belongs to a family declared by a # TYPE line before it
// (a histogram's _bucket, _sum and _count samples to the histogram's family).
class Exposition {
 public:
  // INVALID_ARGUMENT naming the line for anything the format does not allow: a
  // malformed sample or label, a bad escape or number, a sample before its # TYPE, a
  // family typed twice, the same series twice, a histogram without its +Inf bucket or
  // whose buckets are not cumulative or disagree with its _count.
  static absl::StatusOr<Exposition> Parse(const std::string& text);

  // The family's type ("counter", "gauge", "histogram"...), or nullopt when undeclared.
  std::optional<std::string> Type(const std::string& family) const;
  // The value of the series `name` with exactly `labels`, or nullopt when absent.
  std::optional<double> Value(const std::string& name, const MetricLabels& labels = {}) const;
  // The samples named `name` (any labels).
  std::vector<MetricSample> Samples(const std::string& name) const;
  const std::vector<MetricSample>& samples() const { return samples_; }

 private:
  std::map<std::string, std::string> types_;  // family -> type
  std::vector<MetricSample> samples_;
};

// GET http://127.0.0.1:PORT/metrics, parsed. UNAVAILABLE when the request fails or
// does not answer 200 with the text format's content type.
absl::StatusOr<Exposition> ScrapeMetrics(int port);

}  // namespace baton::testing

#endif  // BATON_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_
