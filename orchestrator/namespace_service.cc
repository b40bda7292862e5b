#include "orchestrator/namespace_service.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/namespaces.h"

namespace baton::orchestrator {
namespace {

// Settings of a namespace the caller may not use are NOT_FOUND, like its runs.
absl::Status NotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("namespace \"", name, "\" has no settings"));
}

}  // namespace

absl::Status ValidateNamespace(const v1::Namespace& settings) {
  if (!IsValidNamespace(settings.name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace.name: \"", settings.name(), "\" is not 1 to 63 of [a-z0-9_-]"));
  }
  const v1::NamespaceQuotas& quotas = settings.quotas();
  if (quotas.max_queued_runs() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace.quotas.max_queued_runs: must be >= 0 (0: no limit), got ", quotas.max_queued_runs()));
  }
  if (quotas.max_concurrent_runs() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace.quotas.max_concurrent_runs: must be >= 0 (0: no limit), got ", quotas.max_concurrent_runs()));
  }
  if (!std::isfinite(quotas.max_creates_per_second()) || quotas.max_creates_per_second() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace.quotas.max_creates_per_second: must be >= 0 (0: no limit), got ", quotas.max_creates_per_second()));
  }
  if (settings.has_retention_seconds() && settings.retention_seconds() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace.retention_seconds: must be >= 0 (0: kept forever; unset: the orchestrator's default), got ",
        settings.retention_seconds()));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* NamespaceServiceImpl::PutNamespace(grpc::CallbackServerContext* ctx,
                                                             const v1::PutNamespaceRequest* request,
                                                             v1::Namespace* reply) {
  if (absl::Status s = ValidateNamespace(request->namespace_()); !s.ok()) return FinishNow(ctx, s);
  if (absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_().name(), "namespace.name");
      !ns.ok()) {
    return FinishNow(ctx, ns.status());
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.PutNamespace(request->namespace_(), [reactor, reply](absl::StatusOr<v1::Namespace> stored) {
    if (stored.ok()) *reply = std::move(*stored);
    reactor->Finish(ToGrpcStatus(stored.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* NamespaceServiceImpl::GetNamespace(grpc::CallbackServerContext* ctx,
                                                             const v1::GetNamespaceRequest* request,
                                                             v1::Namespace* reply) {
  if (!IsValidNamespace(request->name())) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("name: \"", request->name(), "\" is not 1 to 63 of [a-z0-9_-]")));
  }
  if (!NamespaceAllowed(namespaces_of_(*ctx), request->name())) return FinishNow(ctx, NotFound(request->name()));
  absl::StatusOr<std::optional<v1::Namespace>> settings = store_.GetNamespace(request->name());
  if (!settings.ok()) return FinishNow(ctx, settings.status());
  if (!settings->has_value()) return FinishNow(ctx, NotFound(request->name()));
  *reply = std::move(**settings);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* NamespaceServiceImpl::ListNamespaces(grpc::CallbackServerContext* ctx,
                                                               const v1::ListNamespacesRequest* request,
                                                               v1::ListNamespacesResponse* reply) {
  absl::StatusOr<std::vector<v1::Namespace>> all = store_.ListNamespaces();
  if (!all.ok()) return FinishNow(ctx, all.status());
  const std::vector<std::string> allowed = namespaces_of_(*ctx);
  for (v1::Namespace& settings : *all) {
    if (NamespaceAllowed(allowed, settings.name())) *reply->add_namespaces() = std::move(settings);
  }
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace baton::orchestrator
