#include "workers/model/retry_policy.h"

#include <gtest/gtest.h>

#include "workers/model/api_error.h"

namespace baton::worker {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT

absl::Duration Delay(int retry_index, const HttpHeaders& headers = {}, double random = 0.0,
                     RetryPolicy policy = {}) {
  return RetryDelay(policy, retry_index, headers, random, kNow);
}

TEST(RetryPolicyTest, RetriesTimeoutConflictRateLimitAndServerErrors) {
  for (int status : {408, 409, 429, 500, 502, 503, 504, 529, 599}) {
    EXPECT_TRUE(ShouldRetry(status, {})) << status;
  }
}

TEST(RetryPolicyTest, NeverRetriesOtherClientErrors) {
  for (int status : {400, 401, 403, 404, 405, 413, 422}) {
    EXPECT_FALSE(ShouldRetry(status, {})) << status;
  }
}

TEST(RetryPolicyTest, RetriesConnectionErrors) { EXPECT_TRUE(ShouldRetry(0, {})); }

TEST(RetryPolicyTest, ShouldRetryHeaderDecidesFirst) {
  EXPECT_TRUE(ShouldRetry(400, {{"x-should-retry", "true"}}));
  EXPECT_FALSE(ShouldRetry(529, {{"x-should-retry", "false"}}));
  EXPECT_FALSE(ShouldRetry(429, {{"x-should-retry", " FALSE "}}));
  // Any other value leaves the decision to the status.
  EXPECT_TRUE(ShouldRetry(503, {{"x-should-retry", "maybe"}}));
  EXPECT_FALSE(ShouldRetry(400, {{"x-should-retry", "1"}}));
}

TEST(RetryPolicyTest, RetriesStreamErrorsOfRetryableTypesOnly) {
  EXPECT_TRUE(ShouldRetryStreamError("overloaded_error"));
  EXPECT_TRUE(ShouldRetryStreamError("api_error"));
  EXPECT_TRUE(ShouldRetryStreamError("timeout_error"));
  EXPECT_TRUE(ShouldRetryStreamError("rate_limit_error"));
  EXPECT_FALSE(ShouldRetryStreamError("invalid_request_error"));
  EXPECT_FALSE(ShouldRetryStreamError("authentication_error"));
  EXPECT_FALSE(ShouldRetryStreamError(""));
}

TEST(RetryPolicyTest, BackoffDoublesFromHalfASecondUpToEightSeconds) {
  EXPECT_EQ(Delay(0), absl::Milliseconds(500));
  EXPECT_EQ(Delay(1), absl::Seconds(1));
  EXPECT_EQ(Delay(2), absl::Seconds(2));
  EXPECT_EQ(Delay(3), absl::Seconds(4));
  EXPECT_EQ(Delay(4), absl::Seconds(8));
  EXPECT_EQ(Delay(5), absl::Seconds(8));
  EXPECT_EQ(Delay(1000), absl::Seconds(8));  // no overflow
}

TEST(RetryPolicyTest, JitterTakesOffUpToAQuarter) {
  EXPECT_EQ(Delay(0, {}, 0.5), absl::Milliseconds(437.5));
  EXPECT_EQ(Delay(4, {}, 0.5), absl::Seconds(7));
  EXPECT_GT(Delay(4, {}, 0.999999), absl::Seconds(6));
  EXPECT_LE(Delay(4, {}, 0.999999), absl::Milliseconds(6001));
}

TEST(RetryPolicyTest, RetryAfterMsComesFirst) {
  EXPECT_EQ(Delay(3, {{"retry-after-ms", "150"}, {"retry-after", "9"}}, 0.7),
            absl::Milliseconds(150));
  EXPECT_EQ(Delay(0, {{"retry-after-ms", "12.5"}}), absl::Microseconds(12500));
  EXPECT_EQ(Delay(0, {{"retry-after-ms", "0"}}), absl::ZeroDuration());
}

TEST(RetryPolicyTest, RetryAfterSeconds) {
  EXPECT_EQ(Delay(0, {{"retry-after", "2"}}), absl::Seconds(2));
  EXPECT_EQ(Delay(0, {{"retry-after", " 1.5 "}}), absl::Milliseconds(1500));
}

TEST(RetryPolicyTest, RetryAfterHttpDate) {
  EXPECT_EQ(Delay(0, {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}}), absl::Seconds(30));
  // A date already past is ignored: the backoff applies.
  EXPECT_EQ(Delay(0, {{"retry-after", "Tue, 14 Nov 2023 22:00:00 GMT"}}),
            absl::Milliseconds(500));
}

TEST(RetryPolicyTest, UnparseableOrNegativeHeadersAreIgnored) {
  for (const char* value : {"soon", "-5", "inf", "nan", ""}) {
    EXPECT_EQ(Delay(1, {{"retry-after-ms", value}}), absl::Seconds(1)) << value;
    EXPECT_EQ(Delay(1, {{"retry-after", value}}), absl::Seconds(1)) << value;
  }
  // A bad retry-after-ms falls through to retry-after.
  EXPECT_EQ(Delay(1, {{"retry-after-ms", "x"}, {"retry-after", "3"}}), absl::Seconds(3));
}

TEST(RetryPolicyTest, EveryDelayIsCappedAtMaxDelay) {
  EXPECT_EQ(Delay(0, {{"retry-after", "120"}}), absl::Seconds(60));
  EXPECT_EQ(Delay(0, {{"retry-after-ms", "999999999"}}), absl::Seconds(60));
  RetryPolicy small;
  small.max_delay = absl::Milliseconds(10);
  EXPECT_EQ(Delay(4, {}, 0.0, small), absl::Milliseconds(10));
  EXPECT_EQ(Delay(0, {{"retry-after-ms", "3"}}, 0.0, small), absl::Milliseconds(3));
}

TEST(RetryPolicyTest, BackoffFollowsPolicy) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(10);
  policy.max_backoff = absl::Milliseconds(30);
  EXPECT_EQ(Delay(0, {}, 0.0, policy), absl::Milliseconds(10));
  EXPECT_EQ(Delay(1, {}, 0.0, policy), absl::Milliseconds(20));
  EXPECT_EQ(Delay(2, {}, 0.0, policy), absl::Milliseconds(30));
}

TEST(RetryPolicyTest, ParsesAllThreeHttpDateForms) {
  const absl::Time expected = absl::FromUnixSeconds(784111777);  // 1994-11-06 08:49:37 UTC
  for (const char* text : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994"}) {
    absl::Time t;
    ASSERT_TRUE(ParseHttpDate(text, &t)) << text;
    EXPECT_EQ(t, expected) << text;
  }
  absl::Time t;
  EXPECT_FALSE(ParseHttpDate("yesterday", &t));
}

TEST(ApiErrorTest, MapsHttpStatusesAsTheModelClientContractSays) {
  EXPECT_EQ(StatusCodeForHttpStatus(400), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForHttpStatus(413), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForHttpStatus(401), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusCodeForHttpStatus(403), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusCodeForHttpStatus(404), absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusCodeForHttpStatus(429), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusCodeForHttpStatus(500), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForHttpStatus(529), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForHttpStatus(408), absl::StatusCode::kUnavailable);
}

TEST(ApiErrorTest, FormatsTheApiErrorWithStatusTypeMessageAndRequestId) {
  ApiError error = ParseApiErrorBody(
      400,
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_body"})",
      "req_123");
  absl::Status status = error.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "Messages API 400 invalid_request_error: max_tokens: Field required "
            "(request-id req_123)");
  // Without the header, the body's request_id is used.
  EXPECT_EQ(ParseApiErrorBody(400, R"({"error":{"type":"x","message":"y"},"request_id":"r"})",
                              "")
                .request_id,
            "r");
}

TEST(ApiErrorTest, NonJsonBodyBecomesTheMessage) {
  ApiError error = ParseApiErrorBody(502, "  <html>Bad Gateway</html>\n", "");
  EXPECT_EQ(error.ToStatus(), absl::UnavailableError("Messages API 502: <html>Bad Gateway</html>"));
  std::string huge(10000, 'x');
  EXPECT_LT(ParseApiErrorBody(502, huge, "").message.size(), 400u);
}

}  // namespace
}  // namespace baton::worker
