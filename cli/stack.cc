#include "cli/stack.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/tls_files.h"

namespace baton::cli {
namespace {

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool IsExecutableFile(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// --tls-cert, --tls-key and --tls-client-ca of a server of a `baton up --tls` stack.
void AddServerTls(const UpOptions& options, std::vector<std::string>& argv) {
  if (!options.tls) return;
  LocalTlsFiles files = LocalTlsPaths(options.data_dir);
  argv.push_back("--tls-cert=" + files.server_cert);
  argv.push_back("--tls-key=" + files.server_key);
  argv.push_back("--tls-client-ca=" + files.ca_cert);
}

// --ca, --cert and --key of a worker or the bridge (the worker certificate).
void AddWorkerTls(const UpOptions& options, std::vector<std::string>& argv) {
  if (!options.tls) return;
  LocalTlsFiles files = LocalTlsPaths(options.data_dir);
  argv.push_back("--ca=" + files.ca_cert);
  argv.push_back("--cert=" + files.worker_cert);
  argv.push_back("--key=" + files.worker_key);
}

}  // namespace

absl::StatusOr<std::string> FindBinary(const std::string& name, const std::string& self_dir,
                                       const std::string& path_env) {
  if (!self_dir.empty() && IsExecutableFile(Join(self_dir, name))) return Join(self_dir, name);
  for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
    std::string candidate = Join(std::string(dir), name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("cannot find ", name, " next to baton (in ", self_dir,
                                          ") or on PATH; build it first (make build)"));
}

std::string MetricsPortFile(const std::string& data_dir, const std::string& name) {
  return Join(data_dir, name + ".metrics.port");
}

namespace {

// With --metrics: the process serves /metrics on a free port, written to its file.
void AddMetrics(const UpOptions& options, const std::string& name, std::vector<std::string>& argv) {
  if (!options.metrics) return;
  argv.push_back("--metrics-listen=127.0.0.1:0");
  argv.push_back("--metrics-port-file=" + MetricsPortFile(options.data_dir, name));
}

}  // namespace

ProcessSpec PlanModelSim(const UpOptions& options, const std::string& binary) {
  ProcessSpec spec;
  spec.name = "model-sim";
  spec.port_file = Join(options.data_dir, "sim.port");
  spec.argv = {binary, "--listen=127.0.0.1:0", "--port-file=" + spec.port_file};
  spec.env_unset = {kApiKeyEnv, kAuthTokenEnv};
  spec.log_path = Join(options.data_dir, "logs/model-sim.log");
  return spec;
}

ProcessSpec PlanOrchestrator(const UpOptions& options, const std::string& binary) {
  ProcessSpec spec;
  spec.name = "orchestrator";
  spec.port_file = Join(options.data_dir, "orchestrator.port");
  spec.argv = {binary, absl::StrCat("--listen=127.0.0.1:", options.port),
               "--data-dir=" + Join(options.data_dir, "orchestrator"),
               "--port-file=" + spec.port_file,
               // Every call needs a key; the first start writes an admin key for the CLI.
               "--auth", "--bootstrap-admin-key-file=" + Join(options.data_dir, "admin.key"),
               "--audit-log=" + Join(options.data_dir, "logs/audit.jsonl")};
  AddServerTls(options, spec.argv);
  AddMetrics(options, spec.name, spec.argv);
  spec.env_unset = {kApiKeyEnv, kAuthTokenEnv, kBatonApiKeyEnv};
  spec.log_path = Join(options.data_dir, "logs/orchestrator.log");
  return spec;
}

ProcessSpec PlanWorker(const UpOptions& options, const std::string& binary, int index,
                       int orchestrator_port, const std::string& sim_url, const std::string& tool_bridge) {
  ProcessSpec spec;
  spec.name = absl::StrCat("worker-", index);
  spec.argv = {binary, absl::StrCat("--orchestrator=127.0.0.1:", orchestrator_port),
               absl::StrCat("--concurrency=", options.concurrency),
               // With TLS the id must belong to the worker certificate (common/tls.h).
               "--worker-id=" + (options.tls ? absl::StrCat(kLocalWorkerIdentity, "/", spec.name) : spec.name)};
  AddWorkerTls(options, spec.argv);
  if (!tool_bridge.empty()) spec.argv.push_back("--tool-bridge=" + tool_bridge);
  AddMetrics(options, spec.name, spec.argv);
  if (!sim_url.empty()) {
    spec.env_set[kBaseUrlEnv] = sim_url;
    spec.env_unset = {kAuthTokenEnv};  // no credential travels to the simulator
  }
  spec.log_path = Join(options.data_dir, absl::StrCat("logs/", spec.name, ".log"));
  return spec;
}

ProcessSpec PlanMcpBridge(const UpOptions& options, const std::string& binary, const std::string& config,
                          int orchestrator_port) {
  ProcessSpec spec;
  spec.name = "mcp-bridge";
  spec.port_file = Join(options.data_dir, "mcp-bridge.port");
  spec.argv = {binary, "--config=" + config, "--listen=127.0.0.1:0", "--port-file=" + spec.port_file,
               "--audit-log=" + Join(options.data_dir, "logs/mcp-audit.jsonl")};
  if (orchestrator_port > 0) spec.argv.push_back(absl::StrCat("--orchestrator=127.0.0.1:", orchestrator_port));
  AddServerTls(options, spec.argv);
  AddWorkerTls(options, spec.argv);
  AddMetrics(options, spec.name, spec.argv);
  spec.env_unset = {kApiKeyEnv, kAuthTokenEnv};
  spec.log_path = Join(options.data_dir, "logs/mcp-bridge.log");
  return spec;
}

ProcessSpec PlanConsole(const UpOptions& options, const std::string& binary, int orchestrator_port) {
  ProcessSpec spec;
  spec.name = "console";
  spec.port_file = Join(options.data_dir, "console.port");
  spec.argv = {binary, absl::StrCat("--orchestrator=127.0.0.1:", orchestrator_port),
               "--listen=" + options.console_listen, "--port-file=" + spec.port_file};
  // TLS to the orchestrator: the stack's CA is enough (calls carry the browser's key).
  if (options.tls) spec.argv.push_back("--ca=" + LocalTlsPaths(options.data_dir).ca_cert);
  spec.env_unset = {kApiKeyEnv, kAuthTokenEnv, kBatonApiKeyEnv};
  spec.log_path = Join(options.data_dir, "logs/console.log");
  return spec;
}

std::string StackFileToJson(const StackFile& stack) {
  nlohmann::json processes = nlohmann::json::array();
  for (const StackProcess& p : stack.processes) {
    processes.push_back({{"name", p.name}, {"pid", p.pid}, {"binary", p.binary}, {"log", p.log}});
  }
  nlohmann::json json = {
      {"data_dir", stack.data_dir},
      {"addr", stack.addr},
      {"supervisor_pid", stack.supervisor_pid},
      {"supervisor_binary", stack.supervisor_binary},
      {"started_ms", stack.started_ms},
      {"model_api", stack.model_api},
      {"bridge_addr", stack.bridge_addr},
      {"tls_ca", stack.tls_ca},
      {"tls_cert", stack.tls_cert},
      {"tls_key", stack.tls_key},
      {"api_key_file", stack.api_key_file},
      {"console_url", stack.console_url},
      {"processes", processes},
  };
  return json.dump(2) + "\n";
}

absl::StatusOr<StackFile> StackFileFromJson(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::DataLossError("stack.json is not a JSON object");
  }
  StackFile stack;
  try {
    stack.data_dir = json.value("data_dir", "");
    stack.addr = json.value("addr", "");
    stack.supervisor_pid = json.value("supervisor_pid", 0);
    stack.supervisor_binary = json.value("supervisor_binary", "");
    stack.started_ms = json.value("started_ms", int64_t{0});
    stack.model_api = json.value("model_api", "");
    stack.bridge_addr = json.value("bridge_addr", "");
    stack.tls_ca = json.value("tls_ca", "");
    stack.tls_cert = json.value("tls_cert", "");
    stack.tls_key = json.value("tls_key", "");
    stack.api_key_file = json.value("api_key_file", "");
    stack.console_url = json.value("console_url", "");
    if (json.contains("processes")) {
      for (const auto& p : json.at("processes")) {
        StackProcess process;
        process.name = p.value("name", "");
        process.pid = p.value("pid", 0);
        process.binary = p.value("binary", "");
        process.log = p.value("log", "");
        stack.processes.push_back(std::move(process));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("stack.json: ", e.what()));
  }
  return stack;
}

std::vector<std::vector<StackProcess>> StopOrder(const std::vector<StackProcess>& processes) {
  std::vector<StackProcess> workers, orchestrators, others;
  for (const StackProcess& p : processes) {
    if (absl::StartsWith(p.name, "worker") || p.name == "console") {
      workers.push_back(p);
    } else if (p.name == "orchestrator") {
      orchestrators.push_back(p);
    } else {
      others.push_back(p);
    }
  }
  std::vector<std::vector<StackProcess>> order;
  for (auto* group : {&workers, &orchestrators, &others}) {
    if (!group->empty()) order.push_back(std::move(*group));
  }
  return order;
}

}  // namespace baton::cli
