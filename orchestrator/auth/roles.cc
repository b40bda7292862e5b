#include "orchestrator/auth/roles.h"

#include <utility>

namespace baton::orchestrator::auth {
namespace {

struct MethodRule {
  std::string_view method;
  Permission permission;
  bool audited = false;  // changes state a user asked for: one audit log line per call
};

// THE table. A method that is not here is refused for every role; a new RPC must be
// added here (roles_test fails until it is).
constexpr MethodRule kMethodTable[] = {
    // RunService
    {"/baton.v1.RunService/CreateRun", Permission::kOperate, true},
    {"/baton.v1.RunService/GetRun", Permission::kRead},
    {"/baton.v1.RunService/ListRuns", Permission::kRead},
    {"/baton.v1.RunService/CountRuns", Permission::kRead},
    {"/baton.v1.RunService/CancelRun", Permission::kOperate, true},
    {"/baton.v1.RunService/WatchRun", Permission::kRead},
    {"/baton.v1.RunService/WatchRunBatched", Permission::kRead},
    {"/baton.v1.RunService/GetTranscript", Permission::kRead},
    {"/baton.v1.RunService/ListApprovals", Permission::kRead},
    {"/baton.v1.RunService/GetApproval", Permission::kRead},
    {"/baton.v1.RunService/DecideApproval", Permission::kOperate, true},
    {"/baton.v1.RunService/ForkRun", Permission::kOperate, true},
    // AgentService
    {"/baton.v1.AgentService/PutAgent", Permission::kOperate, true},
    {"/baton.v1.AgentService/GetAgent", Permission::kRead},
    {"/baton.v1.AgentService/ListAgents", Permission::kRead},
    // GraphService
    {"/baton.v1.GraphService/PutGraph", Permission::kOperate, true},
    {"/baton.v1.GraphService/GetGraph", Permission::kRead},
    {"/baton.v1.GraphService/ListGraphs", Permission::kRead},
    // KeyService
    {"/baton.v1.KeyService/CreateKey", Permission::kAdmin, true},
    {"/baton.v1.KeyService/ListKeys", Permission::kAdmin},
    {"/baton.v1.KeyService/RevokeKey", Permission::kAdmin, true},
    // NamespaceService
    {"/baton.v1.NamespaceService/PutNamespace", Permission::kAdmin, true},
    {"/baton.v1.NamespaceService/GetNamespace", Permission::kRead},
    {"/baton.v1.NamespaceService/ListNamespaces", Permission::kRead},
    // IdentityService
    {"/baton.v1.IdentityService/WhoAmI", Permission::kIdentify},
    // AdminService
    {"/baton.v1.AdminService/Backup", Permission::kAdmin, true},
    // WorkerService
    {"/baton.v1.WorkerService/PollTask", Permission::kWork},
    {"/baton.v1.WorkerService/Heartbeat", Permission::kWork},
    {"/baton.v1.WorkerService/AppendStep", Permission::kWork},
    {"/baton.v1.WorkerService/AppendSteps", Permission::kWork},
    {"/baton.v1.WorkerService/CompleteRun", Permission::kWork},
    {"/baton.v1.WorkerService/FailRun", Permission::kWork},
    {"/baton.v1.WorkerService/PublishDeltas", Permission::kWork},
    {"/baton.v1.WorkerService/PublishDeltasBatch", Permission::kWork},
    {"/baton.v1.WorkerService/AcquireRate", Permission::kWork},
    {"/baton.v1.WorkerService/ReportRate", Permission::kWork},
    {"/baton.v1.WorkerService/SuspendRun", Permission::kWork},
    {"/baton.v1.WorkerService/RequestInput", Permission::kWork},
    {"/baton.v1.WorkerService/AwaitInput", Permission::kWork},
};

constexpr std::pair<Role, std::string_view> kRoleNames[] = {
    {Role::kReader, "reader"}, {Role::kOperator, "operator"}, {Role::kAdmin, "admin"}, {Role::kWorker, "worker"}};

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& [r, n] : kRoleNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

std::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kRead: return "read";
    case Permission::kOperate: return "operate";
    case Permission::kAdmin: return "admin";
    case Permission::kWork: return "work";
    case Permission::kIdentify: return "identify";
  }
  return "unknown";
}

bool RoleGrants(Role role, Permission permission) {
  if (permission == Permission::kIdentify) return true;
  switch (role) {
    case Role::kReader: return permission == Permission::kRead;
    case Role::kOperator: return permission == Permission::kRead || permission == Permission::kOperate;
    case Role::kAdmin:
      return permission == Permission::kRead || permission == Permission::kOperate || permission == Permission::kAdmin;
    case Role::kWorker: return permission == Permission::kWork;
  }
  return false;
}

Role LeastRoleFor(Permission permission) {
  switch (permission) {
    case Permission::kRead: return Role::kReader;
    case Permission::kOperate: return Role::kOperator;
    case Permission::kAdmin: return Role::kAdmin;
    case Permission::kWork: return Role::kWorker;
    case Permission::kIdentify: return Role::kReader;
  }
  return Role::kAdmin;
}

std::optional<Permission> RequiredPermission(std::string_view method) {
  // About 40 entries: a linear scan of short string compares costs less than hashing.
  for (const MethodRule& rule : kMethodTable) {
    if (rule.method == method) return rule.permission;
  }
  return std::nullopt;
}

bool IsAudited(std::string_view method) {
  for (const MethodRule& rule : kMethodTable) {
    if (rule.method == method) return rule.audited;
  }
  return false;
}

bool IsOpenMethod(std::string_view method) {
  return method.starts_with("/grpc.health.v1.Health/") ||
         method.starts_with("/grpc.reflection.v1alpha.ServerReflection/") ||
         method.starts_with("/grpc.reflection.v1.ServerReflection/");
}

std::vector<std::string_view> MethodsInTable() {
  std::vector<std::string_view> methods;
  for (const MethodRule& rule : kMethodTable) methods.push_back(rule.method);
  return methods;
}

bool RolesAllow(std::span<const Role> roles, std::string_view method) {
  std::optional<Permission> needed = RequiredPermission(method);
  if (!needed.has_value()) return false;
  for (Role role : roles) {
    if (RoleGrants(role, *needed)) return true;
  }
  return false;
}

}  // namespace baton::orchestrator::auth
