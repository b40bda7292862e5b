#include "workers/journal_entries.h"

#include "absl/strings/str_cat.h"
#include "common/tracing/span.h"

namespace baton::worker {
namespace {

v1::JournalEntry Entry(int step, int64_t time_ms) {
  v1::JournalEntry entry;
  entry.set_step(step);
  entry.set_time_ms(time_ms);
  return entry;
}

}  // namespace

std::string IdempotencyKey(absl::string_view run_id, int step, absl::string_view tool_use_id) {
  return absl::StrCat(run_id, ":", step, ":", tool_use_id);
}

v1::JournalEntry ModelTurnEntry(int step, int64_t time_ms, v1::ModelTurn turn) {
  v1::JournalEntry entry = Entry(step, time_ms);
  *entry.mutable_model_turn() = std::move(turn);
  return entry;
}

v1::JournalEntry ToolCallEntry(absl::string_view run_id, int step, int64_t time_ms,
                               const std::string& tool_use_id, const std::string& name,
                               const nlohmann::json& input, const std::string& edited_input_json) {
  v1::JournalEntry entry = Entry(step, time_ms);
  v1::ToolCall* call = entry.mutable_tool_call();
  call->set_tool_use_id(tool_use_id);
  call->set_name(name);
  call->set_input_json(input.dump());
  call->set_idempotency_key(IdempotencyKey(run_id, step, tool_use_id));
  call->set_edited_input_json(edited_input_json);
  return entry;
}

v1::ChildRunSpec ChildRunSpecOf(const std::string& tool_use_id, const v1::Subagent& subagent, std::string input) {
  v1::ChildRunSpec child;
  child.set_tool_use_id(tool_use_id);
  child.set_subagent(subagent.name());
  *child.mutable_agent() = subagent.agent();
  child.set_input(std::move(input));
  // The child's spans nest under the parent's current span (its invoke_agent).
  if (const tracing::SpanContext parent = tracing::CurrentSpanContext(); parent.valid()) {
    child.set_traceparent(tracing::FormatTraceparent(parent));
  }
  return child;
}

v1::JournalEntry ApprovalRequestEntry(absl::string_view run_id, int step, int64_t time_ms,
                                      const std::string& tool_use_id, const std::string& name,
                                      const nlohmann::json& input, const nlohmann::json& input_schema,
                                      const v1::ApprovalRule& rule) {
  v1::JournalEntry entry = Entry(step, time_ms);
  v1::ApprovalRequest* request = entry.mutable_approval_request();
  request->set_tool_use_id(tool_use_id);
  request->set_name(name);
  request->set_input_json(input.dump());
  request->set_approval_id(IdempotencyKey(run_id, step, tool_use_id));
  request->set_input_schema_json(input_schema.dump());
  if (rule.decisions_size() > 0) {
    *request->mutable_decisions() = rule.decisions();
  } else {
    for (v1::Decision d : {v1::APPROVE, v1::EDIT, v1::DENY, v1::RESPOND}) request->add_decisions(d);
  }
  constexpr int64_t kDefaultTimeoutSeconds = 86'400;
  request->set_timeout_ms((rule.timeout_seconds() > 0 ? rule.timeout_seconds() : kDefaultTimeoutSeconds) * 1000);
  request->set_on_timeout(rule.on_timeout());
  return entry;
}

v1::JournalEntry ToolResultEntry(int step, int64_t time_ms, const std::string& tool_use_id,
                                 const std::string& name, const ToolOutput& output, int64_t duration_ms) {
  v1::JournalEntry entry = Entry(step, time_ms);
  v1::ToolResult* result = entry.mutable_tool_result();
  result->set_tool_use_id(tool_use_id);
  result->set_name(name);
  result->set_content_json(output.content.dump());
  result->set_is_error(output.is_error);
  result->set_duration_ms(duration_ms);
  return entry;
}

v1::JournalEntry SummaryEntry(int step, int64_t time_ms, v1::ContextSummary summary) {
  v1::JournalEntry entry = Entry(step, time_ms);
  *entry.mutable_summary() = std::move(summary);
  return entry;
}

}  // namespace baton::worker
