#include "workers/model_policy.h"

#include <gtest/gtest.h>

namespace baton::worker {
namespace {

using json = nlohmann::json;

v1::AgentSpec Agent() {
  v1::AgentSpec agent;
  agent.set_model("claude-sonnet-4-5");
  v1::ModelPolicy* policy = agent.mutable_model_policy();
  auto add = [policy](const std::string& model) {
    v1::ModelRule* r = policy->add_rules();
    r->set_model(model);
    return r;
  };
  add("claude-opus-4-5")->set_first_step(true);
  add("claude-opus-4-6")->set_after_tool("search*");
  add("claude-opus-4-7")->set_after_tool_error(true);
  add("claude-haiku-4-5")->set_context_tokens_over(1000);
  v1::ModelRule* late = add("claude-sonnet-4-6");
  late->set_from_step(10);
  late->set_name("late steps");
  return agent;
}

TEST(ModelPolicyTest, FirstMatchingRuleWinsInOrder) {
  v1::AgentSpec agent = Agent();
  PolicyContext ctx;
  ctx.step = 0;
  ctx.previous_tools = {"search_web"};  // also matches rule 2, but rule 1 comes first
  EXPECT_EQ(ChooseModel(agent, ctx).model, "claude-opus-4-5");
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "first_step");
  ctx.step = 3;
  EXPECT_EQ(ChooseModel(agent, ctx).model, "claude-opus-4-6");
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "after_tool=search*");
  ctx.previous_tools = {"other"};
  ctx.previous_tool_error = true;
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "after_tool_error");
  ctx.previous_tool_error = false;
  ctx.context_tokens = 1000;  // not over
  EXPECT_EQ(ChooseModel(agent, ctx).model, "claude-sonnet-4-5");
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "default");
  ctx.context_tokens = 1001;
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "context_tokens_over=1000");
  ctx.context_tokens.reset();
  ctx.step = 10;
  EXPECT_EQ(ChooseModel(agent, ctx).model, "claude-sonnet-4-6");
  EXPECT_EQ(ChooseModel(agent, ctx).rule, "late steps");
}

TEST(ModelPolicyTest, DefaultModelOverridesTheAgentModel) {
  v1::AgentSpec agent;
  agent.set_model("claude-sonnet-4-5");
  EXPECT_EQ(ChooseModel(agent, PolicyContext{}).model, "claude-sonnet-4-5");
  agent.mutable_model_policy()->set_default_model("claude-haiku-4-5");
  EXPECT_EQ(ChooseModel(agent, PolicyContext{}).model, "claude-haiku-4-5");
  EXPECT_TRUE(PolicyNeedsContextTokens(Agent()));
  EXPECT_FALSE(PolicyNeedsContextTokens(agent));
}

TEST(ModelPolicyTest, PreviousStepIsReadFromTheConversation) {
  json messages = json::array({
      {{"role", "user"}, {"content", "hi"}},
      {{"role", "assistant"},
       {"content", json::array({{{"type", "tool_use"}, {"id", "a"}, {"name", "old"}, {"input", json::object()}}})}},
      {{"role", "user"},
       {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", "a"}, {"is_error", true}}})}},
      {{"role", "assistant"},
       {"content", json::array({{{"type", "text"}, {"text", "x"}},
                                {{"type", "tool_use"}, {"id", "b"}, {"name", "search"}, {"input", json::object()}},
                                {{"type", "tool_use"}, {"id", "c"}, {"name", "fetch"}, {"input", json::object()}}})}},
      {{"role", "user"},
       {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", "b"}, {"content", "ok"}},
                                {{"type", "tool_result"}, {"tool_use_id", "c"}, {"is_error", false}}})}},
  });
  PolicyContext ctx;
  FillPreviousStep(messages, &ctx);
  EXPECT_EQ(ctx.previous_tools, (std::vector<std::string>{"search", "fetch"}));
  EXPECT_FALSE(ctx.previous_tool_error);  // the error was two steps ago
  messages[4]["content"][1]["is_error"] = true;
  FillPreviousStep(messages, &ctx);
  EXPECT_TRUE(ctx.previous_tool_error);
  FillPreviousStep(json::array({{{"role", "user"}, {"content", "hi"}}}), &ctx);
  EXPECT_TRUE(ctx.previous_tools.empty());
  EXPECT_FALSE(ctx.previous_tool_error);
}

TEST(ModelPolicyTest, FallbacksSkipModelsAlreadyTried) {
  v1::AgentSpec agent = Agent();
  agent.mutable_model_policy()->add_fallback_models("claude-haiku-4-5");
  agent.mutable_model_policy()->add_fallback_models("claude-sonnet-4-5");
  EXPECT_EQ(FallbackModels(agent, {"claude-sonnet-4-5"}), (std::vector<std::string>{"claude-haiku-4-5"}));
  EXPECT_TRUE(FallbackModels(agent, {"claude-sonnet-4-5", "claude-haiku-4-5"}).empty());
}

}  // namespace
}  // namespace baton::worker
