// Pure command-line helpers of the `baton` command: repeated flags, labels, agent
// references and run states. No gRPC here, so they are unit-tested in microseconds.
#ifndef BATON_CLI_ARGS_H_
#define BATON_CLI_ARGS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::cli {

// Removes every `--name=value` / `--name value` from `args` and returns the values in
// order (the shared Flags parser keeps only the last value of a flag).
absl::StatusOr<std::vector<std::string>> ExtractRepeatedFlag(const std::string& name,
                                                             std::vector<std::string>& args);

// Parses "k=v" labels into a map. The key must be non-empty; a repeated key is an
// error. Values may contain '='.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels);

// "NAME" or "NAME@VERSION" (VERSION a positive integer). Version 0 means latest.
struct AgentRef {
  std::string name;
  int version = 0;
};
absl::StatusOr<AgentRef> ParseAgentRef(const std::string& text);

// Accepts the enum names case-insensitively ("succeeded", "RUNNING").
absl::StatusOr<v1::RunState> ParseRunState(const std::string& text);

// `baton fork --tool-result TOOL_USE_ID=JSON`: JSON is the result's Messages API
// content, a JSON string ("\"42\"") or an array of content blocks.
absl::StatusOr<v1::ToolResultReplacement> ParseToolResultFlag(const std::string& text);

// True when `args` asks for help (`--help`, `-h`).
bool WantsHelp(const std::vector<std::string>& args);

// The text `baton help` prints.
std::string UsageText();

}  // namespace baton::cli

#endif  // BATON_CLI_ARGS_H_
