#include "mcp-bridge/tool_names.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fnv1a.h"

namespace baton::mcp {
namespace {

bool IsNameChar(char c) {
  return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool IsValidApiToolName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxToolNameLength && std::all_of(name.begin(), name.end(), IsNameChar);
}

std::vector<std::string> ExposedToolNames(const std::string& server, const std::vector<std::string>& tool_names) {
  const std::string prefix = absl::StrCat("mcp__", server, "__");
  const size_t budget = kMaxToolNameLength - prefix.size();  // >= 25: server names are at most 32
  std::vector<std::string> out(tool_names.size());
  std::set<std::string> used;
  // Names that need no change first, so they never move because of another tool.
  std::vector<size_t> altered;
  for (size_t i = 0; i < tool_names.size(); ++i) {
    const std::string& t = tool_names[i];
    if (!t.empty() && t.size() <= budget && std::all_of(t.begin(), t.end(), IsNameChar)) {
      out[i] = absl::StrCat(prefix, t);
      used.insert(out[i]);
    } else {
      altered.push_back(i);
    }
  }
  // Then the others, in the order of their original names (so the result does not
  // depend on the server's listing order).
  std::sort(altered.begin(), altered.end(), [&](size_t a, size_t b) { return tool_names[a] < tool_names[b]; });
  for (size_t i : altered) {
    const std::string& t = tool_names[i];
    std::string clean;
    for (char c : t) clean.push_back(IsNameChar(c) ? c : '_');
    if (clean.empty()) clean.push_back('_');
    std::string name = absl::StrCat(prefix, clean);
    if (clean.size() > budget || used.count(name) > 0) {
      // Cut to leave room for "_" and 8 hex digits of the original name's hash.
      for (uint64_t seed = 0;; ++seed) {
        std::string hash = absl::StrFormat("%08x", static_cast<uint32_t>(Fnv1a(t, kFnv1aOffsetBasis ^ seed)));
        name = absl::StrCat(prefix, clean.substr(0, budget - 9), "_", hash);
        if (used.count(name) == 0) break;
      }
    }
    out[i] = name;
    used.insert(name);
  }
  return out;
}

bool MatchesAnyPattern(std::string_view name, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)) return true;
    } else if (p == name) {
      return true;
    }
  }
  return false;
}

}  // namespace baton::mcp
