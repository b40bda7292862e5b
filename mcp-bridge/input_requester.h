// Asking a person for input on behalf of an MCP server (elicitation with the
// ELICITATION_ASK policy): the request goes to the orchestrator, which shows it as an
// approval of kind ELICITATION (ListApprovals, DecideApproval), and the answer comes
// back here. Pure interface: GrpcInputRequester is the real one, tests use fakes.
#ifndef BATON_MCP_BRIDGE_INPUT_REQUESTER_H_
#define BATON_MCP_BRIDGE_INPUT_REQUESTER_H_

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace baton::mcp {

// The tool call an input request comes from, as the orchestrator knows it.
struct ToolCallRef {
  std::string run_id;
  int step = 0;
  std::string tool_use_id;
  std::string tool;  // the exposed name, mcp__<server>__<tool>: says which server asks
};

struct InputRequest {
  ToolCallRef call;
  std::string message;              // the server's, shown to the person
  nlohmann::json requested_schema;  // a flat JSON Schema object
  // Distinguishes several requests during one call: 1, 2, 3...
  int sequence = 1;
  // The call's own deadline: nobody's answer is of use after it.
  absl::Time deadline = absl::InfiniteFuture();
};

struct InputDecision {
  enum class Action { kAccept, kDecline, kCancel };
  Action action = Action::kCancel;
  nlohmann::json content;  // kAccept: the person's answer (meant to be a JSON object)
};

// Thread-safe. Owned by the process; every McpClient that uses it must be gone
// before it is destroyed.
class InputRequester {
 public:
  using AskId = int64_t;

  virtual ~InputRequester() = default;

  // Asks; `done` runs exactly once, on a thread of the requester's and never inside
  // Ask or Cancel (callers may hold their own locks around both): with the decision;
  // kDeadlineExceeded when nobody decided by `request.deadline`; kCancelled after
  // Cancel; another error when the request could not be made or was refused.
  virtual AskId Ask(InputRequest request, std::function<void(absl::StatusOr<InputDecision>)> done) = 0;
  // Stops waiting: `done` runs with kCancelled (or with what arrived first). No-op
  // when `done` has run.
  virtual void Cancel(AskId id) = 0;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_INPUT_REQUESTER_H_
