// The worker's Prometheus metrics beyond the model client's (docs/operations.md,
// "Metrics"): tokens and cost from each model call's usage, and tool calls.
#ifndef BATON_WORKERS_WORKER_METRICS_H_
#define BATON_WORKERS_WORKER_METRICS_H_

#include <string>
#include <vector>

#include "common/metrics.h"
#include "workers/tool_executor.h"

namespace baton::v1 {
class Usage;
}  // namespace baton::v1

namespace baton::worker {

// Tokens by kind and cost by model, from the usage the agent loop journals with each
// model call (priced there: Usage.cost_usd). Copyable; empty (off) by default.
class UsageMetrics {
 public:
  UsageMetrics() = default;
  static UsageMetrics Register(metrics::Registry& registry);

  // One call of `model` (the model asked for) used `usage`.
  void Add(const std::string& model, const v1::Usage& usage) const;

 private:
  metrics::CounterFamily tokens_;    // baton_model_tokens_total{model, kind}
  metrics::CounterFamily cost_usd_;  // baton_model_cost_usd_total{model}
};

// Times every call of `tools` by tool and outcome ("ok", "error" for a result with
// is_error, else the status code in snake case). Thread-safe; `tools` must outlive it.
class MeteredToolExecutor final : public ToolExecutor {
 public:
  MeteredToolExecutor(ToolExecutor& tools, metrics::Registry& registry);

  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override { return tools_.ListTools(); }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                      const ToolCallContext& context) override;

 private:
  ToolExecutor& tools_;
  const metrics::HistogramFamily call_seconds_;  // baton_tool_call_seconds{tool, outcome}
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_WORKER_METRICS_H_
