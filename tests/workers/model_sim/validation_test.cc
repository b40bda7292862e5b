#include "workers/model_sim/validation.h"

#include <gtest/gtest.h>

namespace baton::model_sim {
namespace {

Json Valid() {
  return Json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":100,
                         "messages":[{"role":"user","content":"hi"}]})");
}

std::string ErrorOf(const Json& body, RequestKind kind = RequestKind::kMessages) {
  auto e = ValidateRequestBody(body, kind);
  if (!e) return "";
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->type, "invalid_request_error");
  return e->message;
}

TEST(ValidationTest, AcceptsMinimalRequest) { EXPECT_EQ(ErrorOf(Valid()), ""); }

TEST(ValidationTest, ModelMissingOrEmptyIsNamed) {
  Json b = Valid();
  b.erase("model");
  EXPECT_EQ(ErrorOf(b), "model: Field required");
  b["model"] = "";
  EXPECT_EQ(ErrorOf(b), "model: String should have at least 1 character");
  b["model"] = 7;
  EXPECT_EQ(ErrorOf(b), "model: Input should be a valid string");
}

TEST(ValidationTest, MaxTokensMustBePositiveInteger) {
  Json b = Valid();
  b.erase("max_tokens");
  EXPECT_EQ(ErrorOf(b), "max_tokens: Field required");
  b["max_tokens"] = 0;
  EXPECT_EQ(ErrorOf(b), "max_tokens: Input should be greater than or equal to 1");
  b["max_tokens"] = -5;
  EXPECT_EQ(ErrorOf(b), "max_tokens: Input should be greater than or equal to 1");
  b["max_tokens"] = 1.5;
  EXPECT_EQ(ErrorOf(b), "max_tokens: Input should be a valid integer");
  b["max_tokens"] = "100";
  EXPECT_EQ(ErrorOf(b), "max_tokens: Input should be a valid integer");
}

TEST(ValidationTest, CountTokensNeedsNoMaxTokensAndRefusesStream) {
  Json b = Valid();
  b.erase("max_tokens");
  EXPECT_EQ(ErrorOf(b, RequestKind::kCountTokens), "");
  b["stream"] = true;
  EXPECT_EQ(ErrorOf(b, RequestKind::kCountTokens), "stream: Extra inputs are not permitted");
}

TEST(ValidationTest, MessagesMustBeNonEmptyList) {
  Json b = Valid();
  b.erase("messages");
  EXPECT_EQ(ErrorOf(b), "messages: Field required");
  b["messages"] = Json::array();
  EXPECT_EQ(ErrorOf(b), "messages: at least one message is required");
  b["messages"] = "hello";
  EXPECT_EQ(ErrorOf(b), "messages: Input should be a valid list");
}

TEST(ValidationTest, RoleMustBeUserOrAssistant) {
  Json b = Valid();
  b["messages"].push_back(Json{{"role", "system"}, {"content", "x"}});
  EXPECT_EQ(ErrorOf(b), "messages.1.role: Input should be 'user' or 'assistant'");
  b["messages"][1].erase("role");
  EXPECT_EQ(ErrorOf(b), "messages.1.role: Field required");
}

TEST(ValidationTest, EmptyContentOnlyAllowedForFinalAssistant) {
  Json b = Valid();
  b["messages"].push_back(Json{{"role", "assistant"}, {"content", ""}});
  EXPECT_EQ(ErrorOf(b), "");
  b["messages"][0]["content"] = "";
  EXPECT_NE(ErrorOf(b).find("messages.0: all messages must have non-empty content"), std::string::npos);
}

Json ToolConversation(Json next_user_content) {
  Json b = Valid();
  b["messages"].push_back(Json::parse(R"({"role":"assistant","content":[
      {"type":"text","text":"calling"},
      {"type":"tool_use","id":"toolu_a","name":"echo","input":{}},
      {"type":"tool_use","id":"toolu_b","name":"echo","input":{}}]})"));
  b["messages"].push_back(Json{{"role", "user"}, {"content", std::move(next_user_content)}});
  return b;
}

TEST(ValidationTest, ToolResultsAnsweringEveryToolUseFirstAreAccepted) {
  Json b = ToolConversation(Json::parse(R"([
      {"type":"tool_result","tool_use_id":"toolu_b","content":"1"},
      {"type":"tool_result","tool_use_id":"toolu_a","content":[{"type":"text","text":"2"}]},
      {"type":"text","text":"go on"}])"));
  EXPECT_EQ(ErrorOf(b), "");
}

TEST(ValidationTest, ToolResultAfterTextIsRejectedWithTheApiMessage) {
  Json b = ToolConversation(Json::parse(R"([
      {"type":"tool_result","tool_use_id":"toolu_a","content":"1"},
      {"type":"text","text":"oops"},
      {"type":"tool_result","tool_use_id":"toolu_b","content":"2"}])"));
  EXPECT_EQ(ErrorOf(b),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
            "toolu_b. Each `tool_use` block must have a corresponding `tool_result` block in the "
            "next message.");
}

TEST(ValidationTest, PlainTextAfterToolUseListsAllMissingIds) {
  Json b = ToolConversation("just text");
  EXPECT_EQ(ErrorOf(b),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
            "toolu_a, toolu_b. Each `tool_use` block must have a corresponding `tool_result` block "
            "in the next message.");
}

TEST(ValidationTest, ToolResultWithoutToolUseIsRejected) {
  Json b = ToolConversation(Json::parse(R"([
      {"type":"tool_result","tool_use_id":"toolu_a","content":"1"},
      {"type":"tool_result","tool_use_id":"toolu_b","content":"2"},
      {"type":"tool_result","tool_use_id":"toolu_zzz","content":"3"}])"));
  EXPECT_EQ(ErrorOf(b),
            "messages.2.content.2: unexpected `tool_use_id` found in `tool_result` blocks: toolu_zzz. "
            "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
            "message.");
}

TEST(ValidationTest, FinalAssistantToolUseNeedsNoResult) {
  Json b = Valid();
  b["messages"].push_back(Json::parse(
      R"({"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]})"));
  EXPECT_EQ(ErrorOf(b), "");
}

TEST(ValidationTest, ToolNamesFollowThePattern) {
  EXPECT_TRUE(IsValidToolName("mcp__fs__read_file"));
  EXPECT_TRUE(IsValidToolName("a-b_C9"));
  EXPECT_TRUE(IsValidToolName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidToolName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidToolName(""));
  EXPECT_FALSE(IsValidToolName("fs.read"));
  EXPECT_FALSE(IsValidToolName("has space"));

  Json b = Valid();
  b["tools"] = Json::parse(R"([{"name":"ok","input_schema":{"type":"object"}},
                               {"name":"fs.read","input_schema":{"type":"object"}}])");
  EXPECT_EQ(ErrorOf(b), "tools.1.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'");
  b["tools"][1]["name"] = "ok";
  EXPECT_EQ(ErrorOf(b), "tools: Tool names must be unique.");
  b["tools"][1]["name"] = "ok2";
  b["tools"][1].erase("input_schema");
  EXPECT_EQ(ErrorOf(b), "tools.1.input_schema: Field required");
}

TEST(ValidationTest, ToolChoiceAndSystemShapes) {
  Json b = Valid();
  b["tool_choice"] = Json{{"type", "sometimes"}};
  EXPECT_EQ(ErrorOf(b), "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
  b["tool_choice"] = Json{{"type", "tool"}};
  EXPECT_EQ(ErrorOf(b), "tool_choice.name: Field required");
  b.erase("tool_choice");
  b["system"] = Json::parse(R"([{"type":"text","text":"be brief"},{"type":"image"}])");
  EXPECT_EQ(ErrorOf(b), "system.1.type: Input should be 'text'");
}

TEST(ValidationTest, NonObjectBodyIsRejected) {
  EXPECT_EQ(ErrorOf(Json::array()), "The request body must be a JSON object");
}

}  // namespace
}  // namespace baton::model_sim
