// The journal entries a worker writes (and the child runs it asks for with them), and
// the idempotency key of a tool call: built here and nowhere else, so every entry of a
// kind has the same fields set the same way. Pure functions.
#ifndef BATON_WORKERS_JOURNAL_ENTRIES_H_
#define BATON_WORKERS_JOURNAL_ENTRIES_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/worker_service.pb.h"
#include "workers/tool_executor.h"

namespace baton::worker {

// `<run_id>:<step>:<tool_use_id>`: what a tool server may deduplicate a call by; also
// the id of the call's approval request and the request_id of its child run.
std::string IdempotencyKey(absl::string_view run_id, int step, absl::string_view tool_use_id);

// The model turn of `step`, started at `time_ms`.
v1::JournalEntry ModelTurnEntry(int step, int64_t time_ms, v1::ModelTurn turn);

// The start marker of a tool call, written before the call runs (for a subagent call:
// when it is handed to its child run). `input`: as the model gave it;
// `edited_input_json`: what the call runs with instead, when a reviewer edited it.
v1::JournalEntry ToolCallEntry(absl::string_view run_id, int step, int64_t time_ms,
                               const std::string& tool_use_id, const std::string& name,
                               const nlohmann::json& input, const std::string& edited_input_json = "");

// The child run of a subagent call (AppendStepRequest.children), next to the call's
// ToolCall entry.
v1::ChildRunSpec ChildRunSpecOf(const std::string& tool_use_id, const v1::Subagent& subagent, std::string input);

// A gated call's request for a person's decision, under `rule`'s defaults: every
// decision (APPROVE, EDIT, DENY, RESPOND) when it names none, a day when it sets no
// timeout. The orchestrator adds expire_time_ms.
v1::JournalEntry ApprovalRequestEntry(absl::string_view run_id, int step, int64_t time_ms,
                                      const std::string& tool_use_id, const std::string& name,
                                      const nlohmann::json& input, const nlohmann::json& input_schema,
                                      const v1::ApprovalRule& rule);

// A tool call's result.
v1::JournalEntry ToolResultEntry(int step, int64_t time_ms, const std::string& tool_use_id,
                                 const std::string& name, const ToolOutput& output, int64_t duration_ms);

// A compaction's summary, written before the step it precedes.
v1::JournalEntry SummaryEntry(int step, int64_t time_ms, v1::ContextSummary summary);

}  // namespace baton::worker

#endif  // BATON_WORKERS_JOURNAL_ENTRIES_H_
