// Runs that wait (docs/design.md), the worker's side: subagent calls handed to child
// runs, gated calls put to a person, the run suspending and resuming from its journal,
// sessions' history and budgets over a subagent tree.
#include <gtest/gtest.h>

#include "tests/workers/agent/fakes.h"
#include "workers/agent_loop.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

using fakes::CountingTools;
using fakes::FakeModelClient;
using fakes::MemoryJournal;
using fakes::Message;
using fakes::ToolUse;

json Text(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

// What the orchestrator journals when a child ends, or a person denies a call.
v1::JournalEntry Result(int step, const std::string& tool_use_id, const std::string& text, bool is_error = false) {
  v1::JournalEntry e;
  e.set_step(step);
  e.mutable_tool_result()->set_tool_use_id(tool_use_id);
  e.mutable_tool_result()->set_content_json(json(text).dump());
  e.mutable_tool_result()->set_is_error(is_error);
  return e;
}

// What the orchestrator journals when a person decides.
v1::JournalEntry Decided(int step, const std::string& tool_use_id, v1::Decision decision,
                         const std::string& input_json = "") {
  v1::JournalEntry e;
  e.set_step(step);
  v1::ApprovalDecision* d = e.mutable_approval_decision();
  d->set_approval_id("run_1:" + std::to_string(step) + ":" + tool_use_id);
  d->set_tool_use_id(tool_use_id);
  d->set_decision(decision);
  d->set_input_json(input_json);
  d->set_decided_by("ada");
  return e;
}

// The tool_use_id of each tool_result block of a user turn.
std::vector<std::string> ResultIds(const json& user_turn) {
  std::vector<std::string> ids;
  for (const json& block : user_turn["content"]) ids.push_back(block.value("tool_use_id", ""));
  return ids;
}

class AgentLoopWaitsTest : public ::testing::Test {
 protected:
  AgentLoopWaitsTest() {
    run_.set_run_id("run_1");
    run_.set_input("hello");
    v1::AgentSpec* agent = run_.mutable_agent();
    agent->set_model("claude-sonnet-4-5");
    agent->add_allowed_tools("echo");
    agent->add_allowed_tools("charge");
    agent->mutable_prompt_caching()->set_disabled(true);
    // Inline, as the orchestrator hands stored subagents to the worker.
    v1::Subagent* researcher = agent->add_subagents();
    researcher->set_name("researcher");
    researcher->mutable_agent()->set_name("research-agent");
    researcher->mutable_agent()->set_description("Finds things out");
    researcher->mutable_agent()->set_model("claude-haiku-4-5");
  }
  RunOutcome Execute(const std::vector<v1::JournalEntry>& journal = {},
                     const google::protobuf::RepeatedPtrField<v1::PriorRun>& history = {}) {
    AgentLoop loop(model_, tools_, clock_, AgentLoopOptions{});
    return loop.Execute(run_, journal, out_, signals_, history);
  }
  // Gates calls of `pattern` behind a person's approval.
  v1::ApprovalRule* Gate(const std::string& pattern) {
    v1::ApprovalRule* rule = run_.mutable_agent()->add_approvals();
    rule->add_tools(pattern);
    return rule;
  }
  // Runs a first execution whose step 0 asks for `calls` and returns its journal.
  std::vector<v1::JournalEntry> SuspendedAfter(json calls) {
    model_.Reply(Message(std::move(calls), "tool_use"));
    RunOutcome o = Execute();
    EXPECT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;
    std::vector<v1::JournalEntry> journal = out_.journal;
    out_ = MemoryJournal();
    tools_.calls.clear();
    tools_.inputs.clear();
    model_.requests.clear();
    return journal;
  }

  FakeClock clock_;
  FakeModelClient model_;
  CountingTools tools_;
  MemoryJournal out_;
  RunSignals signals_;
  v1::Run run_;
};

TEST_F(AgentLoopWaitsTest, SubagentsAreOfferedAsToolsWhateverAllowedToolsSays) {
  v1::Subagent* coder = run_.mutable_agent()->add_subagents();
  coder->set_name("coder");
  coder->mutable_agent()->set_name("coder-agent");
  coder->mutable_agent()->set_model("claude-haiku-4-5");
  coder->set_input_schema_json(R"({"type":"object","properties":{"task":{"type":"string"}}})");
  run_.mutable_agent()->clear_allowed_tools();
  model_.Reply(Message(json::array({Text("nothing to do")}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  const json& tools = model_.requests[0]["tools"];
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0]["name"], "researcher");
  EXPECT_EQ(tools[0]["description"], "Finds things out");  // the subagent's agent's
  EXPECT_EQ(tools[0]["input_schema"],
            json::parse(R"({"type":"object","properties":{"prompt":{"type":"string"}},"required":["prompt"]})"));
  EXPECT_EQ(tools[1]["description"], "Runs the agent coder-agent");
  EXPECT_EQ(tools[1]["input_schema"]["properties"]["task"]["type"], "string");
}

TEST_F(AgentLoopWaitsTest, SubagentCallsAreJournaledWithTheTurnAndTheRunSuspends) {
  v1::Subagent* coder = run_.mutable_agent()->add_subagents();
  coder->set_name("coder");
  coder->mutable_agent()->set_model("claude-haiku-4-5");
  coder->set_input_schema_json(R"({"type":"object","properties":{"task":{"type":"string"}}})");
  model_.Reply(Message(json::array({Text("delegating"), ToolUse("s1", "researcher", {{"prompt", "find X"}}),
                                    ToolUse("s2", "coder", {{"task", "write Y"}})}),
                       "tool_use"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;
  EXPECT_EQ(o.steps, 1);
  EXPECT_EQ(o.usage.input_tokens(), 10);
  EXPECT_EQ(model_.requests.size(), 1u);
  EXPECT_TRUE(tools_.calls.empty());
  // One write: the turn, a ToolCall entry per subagent call, and the children.
  ASSERT_EQ(out_.appends, 1);
  ASSERT_EQ(out_.journal.size(), 3u);
  EXPECT_TRUE(out_.journal[0].has_model_turn());
  EXPECT_EQ(out_.journal[1].tool_call().tool_use_id(), "s1");
  EXPECT_EQ(out_.journal[1].tool_call().idempotency_key(), "run_1:0:s1");
  EXPECT_EQ(out_.journal[2].tool_call().idempotency_key(), "run_1:0:s2");
  const std::vector<v1::ChildRunSpec>& children = out_.appended_children[0];
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].tool_use_id(), "s1");
  EXPECT_EQ(children[0].subagent(), "researcher");
  EXPECT_EQ(children[0].agent().model(), "claude-haiku-4-5");
  EXPECT_EQ(children[0].input(), "find X");  // the default schema: the prompt
  EXPECT_EQ(children[1].subagent(), "coder");
  EXPECT_EQ(json::parse(children[1].input()), json({{"task", "write Y"}}));  // else the input's JSON
}

TEST_F(AgentLoopWaitsTest, PlainCallsRunBeforeTheRunSuspends) {
  run_.mutable_agent()->set_elicitation(v1::ELICITATION_DECLINE);
  model_.Reply(Message(json::array({ToolUse("t1", "echo"), ToolUse("s1", "researcher", {{"prompt", "find X"}}),
                                    ToolUse("t2", "charge")}),
                       "tool_use"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t1", "charge:run_1:0:t2"}));
  EXPECT_EQ(tools_.elicitations, (std::vector<int>{v1::ELICITATION_DECLINE, v1::ELICITATION_DECLINE}));
  EXPECT_EQ(model_.requests.size(), 1u);
  // turn + child's ToolCall + marker(t1); result(t1) + marker(t2); result(t2).
  ASSERT_EQ(out_.appends, 3);
  ASSERT_EQ(out_.journal.size(), 6u);
  EXPECT_EQ(out_.journal[1].tool_call().tool_use_id(), "s1");
  EXPECT_EQ(out_.journal[1].tool_call().child_run_id(), "child_s1");
  EXPECT_EQ(out_.journal[2].tool_call().tool_use_id(), "t1");
  EXPECT_EQ(out_.journal[3].tool_result().tool_use_id(), "t1");
  EXPECT_EQ(out_.journal[4].tool_call().tool_use_id(), "t2");
  EXPECT_EQ(out_.journal[5].tool_result().tool_use_id(), "t2");
  EXPECT_EQ(out_.appended_children[0].size(), 1u);
  EXPECT_TRUE(out_.appended_children[1].empty());
}

TEST_F(AgentLoopWaitsTest, ResumeAfterTheChildrenEndedGoesOnWithResultsInToolUseOrder) {
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array(
      {ToolUse("s1", "researcher", {{"prompt", "a"}}), ToolUse("t1", "echo"),
       ToolUse("s2", "researcher", {{"prompt", "b"}})}));
  // The children ended in the other order.
  journal.push_back(Result(0, "s2", "B found"));
  journal.push_back(Result(0, "s1", "A found"));
  model_.Reply(Message(json::array({Text("both found")}), "end_turn"));
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, "both found");
  EXPECT_TRUE(tools_.calls.empty());
  ASSERT_EQ(model_.requests.size(), 1u);
  const json& messages = model_.requests[0]["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(ResultIds(messages[2]), (std::vector<std::string>{"s1", "t1", "s2"}));
  EXPECT_EQ(messages[2]["content"][0]["content"], "A found");
}

TEST_F(AgentLoopWaitsTest, ResumedRunStillWaitingSuspendsWithoutCallingAnything) {
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array(
      {ToolUse("s1", "researcher", {{"prompt", "a"}}), ToolUse("s2", "researcher", {{"prompt", "b"}})}));
  journal.push_back(Result(0, "s1", "A found"));
  RunOutcome o = Execute(journal);
  EXPECT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;
  EXPECT_EQ(o.steps, 1);
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_EQ(out_.appends, 0);
}

TEST_F(AgentLoopWaitsTest, SubagentDepthLimitAnswersTheCallWithoutAChild) {
  run_.set_depth(4);  // max_depth unset: 4
  model_.Reply(Message(json::array({ToolUse("s1", "researcher", {{"prompt", "a"}})}), "tool_use"));
  model_.Reply(Message(json::array({Text("I will do it myself")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_TRUE(out_.appended_children[0].empty());
  ASSERT_TRUE(out_.journal[1].has_tool_result());
  EXPECT_TRUE(out_.journal[1].tool_result().is_error());
  const json& result = model_.requests[1]["messages"][2]["content"][0];
  EXPECT_EQ(result["is_error"], true);
  EXPECT_EQ(result["content"], "subagent \"researcher\" not started: the subagent depth limit 4 is reached");

  // The run's own limit, from its root.
  run_.set_depth(2);
  run_.set_max_depth(2);
  out_ = MemoryJournal();
  model_.Reply(Message(json::array({ToolUse("s1", "researcher", {{"prompt", "a"}})}), "tool_use"));
  model_.Reply(Message(json::array({Text("ok")}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(out_.journal[1].tool_result().content_json(),
            json("subagent \"researcher\" not started: the subagent depth limit 2 is reached").dump());
}

TEST_F(AgentLoopWaitsTest, MaxChildrenCountsTheRunsEarlierChildren) {
  run_.mutable_agent()->set_max_children(3);
  run_.set_children(2);
  model_.Reply(Message(json::array({ToolUse("s1", "researcher", {{"prompt", "a"}}),
                                    ToolUse("s2", "researcher", {{"prompt", "b"}})}),
                       "tool_use"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;  // s1 has a child
  ASSERT_EQ(out_.appends, 1);
  ASSERT_EQ(out_.appended_children[0].size(), 1u);
  EXPECT_EQ(out_.appended_children[0][0].tool_use_id(), "s1");
  ASSERT_EQ(out_.journal.size(), 3u);
  EXPECT_EQ(out_.journal[2].tool_result().tool_use_id(), "s2");
  EXPECT_EQ(out_.journal[2].tool_result().content_json(),
            json("subagent \"researcher\" not started: the max_children limit 3 is reached").dump());
}

TEST_F(AgentLoopWaitsTest, SubagentCallWithoutAPromptGetsAnError) {
  model_.Reply(Message(json::array({ToolUse("s1", "researcher", {{"question", "a"}})}), "tool_use"));
  model_.Reply(Message(json::array({Text("ok")}), "end_turn"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  EXPECT_TRUE(out_.appended_children[0].empty());
  EXPECT_NE(out_.journal[1].tool_result().content_json().find("prompt"), std::string::npos);
}

TEST_F(AgentLoopWaitsTest, GatedCallIsPutToAPersonAndTheRunSuspends) {
  Gate("char*");
  model_.Reply(Message(json::array({ToolUse("t1", "charge", {{"amount", 5}}), ToolUse("t2", "echo")}), "tool_use"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSuspended) << o.error;
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"echo:run_1:0:t2"}));
  // turn + the request + marker(t2); result(t2).
  ASSERT_EQ(out_.appends, 2);
  ASSERT_EQ(out_.journal.size(), 4u);
  ASSERT_TRUE(out_.journal[1].has_approval_request());
  const v1::ApprovalRequest& request = out_.journal[1].approval_request();
  EXPECT_EQ(request.tool_use_id(), "t1");
  EXPECT_EQ(request.name(), "charge");
  EXPECT_EQ(json::parse(request.input_json()), json({{"amount", 5}}));
  EXPECT_EQ(request.approval_id(), "run_1:0:t1");
  EXPECT_EQ(json::parse(request.input_schema_json()), json({{"type", "object"}}));
  EXPECT_EQ(std::vector<int>(request.decisions().begin(), request.decisions().end()),
            (std::vector<int>{v1::APPROVE, v1::EDIT, v1::DENY, v1::RESPOND}));
  EXPECT_EQ(request.timeout_ms(), 86'400'000);
  EXPECT_EQ(request.on_timeout(), v1::ApprovalRule::TIMEOUT_DENY);
  EXPECT_EQ(out_.journal[2].tool_call().tool_use_id(), "t2");
  // No start marker for the gated call: it has not started.
  for (const v1::JournalEntry& e : out_.journal) {
    if (e.has_tool_call()) EXPECT_NE(e.tool_call().tool_use_id(), "t1");
  }
}

TEST_F(AgentLoopWaitsTest, GatedCallFollowsItsRule) {
  v1::ApprovalRule* rule = Gate("charge");
  rule->add_decisions(v1::APPROVE);
  rule->add_decisions(v1::DENY);
  rule->set_timeout_seconds(60);
  rule->set_on_timeout(v1::ApprovalRule::TIMEOUT_FAIL);
  Gate("*")->set_timeout_seconds(5);  // the first rule that matches applies
  model_.Reply(Message(json::array({ToolUse("t1", "charge")}), "tool_use"));
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSuspended);
  ASSERT_TRUE(out_.journal[1].has_approval_request());
  const v1::ApprovalRequest& request = out_.journal[1].approval_request();
  EXPECT_EQ(request.decisions_size(), 2);
  EXPECT_EQ(request.timeout_ms(), 60'000);
  EXPECT_EQ(request.on_timeout(), v1::ApprovalRule::TIMEOUT_FAIL);
}

TEST_F(AgentLoopWaitsTest, ApprovedCallRunsOnceOnResume) {
  Gate("charge");
  std::vector<v1::JournalEntry> journal =
      SuspendedAfter(json::array({ToolUse("t1", "charge", {{"amount", 5}}), ToolUse("t2", "echo")}));
  journal.push_back(Decided(0, "t1", v1::APPROVE, R"({"amount":5})"));
  model_.Reply(Message(json::array({Text("charged")}), "end_turn"));
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"charge:run_1:0:t1"}));
  EXPECT_EQ(tools_.inputs[0], json({{"amount", 5}}));
  // Its marker, then its result.
  ASSERT_GE(out_.journal.size(), 2u);
  EXPECT_EQ(out_.journal[0].tool_call().tool_use_id(), "t1");
  EXPECT_TRUE(out_.journal[0].tool_call().edited_input_json().empty());
  EXPECT_EQ(out_.journal[1].tool_result().tool_use_id(), "t1");
  // t2's result was recorded first; the model reads them in the order it asked.
  EXPECT_EQ(ResultIds(model_.requests[0]["messages"][2]), (std::vector<std::string>{"t1", "t2"}));

  // Resumed again (the run was not completed before a crash): nothing runs twice.
  for (const v1::JournalEntry& e : out_.journal) journal.push_back(e);
  tools_.calls.clear();
  model_.requests.clear();
  EXPECT_EQ(Execute(journal).kind, RunOutcome::Kind::kSucceeded);
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(AgentLoopWaitsTest, EditedCallRunsWithTheReviewersInput) {
  Gate("charge");
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array({ToolUse("t1", "charge", {{"amount", 500}})}));
  journal.push_back(Decided(0, "t1", v1::EDIT, R"({"amount":5})"));
  model_.Reply(Message(json::array({Text("charged 5")}), "end_turn"));
  ASSERT_EQ(Execute(journal).kind, RunOutcome::Kind::kSucceeded);
  ASSERT_EQ(tools_.inputs.size(), 1u);
  EXPECT_EQ(tools_.inputs[0], json({{"amount", 5}}));
  const v1::ToolCall& marker = out_.journal[0].tool_call();
  EXPECT_EQ(json::parse(marker.input_json()), json({{"amount", 500}}));  // what the model asked
  EXPECT_EQ(json::parse(marker.edited_input_json()), json({{"amount", 5}}));
}

TEST_F(AgentLoopWaitsTest, TimeoutThatApprovesRunsTheCall) {
  Gate("charge")->set_on_timeout(v1::ApprovalRule::TIMEOUT_APPROVE);
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array({ToolUse("t1", "charge")}));
  v1::JournalEntry decided = Decided(0, "t1", v1::APPROVE);
  decided.mutable_approval_decision()->set_timed_out(true);
  journal.push_back(decided);
  model_.Reply(Message(json::array({Text("ok")}), "end_turn"));
  ASSERT_EQ(Execute(journal).kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"charge:run_1:0:t1"}));
}

TEST_F(AgentLoopWaitsTest, DeniedCallIsNotRun) {
  Gate("charge");
  std::vector<v1::JournalEntry> journal =
      SuspendedAfter(json::array({ToolUse("t1", "charge"), ToolUse("t2", "echo")}));
  journal.push_back(Decided(0, "t1", v1::DENY));
  journal.push_back(Result(0, "t1", "The call to charge was denied by ada", true));
  model_.Reply(Message(json::array({Text("not charged")}), "end_turn"));
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_TRUE(tools_.calls.empty());
  const json& results = model_.requests[0]["messages"][2];
  EXPECT_EQ(ResultIds(results), (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(results["content"][0]["is_error"], true);
}

TEST_F(AgentLoopWaitsTest, ApprovalStillPendingSuspendsAgain) {
  Gate("charge");
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array({ToolUse("t1", "charge")}));
  EXPECT_EQ(Execute(journal).kind, RunOutcome::Kind::kSuspended);
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_EQ(out_.appends, 0);
}

TEST_F(AgentLoopWaitsTest, DeniedCallWithoutItsResultFailsTheRun) {
  Gate("charge");
  std::vector<v1::JournalEntry> journal = SuspendedAfter(json::array({ToolUse("t1", "charge")}));
  journal.push_back(Decided(0, "t1", v1::DENY));
  RunOutcome o = Execute(journal);
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::WORKER_ERROR);
  EXPECT_FALSE(o.retryable);
  EXPECT_TRUE(tools_.calls.empty());
}

v1::JournalEntry Turn(int step, json content, const std::string& stop) {
  v1::JournalEntry e;
  e.set_step(step);
  e.mutable_model_turn()->set_content_json(content.dump());
  e.mutable_model_turn()->set_stop_reason(stop);
  return e;
}

TEST_F(AgentLoopWaitsTest, HistoryComesBeforeTheRunsInput) {
  google::protobuf::RepeatedPtrField<v1::PriorRun> history;
  v1::PriorRun* first = history.Add();
  first->set_run_id("run_a");
  first->set_input("question A");
  *first->add_journal() = Turn(0, json::array({Text("answer A")}), "end_turn");
  model_.Reply(Message(json::array({Text("answer")}), "end_turn"));
  ASSERT_EQ(Execute({}, history).kind, RunOutcome::Kind::kSucceeded);
  const json& messages = model_.requests[0]["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], json({{"role", "user"}, {"content", "question A"}}));
  EXPECT_EQ(messages[1]["content"][0]["text"], "answer A");
  EXPECT_EQ(messages[2], json({{"role", "user"}, {"content", "hello"}}));

  // A later run compacted: its summary stands for everything before it, the earlier
  // runs included, as it did for its model.
  v1::PriorRun* second = history.Add();
  second->set_run_id("run_b");
  second->set_input("question B");
  *second->add_journal() = Turn(0, json::array({ToolUse("t1", "echo")}), "tool_use");
  *second->add_journal() = Result(0, "t1", "echo ok");
  v1::JournalEntry summary;
  summary.set_step(1);
  summary.mutable_summary()->set_text("SUMMARY");
  summary.mutable_summary()->set_through_step(0);
  *second->add_journal() = summary;
  *second->add_journal() = Turn(1, json::array({Text("answer B")}), "end_turn");
  model_.requests.clear();
  model_.Reply(Message(json::array({Text("answer")}), "end_turn"));
  ASSERT_EQ(Execute({}, history).kind, RunOutcome::Kind::kSucceeded);
  const json& after = model_.requests[0]["messages"];
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0]["content"].get<std::string>().rfind("question B", 0), 0u);
  EXPECT_NE(after[0]["content"].get<std::string>().find("SUMMARY"), std::string::npos);
  EXPECT_EQ(after[1]["content"][0]["text"], "answer B");
  EXPECT_EQ(after[2]["content"], "hello");
  EXPECT_EQ(after.dump().find("question A"), std::string::npos);
}

TEST_F(AgentLoopWaitsTest, SubagentsUsageCountsTowardsTheBudgets) {
  // 15 tokens a step, and the subagents had used 100 when the run was leased.
  run_.mutable_agent()->set_max_tokens_total(110);
  run_.mutable_usage()->set_input_tokens(10);
  run_.mutable_tree_usage()->set_input_tokens(110);
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  RunOutcome o = Execute();
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_TOKENS_TOTAL);
  EXPECT_EQ(o.steps, 1);
  EXPECT_TRUE(tools_.calls.empty());
  EXPECT_NE(o.error.find("max_tokens_total 110 (115 tokens used, 100 of them by subagents)"), std::string::npos)
      << o.error;
  EXPECT_EQ(o.usage.input_tokens(), 10);  // the run's own

  run_.mutable_agent()->set_max_tokens_total(0);
  run_.mutable_agent()->set_max_cost_usd(0.001);
  run_.mutable_tree_usage()->set_cost_usd(0.001);
  model_.requests.clear();
  o = Execute();
  EXPECT_EQ(o.failure_kind, v1::LIMIT_MAX_COST);
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_NE(o.error.find("(0.001000 USD spent, 0.001000 of it by subagents)"), std::string::npos) << o.error;
}

}  // namespace
}  // namespace baton::worker
