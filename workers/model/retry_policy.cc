#include "workers/model/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace baton::worker {
namespace {

const std::string* FindHeader(const HttpHeaders& headers, std::string_view name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

// A finite, non-negative number, or nothing.
std::optional<double> ParseNonNegative(std::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())),
                        &value)) {
    return std::nullopt;
  }
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

// The delay the server asks for, if it asks in a way we understand.
std::optional<absl::Duration> ServerDelay(const HttpHeaders& headers, absl::Time now) {
  if (const std::string* ms = FindHeader(headers, "retry-after-ms")) {
    if (auto value = ParseNonNegative(*ms)) return absl::Milliseconds(*value);
  }
  if (const std::string* after = FindHeader(headers, "retry-after")) {
    if (auto seconds = ParseNonNegative(*after)) return absl::Seconds(*seconds);
    absl::Time date;
    if (ParseHttpDate(*after, &date) && date >= now) return date - now;
  }
  return std::nullopt;
}

}  // namespace

bool ShouldRetry(int http_status, const HttpHeaders& headers) {
  if (http_status == 0) return true;
  if (const std::string* should = FindHeader(headers, "x-should-retry")) {
    const std::string value = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*should));
    if (value == "true") return true;
    if (value == "false") return false;
  }
  return http_status == 408 || http_status == 409 || http_status == 429 ||
         http_status >= 500;
}

bool ShouldRetryStreamError(std::string_view error_type) {
  return error_type == "overloaded_error" || error_type == "api_error" ||
         error_type == "timeout_error" || error_type == "rate_limit_error";
}

absl::Duration RetryDelay(const RetryPolicy& policy, int retry_index,
                          const HttpHeaders& headers, double random, absl::Time now) {
  absl::Duration delay;
  if (auto server = ServerDelay(headers, now)) {
    delay = *server;
  } else {
    // 2^62 times any positive backoff is past max_backoff; the clamp avoids overflow.
    const int exponent = std::clamp(retry_index, 0, 62);
    const double seconds =
        absl::ToDoubleSeconds(policy.initial_backoff) * std::ldexp(1.0, exponent);
    const absl::Duration backoff = std::min(absl::Seconds(seconds), policy.max_backoff);
    delay = backoff * (1.0 - 0.25 * std::clamp(random, 0.0, 1.0));
  }
  return std::min(std::max(delay, absl::ZeroDuration()), policy.max_delay);
}

bool ParseHttpDate(std::string_view text, absl::Time* time) {
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT
      "%a %b %e %H:%M:%S %Y",       // asctime:     Sun Nov  6 08:49:37 1994
  };
  const std::string input(
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  for (const char* format : kFormats) {
    std::string error;
    if (absl::ParseTime(format, input, absl::UTCTimeZone(), time, &error)) return true;
  }
  return false;
}

}  // namespace baton::worker
