// Structured output (AgentSpec.output_schema): the `respond` tool, the answers given
// to it or written as the final text, and resuming a run whose answer is journaled.
#include "workers/structured_output.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

#include "tests/workers/agent/fakes.h"
#include "workers/agent_loop.h"
#include "workers/builtin_tools.h"
#include "workers/model_sim/default_agent.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

using fakes::CountingTools;
using fakes::FakeModelClient;
using fakes::MemoryJournal;
using fakes::Message;
using fakes::ToolUse;

constexpr char kSchema[] = R"({
  "type": "object",
  "properties": {"tasks": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                 "score": {"type": "number"}},
  "required": ["tasks"],
  "additionalProperties": false})";

json Text(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

google::protobuf::Struct StructOf(const std::string& json_text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json_text, &s).ok()) << json_text;
  return s;
}

// The tool_result blocks of the last user turn of `request`.
const json& LastResults(const json& request) { return request["messages"].back()["content"]; }

class StructuredOutputTest : public ::testing::Test {
 protected:
  StructuredOutputTest() {
    run_.set_run_id("run_1");
    run_.set_input("plan the work");
    v1::AgentSpec* agent = run_.mutable_agent();
    agent->set_model("claude-sonnet-4-5");
    agent->add_allowed_tools("echo");
    agent->add_allowed_tools("charge");
    agent->mutable_prompt_caching()->set_disabled(true);
    *agent->mutable_output_schema() = StructOf(kSchema);
  }
  RunOutcome Execute(const std::vector<v1::JournalEntry>& journal = {}) {
    AgentLoop loop(model_, tools_, clock_, AgentLoopOptions{});
    return loop.Execute(run_, journal, out_, signals_);
  }
  void Respond(const std::string& id, json input, json also = json::array()) {
    also.push_back(ToolUse(id, "respond", std::move(input)));
    model_.Reply(Message(std::move(also), "tool_use"));
  }

  FakeClock clock_;
  FakeModelClient model_;
  CountingTools tools_;
  MemoryJournal out_;
  RunSignals signals_;
  v1::Run run_;
};

TEST_F(StructuredOutputTest, RequestOffersRespondLastWithTheSchemaAndIntegersStayIntegers) {
  Respond("r1", {{"tasks", {"a"}}});
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  const json& tools = model_.requests[0]["tools"];
  ASSERT_EQ(tools.size(), 3u);
  EXPECT_EQ(tools[0]["name"], "echo");
  EXPECT_EQ(tools[1]["name"], "charge");
  EXPECT_EQ(tools[2]["name"], "respond");
  EXPECT_EQ(tools[2]["description"],
            "Give your final answer. Call this once, with the complete answer, when you are done.");
  EXPECT_EQ(tools[2]["input_schema"], json::parse(kSchema));
  // A Struct holds doubles; the API and the validator need integers here.
  const json& tasks = tools[2]["input_schema"]["properties"]["tasks"];
  EXPECT_TRUE(tasks["maxItems"].is_number_integer());
  EXPECT_NE(tools[2]["input_schema"].dump().find(R"("maxItems":3)"), std::string::npos);
}

TEST_F(StructuredOutputTest, WithoutAnOutputSchemaNoRespondToolIsOffered) {
  run_.mutable_agent()->clear_output_schema();
  model_.Reply(Message(json::array({Text("plain text")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded);
  EXPECT_EQ(o.output, "plain text");
  EXPECT_EQ(model_.requests[0]["tools"].size(), 2u);
}

TEST_F(StructuredOutputTest, ValidAnswerEndsTheRunWithItsInputAsCompactJson) {
  Respond("r1", json::parse(R"({"tasks": ["find sources", "summarise"], "score": 0.5})"),
          json::array({Text("Here is the plan.")}));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"score":0.5,"tasks":["find sources","summarise"]})");
  EXPECT_EQ(model_.requests.size(), 1u);
  EXPECT_EQ(o.steps, 1);
  // The turn, the call and its result: one write.
  EXPECT_EQ(out_.appends, 1);
  ASSERT_EQ(out_.journal.size(), 3u);
  EXPECT_TRUE(out_.journal[0].has_model_turn());
  EXPECT_EQ(out_.journal[1].tool_call().name(), "respond");
  EXPECT_EQ(out_.journal[1].tool_call().tool_use_id(), "r1");
  EXPECT_EQ(out_.journal[2].tool_result().name(), "respond");
  EXPECT_FALSE(out_.journal[2].tool_result().is_error());
  EXPECT_TRUE(tools_.calls.empty());
}

TEST_F(StructuredOutputTest, InvalidAnswerGoesBackOnceAsAnErrorThenAValidOneSucceeds) {
  Respond("r1", {{"tasks", "not a list"}});
  Respond("r2", {{"tasks", {"one"}}});
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["one"]})");
  ASSERT_EQ(model_.requests.size(), 2u);
  const json& results = LastResults(model_.requests[1]);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["tool_use_id"], "r1");
  EXPECT_EQ(results[0]["is_error"], true);
  const std::string error = results[0]["content"];
  EXPECT_NE(error.find("/tasks"), std::string::npos) << error;
  EXPECT_NE(error.find("does not match the output schema"), std::string::npos) << error;
  // Nothing left out by the resume rule: each respond call has its call and result.
  int calls = 0, results_journaled = 0;
  for (const v1::JournalEntry& e : out_.journal) {
    calls += e.has_tool_call() && e.tool_call().name() == "respond";
    results_journaled += e.has_tool_result() && e.tool_result().name() == "respond";
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(results_journaled, 2);
}

TEST_F(StructuredOutputTest, SecondInvalidAnswerFailsTheRunWithOutputInvalidNotRetried) {
  Respond("r1", {{"tasks", "not a list"}});
  Respond("r2", {{"tasks", json::array()}});  // minItems 1
  model_.Reply(Message(json::array({Text("never asked")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_FALSE(o.retryable);
  EXPECT_NE(o.error.find("a second time"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("/tasks"), std::string::npos) << o.error;
  EXPECT_EQ(model_.requests.size(), 2u);
  // The second answer is journaled too, so a resumed run fails the same way.
  EXPECT_TRUE(out_.journal.back().tool_result().is_error());
}

TEST_F(StructuredOutputTest, TwoInvalidAnswersInOneTurnFailTheRun) {
  Respond("r2", {{"tasks", 7}}, json::array({ToolUse("r1", "respond", {{"extra", true}})}));
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_EQ(model_.requests.size(), 1u);
}

TEST_F(StructuredOutputTest, FinalTextThatIsValidJsonIsTheOutput) {
  model_.Reply(Message(json::array({Text("```json\n{\"tasks\": [\"a\", \"b\"]}\n```\n")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a","b"]})");
}

TEST_F(StructuredOutputTest, FinalProseWithoutRespondFailsWithOutputInvalid) {
  model_.Reply(Message(json::array({Text("The plan: first find sources, then summarise.")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.error, "the agent ended without calling respond: its final text is not JSON");
}

TEST_F(StructuredOutputTest, FinalJsonThatDoesNotMatchFailsNamingWhatIsWrong) {
  model_.Reply(Message(json::array({Text(R"({"tasks": ["a"], "extra": 1})")}), "end_turn"));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_EQ(o.error.rfind("the agent ended without calling respond: its final text does not match output_schema: ", 0),
            0u)
      << o.error;
}

TEST_F(StructuredOutputTest, TheAnswerWinsOverTheOtherCallsOfItsTurn) {
  Respond("r1", {{"tasks", {"a"}}}, json::array({ToolUse("t1", "charge"), ToolUse("t2", "echo")}));
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a"]})");
  EXPECT_TRUE(tools_.calls.empty());
  // One write: every call of the turn has a result, the others' an error saying why.
  EXPECT_EQ(out_.appends, 1);
  std::map<std::string, v1::ToolResult> results;
  for (const v1::JournalEntry& e : out_.journal) {
    if (e.has_tool_result()) results[e.tool_result().tool_use_id()] = e.tool_result();
    if (e.has_tool_call()) {
      EXPECT_EQ(e.tool_call().tool_use_id(), "r1");
    }
  }
  ASSERT_EQ(results.size(), 3u);
  EXPECT_FALSE(results["r1"].is_error());
  EXPECT_TRUE(results["t1"].is_error());
  EXPECT_NE(results["t1"].content_json().find("not run"), std::string::npos);
  EXPECT_TRUE(results["t2"].is_error());
}

TEST_F(StructuredOutputTest, OtherCallsOfATurnWithAnInvalidAnswerRun) {
  Respond("r1", {{"tasks", "x"}}, json::array({ToolUse("t1", "charge")}));
  Respond("r2", {{"tasks", {"done"}}});
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(tools_.calls, (std::vector<std::string>{"charge:run_1:0:t1"}));
  // Both results go back in the turn's order.
  const json& results = LastResults(model_.requests[1]);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["tool_use_id"], "t1");
  EXPECT_EQ(results[0].value("is_error", false), false);
  EXPECT_EQ(results[1]["tool_use_id"], "r1");
  EXPECT_EQ(results[1]["is_error"], true);
}

TEST_F(StructuredOutputTest, AnAnswerOnTheLastAllowedStepIsTaken) {
  run_.mutable_agent()->set_max_steps(1);
  Respond("r1", {{"tasks", {"a"}}});
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a"]})");
}

TEST_F(StructuredOutputTest, RespondIsNotRefusedByMaxToolCalls) {
  run_.mutable_agent()->set_max_tool_calls(1);
  model_.Reply(Message(json::array({ToolUse("t1", "echo")}), "tool_use"));
  Respond("r1", {{"tasks", {"a"}}});
  RunOutcome o = Execute();
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a"]})");
}

TEST_F(StructuredOutputTest, ResumeWithTheAnswerJournaledCompletesOnceWithoutTheModel) {
  Respond("r1", {{"tasks", {"a", "b"}}});
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  // A crash after the write, before the run was completed.
  std::vector<v1::JournalEntry> journal = out_.journal;
  model_.requests.clear();
  out_.journal.clear();
  out_.appends = 0;
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a","b"]})");
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_EQ(out_.appends, 0);
  EXPECT_EQ(o.steps, 1);
}

TEST_F(StructuredOutputTest, ResumeWithTheRespondCallStartedButNoResultAnswersWithoutTheModel) {
  Respond("r1", {{"tasks", {"a"}}});
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kSucceeded);
  // The turn and the call's ToolCall entry, no result.
  ASSERT_TRUE(out_.journal[1].has_tool_call());
  std::vector<v1::JournalEntry> journal(out_.journal.begin(), out_.journal.begin() + 2);
  model_.requests.clear();
  out_.journal.clear();
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["a"]})");
  EXPECT_TRUE(model_.requests.empty());
  // Only the result is written: the call's marker was there.
  ASSERT_EQ(out_.journal.size(), 1u);
  EXPECT_EQ(out_.journal[0].tool_result().name(), "respond");
  EXPECT_FALSE(out_.journal[0].tool_result().is_error());
}

TEST_F(StructuredOutputTest, TheInvalidAnswerCountSurvivesACrash) {
  Respond("r1", {{"tasks", "x"}});
  // No second reply scripted: the next model call fails, as if the worker died there.
  ASSERT_EQ(Execute().kind, RunOutcome::Kind::kFailed);
  std::vector<v1::JournalEntry> journal = out_.journal;  // the turn and its invalid answer
  ASSERT_EQ(journal.size(), 3u);
  ASSERT_TRUE(journal.back().tool_result().is_error());
  out_.journal.clear();
  model_.requests.clear();
  Respond("r2", {{"tasks", "still not a list"}});
  RunOutcome o = Execute(journal);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_EQ(model_.requests.size(), 1u);
}

TEST_F(StructuredOutputTest, ResumeAfterASecondInvalidAnswerFailsAgainWithoutTheModel) {
  Respond("r1", {{"tasks", "x"}});
  Respond("r2", {{"tasks", "y"}});
  ASSERT_EQ(Execute().failure_kind, v1::OUTPUT_INVALID);
  std::vector<v1::JournalEntry> journal = out_.journal;
  model_.requests.clear();
  RunOutcome o = Execute(journal);
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::OUTPUT_INVALID);
  EXPECT_NE(o.error.find("/tasks"), std::string::npos) << o.error;
  EXPECT_TRUE(model_.requests.empty());
}

// Lists a tool named "respond" besides echo.
class ToolsWithRespond final : public ToolExecutor {
 public:
  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override {
    return std::vector<ToolDefinition>{{"echo", "echo", json{{"type", "object"}}, true, true},
                                       {"respond", "a server's own", json{{"type", "object"}}, true, true}};
  }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const json&, const ToolCallContext&) override {
    calls.push_back(name);
    return ToolOutput{json("ran"), false};
  }
  std::vector<std::string> calls;
};

TEST_F(StructuredOutputTest, TheOutputSchemasRespondHidesAToolOfThatName) {
  run_.mutable_agent()->add_allowed_tools("*");
  ToolsWithRespond tools;
  Respond("r1", {{"tasks", {"a"}}});
  AgentLoop loop(model_, tools, clock_, AgentLoopOptions{});
  RunOutcome o = loop.Execute(run_, {}, out_, signals_);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_TRUE(tools.calls.empty());
  const json& offered = model_.requests[0]["tools"];
  ASSERT_EQ(offered.size(), 2u);
  EXPECT_EQ(offered[1]["description"], StructuredOutput::Create(StructOf(kSchema)).value()->tool()["description"]);
}

TEST_F(StructuredOutputTest, ASubagentNamedRespondFailsTheRunWithoutRetry) {
  v1::Subagent* sub = run_.mutable_agent()->add_subagents();
  sub->set_name("respond");
  sub->mutable_agent()->set_model("claude-haiku-4-5");
  RunOutcome o = Execute();
  EXPECT_EQ(o.kind, RunOutcome::Kind::kFailed);
  EXPECT_EQ(o.failure_kind, v1::WORKER_ERROR);
  EXPECT_FALSE(o.retryable);
  EXPECT_TRUE(model_.requests.empty());
}

TEST(StructuredOutputCheckTest, FinalTextIsParsedWithoutWhitespaceOrAFence) {
  auto structured = StructuredOutput::Create(StructOf(R"({"type":"object","required":["ok"]})"));
  ASSERT_TRUE(structured.ok()) << structured.status();
  EXPECT_EQ((*structured)->CheckFinalText("  {\"ok\": true}\n").value(), R"({"ok":true})");
  EXPECT_EQ((*structured)->CheckFinalText("```\n{\"ok\": 1}\n```").value(), R"({"ok":1})");
  EXPECT_FALSE((*structured)->CheckFinalText("").ok());
  EXPECT_FALSE((*structured)->CheckFinalText("{}").ok());
  EXPECT_FALSE((*structured)->CheckFinalText("ok: true").ok());
}

TEST(StructuredOutputCheckTest, StructNumbersThatAreIntegralBecomeIntegers) {
  const json converted = StructToJson(StructOf(R"({"a": 3, "b": 0.5, "c": [1, "x", null, true, {"d": -2}]})"));
  EXPECT_EQ(converted.dump(), R"({"a":3,"b":0.5,"c":[1,"x",null,true,{"d":-2}]})");
  EXPECT_TRUE(converted["a"].is_number_integer());
}

TEST(StructuredOutputCheckTest, AnUnusableSchemaIsRefused) {
  EXPECT_EQ(StructuredOutput::Create(StructOf(R"({"type":"object","properties":{"a":{"minLength":"x"}}})"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// The simulator's default agent as the model, in process.
class DefaultAgentModel final : public ModelClient {
 public:
  absl::StatusOr<ModelResponse> CreateMessage(const json& request, const ModelCallOptions&) override {
    ++calls;
    const model_sim::Json body = model_sim::Json::parse(request.dump());
    model_sim::AgentReply reply = model_sim::DefaultAgentReply(body, model_sim::ParseDirectives(body));
    ModelResponse r;
    r.message = Message(json::parse(reply.content.dump()), reply.stop_reason);
    return r;
  }
  absl::StatusOr<int64_t> CountTokens(const json&, const ModelCallOptions&) override {
    return absl::UnimplementedError("no count_tokens");
  }
  int calls = 0;
};

TEST_F(StructuredOutputTest, TheSimulatorsDefaultAgentUsesTheToolsThenAnswersWithRespond) {
  run_.set_input("plan the work [sim items=3]");
  *run_.mutable_agent()->mutable_output_schema() = StructOf(
      R"({"type":"object","properties":{"tasks":{"type":"array","items":{"type":"string"},"maxItems":5}},
          "required":["tasks"]})");
  run_.mutable_agent()->clear_allowed_tools();
  run_.mutable_agent()->add_allowed_tools("echo");
  run_.mutable_agent()->add_allowed_tools("sum");
  DefaultAgentModel model;
  BuiltinToolExecutor tools(clock_);
  AgentLoop loop(model, tools, clock_, AgentLoopOptions{});
  RunOutcome o = loop.Execute(run_, {}, out_, signals_);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  EXPECT_EQ(o.output, R"({"tasks":["hello 1","hello 2","hello 3"]})");
  EXPECT_EQ(model.calls, 3);  // echo, sum, then respond
  std::vector<std::string> called;
  for (const v1::JournalEntry& e : out_.journal) {
    if (e.has_tool_call()) called.push_back(e.tool_call().name());
  }
  EXPECT_EQ(called, (std::vector<std::string>{"echo", "sum", "respond"}));
}

TEST_F(StructuredOutputTest, TheSimulatorsDefaultAgentWithOnlyRespondAnswersAtOnce) {
  run_.mutable_agent()->clear_allowed_tools();
  DefaultAgentModel model;
  AgentLoop loop(model, tools_, clock_, AgentLoopOptions{});
  RunOutcome o = loop.Execute(run_, {}, out_, signals_);
  ASSERT_EQ(o.kind, RunOutcome::Kind::kSucceeded) << o.error;
  // The schema's optional number is generated too.
  EXPECT_EQ(o.output, R"({"score":2,"tasks":["hello"]})");
  EXPECT_EQ(model.calls, 1);
}

}  // namespace
}  // namespace baton::worker
