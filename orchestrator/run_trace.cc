#include "orchestrator/run_trace.h"

#include "absl/strings/str_cat.h"
#include "common/tracing/trace_context.h"

namespace baton::orchestrator {

absl::Status SetCallerTrace(absl::string_view traceparent, v1::Run* run) {
  if (traceparent.empty()) return absl::OkStatus();
  absl::StatusOr<tracing::SpanContext> caller = tracing::ParseTraceparent(traceparent);
  if (!caller.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("traceparent (gRPC metadata): ", caller.status().message()));
  }
  v1::TraceContext* trace = run->mutable_trace();
  trace->set_trace_id(caller->trace_id);
  trace->set_parent_span_id(caller->span_id);
  trace->set_sampled(caller->sampled);
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

}  // namespace baton::orchestrator
