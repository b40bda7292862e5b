#include "cli/agent_file.h"

#include <cstdio>
#include <fstream>
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

}  // namespace
}  // namespace baton::cli
