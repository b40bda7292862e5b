// Checks of client input. Each error is INVALID_ARGUMENT with a message that names
// the field and the problem, e.g. "agent.max_steps: must be >= 0, got -1".
#ifndef BATON_ORCHESTRATOR_VALIDATION_H_
#define BATON_ORCHESTRATOR_VALIDATION_H_

#include "absl/status/status.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::orchestrator {

// `require_name`: stored agents need a name; inline ones may go without.
absl::Status ValidateAgentSpec(const v1::AgentSpec& agent, bool require_name);
// Checks everything but the agent reference (resolved by the caller).
absl::Status ValidateCreateRunRequest(const v1::CreateRunRequest& request);
// Run ids look like "run_" + hex digits.
absl::Status ValidateRunId(const std::string& run_id);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_VALIDATION_H_
