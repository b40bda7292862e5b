// Rebuilding a run's conversation from its journal. The orchestrator uses it for
// GetTranscript; a worker uses it to resume a run where the journal stops.
#ifndef BATON_COMMON_TRANSCRIPT_H_
#define BATON_COMMON_TRANSCRIPT_H_

#include <map>
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
  v1::Usage usage;  // summed over the model turns (and summarizer calls)
  // The index in `messages` of each step's assistant turn (steps replaced by a summary
  // and discarded turns have none).
  std::map<int, size_t> turn_message_index;
  // The last ContextSummary's through_step; -1 when none.
  int summarized_through_step = -1;
  // The last entry is a turn discarded for model_context_window_exceeded: the loop
  // compacts before calling the model again.
  bool needs_compaction = false;
};

// The first user turn after a compaction: the run's input, then the summary.
std::string SummarizedInput(const std::string& input, const std::string& summary);

// Replaces the turns up to summary.through_step() with the summary (see ContextSummary).
// REQUIRES: no tool call of the conversation is pending.
void ApplySummary(const std::string& input, const v1::ContextSummary& summary, RebuiltConversation* conv);

// Fails with kDataLoss when an entry holds JSON that does not parse.
absl::StatusOr<RebuiltConversation> RebuildConversation(
    const std::string& input, const std::vector<v1::JournalEntry>& journal);

// Adds `step` to `total`, field by field.
void AddUsage(const v1::Usage& step, v1::Usage* total);

// The concatenated text blocks of a Messages API content array.
std::string TextOfContent(const nlohmann::json& content);

}  // namespace baton

#endif  // BATON_COMMON_TRANSCRIPT_H_
