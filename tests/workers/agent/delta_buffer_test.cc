#include "workers/delta_buffer.h"

#include <gtest/gtest.h>

#include <thread>

namespace baton::worker {
namespace {

v1::Lease Lease(const std::string& run_id) {
  v1::Lease lease;
  lease.set_run_id(run_id);
  lease.set_lease_id("l");
  lease.set_epoch(1);
  return lease;
}

TEST(DeltaBufferTest, MergesDeltasPerRunAndBlockInOrder) {
  DeltaBuffer buffer;
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 0, "Hel"));
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 0, "lo"));
  EXPECT_TRUE(buffer.Add(Lease("run_b"), 3, 0, "x"));
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 1, " world"));
  std::vector<v1::PublishDeltasRequest> batch = buffer.Take(absl::ZeroDuration());
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].lease().run_id(), "run_a");
  ASSERT_EQ(batch[0].deltas_size(), 2);
  EXPECT_EQ(batch[0].deltas(0).text(), "Hello");
  EXPECT_EQ(batch[0].deltas(1).block_index(), 1);
  EXPECT_EQ(batch[0].deltas(1).text(), " world");
  EXPECT_EQ(batch[1].deltas(0).step(), 3);
  EXPECT_TRUE(buffer.Take(absl::ZeroDuration()).empty());
}

TEST(DeltaBufferTest, AFullBufferDropsAndTheNextBatchSaysSo) {
  DeltaBuffer buffer(/*max_bytes=*/8);
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 0, "12345678"));
  EXPECT_FALSE(buffer.Add(Lease("run_a"), 0, 0, "9"));
  EXPECT_FALSE(buffer.Add(Lease("run_a"), 0, 0, "10"));
  EXPECT_EQ(buffer.dropped(), 2);
  std::vector<v1::PublishDeltasRequest> batch = buffer.Take(absl::ZeroDuration());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].dropped_before(), 2);
  EXPECT_EQ(batch[0].deltas(0).text(), "12345678");
  // Room again after the batch went out.
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 1, 0, "more"));
  batch = buffer.Take(absl::ZeroDuration());
  EXPECT_EQ(batch[0].dropped_before(), 0);
}

TEST(DeltaBufferTest, AStepStartGoesOutWithTheTextOfItsRun) {
  DeltaBuffer buffer;
  v1::RunEvent::StepStarted started;
  started.set_step(2);
  started.set_model("claude-sonnet-4-5");
  started.set_model_rule("default");
  EXPECT_TRUE(buffer.AddStepStarted(Lease("run_a"), started));
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 2, 0, "Hi"));
  std::vector<v1::PublishDeltasRequest> batch = buffer.Take(absl::ZeroDuration());
  ASSERT_EQ(batch.size(), 1u);
  ASSERT_EQ(batch[0].steps_started_size(), 1);
  EXPECT_EQ(batch[0].steps_started(0).step(), 2);
  EXPECT_EQ(batch[0].steps_started(0).model(), "claude-sonnet-4-5");
  EXPECT_EQ(batch[0].deltas(0).text(), "Hi");

  DeltaBuffer full(/*max_bytes=*/4);
  EXPECT_FALSE(full.AddStepStarted(Lease("run_a"), started));
  batch = full.Take(absl::ZeroDuration());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].dropped_before(), 1) << "watchers learn of the gap";
}

TEST(DeltaBufferTest, TheLingerGathersWhatOtherRunsAddIntoOneTake) {
  DeltaBuffer buffer;
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 0, "a"));
  std::thread other([&] {
    absl::SleepFor(absl::Milliseconds(20));
    buffer.Add(Lease("run_b"), 0, 0, "b");
  });
  // The linger is long enough for a slow machine: the thread adds well within it.
  std::vector<v1::PublishDeltasRequest> batch = buffer.Take(absl::ZeroDuration(), absl::Seconds(1));
  other.join();
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[1].lease().run_id(), "run_b");
}

TEST(DeltaBufferTest, CloseEndsTheLingerAtOnce) {
  DeltaBuffer buffer;
  EXPECT_TRUE(buffer.Add(Lease("run_a"), 0, 0, "a"));
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    buffer.Close();
  });
  const absl::Time start = absl::Now();
  EXPECT_TRUE(buffer.Take(absl::ZeroDuration(), absl::Seconds(60)).empty());
  EXPECT_LT(absl::Now() - start, absl::Seconds(30)) << "Close did not wake the linger";
  closer.join();
}

TEST(DeltaBufferTest, CloseWakesTakeAndDropsLaterDeltas) {
  DeltaBuffer buffer;
  buffer.Close();
  EXPECT_TRUE(buffer.Take(absl::Seconds(10)).empty());  // returns at once
  EXPECT_FALSE(buffer.Add(Lease("run_a"), 0, 0, "late"));
}

}  // namespace
}  // namespace baton::worker
