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
#include <vector>

#include "absl/strings/string_view.h"
#include "workers/model_sim/message_facts.h"
#include "workers/model_sim/request_view.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

struct CacheUsage {
  int64_t read = 0;
  int64_t write_5m = 0;
  int64_t write_1h = 0;
  int breakpoints = 0;
};

// The API's rules for cache_control (CacheControlState, message_facts.h).
// Checks the blocks of `list` when it is an array; `at` names it ("tools",
// "messages.3.content").
void CheckCacheControl(const Json& list, absl::string_view at, CacheControlState& state);
// The request's error once every list went through CheckCacheControl.
std::optional<ApiError> CacheControlError(const CacheControlState& state);

// The units of the request's tools and system blocks (every prefix starts with the
// model, then these). Sets `end` to the prefix after them.
std::vector<PrefixUnit> RootUnits(const Json& body, PrefixEnd& end);
// The units of message `index`, continuing the prefix at `end` (advanced past them).
std::vector<PrefixUnit> MessageUnits(const Json& message, size_t index, PrefixEnd& end);

// Not thread-safe; the simulator guards it.
class PromptCache {
 public:
  // Looks `body` up and records its breakpoints. `total_input` is the request's whole
  // input estimate; the result never exceeds it. No breakpoints: all zero.
  CacheUsage Apply(const RequestView& request, int64_t total_input);
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
