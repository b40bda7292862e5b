#include "orchestrator/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/grpc_status.h"
#include "orchestrator/store/memory_run_store.h"

namespace baton::orchestrator {
namespace {

using ::testing::Test;

class SchedulerTest : public Test {
 protected:
  SchedulerTest() { Reset(); }

  void Reset(SchedulerOptions o = options()) {
    scheduler_ = std::make_unique<Scheduler>(store_, clock_, o);
    ASSERT_TRUE(scheduler_->Recover().ok());
    scheduler_->SetEventListener([this](const std::vector<v1::RunEvent>& events) {
      events_.insert(events_.end(), events.begin(), events.end());
    });
  }

  static SchedulerOptions options() {
    SchedulerOptions o;
    o.lease_ttl = absl::Seconds(10);
    o.retry_backoff_base = absl::Seconds(1);
    o.default_max_attempts = 3;
    return o;
  }

  v1::Run Create(const std::string& input, int priority = 0, const std::string& request_id = "") {
    v1::Run run;
    run.mutable_agent()->set_name("a");
    run.mutable_agent()->set_model("claude-sonnet-4-5");
    run.set_input(input);
    run.set_priority(priority);
    run.set_request_id(request_id);
    absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
    scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : v1::Run();
  }

  // Polls with a deadline already passed unless something is queued. The worker takes
  // a lease up at once (a heartbeat), as baton-worker does, unless `take_up` is false.
  std::optional<TaskGrant> Poll(const std::string& worker = "w1", bool take_up = true) {
    std::optional<TaskGrant> out;
    bool answered = false;
    uint64_t id = scheduler_->PollTask(worker, clock_.Now() + absl::Seconds(5),
                                       [&](absl::StatusOr<std::optional<TaskGrant>> g) {
                                         answered = true;
                                         ASSERT_TRUE(g.ok()) << g.status();
                                         out = std::move(*g);
                                       });
    if (!answered) scheduler_->CancelPoll(id);
    if (out.has_value() && take_up) {
      EXPECT_TRUE(scheduler_->Heartbeat(worker, {Ref(*out)})[0].valid);
    }
    return out;
  }

  LeaseRef Ref(const TaskGrant& g) { return LeaseRef{g.lease.run_id, g.lease.lease_id, g.lease.epoch}; }

  size_t StoredQueueEntries() {
    size_t n = 0;
    EXPECT_TRUE(store_.ScanQueue([&](const QueueEntry&) { ++n; }).ok());
    return n;
  }

  absl::Status Append(const LeaseRef& lease, v1::JournalEntry entry) {
    absl::Status status = absl::UnknownError("no answer");
    scheduler_->AppendStep(lease, {entry}, [&](absl::StatusOr<AppendResult> r) { status = r.status(); });
    return status;
  }

  absl::Status Complete(const LeaseRef& lease) {
    absl::Status status = absl::UnknownError("no answer");
    scheduler_->CompleteRun(lease, RunCompletion{"done", v1::Usage(), 1}, [&](absl::Status s) { status = s; });
    return status;
  }

  absl::StatusOr<v1::RunState> Fail(FailRunParams params) {
    absl::StatusOr<v1::RunState> out = absl::UnknownError("no answer");
    scheduler_->FailRun(params, [&](absl::StatusOr<v1::RunState> s) { out = s; });
    return out;
  }

  v1::JournalEntry ToolResult(const std::string& id) {
    v1::JournalEntry e;
    e.mutable_tool_result()->set_tool_use_id(id);
    e.mutable_tool_result()->set_content_json("\"ok\"");
    return e;
  }

  FakeClock clock_;
  InMemoryRunStore store_;
  std::vector<v1::RunEvent> events_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, HigherPriorityIsLeasedFirstThenFifo) {
  v1::Run low = Create("low", 0);
  clock_.Advance(absl::Milliseconds(1));
  v1::Run high = Create("high", 5);
  clock_.Advance(absl::Milliseconds(1));
  v1::Run low2 = Create("low2", 0);
  EXPECT_EQ(Poll()->run.run_id(), high.run_id());
  EXPECT_EQ(Poll()->run.run_id(), low.run_id());
  EXPECT_EQ(Poll()->run.run_id(), low2.run_id());
  EXPECT_FALSE(Poll().has_value());
}

TEST_F(SchedulerTest, ParkedPollIsAnsweredWhenARunArrives) {
  std::optional<TaskGrant> got;
  scheduler_->PollTask("w1", clock_.Now() + absl::Seconds(5),
                       [&](absl::StatusOr<std::optional<TaskGrant>> g) { got = std::move(*g); });
  EXPECT_FALSE(got.has_value());
  v1::Run run = Create("x");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->run.run_id(), run.run_id());
  EXPECT_EQ(got->run.state(), v1::RUNNING);
  EXPECT_EQ(got->lease.epoch, 1);
}

// A run created while a poll is parked is created and leased by one write: watchers
// get its first events in one delivery, and the store never holds it queued, so a
// restart finds it leased and nothing queued (a queue entry left behind would lease it
// a second time).
TEST_F(SchedulerTest, ARunCreatedForAParkedPollIsStoredOnceLeasedAndNeverQueued) {
  std::vector<size_t> deliveries;
  scheduler_->SetEventListener([&](const std::vector<v1::RunEvent>& events) {
    deliveries.push_back(events.size());
    events_.insert(events_.end(), events.begin(), events.end());
  });
  std::optional<TaskGrant> got;
  scheduler_->PollTask("w1", clock_.Now() + absl::Seconds(5),
                       [&](absl::StatusOr<std::optional<TaskGrant>> g) { got = std::move(*g); });
  v1::Run run = Create("x");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->run.run_id(), run.run_id());
  // The answer is the run as created; the write that made it also leased it.
  EXPECT_EQ(run.state(), v1::QUEUED);
  ASSERT_EQ(deliveries.size(), 1u);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].state_changed().state(), v1::QUEUED);
  EXPECT_EQ(events_[1].state_changed().state(), v1::RUNNING);

  absl::StatusOr<std::optional<v1::Run>> stored = store_.GetRun(run.run_id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->state(), v1::RUNNING);
  EXPECT_EQ(StoredQueueEntries(), 0u);
  Reset();
  EXPECT_EQ(scheduler_->QueuedCount(), 0u);
  EXPECT_EQ(scheduler_->RunningCount(), 1u);
  EXPECT_FALSE(Poll("w2").has_value());
  EXPECT_TRUE(scheduler_->Heartbeat("w1", {Ref(*got)})[0].valid);
}

// Without a parked poll a run is stored queued, and leased by the poll's own write.
TEST_F(SchedulerTest, ARunCreatedWithNoPollParkedIsStoredQueuedUntilAPollLeasesIt) {
  v1::Run run = Create("x");
  EXPECT_EQ(StoredQueueEntries(), 1u);
  Reset();
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
  TaskGrant got = *Poll();
  EXPECT_EQ(got.run.run_id(), run.run_id());
  EXPECT_EQ(StoredQueueEntries(), 0u);
  Reset();
  EXPECT_EQ(scheduler_->QueuedCount(), 0u);
  EXPECT_EQ(scheduler_->RunningCount(), 1u);
}

TEST_F(SchedulerTest, OnePollLeasesEveryReadyRunUpToItsMaxTasksInOrder) {
  v1::Run low = Create("low", 0);
  clock_.Advance(absl::Milliseconds(1));
  v1::Run high = Create("high", 5);
  clock_.Advance(absl::Milliseconds(1));
  v1::Run low2 = Create("low2", 0);
  clock_.Advance(absl::Milliseconds(1));
  v1::Run low3 = Create("low3", 0);
  std::vector<TaskGrant> first;
  scheduler_->PollTasks("w1", clock_.Now() + absl::Seconds(5), 3,
                        [&](absl::StatusOr<std::vector<TaskGrant>> g) { first = std::move(*g); });
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].run.run_id(), high.run_id());
  EXPECT_EQ(first[1].run.run_id(), low.run_id());
  EXPECT_EQ(first[2].run.run_id(), low2.run_id());
  for (const TaskGrant& g : first) {
    EXPECT_EQ(g.run.state(), v1::RUNNING);
    EXPECT_EQ(scheduler_->GetRun(g.run.run_id())->state(), v1::RUNNING) << "the lease is durable before the answer";
    EXPECT_EQ(g.lease.epoch, 1);
  }
  EXPECT_NE(first[0].lease.lease_id, first[1].lease.lease_id);
  // Each lease is taken up on its own: one not confirmed is withdrawn, the others stay.
  std::vector<LeaseStatus> taken = scheduler_->Heartbeat("w1", {Ref(first[0]), Ref(first[1])});
  EXPECT_TRUE(taken[0].valid && taken[1].valid);
  clock_.Advance(absl::Seconds(5));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetRun(first[0].run.run_id())->state(), v1::RUNNING);
  EXPECT_EQ(scheduler_->GetRun(first[2].run.run_id())->state(), v1::QUEUED) << "a lease not taken up goes back";
  // What is left, then nothing: the poll parks and gets the next run alone.
  std::vector<TaskGrant> second;
  scheduler_->PollTasks("w1", clock_.Now() + absl::Seconds(5), 10,
                        [&](absl::StatusOr<std::vector<TaskGrant>> g) { second = std::move(*g); });
  ASSERT_EQ(second.size(), 2u);
  EXPECT_THAT((std::vector<std::string>{second[0].run.run_id(), second[1].run.run_id()}),
              ::testing::UnorderedElementsAre(low2.run_id(), low3.run_id()));
  std::optional<std::vector<TaskGrant>> parked;
  scheduler_->PollTasks("w1", clock_.Now() + absl::Seconds(5), 10,
                        [&](absl::StatusOr<std::vector<TaskGrant>> g) { parked = std::move(*g); });
  EXPECT_FALSE(parked.has_value());
  v1::Run late = Create("late");
  ASSERT_TRUE(parked.has_value());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ(parked->front().run.run_id(), late.run_id());
}

TEST_F(SchedulerTest, ARunThatResumesItsJournalIsLeasedAloneWithIt) {
  v1::Run resumed = Create("resumed");
  TaskGrant g = *Poll("w1");
  ASSERT_TRUE(Append(Ref(g), ToolResult("t1")).ok());
  v1::Run fresh = Create("fresh");
  clock_.Advance(absl::Seconds(10));
  scheduler_->Tick();  // the lease expires: queued again, with its journal
  ASSERT_EQ(scheduler_->GetRun(resumed.run_id())->state(), v1::QUEUED);
  std::vector<std::string> leased;
  for (int poll = 0; poll < 2; ++poll) {
    std::vector<TaskGrant> got;
    scheduler_->PollTasks("w2", clock_.Now() + absl::Seconds(5), 5,
                          [&](absl::StatusOr<std::vector<TaskGrant>> r) { got = std::move(*r); });
    ASSERT_EQ(got.size(), 1u) << "poll " << poll;
    leased.push_back(got[0].run.run_id());
    EXPECT_EQ(got[0].journal.size(), got[0].run.run_id() == resumed.run_id() ? 1u : 0u);
  }
  EXPECT_THAT(leased, ::testing::UnorderedElementsAre(resumed.run_id(), fresh.run_id()));
}

TEST_F(SchedulerTest, PollPastItsDeadlineAnswersEmpty) {
  bool answered = false;
  scheduler_->PollTask("w1", clock_.Now() + absl::Seconds(1),
                       [&](absl::StatusOr<std::optional<TaskGrant>> g) {
                         answered = true;
                         EXPECT_FALSE(g->has_value());
                       });
  scheduler_->Tick();
  EXPECT_FALSE(answered);
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  EXPECT_TRUE(answered);
}

TEST_F(SchedulerTest, ABackedUpStoreRefusesNewWorkWithARetryDelayAndTakesEndsOfWork) {
  v1::Run running = Create("running");
  std::optional<TaskGrant> grant = Poll();
  ASSERT_TRUE(grant.has_value());
  // The disk fell behind: more than the bound (64 MiB by default) waits to be written.
  store_.set_commit_backlog_bytes((size_t{64} << 20) + 1);

  v1::Run run;
  run.mutable_agent()->set_model("claude-sonnet-4-5");
  run.set_input("one more");
  absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
  scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
  EXPECT_EQ(created.status().code(), absl::StatusCode::kResourceExhausted) << created.status();
  EXPECT_NE(created.status().message().find("--max-commit-backlog-mb"), std::string::npos) << created.status();
  EXPECT_EQ(RetryDelay(created.status()), absl::Milliseconds(200));
  absl::Status appended = Append(Ref(*grant), ToolResult("toolu_1"));
  EXPECT_EQ(appended.code(), absl::StatusCode::kResourceExhausted) << appended;
  EXPECT_TRUE(store_.ReadJournal(running.run_id())->empty());
  // Ending a run frees work: never refused.
  EXPECT_TRUE(Complete(Ref(*grant)).ok());

  store_.set_commit_backlog_bytes(0);
  scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
  EXPECT_TRUE(created.ok()) << created.status();
}

TEST_F(SchedulerTest, CreateRunIsIdempotentByRequestId) {
  v1::Run first = Create("x", 0, "req-1");
  v1::Run again = Create("x", 0, "req-1");
  EXPECT_EQ(first.run_id(), again.run_id());
  EXPECT_EQ(again.input(), "x");
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
  v1::Run other = Create("x", 0, "req-2");
  EXPECT_NE(other.run_id(), first.run_id());
}

TEST_F(SchedulerTest, ARequestIdReusedForAnotherRequestIsRefused) {
  v1::Run first = Create("x", 0, "req-1");
  v1::Run run;
  run.mutable_agent()->set_name("a");
  run.mutable_agent()->set_model("claude-sonnet-4-5");
  run.set_input("another input");
  run.set_request_id("req-1");
  absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
  scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
  EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(created.status().message().find("req-1"), std::string::npos) << created.status();
  EXPECT_NE(created.status().message().find(first.run_id()), std::string::npos) << created.status();
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
}

TEST_F(SchedulerTest, ACancelsReasonIsTheRunsErrorWhenItsWorkerStops) {
  v1::Run run = Create("x");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(g.has_value());
  scheduler_->CancelRun(run.run_id(), "wrong input", [](absl::StatusOr<v1::Run>) {});
  FailRunParams params;
  params.lease = Ref(*g);
  params.cancelled = true;
  params.error = "cancelled";
  ASSERT_TRUE(Fail(params).ok());
  absl::StatusOr<v1::Run> ended = scheduler_->GetRun(run.run_id());
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state(), v1::CANCELLED);
  EXPECT_EQ(ended->error(), "cancelled: wrong input");
  EXPECT_EQ(events_.back().state_changed().reason(), "cancelled: wrong input");
}

TEST_F(SchedulerTest, WhileTheStoreRefusesWritesCallsAreRefusedBeforeDecidingAndNothingIsLeased) {
  const v1::Run first = Create("one");
  const v1::Run second = Create("two");
  std::optional<TaskGrant> grant = Poll();
  ASSERT_TRUE(grant.has_value());
  const v1::Run& queued = grant->run.run_id() == first.run_id() ? second : first;
  const absl::Status full = absl::ResourceExhaustedError("the disk of the data directory /d is full");
  store_.SetWritable(full);

  absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
  v1::Run run;
  run.mutable_agent()->set_name("a");
  run.set_input("refused");
  scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
  EXPECT_EQ(created.status(), full);
  v1::JournalEntry entry;
  entry.mutable_model_turn()->set_stop_reason("tool_use");
  EXPECT_EQ(Append(Ref(*grant), entry), full);
  EXPECT_EQ(Complete(Ref(*grant)), full);
  absl::StatusOr<v1::Run> cancelled = absl::UnknownError("no answer");
  scheduler_->CancelRun(queued.run_id(), "", [&](absl::StatusOr<v1::Run> r) { cancelled = std::move(r); });
  EXPECT_EQ(cancelled.status(), full);
  EXPECT_FALSE(Poll("w2").has_value()) << "a run was leased while the store refused writes";
  // Heartbeats need no write: the lease stays.
  EXPECT_TRUE(scheduler_->Heartbeat("w1", {Ref(*grant)}).at(0).valid);
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
  EXPECT_EQ(scheduler_->RunningCount(), 1u);

  // Writable again: the same calls go through, and the queued run is leased.
  store_.SetWritable(absl::OkStatus());
  EXPECT_TRUE(Append(Ref(*grant), entry).ok());
  EXPECT_TRUE(Complete(Ref(*grant)).ok());
  std::optional<TaskGrant> next = Poll("w2");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->run.run_id(), queued.run_id());
}

TEST_F(SchedulerTest, ExpiredLeaseIsRequeuedAtOnceWithNextEpochWithoutSpendingAnAttempt) {
  Create("x");
  TaskGrant first = *Poll("w1");
  clock_.Advance(absl::Seconds(10));
  scheduler_->Tick();
  v1::Run run = *scheduler_->GetRun(first.run.run_id());
  EXPECT_EQ(run.state(), v1::QUEUED);
  // The worker's death is not the run's error: attempts are for those.
  EXPECT_EQ(run.attempt(), 1);
  EXPECT_EQ(run.lease_losses(), 1);
  EXPECT_NE(run.error().find("lease expired"), std::string::npos);
  EXPECT_EQ(events_.back().state_changed().lease_losses(), 1);
  EXPECT_NE(events_.back().state_changed().reason().find("lease 1 of 10 lost"), std::string::npos)
      << events_.back().state_changed().reason();
  // No backoff: the TTL already was the wait.
  TaskGrant second = *Poll("w2");
  EXPECT_EQ(second.run.run_id(), first.run.run_id());
  EXPECT_EQ(second.lease.epoch, first.lease.epoch + 1);
  EXPECT_NE(second.lease.lease_id, first.lease.lease_id);
}

TEST_F(SchedulerTest, ExpiredLeaseGoesToAParkedPollInTheSameTick) {
  Create("x");
  TaskGrant first = *Poll("w1");
  std::optional<TaskGrant> parked;
  scheduler_->PollTask("w2", clock_.Now() + absl::Seconds(30),
                       [&](absl::StatusOr<std::optional<TaskGrant>> g) { parked = std::move(*g); });
  clock_.Advance(absl::Seconds(10));
  scheduler_->Tick();
  ASSERT_TRUE(parked.has_value());
  EXPECT_EQ(parked->run.run_id(), first.run.run_id());
  EXPECT_EQ(parked->lease.epoch, 2);
}

TEST_F(SchedulerTest, LeaseNotTakenUpIsWithdrawnAfterTheWindow) {
  v1::Run run = Create("x");
  // w1 got the grant but never confirms it (frozen); it has another poll parked.
  TaskGrant frozen = *Poll("w1", /*take_up=*/false);
  bool other_answered = false;
  std::optional<TaskGrant> other;
  scheduler_->PollTask("w1", clock_.Now() + absl::Seconds(30), [&](absl::StatusOr<std::optional<TaskGrant>> g) {
    other_answered = true;
    other = std::move(*g);
  });
  clock_.Advance(absl::Milliseconds(1999));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->state(), v1::RUNNING);
  clock_.Advance(absl::Milliseconds(1));
  scheduler_->Tick();
  v1::Run queued = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(queued.state(), v1::QUEUED);
  EXPECT_EQ(queued.attempt(), 1);
  EXPECT_EQ(queued.lease_losses(), 1);
  EXPECT_NE(queued.error().find("lease withdrawn: worker w1 did not take it up within 2000 ms"), std::string::npos)
      << queued.error();
  // w1's other parked poll answers empty rather than hand a frozen worker more runs.
  EXPECT_TRUE(other_answered);
  EXPECT_FALSE(other.has_value());
  // The frozen worker, woken, is refused: it heartbeats, appends or completes too late.
  EXPECT_FALSE(scheduler_->Heartbeat("w1", {Ref(frozen)})[0].valid);
  EXPECT_EQ(Append(Ref(frozen), ToolResult("t1")).code(), absl::StatusCode::kFailedPrecondition);
  TaskGrant again = *Poll("w2");
  EXPECT_EQ(again.run.run_id(), run.run_id());
  EXPECT_EQ(again.lease.epoch, frozen.lease.epoch + 1);
  EXPECT_EQ(Complete(Ref(frozen)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Complete(Ref(again)).ok());
}

TEST_F(SchedulerTest, TakenUpLeaseLastsTheTtl) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll("w1", /*take_up=*/false);
  clock_.Advance(absl::Seconds(1));
  // The first append takes the lease up as a heartbeat would.
  ASSERT_TRUE(Append(Ref(g), ToolResult("t1")).ok());
  clock_.Advance(absl::Milliseconds(9999));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->state(), v1::RUNNING);
  clock_.Advance(absl::Milliseconds(1));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->state(), v1::QUEUED);
}

TEST_F(SchedulerTest, WithoutATakeUpWindowAnUnconfirmedLeaseLastsTheTtl) {
  SchedulerOptions o = options();
  o.lease_take_up = absl::ZeroDuration();
  Reset(o);
  v1::Run run = Create("x");
  Poll("w1", /*take_up=*/false);
  clock_.Advance(absl::Seconds(5));
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->state(), v1::RUNNING);
  clock_.Advance(absl::Seconds(5));
  scheduler_->Tick();
  v1::Run queued = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(queued.state(), v1::QUEUED);
  EXPECT_NE(queued.error().find("lease expired"), std::string::npos) << queued.error();
}

TEST_F(SchedulerTest, LostLeasesFailTheRunAtMaxLeaseLosses) {
  SchedulerOptions o = options();
  o.max_lease_losses = 3;
  Reset(o);
  v1::Run run = Create("x");
  for (int loss = 1; loss <= 3; ++loss) {
    TaskGrant g = *Poll("w" + std::to_string(loss), /*take_up=*/loss % 2 == 0);
    EXPECT_EQ(g.run.lease_losses(), loss - 1);
    clock_.Advance(absl::Seconds(10));
    scheduler_->Tick();
  }
  v1::Run failed = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::LEASE_EXPIRED);
  EXPECT_EQ(failed.attempt(), 1);
  EXPECT_EQ(failed.lease_losses(), 3);
  EXPECT_NE(failed.error().find("lease 3 of 3 lost: max_lease_losses"), std::string::npos) << failed.error();
}

TEST_F(SchedulerTest, LostLeasesLeaveEveryAttemptToTheRunsOwnErrors) {
  v1::Run run = Create("x");
  for (int loss = 0; loss < 5; ++loss) {
    Poll("w-dies");
    clock_.Advance(absl::Seconds(10));
    scheduler_->Tick();
  }
  for (int attempt = 1; attempt <= 3; ++attempt) {
    TaskGrant g = *Poll();
    EXPECT_EQ(g.run.attempt(), attempt);
    FailRunParams fail;
    fail.lease = Ref(g);
    fail.error = "model unavailable";
    fail.retryable = true;
    fail.failure_kind = v1::MODEL_UNAVAILABLE;
    EXPECT_EQ(*Fail(fail), attempt < 3 ? v1::QUEUED : v1::FAILED);
    // A run's own error still waits the backoff (1 s, then 2 s).
    if (attempt < 3) {
      EXPECT_FALSE(Poll().has_value());
      clock_.Advance(absl::Seconds(attempt));
      scheduler_->Tick();
    }
  }
  v1::Run failed = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(failed.failure_kind(), v1::MODEL_UNAVAILABLE);
  EXPECT_EQ(failed.lease_losses(), 5);
}

TEST_F(SchedulerTest, HeartbeatKeepsTheLease) {
  Create("x");
  TaskGrant g = *Poll();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(6));
    auto statuses = scheduler_->Heartbeat("w1", {Ref(g)});
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_TRUE(statuses[0].valid);
    scheduler_->Tick();
  }
  EXPECT_EQ(scheduler_->GetRun(g.run.run_id())->state(), v1::RUNNING);
}

TEST_F(SchedulerTest, StaleEpochIsRefusedEverywhere) {
  Create("x");
  TaskGrant old_grant = *Poll("w1");
  clock_.Advance(absl::Seconds(11));
  scheduler_->Tick();
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  TaskGrant new_grant = *Poll("w2");
  absl::Status append = Append(Ref(old_grant), ToolResult("t1"));
  EXPECT_EQ(append.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(append.message().find("stale"), std::string::npos);
  EXPECT_EQ(Complete(Ref(old_grant)).code(), absl::StatusCode::kFailedPrecondition);
  FailRunParams fail;
  fail.lease = Ref(old_grant);
  fail.error = "boom";
  EXPECT_EQ(Fail(fail).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(scheduler_->Heartbeat("w1", {Ref(old_grant)})[0].valid);
  // The current holder is unaffected.
  EXPECT_TRUE(Append(Ref(new_grant), ToolResult("t1")).ok());
  EXPECT_TRUE(Complete(Ref(new_grant)).ok());
  EXPECT_EQ(scheduler_->GetRun(new_grant.run.run_id())->state(), v1::SUCCEEDED);
}

TEST_F(SchedulerTest, RetryableFailuresStopAtMaxAttemptsWithTheLastError) {
  v1::Run run = Create("x");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    clock_.Advance(absl::Seconds(10));
    scheduler_->Tick();
    TaskGrant g = *Poll();
    EXPECT_EQ(g.run.attempt(), attempt);
    FailRunParams fail;
    fail.lease = Ref(g);
    fail.error = "model unavailable " + std::to_string(attempt);
    fail.retryable = true;
    fail.failure_kind = v1::MODEL_UNAVAILABLE;
    EXPECT_EQ(*Fail(fail), attempt < 3 ? v1::QUEUED : v1::FAILED);
  }
  v1::Run failed = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::MODEL_UNAVAILABLE);
  EXPECT_NE(failed.error().find("model unavailable 3"), std::string::npos);
}

TEST_F(SchedulerTest, ReleasedRunIsQueuedAtOnceWithoutSpendingAnAttempt) {
  Create("x");
  TaskGrant g = *Poll("w1");
  FailRunParams release;
  release.lease = Ref(g);
  release.released = true;
  release.error = "worker draining";
  EXPECT_EQ(*Fail(release), v1::QUEUED);
  TaskGrant again = *Poll("w2");
  EXPECT_EQ(again.run.attempt(), 1);
  EXPECT_EQ(again.lease.epoch, 2);
}

TEST_F(SchedulerTest, CancelQueuedRunEndsItAtOnce) {
  v1::Run run = Create("x");
  absl::StatusOr<v1::Run> cancelled = absl::UnknownError("");
  scheduler_->CancelRun(run.run_id(), "no longer needed", [&](absl::StatusOr<v1::Run> r) { cancelled = r; });
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_FALSE(Poll().has_value());
}

TEST_F(SchedulerTest, CancelRunningRunReachesTheWorkerThroughHeartbeat) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll();
  EXPECT_FALSE(scheduler_->Heartbeat("w1", {Ref(g)})[0].cancel_requested);
  scheduler_->CancelRun(run.run_id(), "", [](absl::StatusOr<v1::Run>) {});
  EXPECT_TRUE(scheduler_->Heartbeat("w1", {Ref(g)})[0].cancel_requested);
  FailRunParams fail;
  fail.lease = Ref(g);
  fail.cancelled = true;
  EXPECT_EQ(*Fail(fail), v1::CANCELLED);
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->failure_kind(), v1::CANCELLED_BY_USER);
}

TEST_F(SchedulerTest, RetriedAppendIsAppliedOnce) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll();
  auto append = [&](int64_t first_seq, std::vector<v1::JournalEntry> entries) {
    absl::StatusOr<AppendResult> out = absl::UnknownError("no answer");
    scheduler_->AppendStep(Ref(g), entries, [&](absl::StatusOr<AppendResult> r) { out = r; }, first_seq);
    return out;
  };
  absl::StatusOr<AppendResult> first = append(1, {ToolResult("t1"), ToolResult("t2")});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->last_seq, 2);
  // The same append again (its answer was lost): acknowledged, not written twice.
  absl::StatusOr<AppendResult> again = append(1, {ToolResult("t1"), ToolResult("t2")});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->last_seq, 2);
  EXPECT_EQ(store_.ReadJournal(run.run_id())->size(), 2u);
  // A gap means the worker and the journal disagree: refused.
  absl::StatusOr<AppendResult> gap = append(5, {ToolResult("t3")});
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(gap.status().message().find("out of sync"), std::string::npos);
  // The next append in order goes through.
  absl::StatusOr<AppendResult> next = append(3, {ToolResult("t3")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->last_seq, 3);
  EXPECT_EQ(store_.ReadJournal(run.run_id())->size(), 3u);
}

TEST_F(SchedulerTest, UnknownRunIsNotFound) {
  EXPECT_EQ(scheduler_->GetRun("run_000000000000deadbeef").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, EventsAreNumberedAndEndWithTheFinalState) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll();
  v1::JournalEntry turn;
  turn.set_step(0);
  turn.mutable_model_turn()->set_model("claude-sonnet-4-5");
  turn.mutable_model_turn()->set_content_json(R"([{"type":"text","text":"hi"}])");
  turn.mutable_model_turn()->set_stop_reason("end_turn");
  turn.mutable_model_turn()->mutable_usage()->set_input_tokens(10);
  turn.mutable_model_turn()->mutable_usage()->set_model_calls(1);
  ASSERT_TRUE(Append(Ref(g), turn).ok());
  ASSERT_TRUE(Complete(Ref(g)).ok());
  ASSERT_GE(events_.size(), 6u);
  for (size_t i = 0; i < events_.size(); ++i) EXPECT_EQ(events_[i].seq(), static_cast<int64_t>(i + 1));
  EXPECT_EQ(events_.front().state_changed().state(), v1::QUEUED);
  EXPECT_TRUE(events_[events_.size() - 2].has_final_output());
  EXPECT_EQ(events_.back().state_changed().state(), v1::SUCCEEDED);
  v1::Run done = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(done.usage().input_tokens(), 10);
  EXPECT_EQ(done.last_event_seq(), static_cast<int64_t>(events_.size()));
  // Events are durable: the store has the same ones.
  EXPECT_EQ(store_.ReadEvents(run.run_id(), 0, 0)->size(), events_.size());
}

TEST_F(SchedulerTest, LastAppendCanEndTheRunAsCompleteRunWould) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll();
  v1::JournalEntry turn;
  turn.set_step(0);
  turn.mutable_model_turn()->set_content_json(R"([{"type":"text","text":"hi"}])");
  turn.mutable_model_turn()->set_stop_reason("end_turn");
  turn.mutable_model_turn()->mutable_usage()->set_input_tokens(10);
  turn.mutable_model_turn()->mutable_usage()->set_model_calls(1);
  absl::StatusOr<AppendResult> out = absl::UnknownError("no answer");
  scheduler_->AppendStep(Ref(g), {turn}, [&](absl::StatusOr<AppendResult> r) { out = r; }, 1, {}, {},
                         RunCompletion{"hi", v1::Usage(), 1});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->completed);
  EXPECT_EQ(out->last_seq, 1);
  v1::Run done = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "hi");
  EXPECT_EQ(done.usage().input_tokens(), 10);  // the journal's, not the worker's empty figures
  EXPECT_EQ(store_.ReadJournal(run.run_id())->size(), 1u);
  // The same events as an append and then CompleteRun: the turn's, then the end.
  ASSERT_GE(events_.size(), 3u);
  EXPECT_TRUE(events_[events_.size() - 2].has_final_output());
  EXPECT_EQ(events_[events_.size() - 2].final_output().text(), "hi");
  EXPECT_EQ(events_.back().state_changed().state(), v1::SUCCEEDED);
  EXPECT_EQ((*store_.GetRun(run.run_id()))->state(), v1::SUCCEEDED);
  // The lease ended with the run: a retried append or a CompleteRun is refused.
  EXPECT_EQ(Complete(Ref(g)).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, LastAppendOnALostLeaseEndsNothing) {
  v1::Run run = Create("x");
  TaskGrant g = *Poll();
  LeaseRef stale = Ref(g);
  stale.epoch += 1;
  absl::StatusOr<AppendResult> out = absl::UnknownError("no answer");
  scheduler_->AppendStep(stale, {ToolResult("t1")}, [&](absl::StatusOr<AppendResult> r) { out = r; }, 0, {}, {},
                         RunCompletion{"hi", v1::Usage(), 1});
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->state(), v1::RUNNING);
  EXPECT_TRUE(store_.ReadJournal(run.run_id())->empty());
}

TEST_F(SchedulerTest, RestartRecoversQueuedAndLeasedRuns) {
  v1::Run queued = Create("queued");
  v1::Run leased = Create("leased", 10);
  TaskGrant g = *Poll();
  ASSERT_EQ(g.run.run_id(), leased.run_id());
  ASSERT_TRUE(Append(Ref(g), ToolResult("t1")).ok());
  // A new scheduler on the same store: as after a crash.
  Reset();
  EXPECT_EQ(scheduler_->QueuedCount(), 1u);
  EXPECT_EQ(scheduler_->RunningCount(), 1u);
  // The old worker may go on heartbeating its lease.
  EXPECT_TRUE(scheduler_->Heartbeat("w1", {Ref(g)})[0].valid);
  EXPECT_EQ(Poll()->run.run_id(), queued.run_id());
  // When the lease expires, the run is leased again, with its journal.
  clock_.Advance(absl::Seconds(11));
  scheduler_->Tick();
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  TaskGrant again = *Poll("w2");
  EXPECT_EQ(again.run.run_id(), leased.run_id());
  ASSERT_EQ(again.journal.size(), 1u);
  EXPECT_EQ(again.journal[0].tool_result().tool_use_id(), "t1");
}

// Plain appends do not rewrite the run record; a restart counts them back in from the
// journal and the events, so the run shows and continues as before it.
TEST_F(SchedulerTest, ARestartKeepsTheStepsUsageAndSeqsOfARunningRun) {
  v1::Run run = Create("counted");
  TaskGrant g = *Poll();
  for (int step = 0; step < 3; ++step) {
    v1::JournalEntry turn;
    turn.set_step(step);
    turn.mutable_model_turn()->set_content_json(R"([{"type":"text","text":"thinking"}])");
    turn.mutable_model_turn()->mutable_usage()->set_input_tokens(100);
    turn.mutable_model_turn()->mutable_usage()->set_model_calls(1);
    turn.mutable_model_turn()->mutable_usage()->set_cost_usd(0.25);
    ASSERT_TRUE(Append(Ref(g), turn).ok());
    ASSERT_TRUE(Append(Ref(g), ToolResult(absl::StrCat("t", step))).ok());
  }
  const v1::Run before = *scheduler_->GetRun(run.run_id());
  ASSERT_EQ(before.steps(), 3);
  ASSERT_EQ(before.last_journal_seq(), 6);

  Reset();
  const v1::Run after = *scheduler_->GetRun(run.run_id());
  EXPECT_EQ(after.steps(), 3);
  EXPECT_EQ(after.last_journal_seq(), 6);
  EXPECT_EQ(after.last_event_seq(), before.last_event_seq());
  EXPECT_EQ(after.usage().input_tokens(), 300);
  EXPECT_EQ(after.usage().model_calls(), 3);
  EXPECT_DOUBLE_EQ(after.usage().cost_usd(), 0.75);
  EXPECT_EQ(after.usage().tool_calls(), 3);
  EXPECT_EQ(after.tree_usage().input_tokens(), 300);

  // The worker goes on: its next append and its events follow the earlier ones.
  ASSERT_TRUE(Append(Ref(g), ToolResult("t3")).ok());
  ASSERT_TRUE(Complete(Ref(g)).ok());
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->usage().tool_calls(), 4);
  std::vector<v1::RunEvent> events = *store_.ReadEvents(run.run_id(), 0, 0);
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i) + 1) << "an event was overwritten or skipped";
  }
  EXPECT_TRUE(events.back().has_state_changed());
  EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
}

// A damaged journal (a gap) costs only its own run: the restart counts up to the gap,
// and the other runs recover as usual.
TEST_F(SchedulerTest, ARestartCountsADamagedJournalUpToItsGap) {
  v1::Run damaged = Create("damaged");
  TaskGrant g = *Poll();
  v1::Run other = Create("other");
  TaskGrant h = *Poll();
  ASSERT_TRUE(Append(Ref(g), ToolResult("t1")).ok());
  ASSERT_TRUE(Append(Ref(g), ToolResult("t2")).ok());
  ASSERT_TRUE(Append(Ref(h), ToolResult("u1")).ok());
  StoreBatch gap;
  v1::JournalEntry stray = ToolResult("t4");
  stray.set_seq(4);
  gap.journal.emplace_back(damaged.run_id(), stray);
  ASSERT_TRUE(store_.Commit(gap).ok());

  Reset();  // asserts that Recover succeeds
  EXPECT_EQ(scheduler_->GetRun(damaged.run_id())->last_journal_seq(), 2);
  EXPECT_EQ(scheduler_->GetRun(damaged.run_id())->usage().tool_calls(), 2);
  EXPECT_EQ(scheduler_->GetRun(other.run_id())->last_journal_seq(), 1);
  EXPECT_EQ(scheduler_->RunningCount(), 2u);
}

// What a restart reads to catch a run up is bounded: the record is put again at least
// every 64 plain appends, restarts in between included.
TEST_F(SchedulerTest, ALongRunsRecordTrailsItsJournalByAtMost64Appends) {
  v1::Run run = Create("long");
  TaskGrant g = *Poll();
  for (int i = 0; i < 200; ++i) {
    if (i % 40 == 39) Reset();
    ASSERT_TRUE(Append(Ref(g), ToolResult(absl::StrCat("t", i))).ok());
    absl::StatusOr<std::optional<v1::Run>> stored = store_.GetRun(run.run_id());
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_GE((*stored)->last_journal_seq(), i + 1 - 63) << "after append " << i + 1;
  }
  Reset();
  EXPECT_EQ(scheduler_->GetRun(run.run_id())->usage().tool_calls(), 200);
}

}  // namespace
}  // namespace baton::orchestrator
