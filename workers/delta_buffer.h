// A bounded buffer of live events (text deltas, step starts) on their way from the
// agent loop to the orchestrator. Never blocks the producer: when full, deltas are
// counted as dropped and the next batch of that run says so (the orchestrator then
// sends watchers a Gap).
#ifndef BATON_WORKERS_DELTA_BUFFER_H_
#define BATON_WORKERS_DELTA_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/worker_service.pb.h"

namespace baton::worker {

// Thread-safe.
class DeltaBuffer {
 public:
  // Holds at most `max_bytes` of text. Default: 256 KiB.
  explicit DeltaBuffer(size_t max_bytes = size_t{256} << 10) : max_bytes_(max_bytes) {}
  DeltaBuffer(const DeltaBuffer&) = delete;
  DeltaBuffer& operator=(const DeltaBuffer&) = delete;

  // Adds a delta of the run holding `lease`; false when it was dropped.
  bool Add(const v1::Lease& lease, int step, int block_index, const std::string& text);
  // Adds the start of a step's model call; false when it was dropped (as a delta).
  bool AddStepStarted(const v1::Lease& lease, const v1::RunEvent::StepStarted& started);
  // Waits up to `timeout` for deltas, then `linger` more for what other runs add in
  // that time, and takes everything buffered: one request per run, consecutive deltas
  // of the same block merged. Empty after Close().
  std::vector<v1::PublishDeltasRequest> Take(absl::Duration timeout, absl::Duration linger = absl::ZeroDuration());
  // Wakes Take() and makes later Add() calls drop.
  void Close();
  int64_t dropped() const;

 private:
  struct Pending {
    v1::Lease lease;
    std::vector<v1::RunEvent::TextDelta> deltas;
    std::vector<v1::RunEvent::StepStarted> steps_started;
    int64_t dropped_before = 0;
  };
  // The run's pending events with `bytes` counted in, or null (counted as dropped)
  // when closed or full.
  Pending* RoomForLocked(const v1::Lease& lease, size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  std::map<std::string, Pending> runs_ ABSL_GUARDED_BY(mu_);  // by run_id
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_DELTA_BUFFER_H_
