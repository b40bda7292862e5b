#include "workers/model/message_assembler.h"

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workers/model/sse_parser.h"

namespace baton::worker {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

json MessageStart(json usage = {{"input_tokens", 25}, {"output_tokens", 1}}) {
  return {{"type", "message_start"},
          {"message",
           {{"id", "msg_1"},
            {"type", "message"},
            {"role", "assistant"},
            {"model", "claude-sonnet-4-5"},
            {"content", json::array()},
            {"stop_reason", nullptr},
            {"stop_sequence", nullptr},
            {"usage", std::move(usage)}}}};
}

json BlockStart(int index, json block) {
  return {{"type", "content_block_start"}, {"index", index}, {"content_block", std::move(block)}};
}

json Delta(int index, json delta) {
  return {{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(delta)}};
}

json TextDelta(int index, std::string text) {
  return Delta(index, {{"type", "text_delta"}, {"text", std::move(text)}});
}

json JsonDelta(int index, std::string partial) {
  return Delta(index, {{"type", "input_json_delta"}, {"partial_json", std::move(partial)}});
}

json BlockStop(int index) { return {{"type", "content_block_stop"}, {"index", index}}; }

json MessageDelta(json delta, json usage) {
  return {{"type", "message_delta"}, {"delta", std::move(delta)}, {"usage", std::move(usage)}};
}

json MessageStop() { return {{"type", "message_stop"}}; }

class MessageAssemblerTest : public ::testing::Test {
 protected:
  MessageAssemblerTest()
      : assembler_([this](int index, const std::string& text) {
          texts_.emplace_back(index, text);
        }) {}

  // Feeds an event the way the API names it: the SSE event name equals data.type.
  absl::Status Feed(const json& data) {
    return assembler_.OnEvent(data["type"].get<std::string>(), data.dump());
  }
  void FeedAll(const std::vector<json>& events) {
    for (const json& event : events) ASSERT_TRUE(Feed(event).ok()) << event.dump();
  }

  std::vector<std::pair<int, std::string>> texts_;
  MessageAssembler assembler_;
};

TEST_F(MessageAssemblerTest, AssemblesTextMessageLikeNonStreamingResponse) {
  FeedAll({MessageStart(), {{"type", "ping"}},
           BlockStart(0, {{"type", "text"}, {"text", ""}}), TextDelta(0, "Hello"),
           TextDelta(0, ", world"), BlockStop(0),
           MessageDelta({{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}},
                        {{"output_tokens", 12}}),
           MessageStop()});
  EXPECT_TRUE(assembler_.done());
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(*message, json::parse(R"({
    "id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
    "content":[{"type":"text","text":"Hello, world"}],
    "stop_reason":"end_turn","stop_sequence":null,
    "usage":{"input_tokens":25,"output_tokens":12}})"));
  EXPECT_THAT(texts_, ElementsAre(Pair(0, "Hello"), Pair(0, ", world")));
}

TEST_F(MessageAssemblerTest, ConcatenatesSplitToolInputAndParsesItAtBlockStop) {
  FeedAll({MessageStart(), BlockStart(0, {{"type", "text"}, {"text", ""}}),
           TextDelta(0, "Let me look."), BlockStop(0),
           BlockStart(1, {{"type", "tool_use"},
                          {"id", "toolu_1"},
                          {"name", "get_weather"},
                          {"input", json::object()}}),
           JsonDelta(1, ""), JsonDelta(1, "{\"loc"), JsonDelta(1, "ation\": \"Par"),
           JsonDelta(1, "is\", \"days\": [1,"), JsonDelta(1, " 2]}")});
  // Until content_block_stop the input is untouched.
  EXPECT_EQ(Feed(BlockStop(1)), absl::OkStatus());
  FeedAll({MessageDelta({{"stop_reason", "tool_use"}, {"stop_sequence", nullptr}},
                        {{"output_tokens", 40}}),
           MessageStop()});
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["stop_reason"], "tool_use");
  EXPECT_EQ((*message)["content"][1], json::parse(R"({"type":"tool_use","id":"toolu_1",
      "name":"get_weather","input":{"location":"Paris","days":[1,2]}})"));
  EXPECT_THAT(texts_, ElementsAre(Pair(0, "Let me look.")));
}

TEST_F(MessageAssemblerTest, EmptyToolInputBecomesEmptyObject) {
  FeedAll({MessageStart(),
           BlockStart(0, {{"type", "tool_use"}, {"id", "t1"}, {"name", "a"}, {"input", {}}}),
           JsonDelta(0, ""), BlockStop(0),
           BlockStart(1, {{"type", "tool_use"}, {"id", "t2"}, {"name", "b"}}), BlockStop(1),
           MessageDelta({{"stop_reason", "tool_use"}}, {{"output_tokens", 3}}), MessageStop()});
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["content"][0]["input"], json::object());
  EXPECT_TRUE((*message)["content"][0]["input"].is_object());
  // No delta at all: the block keeps what content_block_start gave (no input here).
  EXPECT_FALSE((*message)["content"][1].contains("input"));
}

TEST_F(MessageAssemblerTest, UsageIsCumulativeAndOverwrittenNeverAdded) {
  FeedAll({MessageStart({{"input_tokens", 100},
                         {"output_tokens", 1},
                         {"cache_creation_input_tokens", 0},
                         {"cache_read_input_tokens", 2048}}),
           BlockStart(0, {{"type", "text"}, {"text", ""}}), TextDelta(0, "x"), BlockStop(0),
           MessageDelta({{"stop_reason", nullptr}}, {{"output_tokens", 50}}),
           MessageDelta({{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}},
                        {{"output_tokens", 80},
                         {"input_tokens", nullptr},
                         {"cache_creation_input_tokens", 10}}),
           MessageStop()});
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["usage"], json::parse(R"({"input_tokens":100,"output_tokens":80,
      "cache_creation_input_tokens":10,"cache_read_input_tokens":2048})"));
  EXPECT_EQ((*message)["stop_reason"], "end_turn");
}

TEST_F(MessageAssemblerTest, AssemblesThinkingAndSignature) {
  FeedAll({MessageStart(),
           BlockStart(0, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}),
           Delta(0, {{"type", "thinking_delta"}, {"thinking", "Let me "}}),
           Delta(0, {{"type", "thinking_delta"}, {"thinking", "think."}}),
           Delta(0, {{"type", "signature_delta"}, {"signature", "EqQBCgIYAhIM"}}), BlockStop(0),
           BlockStart(1, {{"type", "redacted_thinking"}, {"data", "abc"}}), BlockStop(1),
           MessageDelta({{"stop_reason", "end_turn"}}, {{"output_tokens", 9}}), MessageStop()});
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["content"], json::parse(R"([
      {"type":"thinking","thinking":"Let me think.","signature":"EqQBCgIYAhIM"},
      {"type":"redacted_thinking","data":"abc"}])"));
  EXPECT_TRUE(texts_.empty());  // thinking is not text
}

TEST_F(MessageAssemblerTest, IgnoresPingUnknownEventsAndUnknownDeltas) {
  FeedAll({{{"type", "ping"}}, MessageStart(), {{"type", "ping"}},
           {{"type", "brand_new_event"}, {"whatever", 1}},
           BlockStart(0, {{"type", "text"}, {"text", ""}}),
           Delta(0, {{"type", "future_delta"}, {"stuff", "?"}}), TextDelta(0, "ok"),
           BlockStop(0), MessageDelta({{"stop_reason", "end_turn"}}, {{"output_tokens", 2}}),
           {{"type", "ping"}}, MessageStop()});
  // Unknown event names are ignored even when their data is not JSON.
  EXPECT_TRUE(assembler_.OnEvent("mystery", "not json").ok());
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["content"], json::parse(R"([{"type":"text","text":"ok"}])"));
}

TEST_F(MessageAssemblerTest, UsesDataTypeWhenEventHasNoName) {
  for (const json& event :
       {MessageStart(), BlockStart(0, {{"type", "text"}, {"text", ""}}), TextDelta(0, "hi"),
        BlockStop(0), MessageDelta({{"stop_reason", "end_turn"}}, {{"output_tokens", 1}}),
        MessageStop()}) {
    ASSERT_TRUE(assembler_.OnEvent("message", event.dump()).ok());
  }
  auto message = assembler_.Finish();
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ((*message)["content"][0]["text"], "hi");
}

TEST_F(MessageAssemblerTest, ErrorEventBecomesStatusWithApiTypeAndMessage) {
  FeedAll({MessageStart(), BlockStart(0, {{"type", "text"}, {"text", ""}}),
           TextDelta(0, "par")});
  absl::Status status = Feed(json::parse(
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "Messages API stream error overloaded_error: Overloaded");
  ASSERT_TRUE(assembler_.error().has_value());
  EXPECT_EQ(assembler_.error()->type, "overloaded_error");
  EXPECT_EQ(assembler_.error()->message, "Overloaded");
  EXPECT_EQ(ApiErrorTypeOf(status), "overloaded_error");
  EXPECT_EQ(assembler_.Finish().status(), status);
}

TEST_F(MessageAssemblerTest, NonRetryableErrorEventKeepsItsCode) {
  absl::Status status = Feed(json::parse(
      R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MessageAssemblerTest, TruncatedStreamIsUnavailable) {
  FeedAll({MessageStart(), BlockStart(0, {{"type", "text"}, {"text", ""}}),
           TextDelta(0, "cut")});
  EXPECT_FALSE(assembler_.done());
  EXPECT_EQ(assembler_.Finish().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MessageAssemblerTest, EmptyStreamIsUnavailable) {
  EXPECT_EQ(assembler_.Finish().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MessageAssemblerTest, MalformedStreamsAreInternalErrors) {
  EXPECT_EQ(Feed(TextDelta(0, "before start")).code(), absl::StatusCode::kInternal);

  MessageAssembler a;
  ASSERT_TRUE(a.OnEvent("message_start", MessageStart().dump()).ok());
  EXPECT_EQ(a.OnEvent("content_block_delta", "{not json").code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(a.OnEvent("content_block_delta", TextDelta(3, "no such block").dump()).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(a.OnEvent("content_block_start",
                      BlockStart(2, {{"type", "text"}, {"text", ""}}).dump())
                .code(),
            absl::StatusCode::kInternal);
}

TEST_F(MessageAssemblerTest, InvalidToolInputFailsUnlessCutOffByMaxTokens) {
  auto run = [](const std::string& stop_reason) {
    MessageAssembler a;
    for (const json& event :
         {MessageStart(),
          BlockStart(0, {{"type", "tool_use"}, {"id", "t"}, {"name", "n"}, {"input", {}}}),
          JsonDelta(0, "{\"path\": \"/tm"), BlockStop(0),
          MessageDelta({{"stop_reason", stop_reason}}, {{"output_tokens", 5}}),
          MessageStop()}) {
      EXPECT_TRUE(a.OnEvent(event["type"].get<std::string>(), event.dump()).ok());
    }
    return a.Finish();
  };
  auto truncated = run("max_tokens");
  ASSERT_TRUE(truncated.ok()) << truncated.status();
  EXPECT_EQ((*truncated)["content"][0]["input"], json::object());
  auto broken = run("tool_use");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(broken.status().message(), HasSubstr("not valid JSON"));
}

// The parser and the assembler together, on a stream as the API writes it.
TEST_F(MessageAssemblerTest, AssemblesRawSseStreamFedInSmallChunks) {
  const std::string stream =
      "event: message_start\n"
      "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,"
      "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\n"
      "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
      "\"tool_use\",\"id\":\"toolu_9\",\"name\":\"read\",\"input\":{}}}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
      "\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \"}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
      "\"input_json_delta\",\"partial_json\":\"\\\"/etc/hosts\\\"}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
      "\"stop_sequence\":null},\"usage\":{\"output_tokens\":21}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  for (size_t chunk = 1; chunk <= 7; ++chunk) {
    SseParser parser;
    MessageAssembler assembler;
    std::vector<SseEvent> events;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      events.clear();
      ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(at, chunk), &events).ok());
      for (const SseEvent& e : events) ASSERT_TRUE(assembler.OnEvent(e.event, e.data).ok());
    }
    auto message = assembler.Finish();
    ASSERT_TRUE(message.ok()) << message.status();
    EXPECT_EQ((*message)["content"][0]["input"], json::parse(R"({"path":"/etc/hosts"})"));
    EXPECT_EQ((*message)["usage"]["output_tokens"], 21);
    EXPECT_EQ((*message)["stop_reason"], "tool_use");
  }
}

}  // namespace
}  // namespace baton::worker
