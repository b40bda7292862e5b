// The trace a run's spans join (Run.trace): the caller's W3C traceparent from a
// CreateRun or ForkRun call's metadata, a parent run's, or a trace of the run's own.
// Workers nest their spans under Run.trace; the orchestrator records one span, a
// graph run's, under which the graph's node runs nest.
#ifndef BATON_ORCHESTRATOR_RUN_TRACE_H_
#define BATON_ORCHESTRATOR_RUN_TRACE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "baton/v1/run.pb.h"
#include "common/logging.h"

namespace baton::orchestrator {

// Sets run->trace from `traceparent`, the call's `traceparent` metadata ("": none,
// and the run gets a trace of its own when created), and `tracestate`, its
// `tracestate` metadata (ignored without a traceparent, as W3C says). A malformed one
// is kInvalidArgument naming it: the caller asked for its trace and would otherwise
// lose it without a word.
absl::Status SetCallerTrace(absl::string_view traceparent, absl::string_view tracestate, v1::Run* run);

// A new trace of the run's own: a random trace id, no parent span, sampled.
v1::TraceContext NewRunTrace();

// The log context of a line about `run`: its id, trace id, and the span its spans nest
// under.
LogContext RunLogContext(const v1::Run& run);

// A child run's trace: under `traceparent` (the parent's span, sent by its worker)
// when it is valid and in the parent's trace; the parent's trace otherwise.
v1::TraceContext ChildRunTrace(const v1::Run& parent, const std::string& traceparent);

// The id of a graph run's span: derived from its run id, so that node runs created
// after any restart of the orchestrator name the same parent, and the span, exported
// when the run ends, holds them all.
std::string GraphRunSpanId(const std::string& run_id);

// A graph node's run: in its graph run's trace, under the graph run's span.
v1::TraceContext NodeRunTrace(const v1::Run& graph_run);

// Whether ExportGraphRunSpan would export `run`'s span: the process traces and the
// run's trace is sampled. Checked before copying a run for it.
bool GraphRunSpanWanted(const v1::Run& run);

// Exports the span of a graph run that has just ended (`run` holds its end state and
// time), `invoke_agent {graph}`, through the process's tracer (nothing when the
// process does not trace or the run's trace is not sampled).
void ExportGraphRunSpan(const v1::Run& run);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RUN_TRACE_H_
