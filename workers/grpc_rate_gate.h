// RateGate over the orchestrator's WorkerService.AcquireRate / ReportRate: the fleet
// shares one set of token buckets per model.
#ifndef BATON_WORKERS_GRPC_RATE_GATE_H_
#define BATON_WORKERS_GRPC_RATE_GATE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/tls.h"
#include "workers/model/rate_gate.h"

namespace baton::worker {

// Thread-safe. Fails open: when the orchestrator cannot answer within a second the
// attempt goes ahead (the API's own 429s and the client's retries still apply).
class GrpcRateGate final : public RateGate {
 public:
  // `tls`: how to reach the orchestrator (the worker's --ca, --cert, --key).
  GrpcRateGate(const std::string& orchestrator_address, std::string worker_id, const ClientTlsOptions& tls = {});

  absl::Status Acquire(const RateAttempt& attempt, const std::function<bool()>& is_cancelled) override;
  void Report(const RateAttempt& attempt, const RateOutcome& outcome) override;
  bool Governs(const std::string& model) override;

 private:
  const std::string worker_id_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  absl::Mutex mu_;
  // Models the orchestrator said are unlimited, until when that answer is trusted.
  std::map<std::string, absl::Time> unlimited_until_ ABSL_GUARDED_BY(mu_);
  bool unimplemented_ ABSL_GUARDED_BY(mu_) = false;
  // The last AcquireRate failed: attempts go ahead unspaced.
  bool unreachable_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_GRPC_RATE_GATE_H_
