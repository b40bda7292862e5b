// Agent files: an AgentSpec in its protobuf JSON mapping (camelCase or snake_case
// field names). Errors name the file and the problem, including the unknown field.
#ifndef BATON_CLI_AGENT_FILE_H_
#define BATON_CLI_AGENT_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "baton/v1/agent.pb.h"

namespace baton::cli {

// Parses `json` as an AgentSpec. `source` (usually the file name) starts every error
// message: `agent.json: invalid agent: INVALID_ARGUMENT: ... unknown field "modle"`.
// Unknown fields are errors, as is a missing `model`. Errors are kInvalidArgument.
absl::StatusOr<v1::AgentSpec> ParseAgentJson(const std::string& json, const std::string& source);

// Reads and parses `path` ("-" reads standard input). An unreadable file is
// kInvalidArgument too: on the command line it is the user's input that is wrong.
absl::StatusOr<v1::AgentSpec> LoadAgentFile(const std::string& path);

}  // namespace baton::cli

#endif  // BATON_CLI_AGENT_FILE_H_
