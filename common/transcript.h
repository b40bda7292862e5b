// Rebuilding a run's conversation from its journal. The orchestrator uses it for
// GetTranscript; a worker uses it to resume a run where the journal stops.
#ifndef BATON_COMMON_TRANSCRIPT_H_
#define BATON_COMMON_TRANSCRIPT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "baton/v1/run.pb.h"

namespace baton {

// A tool call of the last step that has no recorded result.
struct PendingToolCall {
  std::string tool_use_id;
  std::string name;
  nlohmann::json input;
  // A ToolCall entry was journaled: the call may have started before a crash.
  bool started = false;
};

struct RebuiltConversation {
  // Messages API `messages`: the input as the first user turn, then the turns of
  // the journal; tool results of a step form the user turn after its assistant turn.
  nlohmann::json messages = nlohmann::json::array();
  // Number of model turns journaled (the next step's index).
  int steps = 0;
  // Calls of the last assistant turn still without a result, in the turn's order.
  std::vector<PendingToolCall> pending;
  // The last assistant turn's stop_reason ("" if no turn yet).
  std::string last_stop_reason;
  // Text of the last assistant turn.
  std::string last_text;
  v1::Usage usage;  // summed over the model turns
};

// Fails with kDataLoss when an entry holds JSON that does not parse.
absl::StatusOr<RebuiltConversation> RebuildConversation(
    const std::string& input, const std::vector<v1::JournalEntry>& journal);

// Adds `step` to `total`, field by field.
void AddUsage(const v1::Usage& step, v1::Usage* total);

// The concatenated text blocks of a Messages API content array.
std::string TextOfContent(const nlohmann::json& content);

}  // namespace baton

#endif  // BATON_COMMON_TRANSCRIPT_H_
