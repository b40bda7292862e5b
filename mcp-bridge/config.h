// The bridge's configuration file (JSON): which MCP servers to connect to and the
// limits of their calls. docs/mcp-bridge.md describes the format.
//
//   {"defaults": {"timeout_ms": 60000, ...},
//    "servers": {
//      "fs":  {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"],
//              "env": {"TOKEN": "${FS_TOKEN}"}, "cwd": "/data", "disabled_tools": ["write_file"]},
//      "web": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}}}}
//
// Strings in command, args, env, cwd, url and headers expand ${VAR} (and
// ${VAR:-default}) from the bridge's own environment, so credentials reach servers
// without being written in the file or shown to a model; ${CONFIG_DIR} is the
// directory holding the file; $$ is a literal $.
#ifndef BATON_MCP_BRIDGE_CONFIG_H_
#define BATON_MCP_BRIDGE_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace baton::mcp {

enum class TransportKind {
  kStdio,
  kStreamableHttp,  // falls back to legacy HTTP+SSE when the server is one
  kSse,             // legacy HTTP+SSE only
};
std::string TransportKindName(TransportKind kind);

struct ServerConfig {
  std::string name;  // ^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$ without "__" and not ending in '_'
  TransportKind transport = TransportKind::kStdio;
  // stdio
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd;
  // Streamable HTTP / SSE
  std::string url;
  std::map<std::string, std::string> headers;

  // Limits of one tools/call. The worker may ask for less, never for more.
  absl::Duration call_timeout = absl::Seconds(60);       // Default: 60 s, reset by progress
  absl::Duration max_call_duration = absl::Minutes(10);  // Default: 10 min, however much progress
  int64_t max_result_bytes = 100'000;                    // Default: 100 kB of tool_result content
  // initialize, tools/list, ping.
  absl::Duration request_timeout = absl::Seconds(30);  // Default: 30 s
  // A call that arrives while the server is (re)starting waits this long for it
  // before failing as server_unavailable (without having reached the server).
  absl::Duration connect_wait = absl::Seconds(10);  // Default: 10 s
  // Restart backoff after the server dies or cannot be reached: doubles from
  // initial to max; reset after the server has stayed up for a minute.
  absl::Duration restart_backoff_initial = absl::Milliseconds(200);  // Default: 200 ms
  absl::Duration restart_backoff_max = absl::Seconds(30);            // Default: 30 s
  // Tool filters on the server's own tool names (exact, or "prefix*"). Empty
  // enabled_tools: every tool; disabled_tools win.
  std::vector<std::string> enabled_tools;
  std::vector<std::string> disabled_tools;
};

struct BridgeConfig {
  std::vector<ServerConfig> servers;  // sorted by name
};

// Looks a variable up: nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnvironment();

// Expands ${VAR}, ${VAR:-default} and $$ in `text`. An unset variable without a
// default is an error that names it.
absl::StatusOr<std::string> ExpandVariables(std::string_view text, const EnvLookup& env);

// Parses and validates a configuration. `config_dir` is what ${CONFIG_DIR} expands to.
// Errors name the server and the field.
absl::StatusOr<BridgeConfig> ParseBridgeConfig(std::string_view text, const EnvLookup& env,
                                               const std::string& config_dir = ".");
absl::StatusOr<BridgeConfig> LoadBridgeConfig(const std::string& path, const EnvLookup& env);

bool IsValidServerName(std::string_view name);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_CONFIG_H_
