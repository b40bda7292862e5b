// Roles and the one table that says which role each orchestrator method needs.
// Pure logic (no gRPC): the auth processor looks methods up here, and a unit test
// checks that every method of every service descriptor has an entry.
#ifndef BATON_ORCHESTRATOR_AUTH_ROLES_H_
#define BATON_ORCHESTRATOR_AUTH_ROLES_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace baton::orchestrator::auth {

// What a method needs. Each role grants a set of permissions (RoleGrants).
enum class Permission {
  kRead,     // get, list, watch, transcripts
  kOperate,  // create, cancel, fork runs; decide approvals; put agents and graphs
  kAdmin,    // API keys, namespace settings
  kWork,     // WorkerService: lease runs, write journals
  kIdentify, // IdentityService: who the caller is; every role has it
};

enum class Role {
  kReader,    // kRead (and kIdentify, as every role)
  kOperator,  // kRead, kOperate
  kAdmin,     // kRead, kOperate, kAdmin
  kWorker,    // kWork only: a worker cannot read or create runs through RunService
};

std::string_view RoleName(Role role);               // "reader", "operator", "admin", "worker"
std::optional<Role> ParseRole(std::string_view name);  // nullopt for an unknown name
std::string_view PermissionName(Permission permission);
bool RoleGrants(Role role, Permission permission);
// The role with the fewest rights that grants `permission`, for error messages
// ("needs role operator").
Role LeastRoleFor(Permission permission);

// The permission a method needs, by its full name as gRPC puts it in `:path`
// ("/baton.v1.RunService/GetRun"). nullopt for a method not in the table: refused
// (deny by default).
std::optional<Permission> RequiredPermission(std::string_view method);

// Whether calls of `method` change state a user asked for (CreateRun, CancelRun,
// ForkRun, DecideApproval, PutAgent, PutGraph, CreateKey, RevokeKey): these, and
// refused attempts of them, are written to the audit log.
bool IsAudited(std::string_view method);

// Methods answered without credentials: health checks and server reflection.
bool IsOpenMethod(std::string_view method);

// Every full method name in the table (for the test that walks the descriptors).
std::vector<std::string_view> MethodsInTable();

// Whether any of `roles` grants what `method` needs. False for a method not in the table.
bool RolesAllow(std::span<const Role> roles, std::string_view method);

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_ROLES_H_
