// Where a Messages API client asks before each HTTP attempt, and tells afterwards what
// the API said about rate limits. The worker's implementation asks the orchestrator
// (fleet-wide token buckets); tests use fakes.
#ifndef BATON_WORKERS_MODEL_RATE_GATE_H_
#define BATON_WORKERS_MODEL_RATE_GATE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "workers/model/retry_policy.h"

namespace baton::worker {

struct RateAttempt {
  std::string model;
  int64_t input_tokens = 0;   // estimated
  int64_t output_tokens = 0;  // max_tokens
};

struct RateOutcome {
  int http_status = 0;  // 0: no response (connection error)
  HttpHeaders headers;  // of the response
  int64_t input_tokens = -1;  // actual, when known
  int64_t output_tokens = -1;
};

// Thread-safe.
class RateGate {
 public:
  virtual ~RateGate() = default;
  // Returns when the attempt may be sent. kCancelled when is_cancelled fired while
  // waiting. Any other failure to reach the limiter lets the attempt go (fail open).
  virtual absl::Status Acquire(const RateAttempt& attempt, const std::function<bool()>& is_cancelled) = 0;
  virtual void Report(const RateAttempt& attempt, const RateOutcome& outcome) = 0;
  // Whether the gate spaces the next attempt of `model` after a 429 (so the client's
  // own backoff is skipped): false when the model has no limit or the limiter could
  // not be reached.
  virtual bool Governs(const std::string& model) = 0;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_RATE_GATE_H_
