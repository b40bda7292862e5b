// MCP elicitation (elicitation/create, form mode): what the bridge declares, how it
// reads a server's request, and the answers each policy gives. Pure functions; the
// routing to a tool call and the waiting are McpClient's.
#ifndef BATON_MCP_BRIDGE_ELICITATION_H_
#define BATON_MCP_BRIDGE_ELICITATION_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "mcp-bridge/input_requester.h"

namespace baton::mcp {

// What a tool call answers when its server asks for input. The values are those of
// baton.v1.ElicitationPolicy.
enum class ElicitationPolicy {
  kAsk = 0,             // a person decides, through the orchestrator
  kAcceptDefaults = 1,  // accept with the requested schema's defaults
  kDecline = 2,
};

// The elicitation policy of one tool call (part of CallOptions).
struct ElicitationOptions {
  ElicitationPolicy policy = ElicitationPolicy::kAsk;  // Default: ask, as the proto
  // kAsk: who asks (not owned; it outlives the clients). Null: kAsk declines.
  InputRequester* requester = nullptr;
  ToolCallRef call;  // kAsk: what the person is told about the call
};

// The `elicitation` client capability to declare when asking for
// `protocol_version`: {"form": {}} from 2025-11-25 (form mode only: URL mode needs a
// browser), {} for 2025-06-18, null for older versions (no elicitation there).
nlohmann::json ElicitationCapability(const std::string& protocol_version);

// A form-mode elicitation/create request.
struct ElicitationRequest {
  std::string message;
  nlohmann::json requested_schema;  // {"type":"object","properties":{...},"required":[...]}
};

// Reads elicitation/create params. kInvalidArgument (answered -32602, as the spec
// asks) for a mode other than "form" (absent means form) or a missing schema.
absl::StatusOr<ElicitationRequest> ParseElicitationRequest(const nlohmann::json& params);

// ElicitResult answers.
nlohmann::json DeclineResult();
nlohmann::json CancelResult();
nlohmann::json AcceptResult(nlohmann::json content);

// ELICITATION_ACCEPT_DEFAULTS: accept with each property's `default` (properties
// without one are left out); decline when a required property has no default.
nlohmann::json AcceptDefaultsResult(const nlohmann::json& requested_schema);

// A person's decision as an ElicitResult. Accepted content must be a JSON object of
// strings, numbers, booleans and string arrays that is valid against the requested
// schema; otherwise the answer is cancel and `*problem` says why.
nlohmann::json ResultForDecision(const InputDecision& decision, const nlohmann::json& requested_schema,
                                 std::string* problem);

// "accept", "decline" or "cancel": the action of an ElicitResult, for logs.
std::string ActionOf(const nlohmann::json& result);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_ELICITATION_H_
