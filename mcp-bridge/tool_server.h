// What the bridge needs of one configured MCP server: its tools and a way to call
// them. ServerConnection is the real one; tests use fakes.
#ifndef BATON_MCP_BRIDGE_TOOL_SERVER_H_
#define BATON_MCP_BRIDGE_TOOL_SERVER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcp-bridge/config.h"
#include "mcp-bridge/mcp_client.h"

namespace baton::mcp {

// One tool as the server lists it.
struct McpTool {
  std::string name;  // the server's own name
  std::string title;
  std::string description;
  nlohmann::json input_schema = nlohmann::json::object();
  nlohmann::json output_schema;  // null when none
  // Annotations (hints; the spec's defaults when absent).
  bool read_only = false;
  bool destructive = true;
  bool idempotent = false;
  bool open_world = true;
};

// Reads a tools/list entry. kInvalidArgument for an entry without a usable name.
absl::StatusOr<McpTool> ParseTool(const nlohmann::json& tool);

struct ServerState {
  bool connected = false;
  ServerInfo info;  // of the current (or last) connection
  int tool_count = 0;
  int restarts = 0;
  std::string last_error;
};

// Thread-safe.
class ToolServer {
 public:
  virtual ~ToolServer() = default;

  virtual const ServerConfig& config() const = 0;
  // Called (on an internal thread) whenever tools() changes. Set before Start.
  virtual void SetToolsChangedCallback(std::function<void()> callback) = 0;
  virtual void Start() = 0;
  // Waits until the first connection attempt has ended, either way. Returns false
  // on timeout.
  virtual bool WaitUntilStarted(absl::Duration timeout) = 0;
  // The last tool list obtained; kept while the server restarts.
  virtual std::vector<McpTool> tools() const = 0;
  virtual ServerState state() const = 0;

  // Calls a tool; `done` runs exactly once. Returns a handle for CancelCall.
  virtual int64_t CallTool(const std::string& tool, nlohmann::json arguments, const CallOptions& options,
                           std::function<void(CallResult)> done) = 0;
  virtual void CancelCall(int64_t handle, const std::string& reason) = 0;
  // Closes the connection; calls in flight fail as unavailable.
  virtual void Stop() = 0;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TOOL_SERVER_H_
