// RebuildConversation on journals whose JSON is not what the model API sends: the
// orchestrator's GetTranscript and a resuming worker must refuse or skip it, never throw.
#include "common/transcript.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace baton
