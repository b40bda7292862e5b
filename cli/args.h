// Pure command-line helpers of the `baton` command: repeated flags, labels, agent and
// graph references and run states. No gRPC here, so they are unit-tested in microseconds.
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

// A stored agent or graph: "NAME" or "NAME@VERSION" (VERSION a positive integer).
// Version 0 means latest.
struct SpecRef {
  std::string name;
  int version = 0;
};
// `flag` ("--agent", "--graph") names the argument in errors.
absl::StatusOr<SpecRef> ParseSpecRef(const std::string& flag, const std::string& text);

// `baton run --graph FILE|NAME[@VERSION]`. A file when `text` is "-" (standard input),
// an existing file (`is_file`), or looks like a path (holds a '/' or ends in ".json"),
// so that a mistyped path is reported as a missing file rather than an unknown graph;
// else a stored graph.
struct GraphArg {
  std::string file;  // the graph file, or empty for a stored graph
  SpecRef stored;
};
absl::StatusOr<GraphArg> ParseGraphArg(const std::string& text, bool is_file);

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
