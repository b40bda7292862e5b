// What Messages API calls cost: a price table per model, loaded from JSON, with the
// prices of Anthropic's published table as the built-in default. Pure; no curl.
#ifndef BATON_WORKERS_MODEL_PRICES_H_
#define BATON_WORKERS_MODEL_PRICES_H_

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace baton::worker {

// USD per million tokens.
struct ModelPrices {
  double input = 0;
  double output = 0;
  double cache_write_5m = 0;  // Default in JSON: 1.25 × input
  double cache_write_1h = 0;  // Default in JSON: 2 × input
  double cache_read = 0;      // Default in JSON: 0.1 × input
  // The model's context window in tokens (compaction thresholds). Default: 200 000.
  int64_t context_window = 200'000;
};

// Token counts of one call or a sum of calls, as the API reports them.
struct TokenCounts {
  int64_t input = 0;           // uncached input
  int64_t output = 0;
  int64_t cache_write_5m = 0;  // cache_creation_input_tokens written with the 5-minute TTL
  int64_t cache_write_1h = 0;  // ... with the 1-hour TTL
  int64_t cache_read = 0;
};

// Immutable after loading; thread-safe to share.
//
// JSON: {"models": {"claude-sonnet-4-5": {"input": 3, "output": 15, "cache_write_5m": 3.75,
//        "cache_write_1h": 6, "cache_read": 0.3, "context_window": 200000}, ...}}
// `input` and `output` are required; the cache prices default to the API's multipliers.
class PriceTable {
 public:
  PriceTable() = default;

  // Opus 4.5-4.8 $5/$25, Sonnet 4.5/4.6 $3/$15, Haiku 4.5 $1/$5 (input/output per MTok).
  static PriceTable Default();
  static absl::StatusOr<PriceTable> FromJson(const nlohmann::json& config);
  // Reads FromJson's format from a file.
  static absl::StatusOr<PriceTable> Load(const std::string& path);

  // The prices of `model`: an exact entry, else the longest entry `model` starts with
  // followed by '-' (so "claude-opus-4-5-20251101" uses "claude-opus-4-5"); null if none.
  const ModelPrices* Find(const std::string& model) const;
  // USD for `tokens` on `model`; 0 when the model has no price.
  double Cost(const std::string& model, const TokenCounts& tokens) const;

  const std::map<std::string, ModelPrices>& models() const { return models_; }

 private:
  std::map<std::string, ModelPrices> models_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_PRICES_H_
