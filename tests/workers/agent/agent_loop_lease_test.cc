// The agent loop asks its journal to confirm the lease before every tool call
// (RunJournal::ConfirmLease): a worker that may have been frozen or cut off past its
// lease starts no call another worker may be running.
#include <gtest/gtest.h>

#include "tests/workers/agent/fakes.h"
#include "workers/agent_loop.h"

namespace baton::worker {
namespace {

using fakes::Message;
using fakes::ToolUse;
using nlohmann::json;

// A run of an agent with an idempotent and a non-idempotent tool, its fakes, and the
// loop that runs it.
struct LeaseCheckedRun {
  LeaseCheckedRun() {
    run.set_run_id("run_1");
    run.set_input("hello");
    run.mutable_agent()->set_model("claude-sonnet-4-5");
    for (const char* tool : {"echo", "charge"}) run.mutable_agent()->add_allowed_tools(tool);
  }
  RunOutcome Execute() { return AgentLoop(model, tools, clock, AgentLoopOptions{}).Execute(run, {}, out, signals); }

  FakeClock clock;
  fakes::FakeModelClient model;
  fakes::CountingTools tools;
  fakes::MemoryJournal out;
  RunSignals signals;
  v1::Run run;
};

class AgentLoopLeaseTest : public ::testing::Test {
 protected:
  LeaseCheckedRun r_;
};

TEST_F(AgentLoopLeaseTest, EveryToolCallIsPrecededByALeaseCheck) {
  r_.model.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("t2", "charge")}), "tool_use"));
  r_.model.Reply(Message(json::array({{{"type", "text"}, {"text", "done"}}}), "end_turn"));
  ASSERT_EQ(r_.Execute().kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(r_.tools.calls.size(), 2u);
  EXPECT_EQ(r_.out.lease_checks, 2);
}

TEST_F(AgentLoopLeaseTest, ALeaseLostBeforeACallStartsNoCallAndDropsTheRun) {
  r_.model.Reply(Message(json::array({ToolUse("t1", "charge")}), "tool_use"));
  r_.out.confirm_with = absl::FailedPreconditionError("lease on run \"run_1\" is stale");
  RunOutcome o = r_.Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kLeaseLost);
  EXPECT_TRUE(r_.tools.calls.empty());
  EXPECT_TRUE(r_.signals.lease_lost);
  // The start marker was journaled (under the lease then held); the next holder's
  // resume rule decides about the call.
  ASSERT_EQ(r_.out.journal.size(), 2u);
  EXPECT_EQ(r_.out.journal[1].tool_call().tool_use_id(), "t1");
}

TEST_F(AgentLoopLeaseTest, ALeaseThatCannotBeConfirmedFailsTheAttemptRetryably) {
  r_.model.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  r_.out.confirm_with = absl::UnavailableError("orchestrator unreachable");
  RunOutcome o = r_.Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_TRUE(o.retryable);
  EXPECT_EQ(o.failure_kind, v1::WORKER_ERROR);
  EXPECT_NE(o.error.find("cannot confirm the lease"), std::string::npos) << o.error;
  EXPECT_TRUE(r_.tools.calls.empty());
}

}  // namespace
}  // namespace baton::worker
