#include "orchestrator/run_trace.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fnv1a.h"
#include "common/tracing/span.h"
#include "common/tracing/trace_context.h"

namespace baton::orchestrator {

absl::Status SetCallerTrace(absl::string_view traceparent, absl::string_view tracestate, v1::Run* run) {
  if (traceparent.empty()) return absl::OkStatus();
  absl::StatusOr<tracing::SpanContext> caller = tracing::ParseTraceparent(traceparent);
  if (!caller.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("traceparent (gRPC metadata): ", caller.status().message()));
  }
  absl::StatusOr<std::string> state = tracing::ParseTracestate(tracestate);
  if (!state.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tracestate (gRPC metadata): ", state.status().message()));
  }
  v1::TraceContext* trace = run->mutable_trace();
  trace->set_trace_id(caller->trace_id);
  trace->set_parent_span_id(caller->span_id);
  trace->set_sampled(caller->sampled);
  trace->set_tracestate(*std::move(state));
  return absl::OkStatus();
}

v1::TraceContext NewRunTrace() {
  v1::TraceContext trace;
  trace.set_trace_id(tracing::NewTraceId());
  trace.set_sampled(true);
  return trace;
}

LogContext RunLogContext(const v1::Run& run) {
  return LogContext{run.run_id(), run.trace().trace_id(), run.trace().parent_span_id()};
}

v1::TraceContext ChildRunTrace(const v1::Run& parent, const std::string& traceparent) {
  v1::TraceContext trace = parent.trace();
  if (trace.trace_id().empty()) return NewRunTrace();  // a parent from before traces were kept
  absl::StatusOr<tracing::SpanContext> span = tracing::ParseTraceparent(traceparent);
  if (span.ok() && span->trace_id == trace.trace_id()) trace.set_parent_span_id(span->span_id);
  return trace;
}

std::string GraphRunSpanId(const std::string& run_id) {
  uint64_t id = Fnv1a(absl::StrCat(run_id, "#graph"));
  if (id == 0) id = 1;  // an all-zero span id is invalid
  return absl::StrFormat("%016x", id);
}

v1::TraceContext NodeRunTrace(const v1::Run& graph_run) {
  v1::TraceContext trace = graph_run.trace();
  if (trace.trace_id().empty()) return NewRunTrace();  // a run from before traces were kept
  trace.set_parent_span_id(GraphRunSpanId(graph_run.run_id()));
  return trace;
}

bool GraphRunSpanWanted(const v1::Run& run) {
  return tracing::Tracer::Global().exporting() && !run.trace().trace_id().empty() && run.trace().sampled();
}

void ExportGraphRunSpan(const v1::Run& run) {
  if (!GraphRunSpanWanted(run)) return;
  const tracing::Tracer& tracer = tracing::Tracer::Global();
  tracing::SpanData span;
  const std::string& graph = run.graph().name();
  span.name = graph.empty() ? "invoke_agent" : absl::StrCat("invoke_agent ", graph);
  span.kind = tracing::SpanKind::kInternal;
  span.trace_id = run.trace().trace_id();
  span.span_id = GraphRunSpanId(run.run_id());
  span.parent_span_id = run.trace().parent_span_id();
  span.trace_state = run.trace().tracestate();
  span.start_unix_nanos = run.create_time_ms() * 1'000'000;
  span.end_unix_nanos = std::max(run.end_time_ms(), run.create_time_ms()) * 1'000'000;
  span.attributes = {
      {"gen_ai.operation.name", std::string("invoke_agent")},
      {"gen_ai.provider.name", std::string("anthropic")},
      {"gen_ai.conversation.id", run.run_id()},
      {"baton.run.outcome", absl::AsciiStrToLower(v1::RunState_Name(run.state()))},
      {"baton.graph.node_runs", static_cast<int64_t>(run.children())},
  };
  if (!graph.empty()) {
    span.attributes.emplace_back("gen_ai.agent.name", graph);
    span.attributes.emplace_back("baton.graph.name", graph);
  }
  if (run.graph().version() > 0) span.attributes.emplace_back("baton.graph.version", static_cast<int64_t>(run.graph().version()));
  if (!run.parent_run_id().empty()) span.attributes.emplace_back("baton.run.parent_id", run.parent_run_id());
  if (run.state() == v1::FAILED) {
    span.error = true;
    span.status_message = run.error();
    span.attributes.emplace_back("error.type", v1::FailureKind_Name(run.failure_kind()));
  }
  tracer.Record(std::move(span));
}

}  // namespace baton::orchestrator
