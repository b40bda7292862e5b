// Process-wide settings every Baton server sets first thing in main().
#ifndef BATON_COMMON_RUNTIME_H_
#define BATON_COMMON_RUNTIME_H_

namespace baton {

// Debian's Abseil is built without NDEBUG, so every absl::Mutex::Lock (gRPC's own
// mutexes included) also updates the deadlock detector's global lock graph: about 6%
// of the orchestrator's CPU and 3% of a worker's under load (docs/PERFORMANCE.md).
// Servers turn it off; tests leave it on, so they still catch lock-order cycles.
void DisableMutexDeadlockDetection();

}  // namespace baton

#endif  // BATON_COMMON_RUNTIME_H_
