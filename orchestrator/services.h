// The orchestrator's gRPC services (callback API): RunService and AgentService for
// clients, WorkerService for workers. Handlers never block on a durable write:
// they answer from the scheduler's completion callbacks.
#ifndef BATON_ORCHESTRATOR_SERVICES_H_
#define BATON_ORCHESTRATOR_SERVICES_H_

#include <functional>
#include <memory>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/container/flat_hash_map.h"
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/metrics.h"
#include "orchestrator/event_hub.h"
#include "orchestrator/limits.h"
#include "orchestrator/namespace_access.h"
#include "orchestrator/page_tokens.h"
#include "orchestrator/rate_limiter.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

class RunServiceImpl final : public v1::RunService::CallbackService {
 public:
  // `limits`: sizes of inputs, inline specs and pages (orchestrator/limits.h).
  // Page tokens are signed with the store's key (RunStore::PageTokenKey).
  RunServiceImpl(Scheduler& scheduler, RunStore& store, EventHub& hub, InputLimits limits = {})
      : scheduler_(scheduler), store_(store), hub_(hub), limits_(limits), page_tokens_(store.PageTokenKey()) {}
  // Whose namespaces a call may touch (namespace_access.h). Default: every one.
  void SetNamespacesOf(NamespacesOf namespaces_of) { namespaces_of_ = std::move(namespaces_of); }
  // Who a call comes from, kept with a cancel's reason. Default (no --auth): nobody.
  void SetCallerOf(std::function<std::string(const grpc::ServerContextBase&)> caller_of) {
    caller_of_ = std::move(caller_of);
  }

  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* ctx,
                                      const v1::CreateRunRequest* request, v1::Run* reply) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* ctx,
                                   const v1::GetRunRequest* request, v1::Run* reply) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* ctx,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* reply) override;
  grpc::ServerUnaryReactor* CountRuns(grpc::CallbackServerContext* ctx, const v1::CountRunsRequest* request,
                                      v1::CountRunsResponse* reply) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* ctx,
                                      const v1::CancelRunRequest* request, v1::Run* reply) override;
  grpc::ServerWriteReactor<v1::RunEvent>* WatchRun(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchRunRequest* request) override;
  grpc::ServerWriteReactor<v1::RunEventBatch>* WatchRunBatched(grpc::CallbackServerContext* ctx,
                                                               const v1::WatchRunRequest* request) override;
  grpc::ServerUnaryReactor* GetTranscript(grpc::CallbackServerContext* ctx,
                                          const v1::GetTranscriptRequest* request,
                                          v1::Transcript* reply) override;
  // Approvals and forks: run_service_waits.cc.
  grpc::ServerUnaryReactor* ListApprovals(grpc::CallbackServerContext* ctx,
                                          const v1::ListApprovalsRequest* request,
                                          v1::ListApprovalsResponse* reply) override;
  grpc::ServerUnaryReactor* GetApproval(grpc::CallbackServerContext* ctx,
                                        const v1::GetApprovalRequest* request, v1::Approval* reply) override;
  grpc::ServerUnaryReactor* DecideApproval(grpc::CallbackServerContext* ctx,
                                           const v1::DecideApprovalRequest* request,
                                           v1::Approval* reply) override;
  grpc::ServerUnaryReactor* ForkRun(grpc::CallbackServerContext* ctx, const v1::ForkRunRequest* request,
                                    v1::Run* reply) override;

 private:
  // The filter ListRuns and CountRuns share (namespace, agent, parent, labels), checked.
  absl::StatusOr<RunFilter> ListFilter(const grpc::ServerContextBase& ctx, const std::string& ns,
                                       const std::string& agent_name, const std::string& parent_run_id,
                                       const google::protobuf::Map<std::string, std::string>& labels) const;
  // WatchRun's and WatchRunBatched's checks of the request and the caller.
  absl::Status CheckWatch(grpc::CallbackServerContext* ctx, const v1::WatchRunRequest& request);

  Scheduler& scheduler_;
  RunStore& store_;
  EventHub& hub_;
  const InputLimits limits_;
  const PageTokens page_tokens_;
  NamespacesOf namespaces_of_ = AllNamespaces();
  std::function<std::string(const grpc::ServerContextBase&)> caller_of_ = [](const grpc::ServerContextBase&) {
    return std::string();
  };
};

class AgentServiceImpl final : public v1::AgentService::CallbackService {
 public:
  // `limits`: the size of a spec and of a page (orchestrator/limits.h).
  explicit AgentServiceImpl(RunStore& store, InputLimits limits = {})
      : store_(store), limits_(limits), page_tokens_(store.PageTokenKey()) {}
  // Whose namespaces a call may touch (namespace_access.h). Default: every one.
  void SetNamespacesOf(NamespacesOf namespaces_of) { namespaces_of_ = std::move(namespaces_of); }

  grpc::ServerUnaryReactor* PutAgent(grpc::CallbackServerContext* ctx,
                                     const v1::PutAgentRequest* request,
                                     v1::PutAgentResponse* reply) override;
  grpc::ServerUnaryReactor* GetAgent(grpc::CallbackServerContext* ctx,
                                     const v1::GetAgentRequest* request,
                                     v1::AgentSpec* reply) override;
  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* ctx,
                                       const v1::ListAgentsRequest* request,
                                       v1::ListAgentsResponse* reply) override;

 private:
  RunStore& store_;
  const InputLimits limits_;
  const PageTokens page_tokens_;
  NamespacesOf namespaces_of_ = AllNamespaces();
  // PutAgent reads the latest version and writes the next: one writer at a time.
  absl::Mutex put_mu_;
};

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  // `hub` (live text deltas) and `rate_limiter` (fleet-wide rate limits) may be null:
  // PublishDeltas then drops what it gets and AcquireRate answers "unlimited".
  // `store` resolves the stored subagents of child runs. `limits`: the sizes of an
  // AppendStep request and of its entries (orchestrator/limits.h).
  WorkerServiceImpl(Scheduler& scheduler, RunStore& store, absl::Duration lease_ttl, EventHub* hub = nullptr,
                    RateLimiter* rate_limiter = nullptr, InputLimits limits = {})
      : scheduler_(scheduler),
        store_(store),
        lease_ttl_(lease_ttl),
        hub_(hub),
        rate_limiter_(rate_limiter),
        limits_(limits) {}

  // mTLS (the orchestrator's --tls-client-ca): every method then needs a verified
  // client certificate (UNAUTHENTICATED without one), and a worker_id in a request
  // must be the certificate's identity or start with it and "/" (PERMISSION_DENIED;
  // common/tls.h CheckWorkerId). REQUIRES: called before the server starts.
  // Default: not required.
  void RequireClientCertificates(bool required) { require_client_certificates_ = required; }
  // Whose namespaces a call may touch (namespace_access.h). Default: every one.
  void SetNamespacesOf(NamespacesOf namespaces_of) { namespaces_of_ = std::move(namespaces_of); }
  // Prometheus metrics (docs/operations.md, "Metrics"): AppendStep from its arrival to
  // its answer (the journal write durable). REQUIRES: called before the server starts.
  void RegisterMetrics(metrics::Registry& registry) {
    append_step_seconds_ = registry.AddHistogram("baton_append_step_seconds",
                                                 "AppendStep from its arrival to its answer (entries durable).",
                                                 metrics::Buckets::Commit());
  }

  grpc::ServerUnaryReactor* PollTask(grpc::CallbackServerContext* ctx,
                                     const v1::PollTaskRequest* request,
                                     v1::PollTaskResponse* reply) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* reply) override;
  grpc::ServerUnaryReactor* AppendStep(grpc::CallbackServerContext* ctx,
                                       const v1::AppendStepRequest* request,
                                       v1::AppendStepResponse* reply) override;
  // Each step as an AppendStep call of its own; the call ends when every step has.
  grpc::ServerUnaryReactor* AppendSteps(grpc::CallbackServerContext* ctx,
                                        const v1::AppendStepsRequest* request,
                                        v1::AppendStepsResponse* reply) override;
  grpc::ServerUnaryReactor* CompleteRun(grpc::CallbackServerContext* ctx,
                                        const v1::CompleteRunRequest* request,
                                        v1::CompleteRunResponse* reply) override;
  grpc::ServerUnaryReactor* FailRun(grpc::CallbackServerContext* ctx,
                                    const v1::FailRunRequest* request,
                                    v1::FailRunResponse* reply) override;
  grpc::ServerUnaryReactor* PublishDeltas(grpc::CallbackServerContext* ctx,
                                          const v1::PublishDeltasRequest* request,
                                          v1::PublishDeltasResponse* reply) override;
  grpc::ServerUnaryReactor* PublishDeltasBatch(grpc::CallbackServerContext* ctx,
                                               const v1::PublishDeltasBatchRequest* request,
                                               v1::PublishDeltasResponse* reply) override;
  grpc::ServerUnaryReactor* AcquireRate(grpc::CallbackServerContext* ctx,
                                        const v1::AcquireRateRequest* request,
                                        v1::AcquireRateResponse* reply) override;
  grpc::ServerUnaryReactor* ReportRate(grpc::CallbackServerContext* ctx,
                                       const v1::ReportRateRequest* request,
                                       v1::ReportRateResponse* reply) override;
  // Runs that wait: run_service_waits.cc.
  grpc::ServerUnaryReactor* SuspendRun(grpc::CallbackServerContext* ctx, const v1::SuspendRunRequest* request,
                                       v1::SuspendRunResponse* reply) override;
  grpc::ServerUnaryReactor* RequestInput(grpc::CallbackServerContext* ctx,
                                         const v1::RequestInputRequest* request,
                                         v1::RequestInputResponse* reply) override;
  grpc::ServerUnaryReactor* AwaitInput(grpc::CallbackServerContext* ctx, const v1::AwaitInputRequest* request,
                                       v1::AwaitInputResponse* reply) override;

 private:
  // One AppendStep (alone or a step of AppendSteps), in two halves. CheckAppend checks
  // `request`: when it is refused it calls `done` here and returns an empty function;
  // else it returns the second half, which hands the step to the scheduler, whose
  // outcome reaches `done` (on the store's thread, `reply` filled when OK).
  std::function<void()> CheckAppend(const v1::AppendStepRequest& request, v1::AppendStepResponse* reply,
                                    std::function<void(const absl::Status&)> done);
  // Hands the live events of one run in a PublishDeltas(Batch) call to the hub.
  void PublishLive(const v1::PublishDeltasRequest& request);
  // After PublishLive: drops the hub's live step starts of those runs whose lease has
  // ended meanwhile.
  void ForgetLiveStepsIfEnded(const std::vector<const v1::PublishDeltasRequest*>& published);

  Scheduler& scheduler_;
  RunStore& store_;
  const absl::Duration lease_ttl_;
  EventHub* const hub_;
  RateLimiter* const rate_limiter_;
  const InputLimits limits_;
  bool require_client_certificates_ = false;
  NamespacesOf namespaces_of_ = AllNamespaces();
  metrics::Histogram append_step_seconds_;

  // OK unless client certificates are required and the call's is missing, or does not
  // own `worker_id` (empty: the request names no worker).
  absl::Status CheckPeer(grpc::CallbackServerContext* ctx, const std::string& worker_id = "") const;
};

// Inlines every stored subagent of `agent` (one level: a child resolves its own when it
// is created), pinning the version used. `field` names `agent` in errors
// ("agent", "children[0].agent"). NOT_FOUND names the subagent that does not exist.
absl::Status ResolveSubagents(v1::AgentSpec* agent, RunStore& store, std::string_view ns, const std::string& field);
// Every stored subagent `agent` names, at any depth of inline ones, exists (an agent
// may name itself). NOT_FOUND names the first that does not.
absl::Status CheckStoredSubagents(const v1::AgentSpec& agent, RunStore& store, std::string_view ns,
                                  const std::string& field);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_SERVICES_H_
