// How `baton approve`, `baton deny` and `baton respond` turn into a DecideApprovalRequest,
// and which answers an approval allows. The same verbs answer every kind of request: a
// gated tool call (APPROVE, EDIT, DENY, RESPOND), an MCP server's request for input
// (approve = ACCEPT with content, deny = DECLINE), and a graph's human node (APPROVE,
// DENY with an optional message, RESPOND with one). Pure functions: no gRPC, no I/O.
#ifndef BATON_CLI_APPROVALS_H_
#define BATON_CLI_APPROVALS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::cli {

// The command a person typed.
enum class DecisionVerb { kApprove, kDeny, kRespond };

// The flags of that command; unset when not given.
struct DecisionFlags {
  DecisionVerb verb = DecisionVerb::kApprove;
  std::optional<std::string> edit;     // approve --edit JSON (tool calls)
  std::optional<std::string> content;  // approve --content JSON (input requests)
  std::optional<std::string> message;  // deny / respond --message TEXT
  std::string decided_by;              // --as NAME, else the local user
};

// The request for `flags` on `approval` (read with GetApproval first: its kind decides
// what the verbs mean). kInvalidArgument names the flag that is missing, malformed or
// does not fit the approval's kind; the server checks the rest (the rule's allowed
// decisions, the schema, the state).
absl::StatusOr<v1::DecideApprovalRequest> BuildDecideRequest(const v1::Approval& approval,
                                                             const DecisionFlags& flags);

// The decisions `approval` allows: its own list, else the default of its kind (tool
// calls: APPROVE, EDIT, DENY, RESPOND; input requests: ACCEPT, DECLINE, CANCEL; graph
// nodes: APPROVE, DENY, RESPOND).
std::vector<v1::Decision> AllowedDecisions(const v1::Approval& approval);

// An input request needs content unless its requested schema requires no property:
// then accepting sends "{}". An unreadable schema needs content (the server judges it).
bool NeedsContent(const v1::Approval& approval);

// The local user for --as: $USER, else "cli".
std::string DefaultDecider(const char* user_env);

}  // namespace baton::cli

#endif  // BATON_CLI_APPROVALS_H_
