#include "orchestrator/store/run_id.h"

#include <cstdint>
#include <mutex>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace baton::orchestrator {

std::string NewRunId(const Clock& clock, std::string_view ns) {
  // Ids of one process strictly increase, so ListRuns' newest-first order is the
  // creation order even within one millisecond: inside a millisecond (or when the
  // clock steps back) the previous id's suffix is incremented. A new millisecond
  // starts from a random suffix with headroom, so ids from other processes rarely meet.
  static std::mutex mu;
  static uint64_t last_millis = 0;
  static uint32_t last_suffix = 0;
  thread_local absl::BitGen gen;
  int64_t ms = clock.NowMillis();
  if (ms < 0) ms = 0;
  // 12 hex digits last until the year 10889; mask so the width never changes.
  uint64_t millis = static_cast<uint64_t>(ms) & 0xffffffffffffULL;
  uint32_t suffix;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (millis <= last_millis) {
      millis = last_millis;
      suffix = last_suffix + 1;
      if (suffix == 0) {  // the suffix wrapped: borrow the next millisecond
        ++millis;
        suffix = absl::Uniform<uint32_t>(gen, 0, 1u << 31);
      }
    } else {
      suffix = absl::Uniform<uint32_t>(gen, 0, 1u << 31);
    }
    last_millis = millis;
    last_suffix = suffix;
  }
  return absl::StrFormat("%s/run_%012x%08x", absl::string_view(ns.data(), ns.size()), millis, suffix);
}

}  // namespace baton::orchestrator
