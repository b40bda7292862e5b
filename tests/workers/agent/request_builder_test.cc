#include "workers/request_builder.h"

#include <gtest/gtest.h>

#include <string>

#include "workers/prompt_cache.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

// The request as the agent loop built it before RequestBuilder: the whole conversation
// copied into a JSON tree, edited there, and serialized member by member with
// "stream" last (MessagesApiClient::CreateMessage).
std::string TreeRequest(const json& messages, const std::string& model, size_t previous, const RequestParts& parts,
                        bool stream) {
  json request = {{"model", model}, {"max_tokens", parts.max_tokens}, {"messages", messages}};
  if (!parts.system.empty()) request["system"] = parts.system;
  if (!parts.tools.empty()) request["tools"] = parts.tools;
  if (!parts.temperature.is_null()) request["temperature"] = parts.temperature;
  if (!request["messages"].empty()) TrimFinalAssistantText(request["messages"].back());
  if (parts.prompt_caching) AddCacheBreakpoints(request, parts.cache_ttl, previous);
  std::string body = "{";
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (body.size() > 1) body += ',';
    body += SerializeJson(it.key()) + ":" + SerializeJson(it.value());
  }
  if (stream) body += ",\"stream\":true";
  return body + "}";
}

RequestParts Parts() {
  RequestParts parts;
  parts.max_tokens = 1024;
  parts.system = "You are careful.";
  parts.tools = json::array({{{"name", "echo"}, {"description", "echoes"}, {"input_schema", {{"type", "object"}}}},
                             {{"name", "read"}, {"description", "reads"}, {"input_schema", {{"type", "object"}}}}});
  return parts;
}

json ToolTurn(int step, int calls) {
  json content = json::array({{{"type", "thinking"}, {"thinking", "let me see"}, {"signature", "sig"}},
                              {{"type", "text"}, {"text", "Calling tools. "}}});
  for (int c = 0; c < calls; ++c) {
    content.push_back({{"type", "tool_use"},
                       {"id", "toolu_" + std::to_string(step) + "_" + std::to_string(c)},
                       {"name", "echo"},
                       {"input", {{"text", "hi"}, {"n", c}}}});
  }
  return {{"role", "assistant"}, {"content", content}};
}

json Result(int step, int call, json content) {
  return {{"type", "tool_result"},
          {"tool_use_id", "toolu_" + std::to_string(step) + "_" + std::to_string(call)},
          {"content", std::move(content)}};
}

// Drives a conversation the way RunExecution does (assistant turn, then its results
// one by one into the user turn after it), checking every request on the way.
class RequestBuilderTest : public ::testing::Test {
 protected:
  void Check(const std::string& why) {
    SerializedRequest request = builder_->Build(messages_, model_, previous_);
    EXPECT_EQ(request.Body(true), TreeRequest(messages_, model_, previous_, parts_, true)) << why;
    EXPECT_EQ(request.Body(false), TreeRequest(messages_, model_, previous_, parts_, false)) << why;
    // What the client sends: the same bytes, laid out by the builder.
    EXPECT_EQ(request.whole, TreeRequest(messages_, model_, previous_, parts_, parts_.stream)) << why;
    EXPECT_EQ(request.whole_streams, parts_.stream) << why;
    // The estimate ContextTokens falls back on, and the count_tokens body.
    json tree = json::parse(request.Body(false));
    json counted = json::object();
    for (const char* key : {"system", "messages", "tools"}) {
      if (tree.contains(key)) counted[key] = tree[key];
    }
    EXPECT_EQ(request.BodyBytes({"system", "messages", "tools"}), counted.dump().size()) << why;
    json count_body = tree;
    count_body.erase("max_tokens");
    count_body.erase("temperature");
    EXPECT_EQ(request.CountTokensBody(), SerializeJson(count_body)) << why;
    EXPECT_EQ(request.model, model_);
    EXPECT_EQ(builder_->kept_messages(), messages_.empty() ? 0 : messages_.size() - 1) << why;
    previous_ = messages_.size();
  }

  // Steps of `calls` tool calls each, checking the request before every step.
  void ToolSteps(int steps, int calls) {
    for (int s = 0; s < steps; ++s, ++step_) {
      Check("before step " + std::to_string(step_));
      messages_.push_back(ToolTurn(step_, calls));
      messages_.push_back({{"role", "user"}, {"content", json::array()}});
      for (int c = 0; c < calls; ++c) messages_.back()["content"].push_back(Result(step_, c, "ok " + std::to_string(c)));
    }
  }

  void Start(RequestParts parts, json first) {
    parts_ = std::move(parts);
    builder_ = std::make_unique<RequestBuilder>(parts_);
    messages_ = json::array({std::move(first)});
    previous_ = 0;
  }

  RequestParts parts_;
  std::unique_ptr<RequestBuilder> builder_;
  json messages_;
  std::string model_ = "claude-sonnet-4-5";
  size_t previous_ = 0;
  int step_ = 0;
};

TEST_F(RequestBuilderTest, ToolCallsAndResultsWithMovingBreakpointsMatchTheTreeRequest) {
  Start(Parts(), {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(30, 1);
  ToolSteps(5, 3);
  // A model switch between steps (a policy rule, a fallback).
  model_ = "claude-haiku-4-5";
  ToolSteps(3, 2);
  // The final answer, and a continued one (pause_turn): the request ends with an
  // assistant turn whose trailing whitespace is trimmed.
  messages_.push_back({{"role", "assistant"}, {"content", json::array({{{"type", "text"}, {"text", "Almost \n "}}})}});
  Check("after pause_turn");
  messages_.back()["content"].push_back({{"type", "text"}, {"text", " \n\t"}});
  Check("a final text of whitespace only");
}

TEST(TrimFinalAssistantTextTest, DropsTrailingWhitespaceAndEmptyTextAndSaysWhetherItChangedTheTurn) {
  auto turn = [](const char* text) {
    return json{{"role", "assistant"}, {"content", json::array({{{"type", "tool_use"}, {"id", "t"}},
                                                               {{"type", "text"}, {"text", text}}})}};
  };
  json cut = turn("Almost \n\t");
  EXPECT_TRUE(TrimFinalAssistantText(cut));
  EXPECT_EQ(cut["content"][1]["text"], "Almost");
  for (const char* empty : {"", " \n"}) {
    json message = turn(empty);
    EXPECT_TRUE(TrimFinalAssistantText(message)) << "[" << empty << "]";
    EXPECT_EQ(message["content"].size(), 1u) << "[" << empty << "]";
  }
  json whole = turn("Done.");
  EXPECT_FALSE(TrimFinalAssistantText(whole));
  EXPECT_EQ(whole, turn("Done."));
  json user = {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "hi "}}})}};
  EXPECT_FALSE(TrimFinalAssistantText(user));
  EXPECT_EQ(user["content"][0]["text"], "hi ");
}

// The message that ended the previous request is sent again with its breakpoint: as
// it was sent when nothing was trimmed from it, marked anew when it was a continued
// turn whose trailing whitespace the previous request dropped.
TEST_F(RequestBuilderTest, AContinuedTurnThatEndedTheLastRequestIsSentWhole) {
  Start(Parts(), {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(2, 1);
  for (const char* text : {"Cut off here \n", "Cut off without a space"}) {
    messages_.push_back({{"role", "assistant"}, {"content", json::array({{{"type", "text"}, {"text", text}}})}});
    Check(std::string("a continued turn: ") + text);
    messages_.push_back(ToolTurn(step_, 1));
    messages_.push_back({{"role", "user"}, {"content", json::array({Result(step_, 0, "ok")})}});
    ++step_;
    Check(std::string("the turn after: ") + text);
    ToolSteps(2, 1);
  }
}

TEST_F(RequestBuilderTest, ImagesDocumentsAndUserCacheControlMatchTheTreeRequest) {
  const json image = {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}}};
  const json document = {{"type", "document"},
                         {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", "a document"}}},
                         {"cache_control", {{"type", "ephemeral"}}}};
  Start(Parts(), {{"role", "user"}, {"content", json::array({image, document, {{"type", "text"}, {"text", "Read these."}}})}});
  ToolSteps(4, 1);
  // A tool result holding an image, and one with text that is not valid UTF-8.
  messages_.push_back(ToolTurn(step_, 2));
  messages_.push_back({{"role", "user"},
                       {"content", json::array({Result(step_, 0, json::array({image})),
                                                Result(step_, 1, std::string("bad \xff bytes"))})}});
  ++step_;
  Check("an image result");
  ToolSteps(3, 1);
}

TEST_F(RequestBuilderTest, BreakpointsAlreadyInTheConversationCountTowardsTheLimit) {
  RequestParts parts = Parts();
  parts.cache_ttl = "1h";
  parts.tools.back()["cache_control"] = {{"type", "ephemeral"}};
  json content = json::array();
  for (int i = 0; i < 3; ++i) {
    content.push_back({{"type", "text"}, {"text", "part " + std::to_string(i)}, {"cache_control", {{"type", "ephemeral"}}}});
  }
  Start(parts, {{"role", "user"}, {"content", content}});
  ToolSteps(4, 1);
}

TEST_F(RequestBuilderTest, CompactionSummaryStartsANewPrefix) {
  Start(Parts(), {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(12, 1);
  // What ApplySummary leaves: the input with the summary, then the turns kept.
  json kept(messages_.end() - 4, messages_.end());
  messages_ = json::array({{{"role", "user"}, {"content", "Do the task.\n\nSummary: steps 0-9 echoed."}}});
  for (json& m : kept) messages_.push_back(std::move(m));
  builder_->Reset();
  previous_ = 0;
  ToolSteps(5, 1);
  // A shorter conversation without Reset is taken as another one, too.
  messages_ = json::array({{{"role", "user"}, {"content", "again"}}});
  previous_ = 0;
  ToolSteps(3, 1);
}

TEST_F(RequestBuilderTest, WithoutCachingSystemToolsOrTemperatureMatchesTheTreeRequest) {
  RequestParts parts = Parts();
  parts.prompt_caching = false;
  parts.temperature = 0.7f;
  Start(parts, {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(4, 2);

  RequestParts bare;
  bare.max_tokens = 16;
  bare.stream = false;
  Start(bare, {{"role", "user"}, {"content", "Hello"}});
  ToolSteps(3, 1);
  Start(bare, {{"role", "user"}, {"content", ""}});  // nothing can carry a breakpoint
  ToolSteps(2, 1);
}

// The marked system prompt is spelled out, not built as a tree: a one-hour breakpoint,
// a temperature, and a prompt whose bytes need escaping (one of them not UTF-8) must
// come out as the tree's.
TEST_F(RequestBuilderTest, AnHourLongBreakpointAndAPromptToEscapeMatchTheTreeRequest) {
  RequestParts parts = Parts();
  parts.cache_ttl = "1h";
  parts.temperature = 0.25;
  parts.system = "Quote \" backslash \\ newline \n tab \t bell \x07 \xC3\xA9 bad \xFF end";
  Start(parts, {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(3, 2);
  parts.tools = json::array();
  Start(parts, {{"role", "user"}, {"content", "Again."}});
  ToolSteps(2, 1);
}

TEST_F(RequestBuilderTest, SetModelChangesOnlyTheModel) {
  Start(Parts(), {{"role", "user"}, {"content", "Do the task."}});
  ToolSteps(3, 1);
  SerializedRequest request = builder_->Build(messages_, "a", previous_);
  builder_->SetModel("claude-opus-4-1", &request);
  EXPECT_EQ(request.Body(true), TreeRequest(messages_, "claude-opus-4-1", previous_, parts_, true));
  EXPECT_EQ(request.whole, TreeRequest(messages_, "claude-opus-4-1", previous_, parts_, true));
  EXPECT_EQ(request.model, "claude-opus-4-1");
  // A name long enough to move the builder's buffer: the request's views follow it.
  const std::string long_name(100'000, 'm');
  builder_->SetModel(long_name, &request);
  EXPECT_EQ(request.whole, TreeRequest(messages_, long_name, previous_, parts_, true));
  EXPECT_EQ(request.Body(true), TreeRequest(messages_, long_name, previous_, parts_, true));
  // The next step keeps the conversation's bytes as they were before the edits.
  ToolSteps(2, 1);
}

}  // namespace
}  // namespace baton::worker
