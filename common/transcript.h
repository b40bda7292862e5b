// Rebuilding a run's conversation from its journal. The orchestrator uses it for
// GetTranscript; a worker uses it to resume a run where the journal stops.
#ifndef BATON_COMMON_TRANSCRIPT_H_
#define BATON_COMMON_TRANSCRIPT_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/worker_service.pb.h"

namespace baton {

// A tool call of the last step that has no recorded result.
struct PendingToolCall {
  std::string tool_use_id;
  std::string name;
  nlohmann::json input;
  // A ToolCall entry was journaled: the call may have started before a crash (for a
  // subagent call: it was handed to a child run).
  bool started = false;
  // A subagent call: the child run the orchestrator created for it.
  std::string child_run_id;
  // A gated call: the request for a person's decision, and the decision once taken
  // (an EDIT's input_json is known to parse).
  std::optional<v1::ApprovalRequest> approval_request;
  std::optional<v1::ApprovalDecision> approval_decision;
};

struct RebuiltConversation {
  // Messages API `messages`: the conversation the run continues (if any), the input
  // as a user turn, then the turns of the journal; tool results of a step form the user
  // turn after its assistant turn, in the order of its tool_use blocks.
  nlohmann::json messages = nlohmann::json::array();
  // Number of model turns journaled (the next step's index). This and the fields
  // below cover the run's own journal, not the conversation it continues.
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

// The conversation of a run whose journal is `journal`. `prior`: the messages of the
// conversation it continues (HistoryMessages), which come before its input; a summary
// in the journal replaces them too, as it did for the model. Fails with kDataLoss when
// an entry holds JSON that does not parse.
absl::StatusOr<RebuiltConversation> RebuildConversation(
    const std::string& input, const std::vector<v1::JournalEntry>& journal,
    nlohmann::json prior = nlohmann::json::array());

// The conversation a run continues (sessions, continue_from): the runs of `history`,
// oldest first, each rebuilt as it ended, continuing the one before it. A call left
// without a result (a run that did not succeed) gets an is_error result, so the
// conversation stays valid for the API. For a run with history H, journal J and input
// I, RebuildConversation(I, J, *HistoryMessages(H)) is what its model sees.
absl::StatusOr<nlohmann::json> HistoryMessages(const google::protobuf::RepeatedPtrField<v1::PriorRun>& history);
absl::StatusOr<nlohmann::json> HistoryMessages(const std::vector<v1::PriorRun>& history);

// Puts the tool_result blocks of `results` (a user turn's content) in the order of the
// tool_use blocks of `assistant_content`, the turn they answer; blocks of other ids
// keep their order after them.
void OrderToolResults(const nlohmann::json& assistant_content, nlohmann::json* results);

// Adds `step` to `total`, field by field.
void AddUsage(const v1::Usage& step, v1::Usage* total);

// The concatenated text blocks of a Messages API content array (a string: itself;
// anything else: empty).
std::string TextOfContent(const nlohmann::json& content);

// What ScanContentJson found in a content's JSON text.
struct ContentScan {
  bool valid = false;     // well-formed JSON
  bool is_array = false;  // ... whose top value is an array
  std::string text;       // TextOfContent of the parsed value
};
// TextOfContent of `json`, checked for well-formedness; read without building the
// JSON tree where ScanContentTextFast can (common/json_codec.h), else parsed (the
// orchestrator checks every journaled turn this way).
ContentScan ScanContentJson(std::string_view json);

// A Messages API tool_result block.
nlohmann::json ToolResultBlock(const std::string& tool_use_id, nlohmann::json content, bool is_error);

}  // namespace baton

#endif  // BATON_COMMON_TRANSCRIPT_H_
