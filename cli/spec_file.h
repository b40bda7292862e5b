// Spec files: an AgentSpec or a GraphSpec in its protobuf JSON mapping (camelCase or
// snake_case field names), read the same way. Errors name the file and the problem,
// including the unknown field.
#ifndef BATON_CLI_SPEC_FILE_H_
#define BATON_CLI_SPEC_FILE_H_

#include <string>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/graph.pb.h"

namespace baton::cli {

// Parses `json` into `spec`, a message of the kind `noun` names ("agent", "graph").
// `source` (usually the file name) starts every error message:
// `agent.json: invalid agent: INVALID_ARGUMENT: unknown field "modle"`. Unknown fields
// are errors. Errors are kInvalidArgument. Checks nothing beyond the JSON mapping.
absl::Status ParseSpecJson(const std::string& json, const std::string& source, absl::string_view noun,
                           google::protobuf::Message& spec);

// The error ParseSpecJson gives for a problem it did not find itself (a required field,
// the orchestrator's refusal): "SOURCE: invalid NOUN: INVALID_ARGUMENT: PROBLEM".
absl::Status InvalidSpec(const std::string& source, absl::string_view noun, absl::string_view problem);

// An agent: a missing `model` is an error too.
absl::StatusOr<v1::AgentSpec> ParseAgentJson(const std::string& json, const std::string& source);
// A graph: one without nodes is an error too. The orchestrator checks the rest (edges,
// templates, bounds on cycles, its inline agents) and names the node or edge.
absl::StatusOr<v1::GraphSpec> ParseGraphJson(const std::string& json, const std::string& source);

// Read and parse `path` ("-" reads standard input). An unreadable file is
// kInvalidArgument too: on the command line it is the user's input that is wrong.
absl::StatusOr<v1::AgentSpec> LoadAgentFile(const std::string& path);
absl::StatusOr<v1::GraphSpec> LoadGraphFile(const std::string& path);

}  // namespace baton::cli

#endif  // BATON_CLI_SPEC_FILE_H_
