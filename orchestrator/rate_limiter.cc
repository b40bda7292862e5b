#include "orchestrator/rate_limiter.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json_file.h"

namespace baton::orchestrator {
namespace {

using json = nlohmann::json;

absl::StatusOr<ModelRateLimits> ParseLimits(const json& entry, const std::string& at) {
  if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": must be an object"));
  ModelRateLimits limits;
  for (const auto& [key, value] : entry.items()) {
    double* field = key == "requests_per_minute"        ? &limits.requests_per_minute
                    : key == "input_tokens_per_minute"  ? &limits.input_tokens_per_minute
                    : key == "output_tokens_per_minute" ? &limits.output_tokens_per_minute
                    : key == "burst_seconds"            ? &limits.burst_seconds
                                                        : nullptr;
    if (field == nullptr) {
      if (!key.empty() && key[0] == '_') continue;  // a comment
      return absl::InvalidArgumentError(absl::StrCat(at, ".", key, ": unknown field"));
    }
    if (!value.is_number() || value.get<double>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".", key, ": must be a number >= 0"));
    }
    *field = value.get<double>();
  }
  if (limits.burst_seconds <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(at, ".burst_seconds: must be > 0"));
  }
  return limits;
}

// The reset time of an anthropic-ratelimit-*-reset header (RFC 3339).
bool ParseReset(const std::string& text, absl::Time* t) {
  std::string err;
  return absl::ParseTime(absl::RFC3339_full, text, t, &err);
}

}  // namespace

absl::StatusOr<RateLimitConfig> RateLimitConfig::FromJson(const json& config) {
  if (!config.is_object()) return absl::InvalidArgumentError("rate limits: must be a JSON object");
  RateLimitConfig out;
  for (const auto& [key, value] : config.items()) {
    if (key == "models") {
      if (!value.is_object()) return absl::InvalidArgumentError("models: must be an object of model id -> limits");
      for (const auto& [model, entry] : value.items()) {
        absl::StatusOr<ModelRateLimits> limits = ParseLimits(entry, absl::StrCat("models.", model));
        if (!limits.ok()) return limits.status();
        out.models[model] = *limits;
      }
    } else if (key == "default") {
      absl::StatusOr<ModelRateLimits> limits = ParseLimits(value, "default");
      if (!limits.ok()) return limits.status();
      out.default_limits = *limits;
    } else if (key.empty() || key[0] != '_') {
      return absl::InvalidArgumentError(absl::StrCat(key, ": unknown field"));
    }
  }
  return out;
}

absl::StatusOr<RateLimitConfig> RateLimitConfig::Load(const std::string& path) {
  absl::StatusOr<json> config = ReadJsonFile(path);
  if (!config.ok()) return config.status();
  absl::StatusOr<RateLimitConfig> parsed = FromJson(*config);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  return parsed;
}

bool RateLimitConfig::empty() const {
  auto unlimited = [](const ModelRateLimits& l) {
    return l.requests_per_minute == 0 && l.input_tokens_per_minute == 0 && l.output_tokens_per_minute == 0;
  };
  if (!unlimited(default_limits)) return false;
  for (const auto& [model, limits] : models) {
    if (!unlimited(limits)) return false;
  }
  return true;
}

void RateLimiter::Bucket::Refill(absl::Time now) {
  if (rate_per_second <= 0) return;
  if (now > updated) {
    level = std::min(capacity, level + rate_per_second * absl::ToDoubleSeconds(now - updated));
    updated = now;
  }
}

absl::Duration RateLimiter::Bucket::WaitFor(double amount) const {
  if (rate_per_second <= 0 || level >= amount) return absl::ZeroDuration();
  // An amount above the capacity could never be available: wait for a full bucket.
  const double need = std::min(amount, capacity) - level;
  return need <= 0 ? absl::ZeroDuration() : absl::Seconds(need / rate_per_second);
}

RateLimiter::RateLimiter(const Clock& clock, RateLimitConfig config)
    : clock_(clock), config_(std::move(config)) {}

const ModelRateLimits& RateLimiter::LimitsFor(const std::string& model) const {
  if (auto it = config_.models.find(model); it != config_.models.end()) return it->second;
  const ModelRateLimits* best = nullptr;
  size_t best_len = 0;
  for (const auto& [name, limits] : config_.models) {
    if (model.size() > name.size() && model.compare(0, name.size(), name) == 0 && model[name.size()] == '-' &&
        name.size() > best_len) {
      best = &limits;
      best_len = name.size();
    }
  }
  return best != nullptr ? *best : config_.default_limits;
}

bool RateLimiter::Limited(const std::string& model) const {
  const ModelRateLimits& l = LimitsFor(model);
  return l.requests_per_minute > 0 || l.input_tokens_per_minute > 0 || l.output_tokens_per_minute > 0;
}

RateLimiter::ModelState& RateLimiter::StateLocked(const std::string& model) {
  auto it = models_.find(model);
  if (it != models_.end()) return it->second;
  const ModelRateLimits& limits = LimitsFor(model);
  const absl::Time now = clock_.Now();
  ModelState state;
  auto init = [&](Bucket& b, double per_minute) {
    b.rate_per_second = per_minute / 60.0;
    b.capacity = std::max(b.rate_per_second * limits.burst_seconds, per_minute > 0 ? 1.0 : 0.0);
    b.level = b.capacity;
    b.updated = now;
  };
  init(state.requests, limits.requests_per_minute);
  init(state.input, limits.input_tokens_per_minute);
  init(state.output, limits.output_tokens_per_minute);
  return models_.emplace(model, state).first->second;
}

absl::Duration RateLimiter::Acquire(const std::string& model, int64_t input_tokens, int64_t output_tokens) {
  absl::MutexLock lock(&mu_);
  ++acquired_;
  ModelState& s = StateLocked(model);
  const absl::Time now = clock_.Now();
  s.requests.Refill(now);
  s.input.Refill(now);
  s.output.Refill(now);
  absl::Duration wait = std::max({s.requests.WaitFor(1), s.input.WaitFor(static_cast<double>(input_tokens)),
                                  s.output.WaitFor(static_cast<double>(output_tokens))});
  if (s.paused_until > now) wait = std::max(wait, s.paused_until - now);
  // Take the capacity now; the bucket goes negative by what later callers must wait for.
  if (s.requests.rate_per_second > 0) s.requests.level -= 1;
  if (s.input.rate_per_second > 0) s.input.level -= static_cast<double>(input_tokens);
  if (s.output.rate_per_second > 0) s.output.level -= static_cast<double>(output_tokens);
  // A pause stacks the callers after it one request interval apart.
  if (s.paused_until > now && s.requests.rate_per_second > 0) {
    s.paused_until += absl::Seconds(1.0 / s.requests.rate_per_second);
  }
  return wait;
}

void RateLimiter::Report(const RateReport& report) {
  absl::MutexLock lock(&mu_);
  ModelState& s = StateLocked(report.model);
  const absl::Time now = clock_.Now();
  s.requests.Refill(now);
  s.input.Refill(now);
  s.output.Refill(now);
  // Actual usage replaces the estimates.
  if (report.input_tokens >= 0 && s.input.rate_per_second > 0) {
    s.input.level -= static_cast<double>(report.input_tokens - report.estimated_input_tokens);
  }
  if (report.output_tokens >= 0 && s.output.rate_per_second > 0) {
    s.output.level -= static_cast<double>(report.output_tokens - report.estimated_output_tokens);
  }
  if (report.http_status == 429) {
    ++rate_limited_;
    const absl::Duration pause = report.retry_after > absl::ZeroDuration() ? report.retry_after : absl::Seconds(1);
    s.paused_until = std::max(s.paused_until, now + pause);
    // The request was refused: it used no capacity, but the API's bucket is empty.
    s.requests.level = std::min(s.requests.level, 0.0);
  }
  // The API's own view: never hold more than it says remains.
  auto clamp = [&](Bucket& b, const char* kind) {
    auto remaining = report.headers.find(absl::StrCat("anthropic-ratelimit-", kind, "-remaining"));
    if (remaining == report.headers.end() || b.rate_per_second <= 0) return;
    double left = 0;
    if (!absl::SimpleAtod(remaining->second, &left)) return;
    b.level = std::min(b.level, left);
    if (left < 1) {
      auto reset = report.headers.find(absl::StrCat("anthropic-ratelimit-", kind, "-reset"));
      absl::Time at;
      if (reset != report.headers.end() && ParseReset(reset->second, &at) && at > now) {
        s.paused_until = std::max(s.paused_until, std::min(at, now + absl::Minutes(1)));
      }
    }
  };
  clamp(s.requests, "requests");
  clamp(s.input, "input-tokens");
  clamp(s.output, "output-tokens");
}

int64_t RateLimiter::acquired() const {
  absl::MutexLock lock(&mu_);
  return acquired_;
}

int64_t RateLimiter::rate_limited_reports() const {
  absl::MutexLock lock(&mu_);
  return rate_limited_;
}

}  // namespace baton::orchestrator
