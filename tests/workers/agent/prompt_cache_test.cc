#include "workers/prompt_cache.h"

#include <gtest/gtest.h>

namespace baton::worker {
namespace {

using json = nlohmann::json;

json Request(int turns) {
  json messages = json::array({{{"role", "user"}, {"content", "task"}}});
  for (int i = 0; i < turns; ++i) {
    std::string id = "t" + std::to_string(i);
    messages.push_back({{"role", "assistant"},
                        {"content", json::array({{{"type", "thinking"}, {"thinking", "hm"}, {"signature", "s"}},
                                                 {{"type", "tool_use"}, {"id", id}, {"name", "echo"}, {"input", json::object()}}})}});
    messages.push_back({{"role", "user"},
                        {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", id}, {"content", "ok"}}})}});
  }
  return {{"model", "m"},
          {"max_tokens", 10},
          {"system", "be brief"},
          {"tools", json::array({{{"name", "a"}}, {{"name", "echo"}}})},
          {"messages", messages}};
}

const json kFiveMinutes = {{"type", "ephemeral"}};

TEST(PromptCacheTest, FirstStepMarksToolsSystemAndTheInput) {
  json r = Request(0);
  AddCacheBreakpoints(r, "", 0);
  EXPECT_EQ(CountCacheBreakpoints(r), 3);
  EXPECT_FALSE(r["tools"][0].contains("cache_control"));
  EXPECT_EQ(r["tools"][1]["cache_control"], kFiveMinutes);
  EXPECT_EQ(r["system"], json::array({{{"type", "text"}, {"text", "be brief"}, {"cache_control", kFiveMinutes}}}));
  EXPECT_EQ(r["messages"][0]["content"],
            json::array({{{"type", "text"}, {"text", "task"}, {"cache_control", kFiveMinutes}}}));
}

TEST(PromptCacheTest, LaterStepsAlsoMarkWhereThePreviousRequestEnded) {
  json r = Request(2);  // 5 messages; the previous request had 3
  AddCacheBreakpoints(r, "1h", 3);
  EXPECT_EQ(CountCacheBreakpoints(r), 4);
  const json one_hour = {{"type", "ephemeral"}, {"ttl", "1h"}};
  EXPECT_EQ(r["messages"][4]["content"][0]["cache_control"], one_hour);
  EXPECT_EQ(r["messages"][2]["content"][0]["cache_control"], one_hour);
  EXPECT_FALSE(r["messages"][0]["content"].is_array());
  EXPECT_EQ(r["tools"][1]["cache_control"], one_hour);
}

TEST(PromptCacheTest, ThinkingBlocksAreNeverMarkedAndTheLimitHolds) {
  json r = Request(1);
  r["messages"].push_back(r["messages"][1]);  // end on an assistant turn (pause_turn)
  r["messages"][3]["content"] = json::array({{{"type", "thinking"}, {"thinking", "x"}, {"signature", "s"}}});
  AddCacheBreakpoints(r, "", 3);
  EXPECT_FALSE(r["messages"][3]["content"][0].contains("cache_control"));
  EXPECT_EQ(r["messages"][2]["content"][0]["cache_control"], kFiveMinutes);
  EXPECT_LE(CountCacheBreakpoints(r), kMaxCacheBreakpoints);

  // Breakpoints already present count: never more than 4 in all.
  json full = Request(3);
  for (int i : {2, 4, 6}) full["messages"][i]["content"][0]["cache_control"] = kFiveMinutes;
  AddCacheBreakpoints(full, "", 5);
  EXPECT_EQ(CountCacheBreakpoints(full), 4);
}

}  // namespace
}  // namespace baton::worker
