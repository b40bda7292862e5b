#include "mcp-bridge/tool_names.h"

#include <algorithm>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::mcp {
namespace {

using ::testing::ElementsAre;

TEST(ToolNamesTest, ValidNamesAreKeptWithTheServerPrefix) {
  EXPECT_THAT(ExposedToolNames("fs", {"read_text_file", "get-sum"}),
              ElementsAre("mcp__fs__read_text_file", "mcp__fs__get-sum"));
}

TEST(ToolNamesTest, InvalidCharactersAreReplaced) {
  EXPECT_THAT(ExposedToolNames("s", {"files.read", "a b"}), ElementsAre("mcp__s__files_read", "mcp__s__a_b"));
}

TEST(ToolNamesTest, CollisionsAfterSanitisingGetDistinctNames) {
  std::vector<std::string> names = ExposedToolNames("s", {"a.b", "a_b", "a-b", "a/b"});
  EXPECT_EQ(names[1], "mcp__s__a_b");  // valid names never move
  EXPECT_EQ(names[2], "mcp__s__a-b");
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 4u);
  for (const std::string& n : names) EXPECT_TRUE(IsValidApiToolName(n)) << n;
}

TEST(ToolNamesTest, LongNamesAreCutToSixtyFourWithoutCollisions) {
  const std::string base(120, 'x');
  std::vector<std::string> names = ExposedToolNames("a-long-server-name", {base + "1", base + "2", base});
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 3u);
  for (const std::string& n : names) {
    EXPECT_TRUE(IsValidApiToolName(n)) << n;
    EXPECT_EQ(n.rfind("mcp__a-long-server-name__", 0), 0u) << n;
  }
}

TEST(ToolNamesTest, TheMappingDoesNotDependOnListingOrder) {
  std::vector<std::string> tools = {"x.y", "x_y", std::string(80, 'q'), "q.q", "ok"};
  std::vector<std::string> reversed(tools.rbegin(), tools.rend());
  std::vector<std::string> a = ExposedToolNames("s", tools);
  std::vector<std::string> b = ExposedToolNames("s", reversed);
  std::reverse(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(ToolNamesTest, PatternsMatchExactNamesAndPrefixWildcards) {
  EXPECT_TRUE(MatchesAnyPattern("mcp__fs__read", {"mcp__fs__read"}));
  EXPECT_FALSE(MatchesAnyPattern("mcp__fs__read2", {"mcp__fs__read"}));
  EXPECT_TRUE(MatchesAnyPattern("mcp__fs__write", {"mcp__fs__*"}));
  EXPECT_FALSE(MatchesAnyPattern("mcp__fs2__write", {"mcp__fs__*"}));
  EXPECT_TRUE(MatchesAnyPattern("anything", {"*"}));
  EXPECT_FALSE(MatchesAnyPattern("anything", {}));
}

}  // namespace
}  // namespace baton::mcp
