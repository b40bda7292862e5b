#include "workers/model_sim/default_agent.h"

#include <gtest/gtest.h>

#include "workers/model_sim/validation.h"

namespace baton::model_sim {
namespace {

Json Tools() {
  return Json::parse(R"([
    {"name":"echo","description":"echo","input_schema":{"type":"object",
       "properties":{"text":{"type":"string"},"loud":{"type":"boolean"},
                     "tags":{"type":"array","items":{"type":"string"}}},
       "required":["text"]}},
    {"name":"sum","input_schema":{"type":"object",
       "properties":{"a":{"type":"integer"},"b":{"type":"number"}},"required":["a","b"]}}])");
}

Json Request(const std::string& prompt, bool with_tools = true) {
  Json r = Json::object();
  r["model"] = "claude-haiku-4-5";
  r["max_tokens"] = 1024;
  r["messages"] = Json::array({Json{{"role", "user"}, {"content", prompt}}});
  if (with_tools) r["tools"] = Tools();
  return r;
}

// Appends the assistant reply and a tool_result per tool_use, as a worker would.
void Continue(Json& request, const AgentReply& reply, const std::string& result = "ok") {
  request["messages"].push_back(Json{{"role", "assistant"}, {"content", reply.content}});
  Json results = Json::array();
  for (const Json& b : reply.content) {
    if (b["type"] == "tool_use") {
      results.push_back(Json{{"type", "tool_result"}, {"tool_use_id", b["id"]},
                             {"content", b["name"] == "sum" ? "5" : result}});
    }
  }
  request["messages"].push_back(Json{{"role", "user"}, {"content", results}});
  ASSERT_FALSE(ValidateRequestBody(request, RequestKind::kMessages).has_value())
      << ValidateRequestBody(request, RequestKind::kMessages)->message;
}

TEST(DefaultAgentTest, CallsEachOfferedToolOnceThenSummarises) {
  Json req = Request("please work");
  AgentReply r1 = DefaultAgentReply(req, ParseDirectives(req));
  ASSERT_EQ(r1.stop_reason, "tool_use");
  ASSERT_EQ(r1.content.size(), 2u);
  EXPECT_EQ(r1.content[0]["text"], "I'll call echo.");
  EXPECT_EQ(r1.content[1]["name"], "echo");
  // Required properties plus optional simple ones; arrays only when required.
  EXPECT_EQ(r1.content[1]["input"], Json::parse(R"({"text":"hello","loud":true})"));
  Continue(req, r1, "hello");

  AgentReply r2 = DefaultAgentReply(req, ParseDirectives(req));
  ASSERT_EQ(r2.stop_reason, "tool_use");
  EXPECT_EQ(r2.content[1]["name"], "sum");
  EXPECT_EQ(r2.content[1]["input"], Json::parse(R"({"a":2,"b":3})"));
  EXPECT_NE(r2.content[1]["id"], r1.content[1]["id"]);
  Continue(req, r2);

  AgentReply r3 = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r3.stop_reason, "end_turn");
  ASSERT_EQ(r3.content.size(), 1u);
  EXPECT_EQ(r3.content[0]["text"], "Done. echo returned hello; sum returned 5");
}

TEST(DefaultAgentTest, WithoutToolsAnswersAtOnceEchoingThePrompt) {
  Json req = Request("what is up?", /*with_tools=*/false);
  AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r.stop_reason, "end_turn");
  EXPECT_EQ(r.content[0]["text"], "Done. You said: what is up?");
}

TEST(DefaultAgentTest, StepsDirectiveMakesExactlyNModelCalls) {
  Json req = Request("go [sim steps=4]");
  Directives d = ParseDirectives(req);
  ASSERT_EQ(d.steps, 4);
  int calls = 0;
  std::vector<std::string> names;
  for (;;) {
    AgentReply r = DefaultAgentReply(req, d);
    ++calls;
    ASSERT_LE(calls, 10);
    if (r.stop_reason != "tool_use") break;
    names.push_back(r.content[1]["name"]);
    Continue(req, r);
  }
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "sum", "echo"}));  // cycles
}

TEST(DefaultAgentTest, StepsOneAnswersWithoutTools) {
  Json req = Request("[sim steps=1] hi");
  AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r.stop_reason, "end_turn");
  EXPECT_EQ(r.content[0]["text"], "Done. You said: hi");
}

TEST(DefaultAgentTest, ToolAndTextDirectives) {
  Json req = Request("[sim tool=sum steps=3] [sim text=All good here]");
  Directives d = ParseDirectives(req);
  EXPECT_EQ(d.tool, "sum");
  EXPECT_EQ(d.steps, 3);
  EXPECT_EQ(d.text, "All good here");
  AgentReply r1 = DefaultAgentReply(req, d);
  EXPECT_EQ(r1.content[1]["name"], "sum");
  Continue(req, r1);
  AgentReply r2 = DefaultAgentReply(req, d);
  EXPECT_EQ(r2.content[1]["name"], "sum");
  Continue(req, r2);
  AgentReply r3 = DefaultAgentReply(req, d);
  EXPECT_EQ(r3.stop_reason, "end_turn");
  EXPECT_EQ(r3.content[0]["text"], "All good here");
}

TEST(DefaultAgentTest, DirectivesComeOnlyFromTheFirstUserMessage) {
  Json req = Request("[sim sleep_ms=250] [sim parallel=2]");
  req["messages"].push_back(Json{{"role", "assistant"}, {"content", "ok"}});
  req["messages"].push_back(Json{{"role", "user"}, {"content", "[sim steps=9]"}});
  Directives d = ParseDirectives(req);
  EXPECT_EQ(d.sleep_ms, 250);
  EXPECT_EQ(d.parallel, 2);
  EXPECT_FALSE(d.steps.has_value());
}

TEST(DefaultAgentTest, ParallelDirectiveCallsSeveralToolsInOneReply) {
  Json req = Request("[sim parallel=5]");
  AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
  ASSERT_EQ(r.content.size(), 3u);
  EXPECT_EQ(r.content[0]["text"], "I'll call echo and sum.");
  EXPECT_EQ(r.content[1]["name"], "echo");
  EXPECT_EQ(r.content[2]["name"], "sum");
  EXPECT_NE(r.content[1]["id"], r.content[2]["id"]);
}

TEST(DefaultAgentTest, ToolErrorsAreSummarisedAsFailures) {
  Json req = Request("x [sim steps=2]", true);
  AgentReply r1 = DefaultAgentReply(req, ParseDirectives(req));
  req["messages"].push_back(Json{{"role", "assistant"}, {"content", r1.content}});
  req["messages"].push_back(Json::parse(R"({"role":"user","content":[{"type":"tool_result",
      "tool_use_id":")" + r1.content[1]["id"].get<std::string>() +
                                        R"(","is_error":true,"content":"disk full"}]})"));
  AgentReply r2 = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r2.content[0]["text"], "Done. echo failed: disk full");
}

TEST(DefaultAgentTest, ToolUseIdsAreStableForTheSamePrefix) {
  Json a = Request("same prompt");
  Json b = Request("same prompt");
  EXPECT_EQ(DefaultAgentReply(a, {}).content[1]["id"], DefaultAgentReply(b, {}).content[1]["id"]);
  Json c = Request("other prompt");
  EXPECT_NE(DefaultAgentReply(a, {}).content[1]["id"], DefaultAgentReply(c, {}).content[1]["id"]);
  std::string id = DefaultAgentReply(a, {}).content[1]["id"];
  EXPECT_EQ(id.rfind("toolu_", 0), 0u);
  EXPECT_EQ(id.size(), 30u);
}

TEST(DefaultAgentTest, ToolChoiceNoneAndForcedTool) {
  Json req = Request("hi");
  req["tool_choice"] = Json{{"type", "none"}};
  EXPECT_EQ(DefaultAgentReply(req, {}).stop_reason, "end_turn");
  req["tool_choice"] = Json{{"type", "tool"}, {"name", "sum"}};
  AgentReply r = DefaultAgentReply(req, {});
  EXPECT_EQ(r.stop_reason, "tool_use");
  EXPECT_EQ(r.content[1]["name"], "sum");
}

TEST(DefaultAgentTest, SmallMaxTokensStopsWithMaxTokens) {
  Json req = Request("[sim text=" + std::string(400, 'w') + "]", false);
  req["max_tokens"] = 10;
  AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r.stop_reason, "max_tokens");
  EXPECT_EQ(r.content[0]["text"], std::string(40, 'w'));
}

TEST(DefaultAgentTest, InputFromSchemaHandlesEnumsNestedAndNullable) {
  Json schema = Json::parse(R"({"type":"object","required":["mode","opts","n"],"properties":{
      "mode":{"type":"string","enum":["fast","slow"]},
      "opts":{"type":"object","properties":{"depth":{"type":"integer"}},"required":["depth"]},
      "n":{"type":["null","number"]},
      "skip":{"type":"object"}}})");
  EXPECT_EQ(InputFromSchema(schema), Json::parse(R"({"mode":"fast","opts":{"depth":2},"n":3})"));
  EXPECT_EQ(InputFromSchema(Json::object()), Json::object());
}

Json RespondTool(const std::string& schema) {
  return Json{{"name", "respond"}, {"description", "Give your final answer."}, {"input_schema", Json::parse(schema)}};
}

constexpr char kPlanSchema[] =
    R"({"type":"object","properties":{"tasks":{"type":"array","items":{"type":"string"}}},"required":["tasks"]})";

TEST(DefaultAgentTest, ItemsDirectiveGivesArraysNItemsThatDiffer) {
  Json req = Request("plan this [sim items=3]", /*with_tools=*/false);
  req["tools"] = Json::array({RespondTool(kPlanSchema)});
  Directives d = ParseDirectives(req);
  EXPECT_EQ(d.items, 3);
  AgentReply r = DefaultAgentReply(req, d);
  ASSERT_EQ(r.stop_reason, "tool_use");
  ASSERT_EQ(r.content.size(), 2u);
  EXPECT_EQ(r.content[1]["name"], "respond");
  EXPECT_EQ(r.content[1]["input"], Json::parse(R"({"tasks":["hello 1","hello 2","hello 3"]})"));
}

TEST(DefaultAgentTest, ItemsOfObjectsNumberTheirStringsAndCycleEnums) {
  Json schema = Json::parse(R"({"type":"object","required":["tasks"],"properties":{"tasks":{"type":"array",
      "items":{"type":"object","required":["title","priority","n"],"properties":{
        "title":{"type":"string"},"priority":{"enum":["low","high"]},"n":{"type":"integer"},
        "tags":{"type":"array","items":{"type":"string"}}}}}}})");
  EXPECT_EQ(InputFromSchema(schema, 3), Json::parse(R"({"tasks":[
      {"title":"hello 1","priority":"low","n":2},
      {"title":"hello 2","priority":"high","n":3},
      {"title":"hello 3","priority":"low","n":4}]})"));
  // Without the directive: one item, as before.
  EXPECT_EQ(InputFromSchema(schema), Json::parse(R"({"tasks":[{"title":"hello","priority":"low","n":2}]})"));
}

TEST(DefaultAgentTest, ItemsStayWithinMinItemsAndMaxItems) {
  Json capped = Json::parse(R"({"type":"object","required":["a"],"properties":{
      "a":{"type":"array","items":{"type":"string"},"maxItems":2}}})");
  EXPECT_EQ(InputFromSchema(capped, 5), Json::parse(R"({"a":["hello 1","hello 2"]})"));
  EXPECT_EQ(InputFromSchema(capped, 0), Json::parse(R"({"a":[]})"));
  Json floored = Json::parse(R"({"type":"object","required":["a"],"properties":{
      "a":{"type":"array","items":{"type":"string"},"minItems":2}}})");
  EXPECT_EQ(InputFromSchema(floored), Json::parse(R"({"a":["hello 1","hello 2"]})"));
}

TEST(DefaultAgentTest, RespondIsCalledLastAfterEveryOtherTool) {
  Json req = Request("work, then answer");
  // Listed first: the agent still calls it last.
  req["tools"].insert(req["tools"].begin(), RespondTool(kPlanSchema));
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
    ASSERT_EQ(r.stop_reason, "tool_use");
    ASSERT_EQ(r.content.size(), 2u);
    names.push_back(r.content[1]["name"]);
    if (i == 2) {
      EXPECT_EQ(r.content[0]["text"], "I'll call respond.");
      EXPECT_EQ(r.content[1]["input"], Json::parse(R"({"tasks":["hello"]})"));
    }
    Continue(req, r);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "sum", "respond"}));
  // A client that answers respond instead of ending the run gets a text.
  AgentReply last = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(last.stop_reason, "end_turn");
}

TEST(DefaultAgentTest, RespondIsCalledAgainAfterAnErrorResult) {
  Json req = Request("answer", /*with_tools=*/false);
  req["tools"] = Json::array({RespondTool(kPlanSchema)});
  AgentReply r1 = DefaultAgentReply(req, ParseDirectives(req));
  ASSERT_EQ(r1.content[1]["name"], "respond");
  req["messages"].push_back(Json{{"role", "assistant"}, {"content", r1.content}});
  req["messages"].push_back(Json{{"role", "user"}, {"content", Json::array({Json{
      {"type", "tool_result"}, {"tool_use_id", r1.content[1]["id"]}, {"is_error", true}, {"content", "bad"}}})}});
  AgentReply r2 = DefaultAgentReply(req, ParseDirectives(req));
  EXPECT_EQ(r2.stop_reason, "tool_use");
  EXPECT_EQ(r2.content[1]["name"], "respond");
}

TEST(DefaultAgentTest, StepsDirectiveWithRespondEndsWithTheRespondCall) {
  Json req = Request("go [sim steps=3 items=2]");
  req["tools"].push_back(RespondTool(kPlanSchema));
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    AgentReply r = DefaultAgentReply(req, ParseDirectives(req));
    ASSERT_EQ(r.stop_reason, "tool_use");
    names.push_back(r.content[1]["name"]);
    if (i == 2) {
      EXPECT_EQ(r.content[1]["input"], Json::parse(R"({"tasks":["hello 1","hello 2"]})"));
    }
    Continue(req, r);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "sum", "respond"}));
}

}  // namespace
}  // namespace baton::model_sim
