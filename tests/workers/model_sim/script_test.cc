#include "workers/model_sim/script.h"

#include <gtest/gtest.h>

namespace baton::model_sim {
namespace {

std::vector<ScriptedReply> Parse(const std::string& text) {
  auto r = ParseScript(Json::parse(text));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<ScriptedReply>{};
}

std::string ParseError(const std::string& text) {
  auto r = ParseScript(Json::parse(text));
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(ScriptTest, ParsesTheThreeKinds) {
  auto replies = Parse(R"({"replies":[
    {"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":7}},
    {"status":429,"error":{"type":"rate_limit_error","message":"slow down"},"headers":{"retry-after":"1"}},
    {"stream_error":{"type":"overloaded_error","message":"Overloaded"},"after_events":3}]})");
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].kind, ScriptedReply::Kind::kMessage);
  EXPECT_EQ(replies[0].stop_reason, "end_turn");
  EXPECT_EQ(replies[0].usage["input_tokens"], 7);
  EXPECT_EQ(replies[1].kind, ScriptedReply::Kind::kError);
  EXPECT_EQ(replies[1].status, 429);
  EXPECT_EQ(replies[1].error_message, "slow down");
  ASSERT_EQ(replies[1].headers.size(), 1u);
  EXPECT_EQ(replies[1].headers[0], (std::pair<std::string, std::string>{"retry-after", "1"}));
  EXPECT_EQ(replies[2].kind, ScriptedReply::Kind::kStreamError);
  EXPECT_EQ(replies[2].after_events, 3);
  EXPECT_EQ(replies[2].status, 529);  // what a non-streaming request gets
}

TEST(ScriptTest, ErrorDefaultsFollowStatusOrType) {
  auto replies = Parse(R"({"replies":[{"status":529},{"error":{"type":"rate_limit_error"}},
                                      {"status":502,"body":"<html>bad gateway</html>"}]})");
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].error_type, "overloaded_error");
  EXPECT_EQ(replies[1].status, 429);
  EXPECT_EQ(replies[2].error_type, "api_error");
  EXPECT_EQ(replies[2].raw_body, "<html>bad gateway</html>");
}

TEST(ScriptTest, StringContentBecomesATextBlock) {
  auto replies = Parse(R"({"replies":[{"content":"plain"}]})");
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(*replies[0].content, Json::parse(R"([{"type":"text","text":"plain"}])"));
}

TEST(ScriptTest, MistakesAreNamed) {
  EXPECT_EQ(ParseError(R"({"replies":[{"delay":5}]})"), "replies.0.delay: unknown field");
  EXPECT_EQ(ParseError(R"({"replies":[{},{"repeat":0}]})"), "replies.1.repeat: must be an integer >= 1");
  EXPECT_EQ(ParseError(R"({"replies":[{"content":[{"type":"tool_use"}]}]})"),
            "replies.0.content.0.name: must be a string");
  EXPECT_EQ(ParseError(R"({"replies":[{"status":99}]})"),
            "replies.0.status: must be an HTTP status between 200 and 599");
  EXPECT_EQ(ParseError(R"({"replies":[{"content":"x","body":"raw"}]})"),
            "replies.0.body: only an error reply (status >= 400) can carry a raw body");
  EXPECT_EQ(ParseError(R"({"reply":[]})"), "replies: Field required (send {\"replies\":[...]})");
  EXPECT_EQ(ParseError(R"({"replies":[{"_comment":"fine"}]})"), "");
}

TEST(ScriptTest, QueueIsFifoAmongMatchingReplies) {
  ReplyQueue q;
  q.Append(Parse(R"({"replies":[{"match":"weather","content":"sunny"},
                                 {"content":"first"},
                                 {"content":"second"}]})"));
  EXPECT_EQ(q.pending(), 3u);
  // A request without "weather" skips the matching reply and takes the first plain one.
  auto a = q.Take(R"({"messages":"hello"})");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a->content)[0]["text"], "first");
  auto b = q.Take(R"({"messages":"what is the weather"})");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ((*b->content)[0]["text"], "sunny");
  auto c = q.Take(R"({"messages":"what is the weather"})");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c->content)[0]["text"], "second");
  EXPECT_FALSE(q.Take("anything").has_value());
}

TEST(ScriptTest, RepeatServesSeveralRequests) {
  ReplyQueue q;
  q.Append(Parse(R"({"replies":[{"status":529,"repeat":2},{"content":"ok"}]})"));
  EXPECT_EQ(q.pending(), 3u);
  EXPECT_EQ(q.Take("x")->status, 529);
  EXPECT_EQ(q.Take("x")->status, 529);
  EXPECT_EQ(q.Take("x")->kind, ScriptedReply::Kind::kMessage);
  EXPECT_EQ(q.pending(), 0u);
}

TEST(ScriptTest, UnmatchedReplyStaysQueued) {
  ReplyQueue q;
  q.Append(Parse(R"({"replies":[{"match":"needle","content":"found"}]})"));
  EXPECT_FALSE(q.Take("haystack").has_value());
  EXPECT_EQ(q.pending(), 1u);
  q.Clear();
  EXPECT_EQ(q.pending(), 0u);
}

}  // namespace
}  // namespace baton::model_sim
