#include "orchestrator/store/run_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace baton::orchestrator {

std::string NewRunId(const Clock& clock) {
  thread_local absl::BitGen gen;
  int64_t ms = clock.NowMillis();
  if (ms < 0) ms = 0;
  // 12 hex digits last until the year 10889; mask so the width never changes.
  const uint64_t millis = static_cast<uint64_t>(ms) & 0xffffffffffffULL;
  return absl::StrFormat("run_%012x%08x", millis, absl::Uniform<uint32_t>(gen));
}

}  // namespace baton::orchestrator
