#include "orchestrator/validation.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

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

google::protobuf::Struct StructOf(const std::string& json_text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json_text, &s).ok()) << json_text;
  return s;
}

TEST(ValidationTest, OutputSchemaMustBeAnObjectSchemaTheValidatorCompiles) {
  v1::AgentSpec a = Valid();
  *a.mutable_output_schema() =
      StructOf(R"({"type":"object","properties":{"tasks":{"type":"array","maxItems":3}},"required":["tasks"]})");
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
  *a.mutable_output_schema() = StructOf(R"({"type":"array"})");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.output_schema: must have \"type\": \"object\"");
  *a.mutable_output_schema() = StructOf(R"({"properties":{"a":{"type":"string"}}})");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.output_schema: must have \"type\": \"object\"");
  *a.mutable_output_schema() = StructOf(R"({"type":"object","properties":{"a":{"minLength":"long"}}})");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.output_schema: not a usable JSON Schema");
  // maxItems arrives as the double 3.0 and is still an integer to the validator.
  *a.mutable_output_schema() = StructOf(R"({"type":"object","properties":{"a":{"type":"array","maxItems":3}}})");
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
}

TEST(ValidationTest, OutputSchemaOfASubagentIsNamedByItsPath) {
  v1::AgentSpec a = Valid();
  v1::Subagent* sub = a.add_subagents();
  sub->set_name("planner");
  sub->mutable_agent()->set_model("claude-haiku-4-5");
  *sub->mutable_agent()->mutable_output_schema() = StructOf(R"({"type":"string"})");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.subagents[0].agent.output_schema");
}

TEST(ValidationTest, NoOtherToolMayBeNamedRespondBesideAnOutputSchema) {
  v1::AgentSpec a = Valid();
  v1::Subagent* sub = a.add_subagents();
  sub->set_name("respond");
  sub->mutable_agent()->set_model("claude-haiku-4-5");
  // Without an output schema a subagent may take the name.
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
  *a.mutable_output_schema() = StructOf(R"({"type":"object"})");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.subagents[0].name: \"respond\" is the tool of output_schema");
  a.clear_subagents();
  a.add_allowed_tools("echo");
  a.add_allowed_tools("respond");
  ExpectInvalid(ValidateAgentSpec(a, true), "agent.allowed_tools[1]: \"respond\"");
  a.mutable_allowed_tools()->RemoveLast();
  a.add_allowed_tools("*");  // a server's "respond" would be hidden, not refused
  EXPECT_TRUE(ValidateAgentSpec(a, true).ok());
}

}  // namespace
}  // namespace baton::orchestrator
