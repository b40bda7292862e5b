// When and after how long a failed Messages API attempt is retried: the rules of
// Anthropic's official SDKs. Pure functions; the random jitter is passed in, so every
// result is deterministic in tests.
#ifndef BATON_WORKERS_MODEL_RETRY_POLICY_H_
#define BATON_WORKERS_MODEL_RETRY_POLICY_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace baton::worker {

// Response headers, names lower-cased (HTTP names are case-insensitive).
using HttpHeaders = std::map<std::string, std::string, std::less<>>;

struct RetryPolicy {
  // Retries after the first attempt. Default: 4 (so 5 attempts at most).
  int max_retries = 4;
  // The first backoff; doubled for each later retry. Default: 0.5 s.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  // The backoff never grows past this. Default: 8 s.
  absl::Duration max_backoff = absl::Seconds(8);
  // No delay, not even one the server asks for, is longer than this. Default: 60 s.
  absl::Duration max_delay = absl::Seconds(60);
};

// `http_status` 0 means no response arrived (connection refused or reset, timeout):
// always retryable. Otherwise an `x-should-retry: true|false` header decides; without
// it 408, 409, 429 and every status ≥ 500 (so 529) are retryable, other statuses never.
bool ShouldRetry(int http_status, const HttpHeaders& headers);

// Whether an `error` event inside a streamed 200 response is worth another attempt:
// the error types whose HTTP statuses are retryable (overloaded_error, api_error,
// timeout_error, rate_limit_error).
bool ShouldRetryStreamError(std::string_view error_type);

// The wait before retry number `retry_index` (0 for the first retry):
//   retry-after-ms (milliseconds), else retry-after (seconds, or an HTTP date compared
//   with `now`), else min(initial_backoff·2^retry_index, max_backoff)·(1 − 0.25·random)
// and never more than policy.max_delay. A header that does not parse to a finite,
// non-negative delay is ignored. REQUIRES: 0 <= random < 1.
absl::Duration RetryDelay(const RetryPolicy& policy, int retry_index,
                          const HttpHeaders& headers, double random, absl::Time now);

// Parses an HTTP date (RFC 9110: IMF-fixdate, the obsolete RFC 850 form and asctime).
bool ParseHttpDate(std::string_view text, absl::Time* time);

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_RETRY_POLICY_H_
