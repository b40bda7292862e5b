// Run ids: "run_" + 12 lowercase hex digits of Unix milliseconds + 8 random lowercase
// hex digits, e.g. "run_018bcfe56800a3f09c1e". Byte order is creation order to the
// millisecond (the runs keyspace, and so ListRuns, is newest-last without an index);
// the random part keeps ids made in the same millisecond apart (2^32 choices).
#ifndef BATON_ORCHESTRATOR_STORE_RUN_ID_H_
#define BATON_ORCHESTRATOR_STORE_RUN_ID_H_

#include <string>

#include "common/clock.h"

namespace baton::orchestrator {

// Thread-safe.
std::string NewRunId(const Clock& clock);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_RUN_ID_H_
