// The local stack `baton up` starts: which processes, with which flags and
// environment, and the stack.json file that records their pids so `baton down` can
// stop a detached stack. Pure planning and (de)serialisation; processes are started
// by cli/process.h.
#ifndef BATON_CLI_STACK_H_
#define BATON_CLI_STACK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace baton::cli {

inline constexpr char kApiKeyEnv[] = "ANTHROPIC_API_KEY";
inline constexpr char kBaseUrlEnv[] = "ANTHROPIC_BASE_URL";
inline constexpr char kAuthTokenEnv[] = "ANTHROPIC_AUTH_TOKEN";
// The key workers and the bridge present to the orchestrator (orchestrator --auth).
inline constexpr char kBatonApiKeyEnv[] = "BATON_API_KEY";

struct UpOptions {
  std::string data_dir = ".baton";  // Default: ./.baton
  int port = 7233;                  // Default: 7233; 0 picks a free port
  int workers = 2;                  // Default: 2
  int concurrency = 4;              // Default: 4 runs per worker
  bool detach = false;              // Default: false (foreground until Ctrl-C)
  // SIGTERM → SIGKILL. Default: 25 s, past a worker's 20 s drain (it lets running steps
  // finish, then gives their leases back).
  absl::Duration grace = absl::Seconds(25);
  absl::Duration start_timeout = absl::Seconds(30);  // until the orchestrator answers
  // The MCP bridge's config (docs/mcp-bridge.md). Default: DATA_DIR/mcp.json when it
  // exists; with none, no bridge runs and workers have only the built-in tools.
  std::string mcp_config;
  // TLS everywhere with the certificates of cli/tls_files.h in DATA_DIR/tls (made when
  // missing): servers on TLS, workers and the bridge with client certificates (mTLS).
  // Default: false (plaintext on 127.0.0.1).
  bool tls = false;
  // The web console (baton-console): where it listens; "" starts none (--no-console).
  // Default: 127.0.0.1:0 (a free port, in DATA_DIR/console.port).
  std::string console_listen = "127.0.0.1:0";
  // Prometheus metrics from the orchestrator, the workers and the bridge, each on a
  // free port of 127.0.0.1 written to DATA_DIR/NAME.metrics.port (MetricsPortFile).
  // Default: false.
  bool metrics = false;
};

// Where the process `name` ("orchestrator", "worker-1", "mcp-bridge") of a stack
// started with `baton up --metrics` writes its metrics port.
std::string MetricsPortFile(const std::string& data_dir, const std::string& name);

// One process of the stack.
struct ProcessSpec {
  std::string name;               // "orchestrator", "worker-1", "model-sim"
  std::vector<std::string> argv;  // argv[0] is the binary's path
  std::map<std::string, std::string> env_set;  // added to or replacing the environment
  std::vector<std::string> env_unset;          // removed from the environment
  std::string log_path;
  std::string port_file;  // empty if the process writes none
};

// Where `baton up` finds a binary: next to the `baton` executable (`self_dir`), else
// on `path_env` (a PATH value). Returns the path or NOT_FOUND naming both places.
absl::StatusOr<std::string> FindBinary(const std::string& name, const std::string& self_dir,
                                       const std::string& path_env);

// Flags and environment of each process. Credentials (ANTHROPIC_API_KEY,
// ANTHROPIC_AUTH_TOKEN) reach only workers that call the real API, and only through
// the environment, never argv (which logs and stack.json record). `sim_url` empty:
// the workers use the real API.
ProcessSpec PlanModelSim(const UpOptions& options, const std::string& binary);
ProcessSpec PlanOrchestrator(const UpOptions& options, const std::string& binary);
ProcessSpec PlanWorker(const UpOptions& options, const std::string& binary, int index,
                       int orchestrator_port, const std::string& sim_url,
                       const std::string& tool_bridge = "");
// baton-mcp-bridge with `config`; its servers get the environment of `baton up`
// (that is how their credentials reach them) but not the Anthropic credentials.
// With `orchestrator_port`, MCP elicitation with the ask policy goes to the
// orchestrator there (0: those requests are declined).
ProcessSpec PlanMcpBridge(const UpOptions& options, const std::string& binary, const std::string& config,
                          int orchestrator_port = 0);
// baton-console for the orchestrator on `orchestrator_port`, listening on
// options.console_listen. It holds no credential of its own: each browser signs in.
ProcessSpec PlanConsole(const UpOptions& options, const std::string& binary, int orchestrator_port);

// The contents of DIR/stack.json. No environment values are recorded, so no secret
// can end up in it.
struct StackProcess {
  std::string name;
  int pid = 0;
  std::string binary;  // argv[0]: `baton down` signals a pid only if it still runs this
  std::string log;
};
struct StackFile {
  std::string data_dir;
  std::string addr;            // "127.0.0.1:7233"
  int supervisor_pid = 0;      // the foreground `baton up`; 0 when detached
  std::string supervisor_binary;  // its argv[0]
  int64_t started_ms = 0;
  std::string model_api;       // "simulator at http://..." or "Anthropic API"
  std::string bridge_addr;     // "127.0.0.1:PORT" of baton-mcp-bridge; empty when none runs
  // With `baton up --tls`: what the CLI connects with (absolute paths). Empty: plaintext.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // The admin key the orchestrator wrote (--bootstrap-admin-key-file; absolute path).
  // The path only: the key stays in its 0600 file.
  std::string api_key_file;
  // The web console's address, "http://127.0.0.1:PORT"; empty when none runs.
  std::string console_url;
  std::vector<StackProcess> processes;  // in start order
};
std::string StackFileToJson(const StackFile& stack);
absl::StatusOr<StackFile> StackFileFromJson(const std::string& json);

// Shutdown order: workers and the console first (workers give their runs back to the
// orchestrator; the console is a client too), then the orchestrator, then the
// simulator. Each inner vector is stopped together.
std::vector<std::vector<StackProcess>> StopOrder(const std::vector<StackProcess>& processes);

}  // namespace baton::cli

#endif  // BATON_CLI_STACK_H_
