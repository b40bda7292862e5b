#include "workers/agent_loop.h"

#include <deque>

#include <gtest/gtest.h>

#include "workers/builtin_tools.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

// Answers with scripted messages and records every request.
class FakeModelClient final : public ModelClient {
 public:
  void Reply(json message) { replies_.push_back(std::move(message)); }
  void Fail(absl::Status status) { failures_.push_back(std::move(status)); }

  absl::StatusOr<ModelResponse> CreateMessage(const json& request, const ModelCallOptions&) override {
    requests.push_back(request);
    if (!failures_.empty()) {
      absl::Status s = failures_.front();
      failures_.pop_front();
      return s;
    }
    if (replies_.empty()) return absl::InternalError("fake model: no reply scripted");
    ModelResponse r;
    r.message = replies_.front();
    replies_.pop_front();
    r.request_id = "req_fake";
    return r;
  }

  std::vector<json> requests;

 private:
  std::deque<json> replies_;
  std::deque<absl::Status> failures_;
};

// Counts calls per tool; "flaky" is a non-idempotent tool.
class CountingTools final : public ToolExecutor {
 public:
  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override {
    return std::vector<ToolDefinition>{
        {"echo", "echo", json{{"type", "object"}}, true, true},
        {"charge", "not idempotent", json{{"type", "object"}}, false, false},
    };
  }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const json& input,
                                      const ToolCallContext& ctx) override {
    calls.push_back(name + ":" + ctx.idempotency_key);
    if (name == "charge" && input.value("fail", false)) return ToolOutput{json("card declined"), true};
    return ToolOutput{json(name + " ok"), false};
  }
  std::vector<std::string> calls;
};

// Keeps what was appended, like the orchestrator would.
class MemoryJournal final : public RunJournal {
 public:
  absl::StatusOr<bool> Append(std::vector<v1::JournalEntry> entries) override {
    if (fail_with.has_value()) return *fail_with;
    for (auto& e : entries) {
      e.set_seq(static_cast<int64_t>(journal.size()) + 1);
      journal.push_back(std::move(e));
    }
    appends++;
    return cancel_after_append;
  }
  std::vector<v1::JournalEntry> journal;
  int appends = 0;
  bool cancel_after_append = false;
  std::optional<absl::Status> fail_with;
};

json ToolUse(const std::string& id, const std::string& name, json input = json::object()) {
  return {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", input}};
}
json Message(json content, const std::string& stop) {
  return {{"content", content}, {"stop_reason", stop}, {"model", "claude-sonnet-4-5"},
          {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}};
}

class AgentLoopTest : public ::testing::Test {
 protected:
  AgentLoopTest() {
    run_.set_run_id("run_1");
    run_.set_input("hello");
    run_.mutable_agent()->set_model("claude-sonnet-4-5");
    run_.mutable_agent()->add_allowed_tools("echo");
    run_.mutable_agent()->add_allowed_tools("charge");
  }
  RunOutcome Execute(const std::vector<v1::JournalEntry>& journal = {}) {
    AgentLoop loop(model_, tools_, clock_, AgentLoopOptions{});
    return loop.Execute(run_, journal, out_, signals_);
  }

  FakeClock clock_;
  FakeModelClient model_;
  CountingTools tools_;
  MemoryJournal out_;
  RunSignals signals_;
  v1::Run run_;
};

TEST_F(AgentLoopTest, ToolUseThenAnswerJournalsEveryStep) {
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "calling"}}, ToolUse("t1", "echo"),
                                    ToolUse("t2", "charge")}),
                       "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "all done"}}}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "all done");
  EXPECT_EQ(o.steps, 2);
  EXPECT_EQ(o.usage.input_tokens(), 20);
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t1", "charge:run_1:0:t2"}));
  // turn+marker(t1), result(t1)+marker(t2), result(t2), final turn.
  EXPECT_EQ(out_.appends, 4);
  ASSERT_EQ(out_.journal.size(), 6u);
  EXPECT_TRUE(out_.journal[0].has_model_turn());
  EXPECT_EQ(out_.journal[1].tool_call().tool_use_id(), "t1");
  EXPECT_EQ(out_.journal[2].tool_result().tool_use_id(), "t1");
  EXPECT_EQ(out_.journal[3].tool_call().tool_use_id(), "t2");
  EXPECT_EQ(out_.journal[4].tool_result().tool_use_id(), "t2");
  // The second request carries the results right after the tool_use turn, in order.
  const json& msgs = model_.requests[1]["messages"];
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[2]["role"], "user");
  EXPECT_EQ(msgs[2]["content"][0]["tool_use_id"], "t1");
  EXPECT_EQ(msgs[2]["content"][1]["tool_use_id"], "t2");
  // Only allowed tools are offered.
  EXPECT_EQ(model_.requests[0]["tools"].size(), 2u);
}

TEST_F(AgentLoopTest, ResumeDoesNotRunRecordedCallsAgain) {
  model_.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("t2", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "x"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  // Keep the journal up to t1's result (a crash before t2 finished).
  std::vector<v1::JournalEntry> partial(out_.journal.begin(), out_.journal.begin() + 3);
  tools_.calls.clear();
  model_.requests.clear();
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "resumed"}}}), "end_turn"));
  RunOutcome o = Execute(partial);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "resumed");
  // t1 is recorded: not run again. t2 had not started: it runs.
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t2"}));
  EXPECT_EQ(model_.requests.size(), 1u);
  EXPECT_EQ(model_.requests[0]["messages"][2]["content"].size(), 2u);
}

TEST_F(AgentLoopTest, StartedNonIdempotentCallIsNotRepeatedOnResume) {
  model_.Reply(Message(json::array({ToolUse("t1", "charge")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "x"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  // The journal holds the turn and t1's start marker, no result.
  std::vector<v1::JournalEntry> partial(out_.journal.begin(), out_.journal.begin() + 2);
  ASSERT_TRUE(partial[1].has_tool_call());
  tools_.calls.clear();
  model_.requests.clear();
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "ok"}}}), "end_turn"));
  ASSERT_EQ(Execute(partial).kind, RunOutcome::Kind::kSucceeded);
  EXPECT_TRUE(tools_.calls.empty());
  const json& result = model_.requests[0]["messages"][2]["content"][0];
  EXPECT_EQ(result["is_error"], true);
  EXPECT_NE(result["content"].get<std::string>().find("unknown"), std::string::npos);
}

TEST_F(AgentLoopTest, StartedIdempotentCallIsRetriedOnResume) {
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "x"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  std::vector<v1::JournalEntry> partial(out_.journal.begin(), out_.journal.begin() + 2);
  tools_.calls.clear();
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "ok"}}}), "end_turn"));
  ASSERT_EQ(Execute(partial).kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t1"}));
}

TEST_F(AgentLoopTest, JournaledAnswerCompletesWithoutCallingTheModel) {
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "final"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  std::vector<v1::JournalEntry> journal = out_.journal;
  model_.requests.clear();
  RunOutcome o = Execute(journal);
  EXPECT_EQ(o.kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(o.output, "final");
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(AgentLoopTest, ToolErrorsGoBackToTheModel) {
  model_.Reply(Message(json::array({ToolUse("t1", "charge", {{"fail", true}}), ToolUse("t2", "nope")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "sorry"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  const json& results = model_.requests[1]["messages"][2]["content"];
  EXPECT_EQ(results[0]["is_error"], true);
  EXPECT_EQ(results[0]["content"], "card declined");
  EXPECT_EQ(results[1]["is_error"], true);
  EXPECT_NE(results[1]["content"].get<std::string>().find("not available"), std::string::npos);
}

TEST_F(AgentLoopTest, MaxStepsEndsTheRunWithATypedReason) {
  run_.mutable_agent()->set_max_steps(2);
  for (int i = 0; i < 3; ++i) model_.Reply(Message(json::array({ToolUse("t" + std::to_string(i), "echo")}), "tool_use"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_STEPS);
  EXPECT_EQ(o.steps, 2);
  EXPECT_EQ(model_.requests.size(), 2u);
}

TEST_F(AgentLoopTest, MaxTokensTotalEndsTheRunWithATypedReason) {
  run_.mutable_agent()->set_max_tokens_total(30);
  for (int i = 0; i < 3; ++i) model_.Reply(Message(json::array({ToolUse("t" + std::to_string(i), "echo")}), "tool_use"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_TOKENS_TOTAL);
  EXPECT_EQ(o.steps, 2);  // 15 tokens a step: over 30 after the second
  EXPECT_NE(o.error.find("max_tokens_total 30"), std::string::npos);
}

TEST_F(AgentLoopTest, ModelErrorsFailTheRunWithTheApiMessage) {
  model_.Fail(absl::InvalidArgumentError("Messages API 400 invalid_request_error: bad thing"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.failure_kind, v1::MODEL_ERROR);
  EXPECT_NE(o.error.find("bad thing"), std::string::npos);
  model_.Fail(absl::UnavailableError("Messages API 529 overloaded_error"));
  o = Execute();
  EXPECT_TRUE(o.retryable);
  EXPECT_EQ(o.failure_kind, v1::MODEL_UNAVAILABLE);
}

TEST_F(AgentLoopTest, CancelSeenOnAppendStopsTheRun) {
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  out_.cancel_after_append = true;
  EXPECT_EQ(Execute().kind, RunOutcome::Kind::kCancelled);
  EXPECT_TRUE(tools_.calls.empty());
}

TEST_F(AgentLoopTest, LostLeaseStopsQuietly) {
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  out_.fail_with = absl::FailedPreconditionError("stale");
  EXPECT_EQ(Execute().kind, RunOutcome::Kind::kLeaseLost);
  EXPECT_TRUE(tools_.calls.empty());
}

TEST_F(AgentLoopTest, DrainReleasesAtTheStepBoundary) {
  signals_.draining = true;
  EXPECT_EQ(Execute().kind, RunOutcome::Kind::kReleased);
  EXPECT_TRUE(model_.requests.empty());
}

TEST(BuiltinToolsTest, ToolsComputeAndRejectBadInput) {
  FakeClock clock;
  BuiltinToolExecutor tools(clock);
  ToolCallContext ctx;
  EXPECT_EQ(tools.CallTool("sum", {{"numbers", {17, 25}}}, ctx)->content, "42");
  EXPECT_EQ(tools.CallTool("echo", {{"text", "hi"}}, ctx)->content, "hi");
  EXPECT_TRUE(tools.CallTool("sum", {{"numbers", "x"}}, ctx)->is_error);
  EXPECT_TRUE(tools.CallTool("nope", json::object(), ctx)->is_error);
  EXPECT_EQ(tools.CallTool("current_time", json::object(), ctx)->content, "2023-11-14T22:13:20Z");
}

TEST(ToolAllowedTest, ExactNamesAndWildcards) {
  google::protobuf::RepeatedPtrField<std::string> patterns;
  patterns.Add("echo");
  patterns.Add("mcp__fs__*");
  EXPECT_TRUE(ToolAllowed("echo", patterns));
  EXPECT_FALSE(ToolAllowed("echo2", patterns));
  EXPECT_TRUE(ToolAllowed("mcp__fs__read", patterns));
  EXPECT_FALSE(ToolAllowed("mcp__fsx__read", patterns));
}

}  // namespace
}  // namespace baton::worker
