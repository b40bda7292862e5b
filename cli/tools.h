// `baton tools ls` and `baton tools call NAME JSON`: the MCP bridge's tools, for
// operators. Talks to baton.v1.ToolService; a call made this way passes the bridge's
// policy with allowed_tools "*" and is audited like any other.
#ifndef BATON_CLI_TOOLS_H_
#define BATON_CLI_TOOLS_H_

#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "baton/v1/tool_service.pb.h"
#include "common/tls.h"

namespace baton::cli {

inline constexpr char kDefaultBridgeAddr[] = "127.0.0.1:7234";

struct ToolsOptions {
  std::string bridge_addr = kDefaultBridgeAddr;
  bool json = false;                              // protobuf JSON, one line
  absl::Duration timeout = absl::Seconds(60);    // Default: 60 s, the call's timeout
  ClientTlsOptions tls;                           // Default: none (plaintext)
};

// Where the bridge is: `flag` (--bridge) if set, else $BATON_BRIDGE_ADDR, else the
// bridge `baton up` started for DATA_DIR (its stack.json), else kDefaultBridgeAddr.
std::string ResolveBridgeAddr(const std::string& flag, const std::string& data_dir);

// Exit codes as the other commands: 0, 1 when the RPC failed or the call's result is
// an error, 2 for bad input.
int RunToolsList(const ToolsOptions& options, std::ostream& out, std::ostream& err);
int RunToolsCall(const ToolsOptions& options, const std::string& name, const std::string& arguments_json,
                 std::ostream& out, std::ostream& err);

// For tests: the table `tools ls` prints, and the text of a call's result.
std::string FormatToolTable(const v1::ListToolsResponse& response);
std::string FormatToolResult(const v1::CallToolResponse& response);

}  // namespace baton::cli

#endif  // BATON_CLI_TOOLS_H_
