#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace baton::bench {

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
  return values[index];
}

double Median(const std::vector<double>& values) {
  if (values.empty()) return 0;
  std::vector<double> v = values;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

nlohmann::json Summary(const std::vector<double>& values) {
  nlohmann::json out;
  out["n"] = values.size();
  out["p50"] = Percentile(values, 50);
  out["p90"] = Percentile(values, 90);
  out["p99"] = Percentile(values, 99);
  out["max"] = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
  out["mean"] = values.empty() ? 0 : std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  return out;
}

namespace {

nlohmann::json Combine(const std::vector<nlohmann::json>& repeats, bool range) {
  if (repeats.empty()) return nlohmann::json::object();
  const nlohmann::json& first = repeats.front();
  if (!first.is_object()) return range ? nlohmann::json() : first;
  nlohmann::json out = nlohmann::json::object();
  for (auto it = first.begin(); it != first.end(); ++it) {
    const std::string& key = it.key();
    if (it->is_object()) {
      std::vector<nlohmann::json> parts;
      for (const nlohmann::json& r : repeats) {
        if (r.contains(key)) parts.push_back(r[key]);
      }
      nlohmann::json sub = Combine(parts, range);
      if (!range || !sub.empty()) out[key] = sub;
    } else if (it->is_number() && !it->is_boolean()) {
      std::vector<double> v;
      for (const nlohmann::json& r : repeats) {
        if (r.contains(key) && r[key].is_number()) v.push_back(r[key].get<double>());
      }
      if (range) {
        out[key] = {*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
      } else {
        out[key] = Median(v);
      }
    } else if (!range) {
      out[key] = *it;
    }
  }
  return out;
}

}  // namespace

nlohmann::json MedianOfRepeats(const std::vector<nlohmann::json>& repeats) { return Combine(repeats, false); }
nlohmann::json RangeOfRepeats(const std::vector<nlohmann::json>& repeats) { return Combine(repeats, true); }

}  // namespace baton::bench
