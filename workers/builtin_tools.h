// Small real tools every worker has, so agents work before any MCP server is set up:
//   echo {text}            -> the text
//   sum {numbers:[number]} -> their sum
//   current_time {}        -> the UTC time, RFC 3339
//   sleep {ms}             -> waits (at most 10 min), stops early when the run is cancelled
#ifndef BATON_WORKERS_BUILTIN_TOOLS_H_
#define BATON_WORKERS_BUILTIN_TOOLS_H_

#include <cstdio>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "workers/tool_executor.h"

namespace baton::worker {

// Thread-safe.
class BuiltinToolExecutor final : public ToolExecutor {
 public:
  // `audit_log_path`: when not empty, one JSON line per executed call
  // ({run_id, step, tool_use_id, name, idempotency_key}) is appended there, so
  // operators (and tests) can count what really ran.
  BuiltinToolExecutor(const Clock& clock, std::string audit_log_path = "");
  ~BuiltinToolExecutor() override;

  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override;
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                      const ToolCallContext& context) override;

 private:
  void Audit(const std::string& name, const ToolCallContext& context);

  const Clock& clock_;
  std::mutex audit_mu_;
  std::FILE* audit_ = nullptr;  // owned
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_BUILTIN_TOOLS_H_
