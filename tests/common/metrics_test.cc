// common/metrics.h and metrics_server.h over a real loopback HTTP server, read back with
// the tests' strict parser of the text format (tests/integration/prometheus_text.h),
// which is tested here too.
#include "common/metrics.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics_server.h"
#include "tests/integration/prometheus_text.h"

namespace baton::metrics {
namespace {

using ::baton::testing::Exposition;
using ::baton::testing::ScrapeMetrics;
using ::testing::HasSubstr;

TEST(MetricsTest, ADisabledRegistryHandsOutHandlesThatDoNothing) {
  Registry registry(false);
  EXPECT_FALSE(registry.enabled());
  registry.AddCounter("baton_test_total", "help").Increment();
  registry.AddHistogram("baton_test_seconds", "help", Buckets::Commit()).Observe(1);
  CounterFamily family = registry.AddCounterFamily("baton_test_labelled_total", "help");
  EXPECT_FALSE(family.enabled());
  family.With({{"a", "b"}}).Increment();
  EXPECT_EQ(registry.prometheus_registry(), nullptr);
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start("127.0.0.1:0", registry);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
}

// civetweb's listener looks at a stop request only every 2 s; a process stopping (a
// rolling restart of the orchestrator) must not wait that out after a scrape.
TEST(MetricsTest, AServerStopsWithoutWaitingOutItsListenersPoll) {
  Registry registry(true);
  registry.AddCounter("baton_test_things_total", "Things.").Increment();
  for (const std::string listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(listen, registry);
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_TRUE(ScrapeMetrics((*server)->port()).ok());  // the listener's poll starts again now
    const absl::Time start = absl::Now();
    server->reset();
    // Without the knock this takes about 2 s; the bound leaves a loaded machine room.
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << listen;
  }
}

TEST(MetricsTest, AServerOnPortZeroExposesEveryKindOfMetric) {
  Registry registry(true);
  registry.AddCounter("baton_test_things_total", "Things.").Increment(3);
  CounterFamily by_kind = registry.AddCounterFamily("baton_test_tokens_total", "Tokens.");
  by_kind.With({{"kind", "input"}}).Increment(120);
  by_kind.With({{"kind", "output"}}).Increment(30);
  by_kind.With({{"kind", "input"}}).Increment(80);  // the same series again
  Gauge gauge = registry.AddGauge("baton_test_open", "Open.");
  gauge.Increment();
  gauge.Increment();
  gauge.Decrement();
  Histogram histogram = registry.AddHistogram("baton_test_seconds", "Seconds.", {0.1, 1, 10});
  histogram.Observe(0.05);
  histogram.ObserveDuration(absl::Seconds(5));
  registry.AddScrapeCollector([](ScrapeWriter& out) {
    out.Gauge("baton_test_runs", "Runs.");
    out.Add({{"state", "QUEUED"}, {"namespace", "a \"quoted\"\\name"}}, 4);
    out.Counter("baton_test_restarts_total", "Restarts.");
    out.Add({{"server", "s"}}, 2);
  });
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  absl::StatusOr<Exposition> scraped = ScrapeMetrics((*server)->port());
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  EXPECT_EQ(scraped->Type("baton_test_things_total"), "counter");
  EXPECT_EQ(scraped->Value("baton_test_things_total"), 3);
  EXPECT_EQ(scraped->Value("baton_test_tokens_total", {{"kind", "input"}}), 200);
  EXPECT_EQ(scraped->Value("baton_test_tokens_total", {{"kind", "output"}}), 30);
  EXPECT_EQ(scraped->Type("baton_test_open"), "gauge");
  EXPECT_EQ(scraped->Value("baton_test_open"), 1);
  EXPECT_EQ(scraped->Type("baton_test_seconds"), "histogram");
  EXPECT_EQ(scraped->Value("baton_test_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(scraped->Value("baton_test_seconds_sum").value_or(0), 5.05);
  EXPECT_EQ(scraped->Value("baton_test_seconds_bucket", {{"le", "0.1"}}), 1);
  EXPECT_EQ(scraped->Value("baton_test_seconds_bucket", {{"le", "1"}}), 1);
  EXPECT_EQ(scraped->Value("baton_test_seconds_bucket", {{"le", "10"}}), 2);
  EXPECT_EQ(scraped->Value("baton_test_seconds_bucket", {{"le", "+Inf"}}), 2);
  EXPECT_EQ(scraped->Type("baton_test_runs"), "gauge");
  EXPECT_EQ(scraped->Value("baton_test_runs", {{"state", "QUEUED"}, {"namespace", "a \"quoted\"\\name"}}), 4);
  EXPECT_EQ(scraped->Type("baton_test_restarts_total"), "counter");
  EXPECT_EQ(scraped->Value("baton_test_restarts_total", {{"server", "s"}}), 2);

  // A second server cannot take the same port: a clear error, not a crash.
  absl::StatusOr<std::unique_ptr<MetricsServer>> busy =
      MetricsServer::Start("127.0.0.1:" + std::to_string((*server)->port()), registry);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(busy.status().message(), HasSubstr("cannot serve metrics on 127.0.0.1:"));
}

TEST(MetricsTest, AListenAddressWithoutAPortIsRefused) {
  Registry registry(true);
  for (const char* listen : {"127.0.0.1", ":9464", "127.0.0.1:http", "127.0.0.1:70000"}) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(listen, registry);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(server.status().message(), HasSubstr("HOST:PORT")) << listen;
  }
}

TEST(MetricsTest, OutcomeIsOkOrTheCodeInSnakeCase) {
  EXPECT_EQ(OutcomeOf(absl::OkStatus()), "ok");
  EXPECT_EQ(OutcomeOf(absl::UnavailableError("x")), "unavailable");
  EXPECT_EQ(OutcomeOf(absl::DeadlineExceededError("x")), "deadline_exceeded");
  EXPECT_EQ(OutcomeOf(absl::ResourceExhaustedError("x")), "resource_exhausted");
}

TEST(ExpositionTest, ParsesEscapesSpecialValuesAndTimestamps) {
  absl::StatusOr<Exposition> e = Exposition::Parse(
      "# HELP x_total Help with \\\\ and \\n.\n"
      "# TYPE x_total counter\n"
      "x_total{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\",} 1.5e3 1700000000000\n"
      "# TYPE g gauge\n"
      "g{k=\"nan\"} Nan\n"
      "g{k=\"inf\"} +Inf\n"
      "g{k=\"minus\"} -Inf\n"
      "\n");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->Value("x_total", {{"a", "q\"uote"}, {"b", "back\\slash"}, {"c", "new\nline"}}), 1500);
  EXPECT_TRUE(std::isnan(e->Value("g", {{"k", "nan"}}).value_or(0)));
  EXPECT_EQ(e->Value("g", {{"k", "inf"}}), INFINITY);
  EXPECT_EQ(e->Value("g", {{"k", "minus"}}), -INFINITY);
}

TEST(ExpositionTest, RefusesWhatTheFormatDoesNotAllow) {
  const char* const bad[] = {
      "x 1\n",                                            // no # TYPE
      "# TYPE x counter\n# TYPE x gauge\nx 1\n",          // typed twice
      "# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",  // the same series twice
      "# TYPE x counter\nx{a=\"\\t\"} 1\n",               // bad escape
      "# TYPE x counter\nx{a=\"1} 1\n",                   // unterminated value
      "# TYPE x counter\nx{a=1} 1\n",                     // unquoted value
      "# TYPE x counter\nx{a=\"1\",a=\"2\"} 1\n",         // label twice
      "# TYPE x counter\nx one\n",                        // bad value
      "# TYPE x counter\nx 1 2 3\n",                      // too many fields
      "# TYPE x counter\n1x 1\n",                         // bad name
      "# TYPE x countr\nx 1\n",                           // unknown type
      // Histograms: a missing +Inf bucket, buckets that go down, _count not +Inf's.
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n",
  };
  for (const char* text : bad) {
    EXPECT_EQ(Exposition::Parse(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace baton::metrics
