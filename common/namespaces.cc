#include "common/namespaces.h"

#include <algorithm>

namespace baton {

bool IsValidNamespace(std::string_view ns) {
  if (ns.empty() || ns.size() > 63) return false;
  return std::all_of(ns.begin(), ns.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string_view NamespaceOfRunId(std::string_view run_id) {
  size_t slash = run_id.find('/');
  if (slash == std::string_view::npos) return kDefaultNamespace;
  return run_id.substr(0, slash);
}

bool NamespaceAllowed(const std::vector<std::string>& namespaces, std::string_view ns) {
  return std::any_of(namespaces.begin(), namespaces.end(),
                     [&](const std::string& n) { return n == ns || n == kAllNamespaces; });
}

}  // namespace baton
