// InputRequester over the orchestrator's WorkerService: RequestInput creates the
// request (an approval of kind ELICITATION on the run), then AwaitInput long-polls
// until a person decides or the tool call's deadline passes.
#ifndef BATON_MCP_BRIDGE_GRPC_INPUT_REQUESTER_H_
#define BATON_MCP_BRIDGE_GRPC_INPUT_REQUESTER_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/tls.h"
#include "mcp-bridge/input_requester.h"
#include "mcp-bridge/timer_queue.h"

namespace baton::mcp {

struct GrpcInputRequesterOptions {
  std::string address;  // the orchestrator, "127.0.0.1:7233"
  ClientTlsOptions tls;  // TLS to it (--ca, --cert, --key). Default: none (plaintext)
  // AwaitInput's wait_ms: how long one long poll is held (the orchestrator holds
  // at most 60 s).
  absl::Duration await_wait = absl::Seconds(30);  // Default: 30 s
  // RequestInput's deadline; AwaitInput's is its wait plus this.
  absl::Duration rpc_timeout = absl::Seconds(10);  // Default: 10 s
  // A failed RPC (orchestrator restarting, overloaded) is tried again after this,
  // doubling up to retry_max, until the call's deadline.
  absl::Duration retry_initial = absl::Milliseconds(200);  // Default: 200 ms
  absl::Duration retry_max = absl::Seconds(5);             // Default: 5 s
};

// Thread-safe. Each ask is a chain of async RPCs (the gRPC callback API: no thread
// blocks) with retries on the timer queue; `done` runs on a gRPC or a timer
// thread. The destructor cancels every ask and waits until each `done` has run.
// `timers` must outlive it.
//
// Decisions: ACCEPT is accept with decision.input_json as the content; DECLINE (and
// DENY) decline; CANCEL, any other decision and a decision by timeout cancel.
class GrpcInputRequester final : public InputRequester {
 public:
  GrpcInputRequester(GrpcInputRequesterOptions options, TimerQueue& timers);
  // For tests: an existing channel.
  GrpcInputRequester(GrpcInputRequesterOptions options, std::shared_ptr<grpc::Channel> channel, TimerQueue& timers);
  ~GrpcInputRequester() override;
  GrpcInputRequester(const GrpcInputRequester&) = delete;
  GrpcInputRequester& operator=(const GrpcInputRequester&) = delete;

  AskId Ask(InputRequest request, std::function<void(absl::StatusOr<InputDecision>)> done) override;
  void Cancel(AskId id) override;

 private:
  struct Pending;

  // Starts the ask's next RPC (RequestInput until it has an approval id, then
  // AwaitInput), or ends it when it is cancelled or past its deadline.
  void Step(AskId id);
  void OnRequested(AskId id, const grpc::Status& status);
  void OnAwaited(AskId id, const grpc::Status& status);
  // A failed RPC: tried again after a backoff when the failure is transient.
  void OnFailure(AskId id, const grpc::Status& status, const char* rpc);
  // Stops the RPC or retry in flight (on the timer thread: never inside Cancel).
  void Interrupt(AskId id);
  // Runs the ask's `done`, then removes it.
  void End(AskId id, absl::StatusOr<InputDecision> result);

  const GrpcInputRequesterOptions options_;
  TimerQueue& timers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;

  absl::Mutex mu_;
  AskId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<AskId, std::unique_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  int interrupts_queued_ ABSL_GUARDED_BY(mu_) = 0;  // Interrupt callbacks not yet run
};

// ApprovalDecision → InputDecision, as the class comment says.
InputDecision InputDecisionFrom(const v1::ApprovalDecision& decision);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_GRPC_INPUT_REQUESTER_H_
