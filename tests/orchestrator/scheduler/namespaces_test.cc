// Namespaces in the scheduler: ids, per-namespace idempotency keys, queued-runs and
// concurrency quotas, the create rate's retry delay, and workers bound to namespaces.
#include <optional>
#include <string>
#include <vector>

#include "common/grpc_status.h"
#include "common/namespaces.h"
#include "tests/orchestrator/scheduler/scheduler_fixture.h"

namespace baton::orchestrator {
namespace {

class NamespacesTest : public SchedulerFixture {
 protected:
  absl::StatusOr<v1::Run> CreateIn(const std::string& ns, const std::string& input,
                                   const std::string& request_id = "") {
    v1::Run run;
    *run.mutable_agent() = Agent();
    run.set_input(input);
    run.set_namespace_(ns);
    run.set_request_id(request_id);
    absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
    scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
    return created;
  }

  void PutQuotas(const std::string& ns, int max_queued, double per_second, int max_concurrent) {
    v1::Namespace settings;
    settings.set_name(ns);
    settings.mutable_quotas()->set_max_queued_runs(max_queued);
    settings.mutable_quotas()->set_max_creates_per_second(per_second);
    settings.mutable_quotas()->set_max_concurrent_runs(max_concurrent);
    absl::StatusOr<v1::Namespace> stored = absl::UnknownError("no answer");
    scheduler_->PutNamespace(settings, [&](absl::StatusOr<v1::Namespace> s) { stored = std::move(s); });
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  std::optional<TaskGrant> PollFor(std::vector<std::string> namespaces) {
    std::optional<TaskGrant> out;
    bool answered = false;
    uint64_t id = scheduler_->PollTask(
        "w-bound", clock_.Now() + absl::Seconds(5),
        [&](absl::StatusOr<std::optional<TaskGrant>> g) {
          answered = true;
          ASSERT_TRUE(g.ok()) << g.status();
          out = std::move(*g);
        },
        std::move(namespaces));
    if (!answered) scheduler_->CancelPoll(id);
    if (out.has_value()) {
      EXPECT_TRUE(scheduler_->Heartbeat("w-bound", {Ref(*out)})[0].valid);
    }
    return out;
  }
};

TEST_F(NamespacesTest, RunIdsAndChildrenLiveInTheirNamespace) {
  absl::StatusOr<v1::Run> run = CreateIn("team-a", "hello");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->run_id().starts_with("team-a/run_")) << run->run_id();
  EXPECT_EQ(run->namespace_(), "team-a");

  std::optional<TaskGrant> grant = Poll();
  ASSERT_TRUE(grant.has_value());
  ASSERT_EQ(grant->run.run_id(), run->run_id());
  ASSERT_TRUE(Append(*grant, {Turn(1), Call(1, "tu_1", "subagent__helper")}, {Child("tu_1", "help")}).ok());
  ASSERT_EQ(Suspend(*grant).value(), v1::WAITING);
  std::optional<TaskGrant> child = Poll();
  ASSERT_TRUE(child.has_value());
  EXPECT_TRUE(child->run.run_id().starts_with("team-a/run_")) << child->run.run_id();
  EXPECT_EQ(child->run.namespace_(), "team-a");
  EXPECT_EQ(Create("no namespace").namespace_(), kDefaultNamespace);
}

TEST_F(NamespacesTest, ARequestIdIsPerNamespace) {
  absl::StatusOr<v1::Run> a = CreateIn("team-a", "same", "req-1");
  absl::StatusOr<v1::Run> b = CreateIn("team-b", "same", "req-1");
  absl::StatusOr<v1::Run> a_again = CreateIn("team-a", "same", "req-1");
  ASSERT_TRUE(a.ok() && b.ok() && a_again.ok());
  EXPECT_NE(a->run_id(), b->run_id());
  EXPECT_EQ(a->run_id(), a_again->run_id());
}

TEST_F(NamespacesTest, MaxQueuedRunsRefusesWithARetryDelayAndLeavesOtherNamespacesAlone) {
  PutQuotas("small", 2, 0, 0);
  ASSERT_TRUE(CreateIn("small", "1").ok());
  ASSERT_TRUE(CreateIn("small", "2").ok());
  absl::StatusOr<v1::Run> third = CreateIn("small", "3");
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_NE(third.status().message().find("max_queued_runs"), std::string::npos) << third.status();
  EXPECT_TRUE(RetryDelay(third.status()).has_value());
  EXPECT_TRUE(CreateIn("other", "fine").ok());
  // Once a run leaves the queue there is room again.
  ASSERT_TRUE(PollFor({"small"}).has_value());
  EXPECT_TRUE(CreateIn("small", "3").ok());
  // The quota survives a restart.
  Reset();
  EXPECT_EQ(CreateIn("small", "4").status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(NamespacesTest, CreatesPerSecondRefillOverTime) {
  PutQuotas("rated", 0, 2, 0);
  ASSERT_TRUE(CreateIn("rated", "1").ok());
  ASSERT_TRUE(CreateIn("rated", "2").ok());
  absl::StatusOr<v1::Run> third = CreateIn("rated", "3");
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  std::optional<absl::Duration> delay = RetryDelay(third.status());
  ASSERT_TRUE(delay.has_value());
  EXPECT_EQ(*delay, absl::Milliseconds(500));  // one token at 2 per second
  clock_.Advance(*delay);
  EXPECT_TRUE(CreateIn("rated", "3").ok());
}

TEST_F(NamespacesTest, MaxConcurrentRunsHoldsRunsQueuedWhileOthersGo) {
  PutQuotas("one-at-a-time", 0, 0, 1);
  // A millisecond apart: the queue is FIFO by enqueue time.
  ASSERT_TRUE(CreateIn("one-at-a-time", "first").ok());
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(CreateIn("one-at-a-time", "second").ok());
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(CreateIn("free", "third").ok());
  std::optional<TaskGrant> first = Poll();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->run.input(), "first");
  // "second" is older than "third", but its namespace is at its limit.
  std::optional<TaskGrant> next = Poll();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->run.input(), "third");
  EXPECT_FALSE(Poll().has_value());
  ASSERT_TRUE(Complete(*first, "done").ok());
  std::optional<TaskGrant> second = Poll();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->run.input(), "second");
}

TEST_F(NamespacesTest, AWorkerBoundToNamespacesLeasesOnlyTheirRuns) {
  ASSERT_TRUE(CreateIn("team-a", "for a").ok());
  ASSERT_TRUE(CreateIn("team-b", "for b").ok());
  std::optional<TaskGrant> grant = PollFor({"team-b"});
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->run.input(), "for b");
  EXPECT_FALSE(PollFor({"team-b"}).has_value());
  // A parked poll of team-a's is answered when its run arrives, not by team-c's.
  std::optional<TaskGrant> parked;
  uint64_t id = scheduler_->PollTask(
      "w-c", clock_.Now() + absl::Seconds(5),
      [&](absl::StatusOr<std::optional<TaskGrant>> g) { parked = std::move(*g); }, {"team-c"});
  ASSERT_TRUE(PollFor({"team-a"}).has_value());
  EXPECT_FALSE(parked.has_value());
  ASSERT_TRUE(CreateIn("team-c", "for c").ok());
  ASSERT_TRUE(parked.has_value());
  EXPECT_EQ(parked->run.input(), "for c");
  scheduler_->CancelPoll(id);
}

}  // namespace
}  // namespace baton::orchestrator
