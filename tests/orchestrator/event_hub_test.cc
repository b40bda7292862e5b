// What the hub keeps of live events: a run's step in flight's live StepStarted, for a
// watcher that subscribes mid-step (orchestrator/run_watcher.cc sends it after the
// run's history), and nothing once the step or the run is journaled.
#include "orchestrator/event_hub.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace baton::orchestrator {
namespace {

v1::RunEvent StepStarted(const std::string& run_id, int step, int64_t seq) {
  v1::RunEvent e;
  e.set_run_id(run_id);
  e.set_seq(seq);
  e.mutable_step_started()->set_step(step);
  e.mutable_step_started()->set_model("claude-sonnet-4-5");
  return e;
}

v1::RunEvent Delta(const std::string& run_id, int step) {
  v1::RunEvent e;
  e.set_run_id(run_id);
  e.mutable_text_delta()->set_step(step);
  e.mutable_text_delta()->set_text("hi");
  return e;
}

v1::RunEvent Ended(const std::string& run_id, int64_t seq) {
  v1::RunEvent e;
  e.set_run_id(run_id);
  e.set_seq(seq);
  e.mutable_state_changed()->set_state(v1::SUCCEEDED);
  return e;
}

TEST(EventHubTest, KeepsARunsLiveStepStartUntilTheStepIsJournaled) {
  EventHub hub;
  EXPECT_FALSE(hub.LiveStepStarted("r1").has_value());
  hub.PublishLive("r1", {StepStarted("r1", 0, 0), Delta("r1", 0)});
  hub.PublishLive("r2", {StepStarted("r2", 4, 0)});
  ASSERT_TRUE(hub.LiveStepStarted("r1").has_value());
  EXPECT_EQ(hub.LiveStepStarted("r1")->step_started().step(), 0);
  EXPECT_EQ(hub.LiveStepStarted("r1")->seq(), 0);

  // Deltas alone change nothing; the next step's start replaces the step's.
  hub.PublishLive("r1", {Delta("r1", 0)});
  EXPECT_EQ(hub.LiveStepStarted("r1")->step_started().step(), 0);
  hub.PublishLive("r1", {StepStarted("r1", 1, 0)});
  EXPECT_EQ(hub.LiveStepStarted("r1")->step_started().step(), 1);

  // An earlier step's durable start leaves it; its own step's drops it.
  hub.Publish({StepStarted("r1", 0, 3)});
  EXPECT_TRUE(hub.LiveStepStarted("r1").has_value());
  hub.Publish({StepStarted("r1", 1, 7)});
  EXPECT_FALSE(hub.LiveStepStarted("r1").has_value());
  // Another run's is its own, and goes with the run's end.
  ASSERT_TRUE(hub.LiveStepStarted("r2").has_value());
  hub.Publish({Ended("r2", 12)});
  EXPECT_FALSE(hub.LiveStepStarted("r2").has_value());
}

// Live starts travel apart from the durable events: one that comes after its step's
// durable start (or an earlier step's) is stale and not kept; the next step's is.
TEST(EventHubTest, ALiveStartLaterThanItsStepsDurableOneIsNotKept) {
  EventHub hub;
  hub.Publish({StepStarted("r1", 2, 9)});
  hub.PublishLive("r1", {StepStarted("r1", 2, 0)});
  EXPECT_FALSE(hub.LiveStepStarted("r1").has_value());
  hub.PublishLive("r1", {StepStarted("r1", 1, 0)});
  EXPECT_FALSE(hub.LiveStepStarted("r1").has_value());
  hub.PublishLive("r1", {StepStarted("r1", 3, 0)});
  ASSERT_TRUE(hub.LiveStepStarted("r1").has_value());
  EXPECT_EQ(hub.LiveStepStarted("r1")->step_started().step(), 3);
  // What a run's lease ending after its end was published leaves is dropped on request.
  hub.ForgetLiveSteps("r1");
  EXPECT_FALSE(hub.LiveStepStarted("r1").has_value());
}

}  // namespace
}  // namespace baton::orchestrator
