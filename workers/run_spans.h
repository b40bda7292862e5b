// The worker's spans, with the OpenTelemetry GenAI semantic conventions
// (docs/operations.md, "Tracing"): `invoke_agent {agent}` per run attempt (Worker),
// and decorators that record `chat {model}` around each model call and
// `execute_tool {tool}` around each tool call. The decorators nest their spans under
// the thread's current span (tracing::ScopedSpan, set by the worker for the run) and
// make theirs current during the call, so the call's log lines and outgoing requests
// (the bridge's traceparent metadata) name it.
#ifndef BATON_WORKERS_RUN_SPANS_H_
#define BATON_WORKERS_RUN_SPANS_H_

#include <string>

#include "baton/v1/run.pb.h"
#include "common/tracing/span.h"
#include "workers/model/model_client.h"
#include "workers/tool_executor.h"

namespace baton::worker {

struct RunOutcome;

// Where a run's spans nest: Run.trace (the caller's span, a parent run's, or a trace
// of the run's own). A run stored before traces were kept gets a trace id derived
// from its id, so its attempts still share one.
tracing::SpanContext RunParentContext(const v1::Run& run);

// `invoke_agent {agent}` for one attempt at `run`, under RunParentContext(run).
tracing::Span StartInvokeAgentSpan(const v1::Run& run, int64_t epoch, const std::string& worker_id);
// Records how the attempt ended (usage, steps, the failure) and ends the span.
void EndInvokeAgentSpan(tracing::Span& span, const RunOutcome& outcome);

// Records a `chat {model}` span per call. Thread-safe as `inner` is; `inner` must
// outlive it.
class TracingModelClient final : public ModelClient {
 public:
  explicit TracingModelClient(ModelClient& inner) : inner_(inner) {}

  absl::StatusOr<ModelResponse> CreateMessage(const nlohmann::json& request, const ModelCallOptions& options) override;
  absl::StatusOr<ModelResponse> CreateMessageSerialized(const SerializedRequest& request,
                                                        const ModelCallOptions& options) override;
  absl::StatusOr<int64_t> CountTokens(const nlohmann::json& request, const ModelCallOptions& options) override {
    return inner_.CountTokens(request, options);
  }
  absl::StatusOr<int64_t> CountTokensSerialized(const SerializedRequest& request,
                                                const ModelCallOptions& options) override {
    return inner_.CountTokensSerialized(request, options);
  }

 private:
  ModelClient& inner_;
};

// Records an `execute_tool {tool}` span per call. Thread-safe as `inner` is; `inner`
// must outlive it.
class TracingToolExecutor final : public ToolExecutor {
 public:
  explicit TracingToolExecutor(ToolExecutor& inner) : inner_(inner) {}

  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override { return inner_.ListTools(); }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                      const ToolCallContext& context) override;

 private:
  ToolExecutor& inner_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_RUN_SPANS_H_
