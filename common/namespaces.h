// Namespaces: every run, agent, graph, approval and event belongs to one
// (docs/operations.md, "Namespaces"). A run's id names its namespace
// ("<namespace>/run_..."), so every key the store writes for a run starts with it and
// an id alone says where the run lives. Ids written before namespaces existed have no
// "<namespace>/" part: they belong to "default".
#ifndef BATON_COMMON_NAMESPACES_H_
#define BATON_COMMON_NAMESPACES_H_

#include <string>
#include <string_view>
#include <vector>

namespace baton {

inline constexpr char kDefaultNamespace[] = "default";
// In a principal's namespaces: every namespace (the bootstrap admin key, and every
// caller when the orchestrator runs without --auth).
inline constexpr char kAllNamespaces[] = "*";

// 1 to 63 of [a-z0-9_-]: safe in keys, ids, file names and URLs.
bool IsValidNamespace(std::string_view ns);

// The namespace a run id names: the part before its first '/', or "default" for an
// id without one.
std::string_view NamespaceOfRunId(std::string_view run_id);

// True when `namespaces` (a principal's) holds `ns` or kAllNamespaces.
bool NamespaceAllowed(const std::vector<std::string>& namespaces, std::string_view ns);

}  // namespace baton

#endif  // BATON_COMMON_NAMESPACES_H_
