// ListRuns' views of a run (RunView in proto/baton/v1/run.proto): BASIC, a summary of
// bounded size, so that a page of runs with multi-MB inputs fits a client's default
// 4 MiB receive limit; FULL, the run as it is. Pure: no gRPC, no store.
#ifndef BATON_ORCHESTRATOR_RUN_VIEW_H_
#define BATON_ORCHESTRATOR_RUN_VIEW_H_

#include <cstddef>
#include <string_view>

#include "baton/v1/run.pb.h"

namespace baton::orchestrator {

// The bytes BASIC keeps of input, output, error and cancel_reason.
inline constexpr size_t kBasicViewTextBytes = 256;

// The longest prefix of `text` of at most `max_bytes` that does not end inside a UTF-8
// character.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// Cuts `run` down to what RunView.BASIC holds and sets run->view to BASIC.
void ApplyBasicView(v1::Run* run);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RUN_VIEW_H_
