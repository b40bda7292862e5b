// Runs that wait, in the scheduler: child runs, approvals, sessions, forks, with a
// FakeClock and the in-memory store (its commits complete inline).
#include <gtest/gtest.h>

#include "tests/orchestrator/scheduler/scheduler_fixture.h"

namespace baton::orchestrator {
namespace {

class WaitsTest : public SchedulerFixture {};

TEST_F(WaitsTest, ParentWaitsWithoutALeaseUntilEveryChildEndsThenResumesWithTheirResults) {
  std::optional<TaskGrant> p = StartParentOfTwoChildren();
  ASSERT_TRUE(p.has_value());
  const v1::Run& parent = p->run;
  v1::Run waiting = Get(parent.run_id());
  EXPECT_EQ(waiting.state(), v1::WAITING);
  EXPECT_EQ(waiting.worker_id(), "");
  EXPECT_EQ(waiting.waits_size(), 2);
  EXPECT_EQ(scheduler_->RunningCount(), 0u);
  EXPECT_EQ(scheduler_->WaitingCount(), 1u);
  // The stale lease is refused: the parent has none.
  EXPECT_EQ(Append(*p, {Turn(1)}).status().code(), absl::StatusCode::kFailedPrecondition);

  // The children are ordinary runs of the same tree; the parent is not in the queue.
  std::optional<TaskGrant> c1 = Poll();
  std::optional<TaskGrant> c2 = Poll();
  ASSERT_TRUE(c1.has_value() && c2.has_value());
  EXPECT_FALSE(Poll().has_value());
  EXPECT_EQ(c1->run.parent_run_id(), parent.run_id());
  EXPECT_EQ(c1->run.root_run_id(), parent.run_id());
  EXPECT_EQ(c1->run.depth(), 1);
  EXPECT_EQ(c1->run.request_id(), "key:0:t1");
  EXPECT_EQ(c1->run.input(), "one");

  ASSERT_TRUE(Complete(*c2, "second answer").ok());
  EXPECT_EQ(Get(parent.run_id()).state(), v1::WAITING);
  ASSERT_TRUE(Complete(*c1, "first answer").ok());
  // The last child's end journals both results and queues the parent, in one batch.
  EXPECT_EQ(Get(parent.run_id()).state(), v1::QUEUED);
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->run.run_id(), parent.run_id());
  EXPECT_EQ(again->run.epoch(), 2);
  std::vector<std::string> results;
  for (const v1::JournalEntry& e : again->journal) {
    if (e.has_tool_call()) EXPECT_FALSE(e.tool_call().child_run_id().empty());
    if (e.has_tool_result()) {
      results.push_back(e.tool_result().tool_use_id() + "=" + e.tool_result().content_json());
      EXPECT_FALSE(e.tool_result().is_error());
    }
  }
  EXPECT_EQ(results, (std::vector<std::string>{"t1=\"first answer\"", "t2=\"second answer\""}));
}

TEST_F(WaitsTest, AFailedChildIsAnErrorResultNamingIt) {
  v1::Run parent = Create("plan");
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper")}, {Child("t1", "one")}).ok());
  ASSERT_EQ(*Suspend(*p), v1::WAITING);
  std::optional<TaskGrant> c = Poll();
  FailRunParams fail;
  fail.lease = Ref(*c);
  fail.error = "the model refused";
  fail.failure_kind = v1::MODEL_REFUSAL;
  scheduler_->FailRun(fail, [](absl::StatusOr<v1::RunState>) {});
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  const v1::JournalEntry& result = again->journal.back();
  ASSERT_TRUE(result.has_tool_result());
  EXPECT_TRUE(result.tool_result().is_error());
  EXPECT_NE(result.tool_result().content_json().find(c->run.run_id()), std::string::npos);
  EXPECT_NE(result.tool_result().content_json().find("the model refused"), std::string::npos);
}

TEST_F(WaitsTest, SuspendAfterTheChildrenEndedQueuesAtOnce) {
  Create("plan");
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper")}, {Child("t1", "one")}).ok());
  std::optional<TaskGrant> c = Poll();
  ASSERT_TRUE(Complete(*c, "done early").ok());
  EXPECT_EQ(*Suspend(*p), v1::QUEUED);
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->journal.back().tool_result().content_json(), "\"done early\"");
}

TEST_F(WaitsTest, CancellingAWaitingParentEndsTheWholeTree) {
  v1::Run parent = Create("plan");
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper"), Call(0, "t2", "helper")},
                     {Child("t1", "one"), Child("t2", "two")})
                  .ok());
  ASSERT_EQ(*Suspend(*p), v1::WAITING);
  std::optional<TaskGrant> running_child = Poll();  // t1 runs; t2 stays queued
  ASSERT_TRUE(running_child.has_value());
  std::string queued_child;
  const v1::Run waiting = Get(parent.run_id());
  for (const v1::Wait& w : waiting.waits()) {
    if (w.child_run_id() != running_child->run.run_id()) queued_child = w.child_run_id();
  }
  absl::StatusOr<v1::Run> cancelled = absl::UnknownError("no answer");
  scheduler_->CancelRun(parent.run_id(), "changed my mind", [&](absl::StatusOr<v1::Run> r) { cancelled = r; });
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  v1::Run queued = Get(queued_child);
  EXPECT_EQ(queued.state(), v1::CANCELLED);
  EXPECT_EQ(queued.failure_kind(), v1::PARENT_ENDED);
  // The running child learns it from its next heartbeat and reports it.
  std::vector<LeaseStatus> status = scheduler_->Heartbeat("w1", {Ref(*running_child)});
  EXPECT_TRUE(status[0].cancel_requested);
  FailRunParams fail;
  fail.lease = Ref(*running_child);
  fail.cancelled = true;
  scheduler_->FailRun(fail, [](absl::StatusOr<v1::RunState>) {});
  EXPECT_EQ(Get(running_child->run.run_id()).failure_kind(), v1::PARENT_ENDED);
}

TEST_F(WaitsTest, ATreePastItsRootsBudgetFailsTheRoot) {
  v1::AgentSpec agent = Agent();
  agent.set_max_cost_usd(1.0);
  v1::Run parent = Create("plan", agent);
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(Append(*p, {Turn(0, 0.4), Call(0, "t1", "helper")}, {Child("t1", "one")}).ok());
  ASSERT_EQ(*Suspend(*p), v1::WAITING);
  std::optional<TaskGrant> c = Poll();
  absl::StatusOr<AppendResult> appended = Append(*c, {Turn(0, 0.3)});
  ASSERT_TRUE(appended.ok());
  EXPECT_FALSE(appended->cancel_requested);
  EXPECT_NEAR(Get(parent.run_id()).tree_usage().cost_usd(), 0.7, 1e-9);
  appended = Append(*c, {Turn(1, 0.35)});
  ASSERT_TRUE(appended.ok());
  EXPECT_TRUE(appended->cancel_requested);  // the tree is over budget: the child stops
  v1::Run failed = Get(parent.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::LIMIT_MAX_COST);
  EXPECT_NE(failed.error().find("max_cost_usd 1"), std::string::npos) << failed.error();
}

TEST_F(WaitsTest, ApprovalIsDecidedOnceAndTheRunResumesWithTheDecision) {
  v1::Run run = Create("delete it");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0), ApprovalRequest(0, "t1", "rm")}).ok());
  ASSERT_EQ(*Suspend(*g), v1::WAITING);
  absl::StatusOr<v1::Approval> pending = scheduler_->GetApproval("apr:t1");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->state(), v1::Approval::PENDING);
  EXPECT_EQ(pending->expire_time_ms(), clock_.NowMillis() + 60'000);

  EXPECT_EQ(Decide("apr:t1", v1::ACCEPT).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<v1::Approval> decided = Decide("apr:t1", v1::EDIT, "", R"({"path":"/tmp/y"})");
  ASSERT_TRUE(decided.ok()) << decided.status();
  EXPECT_EQ(decided->state(), v1::Approval::DECIDED);
  // The same decision again is acknowledged; another is refused.
  EXPECT_TRUE(Decide("apr:t1", v1::EDIT, "", R"({ "path": "/tmp/y" })").ok());
  absl::StatusOr<v1::Approval> other = Decide("apr:t1", v1::DENY, "no");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("EDIT by alice"), std::string::npos) << other.status();

  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  const v1::JournalEntry& last = again->journal.back();
  ASSERT_TRUE(last.has_approval_decision());
  EXPECT_EQ(last.approval_decision().decision(), v1::EDIT);
  EXPECT_EQ(last.approval_decision().input_json(), R"({"path":"/tmp/y"})");
  EXPECT_EQ(last.approval_decision().decided_by(), "alice");
}

TEST_F(WaitsTest, DenyAndRespondJournalTheResultInPlaceOfTheCall) {
  Create("two gated calls");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0), ApprovalRequest(0, "t1", "rm"), ApprovalRequest(0, "t2", "send")}).ok());
  ASSERT_EQ(*Suspend(*g), v1::WAITING);
  ASSERT_TRUE(Decide("apr:t1", v1::DENY, "not that file").ok());
  EXPECT_FALSE(Poll().has_value());  // t2 still waits
  ASSERT_TRUE(Decide("apr:t2", v1::RESPOND, "sent already").ok());
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  std::map<std::string, v1::ToolResult> results;
  for (const v1::JournalEntry& e : again->journal) {
    if (e.has_tool_result()) results[e.tool_result().tool_use_id()] = e.tool_result();
  }
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results["t1"].is_error());
  EXPECT_NE(results["t1"].content_json().find("not that file"), std::string::npos);
  EXPECT_FALSE(results["t2"].is_error());
  EXPECT_EQ(results["t2"].content_json(), "\"sent already\"");
}

TEST_F(WaitsTest, AnApprovalThatExpiredIsNotDecidableAndAppliesItsTimeout) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0), ApprovalRequest(0, "t1", "rm", 5'000)}).ok());
  ASSERT_EQ(*Suspend(*g), v1::WAITING);
  clock_.Advance(absl::Seconds(6));
  // No tick has run yet: the decision still sees the deadline.
  absl::StatusOr<v1::Approval> late = Decide("apr:t1", v1::APPROVE);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  const v1::JournalEntry& result = again->journal.back();
  ASSERT_TRUE(result.has_tool_result());
  EXPECT_TRUE(result.tool_result().is_error());
  EXPECT_EQ(scheduler_->GetApproval("apr:t1")->state(), v1::Approval::EXPIRED);
}

TEST_F(WaitsTest, AnApprovalThatExpiresWhileTheOrchestratorIsDownExpiresOnRestart) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0), ApprovalRequest(0, "t1", "rm", 5'000, v1::ApprovalRule::TIMEOUT_FAIL)}).ok());
  ASSERT_EQ(*Suspend(*g), v1::WAITING);
  Reset();  // "restart"
  EXPECT_EQ(Get(run.run_id()).state(), v1::WAITING);
  EXPECT_EQ(scheduler_->GetApproval("apr:t1")->state(), v1::Approval::PENDING);
  clock_.Advance(absl::Seconds(6));
  scheduler_->Tick();
  v1::Run failed = Get(run.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::APPROVAL_TIMEOUT);
  EXPECT_EQ(Decide("apr:t1", v1::APPROVE).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WaitsTest, ADecisionSurvivesARestart) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0), ApprovalRequest(0, "t1", "rm")}).ok());
  ASSERT_EQ(*Suspend(*g), v1::WAITING);
  ASSERT_TRUE(Decide("apr:t1", v1::APPROVE).ok());
  Reset();
  EXPECT_EQ(Get(run.run_id()).state(), v1::QUEUED);
  EXPECT_TRUE(Decide("apr:t1", v1::APPROVE).ok());
  EXPECT_EQ(Decide("apr:t1", v1::DENY).status().code(), absl::StatusCode::kFailedPrecondition);
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->journal.back().approval_decision().decision(), v1::APPROVE);
}

TEST_F(WaitsTest, AWaitingParentAndItsChildrenSurviveARestart) {
  v1::Run parent = Create("plan");
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper")}, {Child("t1", "one")}).ok());
  ASSERT_EQ(*Suspend(*p), v1::WAITING);
  Reset();
  std::optional<TaskGrant> c = Poll();
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(Complete(*c, "answer").ok());
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->run.run_id(), parent.run_id());
}

// Children a step makes while a poll is parked are leased by the step's own write, as
// many as the poll takes; the others stay queued. A restart finds exactly that.
TEST_F(WaitsTest, ChildrenMadeForAParkedPollAreLeasedByTheStepsWriteAndTheRestStayQueued) {
  v1::Run parent = Create("plan");
  std::optional<TaskGrant> p = Poll();
  ASSERT_TRUE(p.has_value());
  std::optional<TaskGrant> child;
  scheduler_->PollTask("w2", clock_.Now() + absl::Seconds(5),
                       [&](absl::StatusOr<std::optional<TaskGrant>> g) { child = std::move(*g); });
  ASSERT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper"), Call(0, "t2", "helper")},
                     {Child("t1", "one"), Child("t2", "two")})
                  .ok());
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->run.parent_run_id(), parent.run_id());
  size_t stored_queue_entries = 0;
  ASSERT_TRUE(store_.ScanQueue([&](const QueueEntry&) { ++stored_queue_entries; }).ok());
  EXPECT_EQ(stored_queue_entries, 1u);
  Reset();
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
  EXPECT_EQ(scheduler_->RunningCount(), 2u);  // the parent and the child leased
  std::optional<TaskGrant> other = Poll();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->run.parent_run_id(), parent.run_id());
  EXPECT_NE(other->run.run_id(), child->run.run_id());
}

// A parent's waits are stored apart from its record, each written when it changes
// (docs/design.md, "A run in parts"): the result of a child that ended before a
// restart is still there after it, and journaled with the other's.
TEST_F(WaitsTest, AChildsResultFromBeforeARestartIsJournaledWithTheOthers) {
  std::optional<TaskGrant> p = StartParentOfTwoChildren();
  ASSERT_TRUE(p.has_value());
  std::optional<TaskGrant> c1 = Poll();
  std::optional<TaskGrant> c2 = Poll();
  ASSERT_TRUE(c1.has_value() && c2.has_value());
  ASSERT_TRUE(Complete(*c1, "first answer").ok());
  Reset();
  v1::Run waiting = Get(p->run.run_id());
  ASSERT_EQ(waiting.waits_size(), 2);
  EXPECT_TRUE(waiting.waits(0).done());
  EXPECT_FALSE(waiting.waits(1).done());
  // The second child's worker goes on with its lease, which the restart kept.
  ASSERT_TRUE(Complete(*c2, "second answer").ok());

  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->run.run_id(), p->run.run_id());
  EXPECT_EQ(again->run.waits_size(), 0);
  std::vector<std::string> results;
  for (const v1::JournalEntry& e : again->journal) {
    if (e.has_tool_result()) results.push_back(e.tool_result().tool_use_id() + "=" + e.tool_result().content_json());
  }
  EXPECT_EQ(results, (std::vector<std::string>{"t1=\"first answer\"", "t2=\"second answer\""}));
  // Resumed: the stored waits are gone too.
  Reset();
  EXPECT_EQ(Get(p->run.run_id()).waits_size(), 0);
}

TEST_F(WaitsTest, ASessionsNextRunWaitsForThePreviousOneAndContinuesIt) {
  v1::Run first = Create("hello", Agent(), "chat-1");
  EXPECT_EQ(first.session_seq(), 1);
  std::optional<TaskGrant> g = Poll();
  v1::Run second = Create("and then?", Agent(), "chat-1");
  EXPECT_EQ(second.state(), v1::WAITING);
  EXPECT_EQ(second.continue_from(), first.run_id());
  EXPECT_EQ(second.session_seq(), 2);
  EXPECT_FALSE(Poll().has_value());
  ASSERT_TRUE(Append(*g, {Turn(0)}).ok());
  ASSERT_TRUE(Complete(*g, "hi").ok());
  std::optional<TaskGrant> next = Poll();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->run.run_id(), second.run_id());
  ASSERT_EQ(next->history.size(), 1u);
  EXPECT_EQ(next->history[0].run_id(), first.run_id());
  EXPECT_EQ(next->history[0].input(), "hello");
  EXPECT_EQ(next->history[0].journal_size(), 1);
  ASSERT_TRUE(Complete(*next, "more").ok());
  Reset();
  v1::Run third = Create("last", Agent(), "chat-1");
  EXPECT_EQ(third.state(), v1::QUEUED);
  EXPECT_EQ(third.continue_from(), second.run_id());
  EXPECT_EQ(third.session_seq(), 3);
  std::optional<TaskGrant> last = Poll();
  ASSERT_EQ(last->history.size(), 2u);
  EXPECT_EQ(last->history[0].run_id(), first.run_id());
  EXPECT_EQ(last->history[1].run_id(), second.run_id());
}

TEST_F(WaitsTest, AForkStartsFromTheJournalPrefixWithItsUsage) {
  ForkParams params;
  *params.run.mutable_agent() = Agent();
  params.run.set_input("x");
  params.run.set_forked_from("run_source");
  params.journal = {Turn(0, 0.25), Call(0, "t1", "echo")};
  absl::StatusOr<v1::Run> fork = absl::UnknownError("no answer");
  scheduler_->ForkRun(params, [&](absl::StatusOr<v1::Run> r) { fork = r; });
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->last_journal_seq(), 2);
  EXPECT_EQ(fork->steps(), 1);
  EXPECT_NEAR(fork->usage().cost_usd(), 0.25, 1e-9);
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->journal.size(), 2u);
  EXPECT_EQ(g->journal[1].seq(), 2);
}

TEST_F(WaitsTest, AnInputRequestIsAnsweredToItsWaiterAndAbandonedWhenTheRunEnds) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(g.has_value());
  v1::RequestInputRequest request;
  request.set_run_id(run.run_id());
  request.set_step(0);
  request.set_tool_use_id("t1");
  request.set_tool("mcp__srv__configure");
  request.set_message("Which color?");
  request.set_requested_schema_json(R"({"type":"object","properties":{"color":{"type":"string"}}})");
  request.set_timeout_ms(30'000);
  request.set_sequence(1);
  absl::StatusOr<std::string> id = absl::UnknownError("no answer");
  scheduler_->RequestInput(request, [&](absl::StatusOr<std::string> r) { id = r; });
  ASSERT_TRUE(id.ok()) << id.status();
  // A retry of the same request gets the same id; the run stays RUNNING.
  absl::StatusOr<std::string> again = absl::UnknownError("no answer");
  scheduler_->RequestInput(request, [&](absl::StatusOr<std::string> r) { again = r; });
  EXPECT_EQ(*again, *id);
  EXPECT_EQ(Get(run.run_id()).state(), v1::RUNNING);
  EXPECT_EQ(scheduler_->GetApproval(*id)->kind(), v1::Approval::ELICITATION);

  std::optional<absl::StatusOr<std::optional<v1::ApprovalDecision>>> answer;
  scheduler_->AwaitInput(*id, clock_.Now() + absl::Seconds(10),
                         [&](absl::StatusOr<std::optional<v1::ApprovalDecision>> d) { answer = d; });
  EXPECT_FALSE(answer.has_value());  // parked until someone decides
  EXPECT_EQ(Decide(*id, v1::APPROVE).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Decide(*id, v1::ACCEPT, "", R"({"color":"blue"})").ok());
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok());
  ASSERT_TRUE(answer->value().has_value());
  EXPECT_EQ(answer->value()->decision(), v1::ACCEPT);
  EXPECT_EQ(answer->value()->input_json(), R"({"color":"blue"})");

  // A second request of the same call, left pending: the run's end abandons it and its
  // waiter hears CANCEL.
  request.set_sequence(2);
  scheduler_->RequestInput(request, [&](absl::StatusOr<std::string> r) { id = r; });
  ASSERT_TRUE(id.ok());
  answer.reset();
  scheduler_->AwaitInput(*id, clock_.Now() + absl::Seconds(10),
                         [&](absl::StatusOr<std::optional<v1::ApprovalDecision>> d) { answer = d; });
  ASSERT_TRUE(Complete(*g, "done").ok());
  ASSERT_TRUE(answer.has_value() && answer->ok() && answer->value().has_value());
  EXPECT_EQ(answer->value()->decision(), v1::CANCEL);
  EXPECT_EQ(scheduler_->GetApproval(*id)->state(), v1::Approval::ABANDONED);
  // And a run that is not running cannot ask.
  absl::StatusOr<std::string> refused = absl::UnknownError("no answer");
  scheduler_->RequestInput(request, [&](absl::StatusOr<std::string> r) { refused = r; });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WaitsTest, AnUnansweredInputRequestExpiresAsCancel) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  v1::RequestInputRequest request;
  request.set_run_id(run.run_id());
  request.set_tool_use_id("t1");
  request.set_requested_schema_json(R"({"type":"object"})");
  request.set_timeout_ms(2'000);
  absl::StatusOr<std::string> id = absl::UnknownError("no answer");
  scheduler_->RequestInput(request, [&](absl::StatusOr<std::string> r) { id = r; });
  ASSERT_TRUE(id.ok());
  std::optional<absl::StatusOr<std::optional<v1::ApprovalDecision>>> answer;
  scheduler_->AwaitInput(*id, clock_.Now() + absl::Seconds(60),
                         [&](absl::StatusOr<std::optional<v1::ApprovalDecision>> d) { answer = d; });
  clock_.Advance(absl::Seconds(3));
  scheduler_->Tick();
  ASSERT_TRUE(answer.has_value() && answer->ok() && answer->value().has_value());
  EXPECT_EQ(answer->value()->decision(), v1::CANCEL);
  EXPECT_TRUE(answer->value()->timed_out());
  EXPECT_EQ(Get(run.run_id()).state(), v1::RUNNING);  // the tool call decides what comes next
}

}  // namespace
}  // namespace baton::orchestrator
