#include "orchestrator/rate_limiter.h"

#include <gtest/gtest.h>

namespace baton::orchestrator {
namespace {

RateLimitConfig TenPerSecond() {
  RateLimitConfig config;
  config.models["claude-sonnet-4-5"].requests_per_minute = 600;  // 10/s, burst 10
  return config;
}

TEST(RateLimiterTest, BurstThenStaggeredReservations) {
  FakeClock clock;
  RateLimiter limiter(clock, TenPerSecond());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::ZeroDuration()) << i;
  // Callers past the burst get distinct start times 100 ms apart: no herd.
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Milliseconds(100));
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Milliseconds(200));
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Milliseconds(300));
  clock.Advance(absl::Seconds(1));  // 10 more tokens, 3 of them already promised
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::ZeroDuration());
  // Dated ids share their family's buckets; other models are unlimited.
  EXPECT_TRUE(limiter.Limited("claude-sonnet-4-5-20250929"));
  EXPECT_FALSE(limiter.Limited("claude-haiku-4-5"));
  EXPECT_EQ(limiter.Acquire("claude-haiku-4-5", 1'000'000, 1'000'000), absl::ZeroDuration());
}

TEST(RateLimiterTest, TokenBucketsUseEstimatesThenActualUsage) {
  FakeClock clock;
  RateLimitConfig config;
  config.models["m"].input_tokens_per_minute = 60'000;  // 1000/s
  config.models["m"].output_tokens_per_minute = 6'000;  // 100/s
  RateLimiter limiter(clock, config);
  EXPECT_EQ(limiter.Acquire("m", 1000, 100), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("m", 500, 50), absl::Milliseconds(500));  // both buckets short by half a second
  // The first call used only 100 output tokens of the 100 reserved, the second 0 of 50.
  RateReport report;
  report.model = "m";
  report.estimated_input_tokens = 500;
  report.estimated_output_tokens = 50;
  report.input_tokens = 0;
  report.output_tokens = 0;
  limiter.Report(report);  // gives back 500 input and 50 output tokens
  EXPECT_EQ(limiter.Acquire("m", 500, 50), absl::Milliseconds(500));
}

TEST(RateLimiterTest, A429PausesTheModelAndSpacesTheCallersAfterIt) {
  FakeClock clock;
  RateLimiter limiter(clock, TenPerSecond());
  RateReport report;
  report.model = "claude-sonnet-4-5";
  report.http_status = 429;
  report.retry_after = absl::Seconds(2);
  limiter.Report(report);
  EXPECT_EQ(limiter.rate_limited_reports(), 1);
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Seconds(2));
  EXPECT_GE(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Milliseconds(2100));
}

TEST(RateLimiterTest, RemainingHeadersLowerTheBucket) {
  FakeClock clock;
  RateLimiter limiter(clock, TenPerSecond());
  RateReport report;
  report.model = "claude-sonnet-4-5";
  report.headers["anthropic-ratelimit-requests-remaining"] = "0";
  report.headers["anthropic-ratelimit-requests-reset"] =
      absl::FormatTime(absl::RFC3339_full, clock.Now() + absl::Milliseconds(700), absl::UTCTimeZone());
  limiter.Report(report);
  EXPECT_EQ(limiter.Acquire("claude-sonnet-4-5", 0, 0), absl::Milliseconds(700));
}

TEST(RateLimitConfigTest, ParsesAndNamesBadFields) {
  auto config = RateLimitConfig::FromJson(nlohmann::json::parse(
      R"({"models": {"m": {"requests_per_minute": 60, "burst_seconds": 2}}, "default": {"requests_per_minute": 5}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->models.at("m").burst_seconds, 2);
  EXPECT_EQ(config->default_limits.requests_per_minute, 5);
  EXPECT_FALSE(config->empty());
  auto bad = RateLimitConfig::FromJson(nlohmann::json::parse(R"({"models": {"m": {"rpm": 1}}})"));
  EXPECT_EQ(bad.status().message(), "models.m.rpm: unknown field");
  bad = RateLimitConfig::FromJson(nlohmann::json::parse(R"({"models": {"m": {"requests_per_minute": -1}}})"));
  EXPECT_EQ(bad.status().message(), "models.m.requests_per_minute: must be a number >= 0");
}

}  // namespace
}  // namespace baton::orchestrator
