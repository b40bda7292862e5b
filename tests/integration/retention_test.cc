// Retention with real processes and a real short period (--default-retention=5s): an
// ended run disappears with its events; a run that is running meanwhile, and a run in a
// namespace that keeps its runs forever, stay.
#include <string>

#include <gtest/gtest.h>

#include "baton/v1/namespace.grpc.pb.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

grpc::StatusCode GetRunCode(Cluster& cluster, const std::string& run_id) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::GetRunRequest request;
  request.set_run_id(run_id);
  v1::Run run;
  return cluster.runs().GetRun(&ctx, request, &run).error_code();
}

TEST(RetentionTest, EndedRunsAreDeletedAfterThePeriodAndRunningOnesStay) {
  ClusterOptions options;
  options.workers = 1;
  options.concurrency = 2;
  options.orchestrator_args = {"--default-retention=5s", "--retention-interval=1s"};
  Cluster cluster(options);
  cluster.Start();
  {
    v1::NamespaceService::Stub namespaces(cluster.ChannelWithKey(""));
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::PutNamespaceRequest request;
    request.mutable_namespace_()->set_name("keep");
    request.mutable_namespace_()->set_retention_seconds(0);  // forever
    v1::Namespace stored;
    ASSERT_TRUE(namespaces.PutNamespace(&ctx, request, &stored).ok());
  }
  const std::string quick = cluster.CreateRun("[sim steps=2 tool=echo] quick").run_id();
  v1::Run kept;
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("[sim steps=1] kept forever");
    request.set_namespace_("keep");
    ASSERT_TRUE(cluster.runs().CreateRun(&ctx, request, &kept).ok());
  }
  ASSERT_EQ(cluster.WaitForEnd(quick).state(), v1::SUCCEEDED);
  ASSERT_EQ(cluster.WaitForEnd(kept.run_id()).state(), v1::SUCCEEDED);
  // Runs for longer than the period: it must outlive several sweeps untouched.
  const std::string slow = cluster.CreateRun("[sim steps=12 tool=echo sleep_ms=700] slow").run_id();
  ASSERT_TRUE(WaitUntil([&] { return cluster.GetRun(slow).state() == v1::RUNNING; }, absl::Seconds(30)));

  ASSERT_TRUE(WaitUntil([&] { return GetRunCode(cluster, quick) == grpc::StatusCode::NOT_FOUND; }, absl::Seconds(60)))
      << "the ended run was not deleted";
  // Its events went with it: a watch finds nothing.
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::WatchRunRequest request;
    request.set_run_id(quick);
    auto reader = cluster.runs().WatchRun(&ctx, request);
    v1::RunEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  v1::ListRunsRequest all;
  for (const v1::Run& run : ListRuns(cluster, all)) EXPECT_NE(run.run_id(), quick);

  // The running run was never touched: it finishes every step, its history whole.
  EXPECT_EQ(cluster.GetRun(slow).state(), v1::RUNNING);
  const v1::Run done = cluster.WaitForEnd(slow, absl::Seconds(90));
  EXPECT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.steps(), 12);
  std::vector<v1::RunEvent> events = cluster.Events(slow);
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1));
  EXPECT_EQ(events.front().state_changed().state(), v1::QUEUED);
  EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
  // Kept forever in its namespace.
  EXPECT_EQ(cluster.GetRun(kept.run_id()).state(), v1::SUCCEEDED);
}

}  // namespace
}  // namespace baton::testing
