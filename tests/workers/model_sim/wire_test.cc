#include "workers/model_sim/wire.h"

#include <gtest/gtest.h>

#include "tests/workers/model_sim/raw_http.h"

namespace baton::model_sim {
namespace {

using testing::ParseSse;

TEST(WireTest, SplitUtf8NeverCutsASequence) {
  std::string s = "añb€c😀d";  // 1,2,1,3,1,4,1 bytes
  for (size_t n = 1; n <= 6; ++n) {
    std::string joined;
    for (const std::string& piece : SplitUtf8(s, n)) {
      ASSERT_FALSE(piece.empty());
      // A piece never starts with a continuation byte.
      EXPECT_NE(static_cast<unsigned char>(piece[0]) & 0xC0, 0x80) << "n=" << n;
      joined += piece;
    }
    EXPECT_EQ(joined, s);
  }
  EXPECT_TRUE(SplitUtf8("", 4).empty());
}

TEST(WireTest, StreamedEventsRebuildTheMessage) {
  Json content = Json::parse(R"([{"type":"text","text":"Let me look that up for you."},
      {"type":"tool_use","id":"toolu_x","name":"search","input":{"query":"weather in Paris","n":3}}])");
  Json msg = MakeMessage("msg_1", "m", content, "tool_use", nullptr, MakeUsage(40, 25));
  std::string body;
  for (const std::string& e : MessageToSseEvents(msg)) body += e;
  auto events = ParseSse(body);
  ASSERT_TRUE(events.has_value());

  std::vector<std::string> order;
  for (const auto& e : *events) {
    EXPECT_EQ(e.event, e.data["type"]) << "event name and data type agree";
    if (order.empty() || order.back() != e.event) order.push_back(e.event);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                             "content_block_delta", "content_block_stop",
                                             "content_block_start", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"}));

  // message_start carries empty content and usage.
  const nlohmann::json& start = (*events)[0].data["message"];
  EXPECT_TRUE(start["content"].empty());
  EXPECT_EQ(start["usage"]["input_tokens"], 40);
  EXPECT_TRUE(start["stop_reason"].is_null());

  // Rebuild text and tool input from deltas, as a client does.
  std::string text, partial_json;
  int text_deltas = 0, json_deltas = 0;
  for (const auto& e : *events) {
    if (e.event != "content_block_delta") continue;
    if (e.data["delta"]["type"] == "text_delta") {
      EXPECT_EQ(e.data["index"], 0);
      text += e.data["delta"]["text"].get<std::string>();
      ++text_deltas;
    } else if (e.data["delta"]["type"] == "input_json_delta") {
      EXPECT_EQ(e.data["index"], 1);
      partial_json += e.data["delta"]["partial_json"].get<std::string>();
      ++json_deltas;
    }
  }
  EXPECT_EQ(text, "Let me look that up for you.");
  EXPECT_GT(text_deltas, 1);
  EXPECT_GT(json_deltas, 2);
  EXPECT_EQ(nlohmann::json::parse(partial_json), nlohmann::json::parse(R"({"query":"weather in Paris","n":3})"));

  const auto& delta = (*events)[events->size() - 2].data;
  EXPECT_EQ(delta["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(delta["usage"]["output_tokens"], 25);
}

TEST(WireTest, UsageHasEveryCacheField) {
  Json u = MakeUsage(10, 3);
  EXPECT_EQ(u["cache_creation_input_tokens"], 0);
  EXPECT_EQ(u["cache_read_input_tokens"], 0);
  EXPECT_EQ(u["cache_creation"]["ephemeral_5m_input_tokens"], 0);
  EXPECT_EQ(u["cache_creation"]["ephemeral_1h_input_tokens"], 0);
}

TEST(WireTest, ErrorTypesAndStatusesRoundTrip) {
  for (int status : {400, 401, 403, 404, 413, 429, 500, 504, 529}) {
    EXPECT_EQ(StatusForErrorType(ErrorTypeForStatus(status)), status);
  }
  EXPECT_EQ(ErrorTypeForStatus(503), "api_error");
}

TEST(WireTest, IdsAreDeterministicAndDistinct) {
  EXPECT_EQ(MakeId("toolu_", 1, 2), MakeId("toolu_", 1, 2));
  EXPECT_NE(MakeId("toolu_", 1, 2), MakeId("toolu_", 1, 3));
  EXPECT_NE(MakeId("toolu_", 1, 2), MakeId("toolu_", 2, 2));
  EXPECT_EQ(EstimateTokens(0), 0);
  EXPECT_EQ(EstimateTokens(1), 1);
  EXPECT_EQ(EstimateTokens(8), 2);
  EXPECT_EQ(EstimateTokens(9), 3);
}

}  // namespace
}  // namespace baton::model_sim
