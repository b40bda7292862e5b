// The orchestrator's data directory on a disk that fills (docs/operations.md, "When
// the disk fills"): a small tmpfs the test mounts there and fills with a ballast file
// while runs are going. What users rely on: the orchestrator stays up, refuses writes
// with RESOURCE_EXHAUSTED naming the disk and a retry delay, keeps answering reads,
// writes again by itself once there is room, and loses no acknowledged run, then or
// after a restart.
#include <signal.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/grpc_status.h"
#include "tests/integration/cluster.h"
#include "tests/support/tmpfs_mount.h"

namespace baton::testing {
namespace {

using ::testing::HasSubstr;

grpc::Status TryCreateRun(Cluster& cluster, const std::string& input, v1::Run* run) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(5));
  v1::CreateRunRequest req;
  *req.mutable_agent() = Cluster::Agent();
  req.set_input(input);
  return cluster.runs().CreateRun(&ctx, req, run);
}

int JournaledSteps(Cluster& cluster, const std::string& run_id) {
  int steps = 0;
  const v1::Transcript transcript = cluster.Transcript(run_id);
  for (const auto& e : transcript.entries()) steps += e.has_model_turn();
  return steps;
}

TEST(DiskFullTest, FullDataDiskRefusesWritesServesReadsAndResumesLosingNothing) {
  ClusterOptions options;
  options.concurrency = 2;
  // Refuse below 8 MiB free; resume once 8 + 16 MiB (a memtable) are free.
  options.orchestrator_args = {"--min-free-disk-mb=8"};
  Cluster cluster(options);
  TmpfsMount disk(uint64_t{64} << 20, cluster.data_dir());
  if (!disk.mounted()) GTEST_SKIP() << disk.error();
  cluster.Start();

  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(cluster.CreateRun("[sim steps=6 tool=echo sleep_ms=150] job " + std::to_string(i)).run_id());
    ASSERT_FALSE(ids.back().empty());
  }
  ASSERT_TRUE(WaitUntil([&] { return JournaledSteps(cluster, ids[0]) >= 1; }, absl::Seconds(30)));

  ASSERT_GT(disk.FillWithBallast(), 0u);
  // New writes are refused, naming the disk, with a retry delay.
  grpc::Status refused;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::Run run;
        refused = TryCreateRun(cluster, "while full", &run);
        return refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
      },
      absl::Seconds(30)))
      << "CreateRun was not refused: " << refused.error_code() << " " << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr(cluster.data_dir()));
  EXPECT_THAT(refused.error_message(), HasSubstr("full"));
  EXPECT_TRUE(RetryDelay(refused).has_value()) << "no RetryInfo in the refusal";

  // Reads go on: runs, lists, transcripts, the stored events of a run.
  for (const std::string& id : ids) EXPECT_EQ(cluster.GetRun(id).run_id(), id);
  v1::ListRunsRequest list;
  EXPECT_GE(ListRuns(cluster, list).size(), ids.size());
  EXPECT_GE(JournaledSteps(cluster, ids[0]), 1);
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(5));
    v1::WatchRunRequest req;
    req.set_run_id(ids[0]);
    auto reader = cluster.runs().WatchRun(&ctx, req);
    v1::RunEvent event;
    ASSERT_TRUE(reader->Read(&event)) << "WatchRun gave no stored event while the disk was full";
    EXPECT_EQ(event.seq(), 1);
    ctx.TryCancel();
  }
  // The disk stays full a while: the orchestrator stays up, refusing.
  absl::SleepFor(absl::Seconds(3));
  v1::Run ignored;
  EXPECT_EQ(TryCreateRun(cluster, "still full", &ignored).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Room again: writes resume without a restart, and every acknowledged run ends.
  disk.RemoveBallast();
  v1::Run after;
  grpc::Status created;
  ASSERT_TRUE(WaitUntil([&] { return (created = TryCreateRun(cluster, "[sim steps=2] after", &after)).ok(); },
                        absl::Seconds(60)))
      << "writes did not resume: " << created.error_message();
  ids.push_back(after.run_id());
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id, absl::Seconds(90));
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    // Heartbeats need no disk: the workers kept their leases through it.
    EXPECT_EQ(run.attempt(), 1) << id;
  }

  // A restart finds everything that was acknowledged, with gap-free histories.
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();
  for (const std::string& id : ids) {
    v1::Run run = cluster.GetRun(id);
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id;
    std::vector<v1::RunEvent> events = cluster.Events(id);
    ASSERT_FALSE(events.empty()) << id;
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1)) << id;
    EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED) << id;
  }
}

}  // namespace
}  // namespace baton::testing
