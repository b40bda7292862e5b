// How the agent loop runs tools: built-in tools now, the MCP bridge later.
#ifndef BATON_WORKERS_TOOL_EXECUTOR_H_
#define BATON_WORKERS_TOOL_EXECUTOR_H_

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace baton::worker {

struct ToolDefinition {
  std::string name;  // as the model sees it: ^[a-zA-Z0-9_-]{1,64}$
  std::string description;
  nlohmann::json input_schema;  // JSON Schema, {"type":"object",...}
  // From MCP annotations: a call that started but left no recorded result may be
  // run again on resume only when one of these is true.
  bool read_only = false;
  bool idempotent = false;
};

struct ToolCallContext {
  std::string run_id;
  int step = 0;
  std::string tool_use_id;
  std::string idempotency_key;  // <run_id>:<step>:<tool_use_id>
  // The agent's allowed_tools (exact names, "prefix*" wildcards). Executors that
  // enforce policy themselves (the MCP bridge) check the call against it; empty
  // allows nothing there.
  std::vector<std::string> allowed_tools;
  absl::Duration timeout = absl::Seconds(60);
  std::function<bool()> is_cancelled;
  // The agent's elicitation policy: what an MCP server's request for input during
  // the call gets. The values of baton.v1.ElicitationPolicy (kept as an int so this
  // header stays free of protobuf): 0 ask a person (the call holds its worker slot
  // while it waits), 1 accept the requested defaults, 2 decline.
  int elicitation = 0;
};

struct ToolOutput {
  // Messages API tool_result content: a string or an array of content blocks.
  nlohmann::json content;
  bool is_error = false;
};

// Thread-safe: one executor serves every run of a worker.
class ToolExecutor {
 public:
  virtual ~ToolExecutor() = default;
  // The tools this executor offers; the agent's allowed_tools filters them.
  virtual absl::StatusOr<std::vector<ToolDefinition>> ListTools() = 0;
  // A tool that ran and failed is an OK status with is_error = true (the model reads
  // it). A non-OK status means the tool could not be reached (kUnavailable: the
  // caller may retry; kCancelled: the run was cancelled).
  virtual absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                              const ToolCallContext& context) = 0;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_TOOL_EXECUTOR_H_
