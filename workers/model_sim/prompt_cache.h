// The simulator's prompt cache. Deterministic: an entry lives until /_sim/reset (no
// TTL expiry, no minimum prefix length), so tests can predict every usage figure.
//
// A request's prefix is the sequence tools → system blocks → message blocks. A block
// with cache_control is a breakpoint. For each breakpoint the cache is looked up at
// the breakpoint and up to 19 blocks before it (the API's 20-block lookback); the
// longest prefix found is read. Then the prefix up to each breakpoint is written, the
// tokens past the read part counted as written with that breakpoint's TTL. A prefix
// counts ceil(its blocks' JSON size / 4) tokens (at most the request's input estimate),
// so the same prefix always counts the same.
#ifndef BATON_WORKERS_MODEL_SIM_PROMPT_CACHE_H_
#define BATON_WORKERS_MODEL_SIM_PROMPT_CACHE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "workers/model_sim/wire.h"

namespace baton::model_sim {

struct CacheUsage {
  int64_t read = 0;
  int64_t write_5m = 0;
  int64_t write_1h = 0;
  int breakpoints = 0;
};

// The API's rules for cache_control: at most 4 blocks carry it; each is
// {"type":"ephemeral"} with an optional "ttl" of "5m" or "1h"; a 1h breakpoint may not
// follow a 5m one.
std::optional<ApiError> ValidateCacheControl(const Json& body);

// Not thread-safe; the simulator guards it.
class PromptCache {
 public:
  // Looks `body` up and records its breakpoints. `total_input` is the request's whole
  // input estimate; the result never exceeds it. No breakpoints: all zero.
  CacheUsage Apply(const Json& body, int64_t total_input);
  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_set<uint64_t> entries_;
};

// Overwrites the cache fields of `usage` (and lowers input_tokens by what the cache
// covered).
void ApplyCacheUsage(const CacheUsage& cache, Json& usage);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_PROMPT_CACHE_H_
