// Which namespaces a call may touch (docs/operations.md, "Namespaces"): the services'
// one check. The caller's namespaces come from its credentials (an API key's or a
// JWT's; every namespace without --auth).
#ifndef BATON_ORCHESTRATOR_NAMESPACE_ACCESS_H_
#define BATON_ORCHESTRATOR_NAMESPACE_ACCESS_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"

namespace baton::orchestrator {

// The namespaces of a call's caller (kAllNamespaces: every one).
using NamespacesOf = std::function<std::vector<std::string>(const grpc::ServerContextBase&)>;
// Every caller may use every namespace: the services' default, for tests that do not
// authenticate.
NamespacesOf AllNamespaces();

// The namespace a call that creates or lists acts in: `requested` (field `field`),
// else the caller's only namespace, else "default". INVALID_ARGUMENT for a malformed
// name, PERMISSION_DENIED for one the caller may not use.
absl::StatusOr<std::string> CallNamespace(const std::vector<std::string>& allowed, std::string_view requested,
                                          std::string_view field = "namespace");

// OK when the caller may see `run_id`'s namespace; otherwise NOT_FOUND worded as for
// a run that does not exist, so existence does not leak across namespaces.
absl::Status CheckRunVisible(const std::vector<std::string>& allowed, std::string_view run_id);

// The namespaces a worker's poll takes: `requested` (each one the credential allows;
// PERMISSION_DENIED otherwise), or every one the credential allows ({} for all).
absl::StatusOr<std::vector<std::string>> PollNamespaces(const std::vector<std::string>& allowed,
                                                        const std::vector<std::string>& requested);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_NAMESPACE_ACCESS_H_
