#include "orchestrator/namespace_access.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/namespaces.h"

namespace baton::orchestrator {
namespace {

absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

NamespacesOf AllNamespaces() {
  return [](const grpc::ServerContextBase&) { return std::vector<std::string>{kAllNamespaces}; };
}

absl::StatusOr<std::string> CallNamespace(const std::vector<std::string>& allowed, std::string_view requested,
                                          std::string_view field) {
  std::string ns(requested);
  if (ns.empty()) {
    ns = allowed.size() == 1 && allowed[0] != kAllNamespaces ? allowed[0] : kDefaultNamespace;
  } else if (!IsValidNamespace(ns)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": \"", ns, "\" is not 1 to 63 of [a-z0-9_-]"));
  }
  if (!NamespaceAllowed(allowed, ns)) {
    return absl::PermissionDeniedError(
        absl::StrCat(Sv(field), ": the caller may not use namespace \"", ns, "\" (it may use ",
                     absl::StrJoin(allowed, ", "), ")"));
  }
  return ns;
}

absl::Status CheckRunVisible(const std::vector<std::string>& allowed, std::string_view run_id) {
  if (NamespaceAllowed(allowed, NamespaceOfRunId(run_id))) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("run \"", Sv(run_id), "\" not found"));
}

absl::StatusOr<std::vector<std::string>> PollNamespaces(const std::vector<std::string>& allowed,
                                                        const std::vector<std::string>& requested) {
  for (const std::string& ns : requested) {
    if (!IsValidNamespace(ns)) {
      return absl::InvalidArgumentError(absl::StrCat("namespaces: \"", ns, "\" is not 1 to 63 of [a-z0-9_-]"));
    }
    if (!NamespaceAllowed(allowed, ns)) {
      return absl::PermissionDeniedError(
          absl::StrCat("namespaces: the worker's credential does not allow namespace \"", ns, "\""));
    }
  }
  if (!requested.empty()) return requested;
  if (std::find(allowed.begin(), allowed.end(), kAllNamespaces) != allowed.end()) return std::vector<std::string>{};
  return allowed;
}

}  // namespace baton::orchestrator
