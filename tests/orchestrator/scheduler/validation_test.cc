#include "orchestrator/validation.h"

#include <gtest/gtest.h>

namespace baton::orchestrator {
namespace {

v1::AgentSpec Valid() {
  v1::AgentSpec a;
  a.set_name("helper");
  a.set_model("claude-sonnet-4-5");
  return a;
}

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
}

TEST(ValidationTest, AcceptsAValidAgent) { EXPECT_TRUE(ValidateAgentSpec(Valid(), true).ok()); }

TEST(ValidationTest, EmptyModelIsNamed) {
  v1::AgentSpec a = Valid();
  a.set_model("");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model");
}

TEST(ValidationTest, NegativeLimitsAreNamed) {
  v1::AgentSpec a = Valid();
  a.set_max_steps(-1);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.max_steps");
  a = Valid();
  a.set_max_tokens_total(-5);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.max_tokens_total");
  a = Valid();
  a.set_max_tokens(-5);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.max_tokens");
  a = Valid();
  a.set_max_tool_calls(-1);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.max_tool_calls");
  a = Valid();
  a.set_max_cost_usd(-0.5);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.max_cost_usd");
  a = Valid();
  a.mutable_prompt_caching()->set_ttl("2h");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.prompt_caching.ttl");
  a.mutable_prompt_caching()->set_ttl("1h");
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
}

TEST(ValidationTest, ModelPolicyRulesAreChecked) {
  v1::AgentSpec a = Valid();
  v1::ModelRule* rule = a.mutable_model_policy()->add_rules();
  rule->set_model("claude-opus-4-5");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model_policy.rules[0]: needs a condition");
  rule->set_after_tool("");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model_policy.rules[0].after_tool");
  rule->set_after_tool("search*");
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
  rule->set_from_step(-1);
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model_policy.rules[0].from_step");
  rule->set_first_step(true);
  rule->set_model("bad model");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model_policy.rules[0].model");
  rule->set_model("claude-opus-4-5");
  a.mutable_model_policy()->add_fallback_models("");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.model_policy.fallback_models[0]");
}

TEST(ValidationTest, StoredAgentsNeedAName) {
  v1::AgentSpec a = Valid();
  a.set_name("");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.name");
  EXPECT_TRUE(ValidateAgentSpec(a, false).ok());
  a.set_name("bad name");
  ExpectInvalid(ValidateAgentSpec(a, false), "agent.name");
}

TEST(ValidationTest, ToolPatternsMustBeNames) {
  v1::AgentSpec a = Valid();
  a.add_allowed_tools("mcp__fs__*");
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
  a.add_allowed_tools("bad*tool");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.allowed_tools[1]");
}

TEST(ValidationTest, CreateRunNeedsExactlyOneAgentAndAnInput) {
  v1::CreateRunRequest r;
  r.set_input("hi");
  ExpectInvalid(ValidateCreateRunRequest(r), "agent_name");
  r.set_agent_name("helper");
  EXPECT_TRUE(ValidateCreateRunRequest(r).ok());
  *r.mutable_agent() = Valid();
  ExpectInvalid(ValidateCreateRunRequest(r), "exactly one");
  r.clear_agent_name();
  r.set_input("");
  ExpectInvalid(ValidateCreateRunRequest(r), "input");
}

TEST(ValidationTest, RunIdsAreChecked) {
  ExpectInvalid(ValidateRunId(""), "run_id");
  ExpectInvalid(ValidateRunId("nope"), "run_id");
  EXPECT_TRUE(ValidateRunId("run_0123456789ab01234567").ok());
}

}  // namespace
}  // namespace baton::orchestrator
