// A scheduler over the in-memory store (its commits complete inline) and a FakeClock,
// with helpers that play the worker's and the client's side. Reset() is an
// orchestrator restart over the same store.
#ifndef BATON_TESTS_ORCHESTRATOR_SCHEDULER_SCHEDULER_FIXTURE_H_
#define BATON_TESTS_ORCHESTRATOR_SCHEDULER_SCHEDULER_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/memory_run_store.h"

namespace baton::orchestrator {

class SchedulerFixture : public ::testing::Test {
 protected:
  SchedulerFixture() { Reset(); }

  // A new scheduler over the same store: what an orchestrator restart sees.
  void Reset() {
    scheduler_.reset();
    SchedulerOptions o;
    o.lease_ttl = absl::Seconds(10);
    o.retry_backoff_base = absl::Seconds(1);
    scheduler_ = std::make_unique<Scheduler>(store_, clock_, o);
    ASSERT_TRUE(scheduler_->Recover().ok());
    scheduler_->SetEventListener([this](const std::vector<v1::RunEvent>& events) {
      events_.insert(events_.end(), events.begin(), events.end());
    });
  }

  static v1::AgentSpec Agent(const std::string& name = "a") {
    v1::AgentSpec agent;
    agent.set_name(name);
    agent.set_model("claude-sonnet-4-5");
    return agent;
  }

  v1::Run Create(const std::string& input, v1::AgentSpec agent = Agent(), const std::string& session = "") {
    v1::Run run;
    *run.mutable_agent() = std::move(agent);
    run.set_input(input);
    run.set_session_id(session);
    absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
    scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : v1::Run();
  }

  std::optional<TaskGrant> Poll() {
    std::optional<TaskGrant> out;
    bool answered = false;
    uint64_t id = scheduler_->PollTask("w1", clock_.Now() + absl::Seconds(5),
                                       [&](absl::StatusOr<std::optional<TaskGrant>> g) {
                                         answered = true;
                                         ASSERT_TRUE(g.ok()) << g.status();
                                         out = std::move(*g);
                                       });
    if (!answered) scheduler_->CancelPoll(id);
    // The worker takes the lease up at once, as baton-worker does.
    if (out.has_value()) {
      EXPECT_TRUE(scheduler_->Heartbeat("w1", {Ref(*out)})[0].valid);
    }
    return out;
  }

  // A run created and leased whose first turn asks for two subagents ("t1" and "t2",
  // children with inputs "one" and "two"), then suspended: WAITING for both. Its grant;
  // nullopt (and a test failure) when a step fails.
  std::optional<TaskGrant> StartParentOfTwoChildren(const std::string& input = "plan") {
    const v1::Run parent = Create(input);
    std::optional<TaskGrant> p = Poll();
    EXPECT_TRUE(p.has_value() && p->run.run_id() == parent.run_id());
    if (!p.has_value()) return std::nullopt;
    EXPECT_TRUE(Append(*p, {Turn(0), Call(0, "t1", "helper"), Call(0, "t2", "helper")},
                       {Child("t1", "one"), Child("t2", "two")})
                    .ok());
    absl::StatusOr<v1::RunState> state = Suspend(*p);
    EXPECT_TRUE(state.ok() && *state == v1::WAITING);
    if (!state.ok() || *state != v1::WAITING) return std::nullopt;
    return p;
  }

  static LeaseRef Ref(const TaskGrant& g) { return LeaseRef{g.lease.run_id, g.lease.lease_id, g.lease.epoch}; }

  absl::StatusOr<AppendResult> Append(const TaskGrant& g, std::vector<v1::JournalEntry> entries,
                                      std::vector<v1::ChildRunSpec> children = {}) {
    absl::StatusOr<AppendResult> out = absl::UnknownError("no answer");
    scheduler_->AppendStep(Ref(g), std::move(entries), [&](absl::StatusOr<AppendResult> r) { out = r; }, 0,
                           std::move(children));
    return out;
  }

  absl::StatusOr<v1::RunState> Suspend(const TaskGrant& g) {
    absl::StatusOr<v1::RunState> out = absl::UnknownError("no answer");
    scheduler_->SuspendRun(Ref(g), v1::Usage(), 1, [&](absl::StatusOr<v1::RunState> s) { out = s; });
    return out;
  }

  absl::Status Complete(const TaskGrant& g, const std::string& output) {
    absl::Status status = absl::UnknownError("no answer");
    scheduler_->CompleteRun(Ref(g), RunCompletion{output, v1::Usage(), 1}, [&](absl::Status s) { status = s; });
    return status;
  }

  absl::StatusOr<v1::Approval> Decide(const std::string& id, v1::Decision decision, const std::string& message = "",
                                      const std::string& input = "") {
    absl::StatusOr<v1::Approval> out = absl::UnknownError("no answer");
    DecisionParams p{id, decision, input, message, "alice"};
    scheduler_->DecideApproval(p, [&](absl::StatusOr<v1::Approval> a) { out = a; });
    return out;
  }

  static v1::JournalEntry Turn(int step, double cost = 0) {
    v1::JournalEntry e;
    e.set_step(step);
    e.mutable_model_turn()->set_model("claude-sonnet-4-5");
    e.mutable_model_turn()->set_content_json("[]");
    e.mutable_model_turn()->set_stop_reason("tool_use");
    e.mutable_model_turn()->mutable_usage()->set_cost_usd(cost);
    e.mutable_model_turn()->mutable_usage()->set_model_calls(1);
    return e;
  }

  static v1::JournalEntry Call(int step, const std::string& id, const std::string& name) {
    v1::JournalEntry e;
    e.set_step(step);
    e.mutable_tool_call()->set_tool_use_id(id);
    e.mutable_tool_call()->set_name(name);
    e.mutable_tool_call()->set_input_json("{}");
    e.mutable_tool_call()->set_idempotency_key(absl::StrCat("key:", step, ":", id));
    return e;
  }

  static v1::ChildRunSpec Child(const std::string& id, const std::string& input) {
    v1::ChildRunSpec c;
    c.set_tool_use_id(id);
    c.set_subagent("helper");
    *c.mutable_agent() = Agent("helper");
    c.set_input(input);
    return c;
  }

  static v1::JournalEntry ApprovalRequest(int step, const std::string& id, const std::string& tool,
                                          int64_t timeout_ms = 60'000,
                                          v1::ApprovalRule::OnTimeout on_timeout = v1::ApprovalRule::TIMEOUT_DENY) {
    v1::JournalEntry e;
    e.set_step(step);
    v1::ApprovalRequest* r = e.mutable_approval_request();
    r->set_tool_use_id(id);
    r->set_name(tool);
    r->set_input_json(R"({"path":"/tmp/x"})");
    r->set_approval_id(absl::StrCat("apr:", id));
    r->set_input_schema_json(R"({"type":"object"})");
    r->set_timeout_ms(timeout_ms);
    r->set_on_timeout(on_timeout);
    return e;
  }

  v1::Run Get(const std::string& run_id) {
    absl::StatusOr<v1::Run> run = scheduler_->GetRun(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::Run();
  }

  std::vector<v1::JournalEntry> Journal(const std::string& run_id) { return *store_.ReadJournal(run_id); }

  FakeClock clock_;
  InMemoryRunStore store_;
  std::vector<v1::RunEvent> events_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace baton::orchestrator

#endif  // BATON_TESTS_ORCHESTRATOR_SCHEDULER_SCHEDULER_FIXTURE_H_
