#include "cli/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ArgsTest, ExtractRepeatedFlagTakesEveryOccurrenceAndLeavesTheRest) {
  std::vector<std::string> args = {"run", "--label", "a=1", "agent.json", "--label=b=2", "--watch",
                                   "hi"};
  auto labels = ExtractRepeatedFlag("label", args);
  ASSERT_TRUE(labels.ok());
  EXPECT_THAT(*labels, ElementsAre("a=1", "b=2"));
  EXPECT_THAT(args, ElementsAre("run", "agent.json", "--watch", "hi"));
}

TEST(ArgsTest, ExtractRepeatedFlagStopsAtDoubleDash) {
  std::vector<std::string> args = {"run", "--", "--label", "x"};
  auto labels = ExtractRepeatedFlag("label", args);
  ASSERT_TRUE(labels.ok());
  EXPECT_TRUE(labels->empty());
  EXPECT_THAT(args, ElementsAre("run", "--", "--label", "x"));
}

TEST(ArgsTest, ExtractRepeatedFlagWithoutValueIsAnError) {
  std::vector<std::string> args = {"run", "--label"};
  EXPECT_EQ(ExtractRepeatedFlag("label", args).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ArgsTest, ParseLabelsSplitsAtTheFirstEquals) {
  auto labels = ParseLabels({"team=infra", "query=a=b", "empty="});
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(labels->at("team"), "infra");
  EXPECT_EQ(labels->at("query"), "a=b");
  EXPECT_EQ(labels->at("empty"), "");
}

TEST(ArgsTest, ParseLabelsRejectsMissingKeysAndDuplicates) {
  EXPECT_THAT(std::string(ParseLabels({"novalue"}).status().message()), HasSubstr("KEY=VALUE"));
  EXPECT_THAT(std::string(ParseLabels({"=v"}).status().message()), HasSubstr("KEY=VALUE"));
  EXPECT_THAT(std::string(ParseLabels({"a=1", "a=2"}).status().message()), HasSubstr("\"a\" given twice"));
}

TEST(ArgsTest, ParseSpecRefWithAndWithoutVersion) {
  auto latest = ParseSpecRef("--agent", "assistant");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->name, "assistant");
  EXPECT_EQ(latest->version, 0);
  auto pinned = ParseSpecRef("--agent", "assistant@3");
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->name, "assistant");
  EXPECT_EQ(pinned->version, 3);
  EXPECT_FALSE(ParseSpecRef("--agent", "assistant@x").ok());
  EXPECT_FALSE(ParseSpecRef("--agent", "assistant@0").ok());
  EXPECT_EQ(ParseSpecRef("--graph", "@2").status().message(), "--graph \"@2\": expected NAME or NAME@VERSION");
}

TEST(ArgsTest, GraphArgIsAFileWhenItExistsOrLooksLikeAPath) {
  auto existing = ParseGraphArg("research", /*is_file=*/true);  // a file named like a graph
  ASSERT_TRUE(existing.ok());
  EXPECT_EQ(existing->file, "research");
  for (const char* path : {"-", "examples/graphs/research.json", "research.json", "./research"}) {
    auto arg = ParseGraphArg(path, /*is_file=*/false);
    ASSERT_TRUE(arg.ok()) << path;
    EXPECT_EQ(arg->file, path);  // read (and reported missing) as a file, not looked up
  }
}

TEST(ArgsTest, GraphArgIsAStoredGraphOtherwise) {
  auto latest = ParseGraphArg("research", /*is_file=*/false);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->file, "");
  EXPECT_EQ(latest->stored.name, "research");
  EXPECT_EQ(latest->stored.version, 0);
  auto pinned = ParseGraphArg("my.graph@2", /*is_file=*/false);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->stored.name, "my.graph");
  EXPECT_EQ(pinned->stored.version, 2);
  EXPECT_THAT(std::string(ParseGraphArg("research@latest", false).status().message()),
              HasSubstr("--graph \"research@latest\": version \"latest\" is not a positive integer"));
  EXPECT_FALSE(ParseGraphArg("", false).ok());
}

TEST(ArgsTest, ParseRunStateIgnoresCase) {
  EXPECT_EQ(*ParseRunState("succeeded"), v1::SUCCEEDED);
  EXPECT_EQ(*ParseRunState("RUNNING"), v1::RUNNING);
  EXPECT_FALSE(ParseRunState("done").ok());
  EXPECT_FALSE(ParseRunState("run_state_unspecified").ok());
}

TEST(ArgsTest, WantsHelp) {
  EXPECT_TRUE(WantsHelp({"run", "--help"}));
  EXPECT_TRUE(WantsHelp({"-h"}));
  EXPECT_FALSE(WantsHelp({"run", "--", "--help"}));
  EXPECT_FALSE(WantsHelp({"run", "x"}));
}

TEST(ArgsTest, ParseRunStateAcceptsWaiting) {
  auto state = ParseRunState("waiting");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::WAITING);
  EXPECT_THAT(ParseRunState("done").status().message(), HasSubstr("waiting"));
}

TEST(ArgsTest, ToolResultFlagTakesAJsonStringOrBlocks) {
  auto replacement = ParseToolResultFlag(R"(toolu_1="42")");
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ(replacement->tool_use_id(), "toolu_1");
  EXPECT_EQ(replacement->content_json(), R"("42")");
  replacement = ParseToolResultFlag(R"(t=[{"type":"text","text":"a=b"}])");
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ(replacement->tool_use_id(), "t");
  EXPECT_EQ(replacement->content_json(), R"([{"type":"text","text":"a=b"}])");
}

TEST(ArgsTest, ToolResultFlagNeedsAnIdAndJsonContent) {
  EXPECT_FALSE(ParseToolResultFlag(R"(="42")").ok());
  EXPECT_FALSE(ParseToolResultFlag("toolu_1").ok());
  EXPECT_FALSE(ParseToolResultFlag("toolu_1=42").ok());  // a number is not tool_result content
  EXPECT_FALSE(ParseToolResultFlag("toolu_1=hello").ok());
}

}  // namespace
}  // namespace baton::cli
