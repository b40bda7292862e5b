// NamespaceService: namespace settings (quotas), served by the orchestrator next to
// RunService. The scheduler enforces the quotas; the store keeps the settings.
#ifndef BATON_ORCHESTRATOR_NAMESPACE_SERVICE_H_
#define BATON_ORCHESTRATOR_NAMESPACE_SERVICE_H_

#include "baton/v1/namespace.grpc.pb.h"
#include "orchestrator/namespace_access.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

class NamespaceServiceImpl final : public v1::NamespaceService::CallbackService {
 public:
  NamespaceServiceImpl(Scheduler& scheduler, RunStore& store) : scheduler_(scheduler), store_(store) {}
  // Whose namespaces a call may touch (namespace_access.h). Default: every one.
  void SetNamespacesOf(NamespacesOf namespaces_of) { namespaces_of_ = std::move(namespaces_of); }

  grpc::ServerUnaryReactor* PutNamespace(grpc::CallbackServerContext* ctx, const v1::PutNamespaceRequest* request,
                                         v1::Namespace* reply) override;
  grpc::ServerUnaryReactor* GetNamespace(grpc::CallbackServerContext* ctx, const v1::GetNamespaceRequest* request,
                                         v1::Namespace* reply) override;
  grpc::ServerUnaryReactor* ListNamespaces(grpc::CallbackServerContext* ctx,
                                           const v1::ListNamespacesRequest* request,
                                           v1::ListNamespacesResponse* reply) override;

 private:
  Scheduler& scheduler_;
  RunStore& store_;
  NamespacesOf namespaces_of_ = AllNamespaces();
};

// INVALID_ARGUMENT naming the field: a malformed name, a negative quota.
absl::Status ValidateNamespace(const v1::Namespace& settings);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_NAMESPACE_SERVICE_H_
