// Run ids: "<namespace>/run_" + 12 lowercase hex digits of Unix milliseconds + 8
// random lowercase hex digits, e.g. "default/run_018bcfe56800a3f09c1e". The part after
// the namespace sorts by creation time to the millisecond (ListRuns' indexes end with
// it); the random part keeps ids made in the same millisecond apart (2^32 choices).
#ifndef BATON_ORCHESTRATOR_STORE_RUN_ID_H_
#define BATON_ORCHESTRATOR_STORE_RUN_ID_H_

#include <string>
#include <string_view>

#include "common/clock.h"

namespace baton::orchestrator {

// Thread-safe. REQUIRES: IsValidNamespace(ns) (common/namespaces.h).
std::string NewRunId(const Clock& clock, std::string_view ns);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_RUN_ID_H_
