// Fleet-wide rate limits for the Messages API: token buckets per model (requests,
// input tokens and output tokens per minute), held by the orchestrator so that every
// worker using one API key shares them.
//
// Acquire() does not block: it reserves capacity and answers how long the caller must
// wait before sending. Reservations queue up in time (a bucket may go below zero), so
// many workers asking at once get staggered start times instead of all retrying at the
// same moment. Report() feeds back what the API said: a 429 pauses the model's buckets
// for retry-after; anthropic-ratelimit-*-remaining/reset headers lower a bucket that
// holds more than the API says is left; actual token counts replace the estimates.
#ifndef BATON_ORCHESTRATOR_RATE_LIMITER_H_
#define BATON_ORCHESTRATOR_RATE_LIMITER_H_

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace baton::orchestrator {

// Limits of one model; 0 means unlimited.
struct ModelRateLimits {
  double requests_per_minute = 0;
  double input_tokens_per_minute = 0;
  double output_tokens_per_minute = 0;
  // How much may be spent at once, in seconds of each rate. Default: 1 s (smooth; the
  // API's own buckets allow up to a minute, but a fleet starting together would then
  // all start at once).
  double burst_seconds = 1;
};

// JSON: {"models": {"claude-sonnet-4-5": {"requests_per_minute": 50,
//        "input_tokens_per_minute": 30000, "output_tokens_per_minute": 8000,
//        "burst_seconds": 1}}, "default": {...}}
// A model without an entry uses "default" (unlimited when absent). Model ids match
// exactly or as "<entry>-<suffix>" (dated ids).
struct RateLimitConfig {
  std::map<std::string, ModelRateLimits> models;
  ModelRateLimits default_limits;

  static absl::StatusOr<RateLimitConfig> FromJson(const nlohmann::json& config);
  static absl::StatusOr<RateLimitConfig> Load(const std::string& path);
  bool empty() const;
};

struct RateReport {
  std::string model;
  int http_status = 200;
  absl::Duration retry_after = absl::ZeroDuration();  // 0: none
  std::map<std::string, std::string> headers;          // anthropic-ratelimit-*
  // The reservation's estimates and the actual usage (actual < 0: unknown).
  int64_t estimated_input_tokens = 0;
  int64_t estimated_output_tokens = 0;
  int64_t input_tokens = -1;
  int64_t output_tokens = -1;
};

// Thread-safe.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, RateLimitConfig config);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Reserves one call of `model` with these token estimates; returns the wait before
  // the call may be sent (zero: now).
  absl::Duration Acquire(const std::string& model, int64_t input_tokens, int64_t output_tokens);
  // Whether any limit applies to `model`.
  bool Limited(const std::string& model) const;
  void Report(const RateReport& report);

  // Counters for tests and metrics.
  int64_t acquired() const;
  int64_t rate_limited_reports() const;

 private:
  // A token bucket whose level may go negative: capacity reserved ahead of time.
  struct Bucket {
    double rate_per_second = 0;  // 0: unlimited
    double capacity = 0;
    double level = 0;
    absl::Time updated;
    void Refill(absl::Time now);
    // How long until `amount` is available, were it taken now.
    absl::Duration WaitFor(double amount) const;
  };
  struct ModelState {
    Bucket requests, input, output;
    absl::Time paused_until = absl::InfinitePast();
  };

  ModelState& StateLocked(const std::string& model) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const ModelRateLimits& LimitsFor(const std::string& model) const;

  const Clock& clock_;
  const RateLimitConfig config_;
  mutable absl::Mutex mu_;
  std::map<std::string, ModelState> models_ ABSL_GUARDED_BY(mu_);
  int64_t acquired_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rate_limited_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RATE_LIMITER_H_
