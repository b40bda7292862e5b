#include "workers/worker_metrics.h"

#include <cstdint>
#include <utility>

#include "baton/v1/run.pb.h"

namespace baton::worker {

UsageMetrics UsageMetrics::Register(metrics::Registry& registry) {
  UsageMetrics m;
  m.tokens_ = registry.AddCounterFamily(
      "baton_model_tokens_total",
      "Tokens of Messages API calls by model and kind (input, output, cache_write, cache_read), as the API reported.");
  m.cost_usd_ = registry.AddCounterFamily("baton_model_cost_usd_total",
                                          "Cost in USD of Messages API calls by model, at the worker's prices.");
  return m;
}

void UsageMetrics::Add(const std::string& model, const v1::Usage& usage) const {
  if (!tokens_.enabled()) return;
  const std::pair<const char*, int64_t> kinds[] = {
      {"input", usage.input_tokens()},
      {"output", usage.output_tokens()},
      {"cache_write", usage.cache_creation_input_tokens()},
      {"cache_read", usage.cache_read_input_tokens()},
  };
  for (const auto& [kind, tokens] : kinds) {
    tokens_.With({{"model", model}, {"kind", kind}}).Increment(static_cast<double>(tokens));
  }
  cost_usd_.With({{"model", model}}).Increment(usage.cost_usd());
}

MeteredToolExecutor::MeteredToolExecutor(ToolExecutor& tools, metrics::Registry& registry)
    : tools_(tools),
      call_seconds_(registry.AddHistogramFamily("baton_tool_call_seconds",
                                                "Tool calls run by the worker (built-in and MCP), by tool and outcome.",
                                                metrics::Buckets::ToolCall())) {}

absl::StatusOr<ToolOutput> MeteredToolExecutor::CallTool(const std::string& name, const nlohmann::json& input,
                                                         const ToolCallContext& context) {
  if (!call_seconds_.enabled()) return tools_.CallTool(name, input, context);
  const absl::Time start = absl::Now();
  absl::StatusOr<ToolOutput> output = tools_.CallTool(name, input, context);
  const std::string outcome = output.ok() && output->is_error ? "error" : metrics::OutcomeOf(output.status());
  call_seconds_.With({{"tool", name}, {"outcome", outcome}}).ObserveDuration(absl::Now() - start);
  return output;
}

}  // namespace baton::worker
