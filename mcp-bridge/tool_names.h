// The names tools have for the model: mcp__<server>__<tool>, within what the
// Messages API accepts (^[a-zA-Z0-9_-]{1,64}$), and never two tools with one name.
#ifndef BATON_MCP_BRIDGE_TOOL_NAMES_H_
#define BATON_MCP_BRIDGE_TOOL_NAMES_H_

#include <string>
#include <string_view>
#include <vector>

namespace baton::mcp {

inline constexpr size_t kMaxToolNameLength = 64;

// Whether the Messages API accepts `name` as a tool name.
bool IsValidApiToolName(std::string_view name);

// The exposed names of one server's tools, in the order of `tool_names` (the
// server's own names, unique). A name that is already valid and fits is kept as
// it is; others have invalid characters replaced by '_' and, when they were cut to
// fit or would collide, a short hash of the original name appended. The result is
// the same for the same set of names whatever their order.
// REQUIRES: IsValidServerName(server).
std::vector<std::string> ExposedToolNames(const std::string& server, const std::vector<std::string>& tool_names);

// Whether `name` matches one of `patterns`: exact names and "prefix*" wildcards
// ("mcp__fs__*", or "*" for every tool).
bool MatchesAnyPattern(std::string_view name, const std::vector<std::string>& patterns);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TOOL_NAMES_H_
