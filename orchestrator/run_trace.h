// The trace a run's spans join (Run.trace): the caller's W3C traceparent from a
// CreateRun or ForkRun call's metadata, a parent run's, or a trace of the run's own.
// The orchestrator records no spans itself; workers nest theirs under Run.trace.
#ifndef BATON_ORCHESTRATOR_RUN_TRACE_H_
#define BATON_ORCHESTRATOR_RUN_TRACE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "baton/v1/run.pb.h"
#include "common/logging.h"

namespace baton::orchestrator {

// Sets run->trace from `traceparent`, the call's `traceparent` metadata ("": none,
// and the run gets a trace of its own when created). A malformed one is
// kInvalidArgument naming it: the caller asked for its trace and would otherwise lose
// it without a word.
absl::Status SetCallerTrace(absl::string_view traceparent, v1::Run* run);

// A new trace of the run's own: a random trace id, no parent span, sampled.
v1::TraceContext NewRunTrace();

// The log context of a line about `run`: its id, trace id, and the span its spans nest
// under (the orchestrator records no span of its own).
LogContext RunLogContext(const v1::Run& run);

// A child run's trace: under `traceparent` (the parent's span, sent by its worker)
// when it is valid and in the parent's trace; the parent's trace otherwise.
v1::TraceContext ChildRunTrace(const v1::Run& parent, const std::string& traceparent);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RUN_TRACE_H_
