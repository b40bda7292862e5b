// A small MCP client on the bridge's McpClient and HttpTransport, for the official
// conformance suite (@modelcontextprotocol/conformance, client mode). The suite runs
//   mcp-conformance-client <server-url>
// with MCP_CONFORMANCE_SCENARIO set. Whatever the scenario, it does what the bridge
// does: initialize, list the tools, call each one once (arguments made from its
// schema), and close the session. Exit 0 when every step worked. Calls answer the
// server's elicitation requests as an agent with the ELICITATION_ACCEPT_DEFAULTS
// policy would (what the suite's elicitation scenarios check).
#include <cstdlib>
#include <iostream>

#include "common/logging.h"
#include "mcp-bridge/http_transport.h"
#include "mcp-bridge/mcp_client.h"
#include "mcp-bridge/timer_queue.h"

namespace {

using json = nlohmann::json;

// A value for each required (and simple optional) property of `schema`.
json ArgumentsFor(const json& schema) {
  json args = json::object();
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object()) return args;
  int next_number = 1;
  for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
    const json& p = it.value();
    const std::string type = p.is_object() ? p.value("type", "") : "";
    if (p.is_object() && p.contains("enum") && p["enum"].is_array() && !p["enum"].empty()) {
      args[it.key()] = p["enum"][0];
    } else if (type == "number" || type == "integer") {
      args[it.key()] = next_number++;
    } else if (type == "string") {
      args[it.key()] = "hello";
    } else if (type == "boolean") {
      args[it.key()] = true;
    } else if (type == "array") {
      args[it.key()] = json::array();
    } else if (type == "object") {
      args[it.key()] = json::object();
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("mcp-conformance-client");
  if (argc < 2) {
    std::cerr << "usage: mcp-conformance-client <server-url>\n";
    return 2;
  }
  const char* scenario = std::getenv("MCP_CONFORMANCE_SCENARIO");
  BATON_LOG(INFO) << "scenario " << (scenario ? scenario : "(none)") << " against " << argv[argc - 1];

  baton::mcp::TimerQueue timers;
  baton::mcp::HttpTransportOptions options;
  options.url = argv[argc - 1];
  options.log_name = "conformance";
  baton::mcp::McpClientOptions client_options;
  client_options.request_timeout = absl::Seconds(10);
  baton::mcp::McpClient client(std::make_unique<baton::mcp::HttpTransport>(options), timers, client_options);

  absl::StatusOr<baton::mcp::ServerInfo> info = client.Connect();
  if (!info.ok()) {
    BATON_LOG(ERROR) << info.status();
    return 1;
  }
  absl::StatusOr<std::vector<json>> tools = client.ListTools();
  if (!tools.ok()) {
    BATON_LOG(ERROR) << tools.status();
    return 1;
  }
  int failures = 0;
  for (const json& tool : *tools) {
    const std::string name = tool.value("name", "");
    baton::mcp::CallOptions call;
    call.timeout = absl::Seconds(10);
    call.elicitation.policy = baton::mcp::ElicitationPolicy::kAcceptDefaults;
    baton::mcp::CallResult r = client.CallToolAndWait(name, ArgumentsFor(tool.value("inputSchema", json::object())), call);
    if (r.kind != baton::mcp::CallResult::Kind::kResult) {
      BATON_LOG(ERROR) << "tools/call " << name << ": " << r.message;
      ++failures;
      continue;
    }
    std::cout << name << ": " << r.result.dump() << "\n";
  }
  client.Close();
  return failures == 0 ? 0 : 1;
}
