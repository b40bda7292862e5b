// Percentiles and medians for the benchmark's samples.
#ifndef BATON_BENCH_STATS_H_
#define BATON_BENCH_STATS_H_

#include <vector>

#include <nlohmann/json.hpp>

namespace baton::bench {

// Nearest-rank percentile (p in [0, 100]) of `values`; 0 when empty.
double Percentile(std::vector<double> values, double p);
double Median(const std::vector<double>& values);

// {"n", "p50", "p90", "p99", "max", "mean"} of `values`.
nlohmann::json Summary(const std::vector<double>& values);

// Per numeric key of the objects in `repeats` (nested objects too): the median
// across repeats. Non-numeric values come from the first repeat.
nlohmann::json MedianOfRepeats(const std::vector<nlohmann::json>& repeats);
// Per numeric key: [min, max] across repeats.
nlohmann::json RangeOfRepeats(const std::vector<nlohmann::json>& repeats);

}  // namespace baton::bench

#endif  // BATON_BENCH_STATS_H_
