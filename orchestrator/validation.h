// Checks of client input. Each error is INVALID_ARGUMENT with a message that names
// the field and the problem, e.g. "agent.max_steps: must be >= 0, got -1".
#ifndef BATON_ORCHESTRATOR_VALIDATION_H_
#define BATON_ORCHESTRATOR_VALIDATION_H_

#include "absl/status/status.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"
#include "orchestrator/limits.h"

namespace baton::orchestrator {

// `require_name`: stored agents need a name; inline ones may go without.
absl::Status ValidateAgentSpec(const v1::AgentSpec& agent, bool require_name);
// Checks everything but the agent reference (resolved by the caller), and the sizes of
// the input and of an inline agent or graph under `limits` (orchestrator/limits.h).
absl::Status ValidateCreateRunRequest(const v1::CreateRunRequest& request, const InputLimits& limits = {});
// An entry a worker appends (AppendStep). The journal is replayed on resume, so what
// could not be replayed is refused: JSON that does not parse, a call without an id,
// the entries only the orchestrator writes.
// `event_text` (may be null) gets what the run's events show of the entry, from the
// same parse (EventTextOf): a worker's model turn is parsed once per AppendStep.
absl::Status ValidateJournalEntry(const v1::JournalEntry& entry, std::string* event_text = nullptr);
// The text the run's events carry for an entry: a model turn's text, a tool result's
// preview (its text, at most 200 bytes and an ellipsis); "" for other entries.
std::string EventTextOf(const v1::JournalEntry& entry);
// Label keys are 1 to 64 characters (CreateRun, and the filters of ListRuns
// and CountRuns).
absl::Status ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels);
// Run ids look like "run_" + hex digits.
absl::Status ValidateRunId(const std::string& run_id);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_VALIDATION_H_
