#include "cli/spec_file.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(AgentFileTest, ParsesCamelCaseAndSnakeCaseFields) {
  auto spec = ParseAgentJson(R"({"name": "a", "model": "claude-sonnet-4-5",
      "allowedTools": ["echo"], "max_steps": 10, "system": "Be brief."})", "agent.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "a");
  EXPECT_EQ(spec->model(), "claude-sonnet-4-5");
  EXPECT_EQ(spec->allowed_tools_size(), 1);
  EXPECT_EQ(spec->max_steps(), 10);
  EXPECT_EQ(spec->system(), "Be brief.");
}

TEST(AgentFileTest, UnknownFieldIsNamedWithTheFile) {
  auto spec = ParseAgentJson(R"({"name": "a", "modle": "claude-sonnet-4-5"})", "agent.json");
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec.status().message(), "agent.json: invalid agent: INVALID_ARGUMENT: unknown field \"modle\"");
}

TEST(AgentFileTest, MalformedJsonNamesLineAndColumn) {
  auto spec = ParseAgentJson("{\n  \"model\": \"m\",\n}", "agent.json");
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()),
              StartsWith("agent.json: invalid agent: INVALID_ARGUMENT: malformed JSON"));
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("line 3"));
  EXPECT_EQ(std::string(spec.status().message()).find('\n'), std::string::npos);
}

// Found by tests/fuzz/agent_spec_fuzz.cc: nlohmann throws out_of_range, not parse_error.
TEST(AgentFileTest, NumberBeyondDoubleIsAnErrorNotACrash) {
  auto spec = ParseAgentJson(R"({"model": "m", "maxCostUsd": 1e400})", "agent.json");
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("number overflow parsing '1e400'"));
}

TEST(AgentFileTest, WrongTypeNamesTheField) {
  auto spec = ParseAgentJson(R"({"model": "m", "maxSteps": "ten"})", "a.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("field \"max_steps\""));
}

TEST(AgentFileTest, MissingModelIsAnError) {
  auto spec = ParseAgentJson(R"({"name": "a"})", "a.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("\"model\" is required"));
}

TEST(AgentFileTest, EmptyFileAndNonObjectAreErrors) {
  EXPECT_THAT(std::string(ParseAgentJson("  \n", "a.json").status().message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(ParseAgentJson("[]", "a.json").status().message()),
              HasSubstr("expected a JSON object"));
}

TEST(AgentFileTest, LoadAgentFileReadsTheFileAndNamesMissingOnes) {
  std::string path = ::testing::TempDir() + "/agent_file_test.json";
  {
    std::ofstream out(path);
    out << R"({"model": "claude-haiku-4-5"})";
  }
  auto spec = LoadAgentFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model(), "claude-haiku-4-5");
  std::remove(path.c_str());

  auto missing = LoadAgentFile(path);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), StartsWith(path + ": cannot read"));
}

TEST(AgentFileTest, ExampleAssistantAgentIsValid) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "BATON_SOURCE_DIR is unset (run through ctest)";
  auto spec = LoadAgentFile(std::string(source_dir) + "/examples/agents/assistant.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model(), "claude-sonnet-4-5");
  EXPECT_THAT(std::vector<std::string>(spec->allowed_tools().begin(), spec->allowed_tools().end()),
              ::testing::ElementsAre("echo", "sum", "current_time"));
  EXPECT_EQ(spec->max_steps(), 10);
}

TEST(AgentFileTest, ExampleResearcherHasASubagentAndAnApprovalRule) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "BATON_SOURCE_DIR is unset (run through ctest)";
  auto spec = LoadAgentFile(std::string(source_dir) + "/examples/agents/researcher.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->subagents_size(), 1);
  EXPECT_EQ(spec->subagents(0).name(), "digger");
  EXPECT_EQ(spec->subagents(0).agent().model(), "claude-haiku-4-5");
  ASSERT_EQ(spec->approvals_size(), 1);
  EXPECT_THAT(std::vector<std::string>(spec->approvals(0).tools().begin(), spec->approvals(0).tools().end()),
              ::testing::ElementsAre("sleep"));
  EXPECT_EQ(spec->approvals(0).on_timeout(), v1::ApprovalRule::TIMEOUT_DENY);
}

TEST(GraphFileTest, ParsesNodesEdgesAndConditions) {
  auto spec = ParseGraphJson(R"({"name": "g", "nodes": [
      {"id": "plan", "agent": {"agent": {"model": "m"}, "output_schema": {"type": "object"}}},
      {"id": "ask", "max_visits": 2, "human": {"prompt": "ok?", "decisions": ["APPROVE", "DENY"]}}],
    "edges": [{"from": "plan", "to": "ask", "when": {"pointer": "/ok", "op": "EQ", "value": false}}],
    "limits": {"maxNodeRuns": 10}})", "g.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->nodes_size(), 2);
  EXPECT_EQ(spec->nodes(0).agent().agent().model(), "m");
  EXPECT_TRUE(spec->nodes(0).agent().output_schema().fields().contains("type"));
  EXPECT_EQ(spec->nodes(1).human().decisions_size(), 2);
  EXPECT_EQ(spec->edges(0).when().op(), v1::Condition::EQ);
  EXPECT_FALSE(spec->edges(0).when().value().bool_value());
  EXPECT_EQ(spec->limits().max_node_runs(), 10);
}

TEST(GraphFileTest, ErrorsNameTheFileAndSayGraph) {
  auto unknown = ParseGraphJson(R"({"nodes": [{"id": "a", "agnet": {}}]})", "g.json");
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "g.json: invalid graph: INVALID_ARGUMENT: unknown field \"nodes[0].agnet\"");

  auto deeper =
      ParseGraphJson(R"({"nodes": [{"id": "a"}, {"id": "b", "agent": {"agent": {"modle": "m"}}}]})", "g.json");
  EXPECT_EQ(deeper.status().message(),
            "g.json: invalid graph: INVALID_ARGUMENT: unknown field \"nodes[1].agent.agent.modle\"");

  auto malformed = ParseGraphJson("{\"nodes\": [\n}", "g.json");
  EXPECT_THAT(std::string(malformed.status().message()),
              StartsWith("g.json: invalid graph: INVALID_ARGUMENT: malformed JSON: parse error at line 2"));

  auto bad_enum = ParseGraphJson(R"({"nodes": [{"id": "m", "map": {"on_failure": "SOMETIMES"}}]})", "g.json");
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_THAT(std::string(bad_enum.status().message()), HasSubstr("on_failure"));

  EXPECT_THAT(std::string(ParseGraphJson(R"({"name": "empty"})", "g.json").status().message()),
              HasSubstr("field \"nodes\" is required"));
  EXPECT_THAT(std::string(ParseGraphJson("[1]", "g.json").status().message()),
              HasSubstr("expected a JSON object, found array"));
}

TEST(GraphFileTest, LoadGraphFileNamesAMissingFile) {
  auto missing = LoadGraphFile(::testing::TempDir() + "/no_such_graph.json");
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no_such_graph.json: cannot read graph file: "));
}

// The example graphs parse, and say what examples/graphs/README.md says they do.
TEST(GraphFileTest, ExampleResearchGraphLoopsFromReviewerToWriter) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "BATON_SOURCE_DIR is unset (run through ctest)";
  auto spec = LoadGraphFile(std::string(source_dir) + "/examples/graphs/research.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "research");
  std::vector<std::string> ids;
  for (const v1::GraphNode& node : spec->nodes()) ids.push_back(node.id());
  EXPECT_THAT(ids, ::testing::ElementsAre("planner", "research", "writer", "reviewer"));
  EXPECT_EQ(spec->nodes(1).map().over(), "nodes.planner.output.tasks");
  EXPECT_EQ(spec->nodes(1).map().max_parallel(), 8);
  EXPECT_EQ(spec->nodes(1).map().on_failure(), v1::MapNode::COLLECT);
  EXPECT_EQ(spec->nodes(2).max_visits(), 3);
  EXPECT_THAT(spec->nodes(2).agent().input(), HasSubstr("{{nodes.reviewer.output.feedback}}"));
  const v1::GraphEdge& loop = spec->edges(spec->edges_size() - 1);
  EXPECT_EQ(loop.from(), "reviewer");
  EXPECT_EQ(loop.to(), "writer");
  EXPECT_EQ(loop.when().pointer(), "/approved");
  EXPECT_EQ(loop.when().op(), v1::Condition::EQ);
  EXPECT_EQ(loop.when().value().kind_case(), google::protobuf::Value::kBoolValue);
  EXPECT_FALSE(loop.when().value().bool_value());
  for (const v1::GraphEdge& edge : spec->edges()) EXPECT_FALSE(edge.default_()) << edge.from();
  EXPECT_EQ(spec->output(), "{{nodes.writer.output}}");
  EXPECT_GT(spec->limits().max_cost_usd(), 0);
  EXPECT_GT(spec->limits().max_node_runs(), 0);
}

TEST(GraphFileTest, ExampleTriageGraphPutsBillingBehindAPerson) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "BATON_SOURCE_DIR is unset (run through ctest)";
  auto spec = LoadGraphFile(std::string(source_dir) + "/examples/graphs/triage.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "triage");
  std::map<std::string, const v1::GraphNode*> nodes;
  for (const v1::GraphNode& node : spec->nodes()) nodes[node.id()] = &node;
  ASSERT_TRUE(nodes.count("router") && nodes.count("approve_refund") && nodes.count("billing") &&
              nodes.count("technical") && nodes.count("general"));
  EXPECT_TRUE(nodes["approve_refund"]->has_human());
  EXPECT_THAT(nodes["approve_refund"]->human().prompt(), HasSubstr("{{input}}"));
  std::map<std::string, std::string> routes;  // router's edges: condition value (or "default") -> target
  for (const v1::GraphEdge& edge : spec->edges()) {
    if (edge.from() == "router") {
      routes[edge.default_() ? "default" : edge.when().value().string_value()] = edge.to();
    } else {
      EXPECT_EQ(edge.from(), "approve_refund");
      EXPECT_EQ(edge.to(), "billing");
    }
  }
  EXPECT_EQ(routes, (std::map<std::string, std::string>{
                        {"billing", "approve_refund"}, {"technical", "technical"}, {"default", "general"}}));
}

}  // namespace
}  // namespace baton::cli
