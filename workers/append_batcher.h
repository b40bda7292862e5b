// Sends the AppendStep calls of a worker's slots together (docs/design.md, "Appends
// in batches").
//
// A slot's append waits while the worker already has kMaxCallsInFlight AppendSteps
// calls out; the next call carries every append that waited, so a busy worker makes
// about one call per round trip instead of one per step, and the orchestrator
// commits the steps of a call in one group. An idle worker's append goes at once, alone.
// An orchestrator that predates AppendSteps answers UNIMPLEMENTED (PERMISSION_DENIED
// with authentication on): from then on each append is its own AppendStep call.
#ifndef BATON_WORKERS_APPEND_BATCHER_H_
#define BATON_WORKERS_APPEND_BATCHER_H_

#include <atomic>
#include <memory>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/worker_service.grpc.pb.h"

namespace baton::worker {

class AppendBatcher {
 public:
  // Calls in flight at once. Two: a call's steps are committed while the next call
  // gathers the steps that arrive meanwhile.
  static constexpr int kMaxCallsInFlight = 2;
  // A call carries at most this many steps and, past its first step, this many bytes.
  static constexpr int kMaxStepsPerCall = 128;
  static constexpr size_t kMaxBytesPerCall = size_t{1} << 20;

  explicit AppendBatcher(std::shared_ptr<grpc::Channel> channel);
  // Waits for the calls in flight. REQUIRES: no Append in progress.
  ~AppendBatcher();

  AppendBatcher(const AppendBatcher&) = delete;
  AppendBatcher& operator=(const AppendBatcher&) = delete;

  // The AppendStep call of `request`, answered in `response`: what
  // stub.AppendStep would return with `deadline` and wait_for_ready, including a
  // retry delay in the status. Blocks until the answer. `request` is borrowed while
  // the call is out and is unchanged when this returns. Thread-safe.
  grpc::Status Append(v1::AppendStepRequest* request, absl::Time deadline, v1::AppendStepResponse* response);

  // AppendSteps calls made, and the steps they carried (for tests and logs).
  int64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  int64_t batched_steps() const { return batched_steps_.load(std::memory_order_relaxed); }
  // Steps waiting for a call to carry them (for tests).
  size_t queued() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Item;
  struct Call;

  // Calls for what waits in queue_, up to kMaxCallsInFlight out; they are started by
  // the caller once mu_ is released (a call's callback may take mu_).
  std::vector<Call*> TakeCallsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Start(const std::vector<Call*>& calls);
  void OnDone(Call* call, const grpc::Status& status);
  grpc::Status AppendAlone(const v1::AppendStepRequest& request, absl::Time deadline,
                           v1::AppendStepResponse* response);

  const std::unique_ptr<v1::WorkerService::Stub> stub_;
  // Set once an orchestrator answered AppendSteps with UNIMPLEMENTED.
  std::atomic<bool> unsupported_{false};
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> batched_steps_{0};

  absl::Mutex mu_;
  std::vector<Item*> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_APPEND_BATCHER_H_
