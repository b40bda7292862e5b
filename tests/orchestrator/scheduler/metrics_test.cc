// The scheduler's Prometheus metrics on a FakeClock, read over loopback HTTP as
// Prometheus would: queue gauges, leases granted and expired, fencing refusals,
// submit to start, runs ended.
#include <memory>

#include <gtest/gtest.h>

#include "common/metrics_server.h"
#include "tests/integration/prometheus_text.h"
#include "tests/orchestrator/scheduler/scheduler_fixture.h"

namespace baton::orchestrator {
namespace {

using ::baton::testing::Exposition;

class SchedulerMetricsTest : public SchedulerFixture {
 protected:
  SchedulerMetricsTest() {
    scheduler_->RegisterMetrics(registry_);
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
        metrics::MetricsServer::Start("127.0.0.1:0", registry_);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }

  Exposition Scrape() {
    absl::StatusOr<Exposition> scraped = baton::testing::ScrapeMetrics(server_ == nullptr ? 0 : server_->port());
    EXPECT_TRUE(scraped.ok()) << scraped.status();
    return scraped.ok() ? *std::move(scraped) : Exposition();
  }

  metrics::Registry registry_{true};
  std::unique_ptr<metrics::MetricsServer> server_;  // stops before the scheduler goes
};

TEST_F(SchedulerMetricsTest, CountsTheQueueLeasesFencingAndEndsOfRuns) {
  const v1::Run first = Create("first");
  clock_.Advance(absl::Seconds(3));
  Create("second");
  Exposition queued = Scrape();
  EXPECT_EQ(queued.Value("baton_runs", {{"namespace", "default"}, {"state", "QUEUED"}}), 2);
  EXPECT_EQ(queued.Value("baton_queue_depth", {{"namespace", "default"}}), 2);
  EXPECT_EQ(queued.Value("baton_queue_oldest_age_seconds", {{"namespace", "default"}}), 3);

  clock_.Advance(absl::Seconds(1));
  TaskGrant lost = *Poll();  // the first run, created 4 s ago; its worker then dies
  EXPECT_EQ(lost.run.run_id(), first.run_id());
  clock_.Advance(absl::Seconds(10));
  scheduler_->Tick();        // queued again, behind the second run
  TaskGrant second = *Poll();  // created 11 s ago
  EXPECT_NE(second.run.run_id(), first.run_id());
  EXPECT_FALSE(Append(lost, {Turn(0)}).ok());  // fenced
  ASSERT_TRUE(Complete(second, "done").ok());
  clock_.Advance(absl::Seconds(2));

  Exposition after = Scrape();
  EXPECT_EQ(after.Value("baton_leases_granted_total"), 2);
  EXPECT_EQ(after.Value("baton_leases_expired_total"), 1);
  EXPECT_EQ(after.Value("baton_fencing_refusals_total"), 1);
  EXPECT_EQ(after.Value("baton_submit_to_start_seconds_count"), 2);
  EXPECT_EQ(after.Value("baton_submit_to_start_seconds_sum"), 4 + 11);
  EXPECT_EQ(after.Value("baton_runs_ended_total", {{"namespace", "default"}, {"state", "SUCCEEDED"}}), 1);
  EXPECT_EQ(after.Value("baton_runs", {{"namespace", "default"}, {"state", "QUEUED"}}), 1);
  EXPECT_EQ(after.Value("baton_runs", {{"namespace", "default"}, {"state", "RUNNING"}}), 0);
  // The first run was queued again 2 s ago: the age counts from then.
  EXPECT_EQ(after.Value("baton_queue_oldest_age_seconds", {{"namespace", "default"}}), 2);

  // Leased again (a retry, not a start): submit to start does not count it twice.
  TaskGrant resumed = *Poll();
  EXPECT_EQ(resumed.run.run_id(), first.run_id());
  EXPECT_EQ(Scrape().Value("baton_submit_to_start_seconds_count"), 2);
}

}  // namespace
}  // namespace baton::orchestrator
