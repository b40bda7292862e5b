#include "common/runtime.h"

#include "absl/synchronization/mutex.h"

namespace baton {

void DisableMutexDeadlockDetection() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace baton
