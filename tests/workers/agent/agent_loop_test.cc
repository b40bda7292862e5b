#include "workers/agent_loop.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/workers/agent/fakes.h"
#include "workers/builtin_tools.h"
#include "workers/model/api_error.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

using fakes::CountingTools;
using fakes::FakeModelClient;
using fakes::MemoryJournal;
using fakes::Message;
using fakes::ToolUse;

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

// The entry kinds of the journal, in order: "turn", "call <id>", "result <id>".
std::vector<std::string> Kinds(const std::vector<v1::JournalEntry>& journal) {
  std::vector<std::string> out;
  for (const v1::JournalEntry& e : journal) {
    if (e.has_model_turn()) out.push_back("turn");
    if (e.has_tool_call()) out.push_back("call " + e.tool_call().tool_use_id());
    if (e.has_tool_result()) out.push_back("result " + e.tool_result().tool_use_id());
  }
  return out;
}

TEST_F(AgentLoopTest, DeferredSafeResultsRideOnTheNextWrite) {
  run_.mutable_agent()->set_defer_safe_tool_results(true);
  model_.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("t2", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({ToolUse("t3", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "all done"}}}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t1", "echo:run_1:0:t2", "echo:run_1:1:t3"}));
  // turn+marker(t1); results of t1, t2 (and t2's marker) with turn 2 and t3's marker;
  // t3's result with the final turn. Without the option: 6 writes.
  EXPECT_EQ(out_.appends, 3);
  EXPECT_EQ(Kinds(out_.journal), (std::vector<std::string>{"turn", "call t1", "result t1", "call t2", "result t2",
                                                           "turn", "call t3", "result t3", "turn"}));
  // The model saw every result before it was written.
  const json& msgs = model_.requests[1]["messages"];
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[2]["content"][0]["tool_use_id"], "t1");
  EXPECT_EQ(msgs[2]["content"][1]["tool_use_id"], "t2");
}

TEST_F(AgentLoopTest, ACallThatIsNotSafeStartsOnlyOnceTheSafeResultBeforeItIsWritten) {
  run_.mutable_agent()->set_defer_safe_tool_results(true);
  model_.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("t2", "charge")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "all done"}}}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  // As without the option: charge's marker (with echo's result) is written before it
  // runs, and charge's result as it returns.
  EXPECT_EQ(out_.appends, 4);
  EXPECT_EQ(Kinds(out_.journal),
            (std::vector<std::string>{"turn", "call t1", "result t1", "call t2", "result t2", "turn"}));
}

TEST_F(AgentLoopTest, DeferredResultsAreWrittenBeforeAFailureIsReported) {
  run_.mutable_agent()->set_defer_safe_tool_results(true);
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  // The second step's model call fails for good: nothing else is written.
  model_.on_call = [&](const ModelCallOptions&) {
    return model_.requests.size() == 2 ? absl::InvalidArgumentError("the request is malformed") : absl::OkStatus();
  };
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(out_.appends, 2);
  EXPECT_EQ(Kinds(out_.journal), (std::vector<std::string>{"turn", "call t1", "result t1"}));
}

TEST_F(AgentLoopTest, DeferredResultsAreDroppedWithALostLease) {
  run_.mutable_agent()->set_defer_safe_tool_results(true);
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  // The next write (the final turn with t1's result) finds the lease gone.
  model_.on_call = [&](const ModelCallOptions&) {
    if (model_.requests.size() == 2) out_.fail_with = absl::FailedPreconditionError("lease lost");
    return absl::OkStatus();
  };
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "all done"}}}), "end_turn"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kLeaseLost);
  EXPECT_EQ(Kinds(out_.journal), (std::vector<std::string>{"turn", "call t1"}));
}

TEST_F(AgentLoopTest, TheLastTurnCarriesTheRunsSuccess) {
  out_.completes_with_final = true;
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "all done"}}}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_TRUE(o.reported);  // nothing left for the worker to report
  ASSERT_TRUE(out_.final_outcome.has_value());
  EXPECT_EQ(out_.final_outcome->output, "all done");
  EXPECT_EQ(out_.final_outcome->steps, 2);
  EXPECT_EQ(out_.final_outcome->usage.input_tokens(), o.usage.input_tokens());
  // turn+marker(t1), result(t1), final turn with the success.
  EXPECT_EQ(out_.appends, 3);
  ASSERT_EQ(out_.journal.size(), 4u);
  EXPECT_TRUE(out_.journal.back().has_model_turn());

  // An orchestrator that only appended: the worker still reports the outcome.
  out_ = MemoryJournal();
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "again"}}}), "end_turn"));
  RunOutcome second = Execute();
  ASSERT_EQ(second.kind, RunOutcome::Kind::kSucceeded) << second.error;
  EXPECT_FALSE(second.reported);
  EXPECT_EQ(second.output, "again");
  EXPECT_EQ(out_.journal.size(), 1u);
}

TEST_F(AgentLoopTest, AFailedRunIsNotReportedWithItsLastTurn) {
  out_.completes_with_final = true;
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "no"}}}), "refusal"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_FALSE(o.reported);
  EXPECT_FALSE(out_.final_outcome.has_value());
  EXPECT_EQ(out_.journal.size(), 1u);  // the turn is journaled all the same
}

TEST_F(AgentLoopTest, EachStepIsAnnouncedLiveBeforeItsModelCall) {
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "done"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  ASSERT_EQ(out_.started.size(), 2u);
  EXPECT_EQ(out_.started[0].step, 0);
  EXPECT_EQ(out_.started[0].model, "claude-sonnet-4-5");
  EXPECT_FALSE(out_.started[0].model_rule.empty());
  EXPECT_EQ(out_.started[0].journaled, 0) << "announced before the turn was journaled";
  EXPECT_EQ(out_.started[1].step, 1);
  EXPECT_EQ(out_.started[1].journaled, 3) << "after step 0's turn, marker and result";
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

TEST_F(AgentLoopTest, ToolResultOverTheLimitReachesTheModelAsAnErrorNamingTheLimit) {
  run_.mutable_agent()->add_allowed_tools("slow");
  tools_.on_call = [](const ToolCallContext&) -> absl::StatusOr<ToolOutput> {
    return ToolOutput{json(std::string(2000, 'x')), false};  // 2002 bytes as JSON
  };
  model_.Reply(Message(json::array({ToolUse("t1", "slow"), ToolUse("t2", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "asked for less"}}}), "end_turn"));
  AgentLoopOptions options;
  options.max_tool_result_bytes = 1000;
  AgentLoop loop(model_, tools_, clock_, options);
  RunOutcome o = loop.Execute(run_, {}, out_, signals_);
  // The run goes on.
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "asked for less");
  // What is journaled is the error, not the result.
  const v1::ToolResult* journaled = nullptr;
  for (const v1::JournalEntry& e : out_.journal) {
    if (e.has_tool_result() && e.tool_result().tool_use_id() == "t1") journaled = &e.tool_result();
    EXPECT_LE(e.ByteSizeLong(), 1000u);
  }
  ASSERT_NE(journaled, nullptr);
  EXPECT_TRUE(journaled->is_error());
  const std::string expected_prefix =
      "Error: the result of \"slow\" was 2002 bytes, over the limit of 1000 bytes (--max-tool-result-bytes)";
  EXPECT_EQ(json::parse(journaled->content_json()).get<std::string>().rfind(expected_prefix, 0), 0u)
      << journaled->content_json();
  // The model reads the same; a result within the limit is untouched.
  const json& results = model_.requests[1]["messages"][2]["content"];
  EXPECT_EQ(results[0]["is_error"], true);
  EXPECT_EQ(results[0]["content"].get<std::string>().rfind(expected_prefix, 0), 0u);
  EXPECT_EQ(results[1]["content"], "echo ok");
  EXPECT_NE(results[1].value("is_error", false), true);
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

TEST_F(AgentLoopTest, MaxToolCallsTripsAtItsBoundWithoutStartingTheNextCall) {
  run_.mutable_agent()->set_max_tool_calls(2);
  model_.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("t2", "echo"), ToolUse("t3", "charge")}),
                       "tool_use"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_TOOL_CALLS);
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.usage.tool_calls(), 2);
  EXPECT_EQ(tools_.calls.size(), 2u);
  EXPECT_NE(o.error.find("max_tool_calls 2 (2 tool calls made; charge [t3] not run)"), std::string::npos) << o.error;
  // The journal holds both results and no start marker for the call that never ran.
  for (const v1::JournalEntry& e : out_.journal) {
    if (e.has_tool_call()) EXPECT_NE(e.tool_call().tool_use_id(), "t3");
  }
}

TEST_F(AgentLoopTest, CostIsPricedPerStepWithCacheMultipliers) {
  json usage = {{"input_tokens", 1000},
                {"output_tokens", 200},
                {"cache_creation_input_tokens", 3000},
                {"cache_read_input_tokens", 10000},
                {"cache_creation", {{"ephemeral_5m_input_tokens", 2000}, {"ephemeral_1h_input_tokens", 1000}}}};
  json reply = Message(json::array({{{"type", "text"}, {"text", "ok"}}}), "end_turn");
  reply["usage"] = usage;
  model_.Reply(reply);
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  // Sonnet: 1000 × $3 + 200 × $15 + 2000 × $3.75 + 1000 × $6 + 10000 × $0.30, per million.
  const double expected = (1000 * 3 + 200 * 15 + 2000 * 3.75 + 1000 * 6 + 10000 * 0.3) / 1e6;
  ASSERT_TRUE(out_.journal[0].has_model_turn());
  const v1::Usage& step = out_.journal[0].model_turn().usage();
  EXPECT_NEAR(step.cost_usd(), expected, 1e-12);
  EXPECT_EQ(step.cache_creation_input_tokens(), 3000);
  EXPECT_EQ(step.cache_creation_1h_input_tokens(), 1000);
  EXPECT_EQ(step.cache_read_input_tokens(), 10000);
  EXPECT_NEAR(o.usage.cost_usd(), expected, 1e-12);
}

TEST_F(AgentLoopTest, MaxCostTripsRightAfterTheStepThatReachesIt) {
  // Each step costs 10 × $3 + 5 × $15 = $0.000105 on sonnet.
  run_.mutable_agent()->set_max_cost_usd(0.00021);
  for (int i = 0; i < 4; ++i) model_.Reply(Message(json::array({ToolUse("t" + std::to_string(i), "echo")}), "tool_use"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_COST);
  EXPECT_EQ(o.steps, 2);
  EXPECT_EQ(model_.requests.size(), 2u);
  // The second step's tool call is not run: no model would read its result.
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t0"}));
  EXPECT_NE(o.error.find("max_cost_usd 0.00021 (0.000210 USD spent)"), std::string::npos) << o.error;
}

TEST_F(AgentLoopTest, UnpricedModelWithACostLimitFailsBeforeCalling) {
  run_.mutable_agent()->set_model("some-other-model");
  run_.mutable_agent()->set_max_cost_usd(1);
  RunOutcome o = Execute();
  EXPECT_EQ(o.failure_kind, v1::WORKER_ERROR);
  EXPECT_NE(o.error.find("no price"), std::string::npos);
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(AgentLoopTest, RunTimeoutCutsAToolCallInFlight) {
  run_.mutable_agent()->add_allowed_tools("slow");
  run_.mutable_agent()->set_run_timeout_seconds(5);
  run_.set_start_time_ms(clock_.NowMillis());
  model_.Reply(Message(json::array({ToolUse("t1", "slow")}), "tool_use"));
  tools_.on_call = [this](const ToolCallContext& ctx) {
    EXPECT_LE(ctx.timeout, absl::Seconds(5));
    clock_.Advance(absl::Seconds(6));
    EXPECT_TRUE(ctx.is_cancelled());
    return absl::CancelledError("tool call cancelled");
  };
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::LIMIT_RUN_TIMEOUT);
  EXPECT_NE(o.error.find("run_timeout_seconds 5 (6.000 s since the run started)"), std::string::npos) << o.error;
}

TEST_F(AgentLoopTest, RunTimeoutCutsAModelCallInFlight) {
  run_.mutable_agent()->set_run_timeout_seconds(5);
  run_.set_start_time_ms(clock_.NowMillis());
  model_.on_call = [this](const ModelCallOptions& call) {
    clock_.Advance(absl::Seconds(5));
    EXPECT_TRUE(call.is_cancelled());
    return absl::CancelledError("Messages API call cancelled");
  };
  RunOutcome o = Execute();
  EXPECT_EQ(o.failure_kind, v1::LIMIT_RUN_TIMEOUT);
}

TEST_F(AgentLoopTest, RequestsCarryCacheBreakpointsUnlessDisabled) {
  run_.mutable_agent()->set_system("sys");
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "x"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  const json cc = {{"type", "ephemeral"}};
  const json& second = model_.requests[1];
  EXPECT_EQ(second["tools"].back()["cache_control"], cc);
  EXPECT_EQ(second["system"][0]["cache_control"], cc);
  EXPECT_EQ(second["messages"][0]["content"][0]["cache_control"], cc);  // where step 0 ended
  EXPECT_EQ(second["messages"][2]["content"][0]["cache_control"], cc);  // the tool result
  // The journal keeps the content as the API returned it, without breakpoints.
  EXPECT_EQ(out_.journal[0].model_turn().content_json().find("cache_control"), std::string::npos);

  run_.mutable_agent()->mutable_prompt_caching()->set_disabled(true);
  model_.requests.clear();
  out_.journal.clear();
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "x"}}}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(model_.requests[0].dump().find("cache_control"), std::string::npos);
}

json Text(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

TEST_F(AgentLoopTest, RefusalEndsTheRunWithATypedReasonAlsoOnResume) {
  model_.Reply(Message(json::array({Text("I can't help with that.")}), "refusal"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::MODEL_REFUSAL);
  EXPECT_FALSE(o.retryable);
  ASSERT_EQ(out_.journal.size(), 1u);  // the transcript keeps the refusal
  std::vector<v1::JournalEntry> journal = out_.journal;
  model_.requests.clear();
  o = Execute(journal);
  EXPECT_EQ(o.failure_kind, v1::MODEL_REFUSAL);
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(AgentLoopTest, MaxTokensContinuesTheCutTurnByDefault) {
  model_.Reply(Message(json::array({Text("The answer is ")}), "max_tokens"));
  model_.Reply(Message(json::array({Text("42.")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "The answer is 42.");
  EXPECT_EQ(o.steps, 2);
  // The cut turn goes back as the last message (trailing whitespace trimmed, as the API
  // requires); the journal keeps it as it came.
  const json& msgs = model_.requests[1]["messages"];
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1]["role"], "assistant");
  EXPECT_EQ(msgs[1]["content"][0]["text"], "The answer is");
  EXPECT_NE(out_.journal[0].model_turn().content_json().find("The answer is \""), std::string::npos);
  // Resume after the answer: the same output without calling the model.
  std::vector<v1::JournalEntry> journal = out_.journal;
  model_.requests.clear();
  o = Execute(journal);
  EXPECT_EQ(o.output, "The answer is 42.");
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(AgentLoopTest, MaxTokensFailsWhenTheAgentSaysSoOrAToolCallIsCut) {
  run_.mutable_agent()->set_on_max_tokens(v1::AgentSpec::FAIL);
  model_.Reply(Message(json::array({Text("The answer is")}), "max_tokens"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.failure_kind, v1::MODEL_MAX_TOKENS);
  EXPECT_NE(o.error.find("max_tokens 1024"), std::string::npos) << o.error;

  run_.mutable_agent()->set_on_max_tokens(v1::AgentSpec::CONTINUE);
  model_.Reply(Message(json::array({Text("Let me call"), ToolUse("t1", "echo")}), "max_tokens"));
  o = Execute();
  EXPECT_EQ(o.failure_kind, v1::MODEL_MAX_TOKENS);
  EXPECT_NE(o.error.find("tool call"), std::string::npos) << o.error;
  EXPECT_TRUE(tools_.calls.empty());
}

TEST_F(AgentLoopTest, PauseTurnAndThinkingBlocksGoBackUnchanged) {
  const json thinking = {{"type", "thinking"}, {"thinking", "Let me think.\n"}, {"signature", "c2lnbmF0dXJl"}};
  const json server_tool = {{"type", "server_tool_use"}, {"id", "srv_1"}, {"name", "web_search"},
                            {"input", {{"query", "x"}}}};
  model_.Reply(Message(json::array({thinking, server_tool}), "pause_turn"));
  model_.Reply(Message(json::array({thinking, Text("calling"), ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({Text("done")}), "end_turn"));
  run_.mutable_agent()->mutable_prompt_caching()->set_disabled(true);
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  const json& second = model_.requests[1]["messages"];
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1]["content"], json::array({thinking, server_tool}));
  const json& third = model_.requests[2]["messages"];
  EXPECT_EQ(third[2]["content"][0], thinking);
  EXPECT_EQ(third[2]["content"][0]["signature"], "c2lnbmF0dXJl");
}

// Counts 100 tokens per message, so the test controls when compaction triggers.
int64_t HundredPerMessage(const json& request) { return 100 * static_cast<int64_t>(request["messages"].size()); }

TEST_F(AgentLoopTest, CompactionSummarizesOlderTurnsAndResumeUsesTheSummary) {
  v1::AgentSpec* agent = run_.mutable_agent();
  agent->mutable_prompt_caching()->set_disabled(true);
  agent->mutable_compaction()->set_summarize_at_fraction(0.5);
  agent->mutable_compaction()->set_context_window_tokens(1000);
  agent->mutable_compaction()->set_keep_last_turns(1);
  agent->mutable_compaction()->set_summarizer_model("claude-haiku-4-5");
  model_.count_tokens = HundredPerMessage;
  for (int i = 0; i < 3; ++i) {
    model_.Reply(Message(json::array({ToolUse("t" + std::to_string(i), "echo")}), "tool_use"));
  }
  model_.Reply(Message(json::array({Text("SUMMARY: echoed three times")}), "end_turn"));  // summarizer
  model_.Reply(Message(json::array({Text("all done")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "all done");
  ASSERT_EQ(model_.requests.size(), 5u);

  // Step 3's request (7 messages, 700 tokens > 500) was compacted first: the summarizer
  // saw steps 0 and 1, with the tools but told not to call them.
  const json& summarizer = model_.requests[3];
  EXPECT_EQ(summarizer["model"], "claude-haiku-4-5");
  EXPECT_EQ(summarizer["tool_choice"], json({{"type", "none"}}));
  ASSERT_EQ(summarizer["messages"].size(), 5u);  // input, s0, results, s1, results + instruction
  EXPECT_EQ(summarizer["messages"][4]["content"][0]["type"], "tool_result");
  EXPECT_EQ(summarizer["messages"][4]["content"][1]["type"], "text");

  // The kept turn (step 2) follows the summary with its tool result.
  const json after = model_.requests[4]["messages"];
  ASSERT_EQ(after.size(), 3u);
  EXPECT_NE(after[0]["content"].get<std::string>().find("SUMMARY: echoed three times"), std::string::npos);
  EXPECT_EQ(after[0]["content"].get<std::string>().rfind("hello", 0), 0u);  // the input first
  EXPECT_EQ(after[1]["content"][0]["id"], "t2");
  EXPECT_EQ(after[2]["content"][0]["tool_use_id"], "t2");

  const v1::JournalEntry* summary = nullptr;
  size_t summary_index = 0;
  for (size_t i = 0; i < out_.journal.size(); ++i) {
    if (out_.journal[i].has_summary()) {
      summary = &out_.journal[i];
      summary_index = i;
    }
  }
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(summary->step(), 3);
  EXPECT_EQ(summary->summary().through_step(), 1);
  EXPECT_EQ(summary->summary().tokens_before(), 700);
  EXPECT_EQ(summary->summary().tokens_after(), 300);
  EXPECT_EQ(summary->summary().reason(), "threshold");
  EXPECT_EQ(summary->summary().model(), "claude-haiku-4-5");
  EXPECT_EQ(o.usage.model_calls(), 5);  // the summarizer's call counts

  // A crash right after the summary was journaled: the resumed run calls the model with
  // the compacted conversation, not the old turns.
  std::vector<v1::JournalEntry> partial(out_.journal.begin(), out_.journal.begin() + summary_index + 1);
  model_.requests.clear();
  model_.Reply(Message(json::array({Text("resumed")}), "end_turn"));
  o = Execute(partial);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  ASSERT_EQ(model_.requests.size(), 1u);
  EXPECT_EQ(model_.requests[0]["messages"], after);
}

TEST_F(AgentLoopTest, ContextWindowExceededCompactsAndRetriesOnce) {
  v1::AgentSpec* agent = run_.mutable_agent();
  agent->mutable_prompt_caching()->set_disabled(true);
  agent->mutable_compaction()->set_keep_last_turns(1);
  model_.Reply(Message(json::array({ToolUse("t0", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({Text("partial")}), "model_context_window_exceeded"));
  model_.Reply(Message(json::array({Text("summary")}), "end_turn"));  // summarizer
  model_.Reply(Message(json::array({Text("fits now")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "fits now");
  // The overflowing turn is journaled as discarded and never sent back.
  int discarded = 0;
  for (const v1::JournalEntry& e : out_.journal) discarded += e.has_model_turn() && e.model_turn().discarded();
  EXPECT_EQ(discarded, 1);
  EXPECT_EQ(model_.requests[4]["messages"].dump().find("partial"), std::string::npos);
  EXPECT_EQ(model_.requests[4]["messages"].size(), 3u);

  // Overflowing again right after the compaction fails the run, typed.
  out_.journal.clear();
  model_.requests.clear();
  model_.Reply(Message(json::array({ToolUse("t0", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  model_.Reply(Message(json::array({Text("partial")}), "model_context_window_exceeded"));
  model_.Reply(Message(json::array({Text("summary")}), "end_turn"));
  model_.Reply(Message(json::array({Text("partial again")}), "model_context_window_exceeded"));
  o = Execute();
  EXPECT_EQ(o.failure_kind, v1::CONTEXT_WINDOW_EXCEEDED);
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

std::vector<std::pair<std::string, std::string>> TurnModels(const std::vector<v1::JournalEntry>& journal) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const v1::JournalEntry& e : journal) {
    if (e.has_model_turn()) out.emplace_back(e.model_turn().model(), e.model_turn().model_rule());
  }
  return out;
}

TEST_F(AgentLoopTest, ModelPolicyPicksEachStepsModelAndFallsBackWhenOverloaded) {
  v1::ModelPolicy* policy = run_.mutable_agent()->mutable_model_policy();
  policy->set_default_model("claude-sonnet-4-5");
  policy->add_rules()->set_model("claude-opus-4-5");
  policy->mutable_rules(0)->set_first_step(true);
  policy->add_rules()->set_model("claude-opus-4-5");
  policy->mutable_rules(1)->set_after_tool("charge");
  policy->add_fallback_models("claude-haiku-4-5");
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));    // step 0: opus
  model_.Reply(Message(json::array({ToolUse("t2", "charge")}), "tool_use"));  // step 1: sonnet
  model_.Reply(Message(json::array({ToolUse("t3", "echo")}), "tool_use"));    // step 2: opus
  // Step 3: sonnet stays overloaded past the client's retries, haiku answers.
  model_.FailFor("claude-sonnet-4-5", ApiError{529, "overloaded_error", "Overloaded", "req_1"}.ToStatus(), 3);
  model_.Reply(Message(json::array({{{"type", "text"}, {"text", "done"}}}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.steps, 4);
  std::vector<std::string> asked;
  for (const json& r : model_.requests) asked.push_back(r["model"]);
  EXPECT_EQ(asked, (std::vector<std::string>{"claude-opus-4-5", "claude-sonnet-4-5", "claude-opus-4-5",
                                             "claude-sonnet-4-5", "claude-haiku-4-5"}));
  EXPECT_EQ(TurnModels(out_.journal),
            (std::vector<std::pair<std::string, std::string>>{
                {"claude-opus-4-5", "first_step"},
                {"claude-sonnet-4-5", "default"},
                {"claude-opus-4-5", "after_tool=charge"},
                {"claude-haiku-4-5", "fallback after claude-sonnet-4-5 overloaded"}}));
}

TEST_F(AgentLoopTest, OverloadedWithoutFallbackFailsRetryably) {
  model_.FailFor("claude-sonnet-4-5", ApiError{529, "overloaded_error", "Overloaded", "req_1"}.ToStatus());
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::MODEL_UNAVAILABLE);
  EXPECT_TRUE(o.retryable);
  EXPECT_EQ(model_.requests.size(), 1u);
}

TEST_F(AgentLoopTest, OtherUnavailableErrorsDoNotFallBack) {
  run_.mutable_agent()->mutable_model_policy()->add_fallback_models("claude-haiku-4-5");
  model_.Fail(ApiError{500, "api_error", "Internal", "req_1"}.ToStatus());
  RunOutcome o = Execute();
  EXPECT_EQ(o.failure_kind, v1::MODEL_UNAVAILABLE);
  EXPECT_EQ(model_.requests.size(), 1u);
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

// The audit log is what the crash tests count tool executions by: one JSON line per
// call that ran, naming it, whatever bytes its ids hold.
TEST(BuiltinToolsTest, AuditLogHasOneJsonLinePerCallThatRan) {
  FakeClock clock;
  const std::string path = ::testing::TempDir() + "/builtin_tools_audit.jsonl";
  std::remove(path.c_str());
  {
    BuiltinToolExecutor tools(clock, path);
    ToolCallContext ctx;
    ctx.run_id = "ns/run \"q\"\n\xFF";
    ctx.step = 3;
    ctx.tool_use_id = "toolu_1";
    ctx.idempotency_key = "run:3:toolu_1";
    EXPECT_FALSE(tools.CallTool("echo", {{"text", "hi"}}, ctx)->is_error);
    EXPECT_TRUE(tools.CallTool("echo", {{"text", 1}}, ctx)->is_error);  // refused: not run, not logged
    ctx.tool_use_id = "toolu_2";
    EXPECT_EQ(tools.CallTool("sum", {{"numbers", {1, 2}}}, ctx)->content, "3");
  }
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], (json{{"run_id", "ns/run \"q\"\n\xEF\xBF\xBD"},
                            {"step", 3},
                            {"tool_use_id", "toolu_1"},
                            {"name", "echo"},
                            {"idempotency_key", "run:3:toolu_1"},
                            {"time_ms", clock.NowMillis()}}));
  EXPECT_EQ(lines[1]["name"], "sum");
  EXPECT_EQ(lines[1]["tool_use_id"], "toolu_2");
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
