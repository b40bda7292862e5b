// RebuildConversation on journals whose JSON is not what the model API sends: the
// orchestrator's GetTranscript and a resuming worker must refuse or skip it, never throw.
#include "common/transcript.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json_codec.h"

namespace baton {
namespace {

v1::JournalEntry Turn(std::string content_json, std::string stop_reason) {
  v1::JournalEntry entry;
  entry.mutable_model_turn()->set_content_json(std::move(content_json));
  entry.mutable_model_turn()->set_stop_reason(std::move(stop_reason));
  return entry;
}

// Found by tests/fuzz/journal_fuzz.cc: value("type", "") threw for a non-string type.
TEST(RebuildConversationTest, BlockWithNonStringTypeIsKeptNotThrown) {
  absl::StatusOr<RebuiltConversation> conv = RebuildConversation("hi", {Turn(R"([{"type": 1}])", "end_turn")});
  ASSERT_TRUE(conv.ok()) << conv.status();
  EXPECT_EQ(conv->messages.size(), 2u);
  EXPECT_EQ(conv->last_text, "");
  EXPECT_TRUE(conv->pending.empty());
}

TEST(RebuildConversationTest, ToolUseWithNonStringIdIsPendingWithAnEmptyId) {
  absl::StatusOr<RebuiltConversation> conv = RebuildConversation(
      "hi", {Turn(R"([{"type": "tool_use", "id": 7, "name": ["sum"], "input": {}}])", "tool_use")});
  ASSERT_TRUE(conv.ok()) << conv.status();
  ASSERT_EQ(conv->pending.size(), 1u);
  EXPECT_EQ(conv->pending[0].tool_use_id, "");
  EXPECT_EQ(conv->pending[0].name, "");
}

// Results arrive in completion order; the API wants them in the order of the calls.
TEST(OrderToolResultsTest, PutsResultsInTheOrderOfTheirCalls) {
  const nlohmann::json calls = nlohmann::json::parse(R"([{"type": "text", "text": "go"},
      {"type": "tool_use", "id": "a", "name": "x", "input": {}},
      {"type": "tool_use", "id": "b", "name": "x", "input": {}},
      {"type": "tool_use", "id": "c", "name": "x", "input": {}}])");
  nlohmann::json results = nlohmann::json::array({ToolResultBlock("c", "3", false), ToolResultBlock("a", "1", true),
                                                    ToolResultBlock("b", "2", false)});
  OrderToolResults(calls, &results);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0], ToolResultBlock("a", "1", true));
  EXPECT_EQ(results[1], ToolResultBlock("b", "2", false));
  EXPECT_EQ(results[2], ToolResultBlock("c", "3", false));
}

// The orchestrator checks each journaled turn with ScanContentJson instead of parsing
// it: its text must be what TextOfContent gives for the parsed value, and it must
// refuse exactly what the parser refuses.
TEST(ScanContentJsonTest, AgreesWithTheParsedTree) {
  const std::vector<std::string> inputs = {
      R"([{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t", "name": "x", "input": {"text": "no"}},
          {"type": "text", "text": "b"}])",
      R"("just a string")",
      R"([])",
      R"({"type": "text", "text": "an object is not content"})",
      R"(42)",
      R"(null)",
      R"(["text", {"type": "text", "text": "after a string"}])",
      // The last of duplicate keys wins, as in the tree.
      R"([{"type": "text", "text": "first", "text": "second"}])",
      R"([{"type": "tool_use", "type": "text", "text": "t"}])",
      R"([{"type": "text", "type": "image", "text": "t"}])",
      R"([{"type": "text", "text": "t", "text": 5}])",
      R"([{"type": "text", "text": {"text": "nested"}}])",
      R"([{"type": ["text"], "text": "t"}])",
      R"([{"text": "no type"}])",
      R"([[{"type": "text", "text": "one level too deep"}]])",
      R"([{"type": "text", "text": "esc"aped
é"}, {"type": "text", "text": ""}])",
      R"([{"type": "text", "nested": {"type": "text", "text": "inner"}, "text": "outer"}])",
      // Escaped keys and values are compared unescaped.
      R"([{"t\u0079pe": "t\u0065xt", "te\u0078t": "k\u00e9y"}])",
      // Numbers the fast reader leaves to nlohmann, and ones it reads.
      R"([{"type": "text", "text": "f", "score": 0.5}, {"type": "text", "text": "g", "n": -12, "big": 1e3}])",
      R"([{"type": "text", "text": "h", "n": 0, "m": -0, "list": [1, 2, {"a": [true, false, null]}]}])",
      R"(  [ {"type" : "text" , "text" : "spaced"} ]  )",
      // Not JSON.
      R"([{"type": "text", "text": "a"}, 01])",
      R"([{"type": "text" "text": "a"}])",
      R"([{"type": "text", "text": "a\q"}])",
      R"([{"type": "text", "text": "\ud800"}])",
      R"([{"type": "text", "text": "a"}, {"x": tru}])",
      R"([{"type": "text", "text": "a"})",
      R"([{"type": "text", "text": "a"}] trailing)",
      R"()",
      "[\"\xff\"]",
  };
  for (const std::string& input : inputs) {
    const nlohmann::json parsed = nlohmann::json::parse(input, nullptr, false);
    const ContentScan scan = ScanContentJson(input);
    EXPECT_EQ(scan.valid, !parsed.is_discarded()) << input;
    if (parsed.is_discarded()) continue;
    EXPECT_EQ(scan.is_array, parsed.is_array()) << input;
    EXPECT_EQ(scan.text, TextOfContent(parsed)) << input;
  }
  EXPECT_EQ(ScanContentJson(inputs[0]).text, "a\nb");
  EXPECT_EQ(ScanContentJson(inputs[7]).text, "second");
}

// ScanContentJson's fast reader: what it decides, it decides as nlohmann's parse does;
// what it leaves (floats, deep nesting, invalid text) goes to nlohmann.
TEST(ScanContentJsonTest, TheFastReaderAgreesWithTheParsedTreeOrLeavesIt) {
  const std::vector<std::string> decided = {
      R"([{"type": "text", "text": "a"}, {"type": "tool_use", "input": {"text": "no", "n": [1, -2]}}])",
      R"([{"type": "text", "text": "first", "text": "second"}, "s", 3, null, [true]])",
      R"([{"type": "text", "text": "t", "text": {"text": "x"}}, {"type": ["text"], "text": "u"}])",
      R"([{"t\u0079pe": "t\u0065xt", "text": "\ud83d\ude00 \"quoted\" \\ \/ \b\f\n\r\t"}])",
      R"("a string \u00e9")",
      R"({"type": "text", "text": "an object"})",
      R"([])",
      R"(-7)",
  };
  for (const std::string& input : decided) {
    const nlohmann::json parsed = nlohmann::json::parse(input, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << input;
    const std::optional<ContentTextScan> fast = ScanContentTextFast(input);
    ASSERT_TRUE(fast.has_value()) << input;
    EXPECT_EQ(fast->is_array, parsed.is_array()) << input;
    EXPECT_EQ(fast->text, TextOfContent(parsed)) << input;
  }
  EXPECT_EQ(ScanContentTextFast(decided[1])->text, "second");
  EXPECT_EQ(ScanContentTextFast(decided[2])->text, "");
  const std::vector<std::string> left = {
      R"([{"type": "text", "text": "a", "score": 0.5}])",
      std::string(200, '[') + std::string(200, ']'),
      R"([{"type": "text", "text": "a"})",
      R"([{"type": "text", "text": "a"}] x)",
      "[\"\xff\"]",
      "",
  };
  for (const std::string& input : left) EXPECT_FALSE(ScanContentTextFast(input).has_value()) << input;
  // Left to nlohmann, and still read right.
  EXPECT_EQ(ScanContentJson(left[0]).text, "a");
  EXPECT_TRUE(ScanContentJson(left[1]).valid);
  EXPECT_FALSE(ScanContentJson(left[2]).valid);
}

}  // namespace
}  // namespace baton
