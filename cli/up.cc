#include "cli/up.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "cli/keys.h"
#include "cli/process.h"
#include "cli/tls_files.h"
#include "common/grpc_channel.h"
#include "common/status_macros.h"

namespace baton::cli {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(50);
// A process that dies this soon after the stack is up failed to start.
constexpr absl::Duration kSettleTime = absl::Seconds(1);

std::string PathIn(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

std::string StackPath(const std::string& dir) { return PathIn(dir, "stack.json"); }

// The signals `baton up` handles. They are blocked in every thread and taken
// synchronously with sigtimedwait, so no handler runs inside gRPC or malloc.
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
  return set;
}

// The next handled signal within `timeout`; 0 if none came.
int NextSignal(absl::Duration timeout) {
  sigset_t set = HandledSignals();
  timespec ts = absl::ToTimespec(timeout);
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

bool IsStopSignal(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }

std::string Indented(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) absl::StrAppend(&out, "    ", line, "\n");
  return out;
}

absl::StatusOr<StackFile> ReadStackFile(const std::string& data_dir) {
  std::ifstream in(StackPath(data_dir));
  if (!in) return absl::NotFoundError(absl::StrCat("no ", StackPath(data_dir)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return StackFileFromJson(buffer.str());
}

std::vector<StackProcess> Running(const StackFile& stack) {
  std::vector<StackProcess> out;
  for (const StackProcess& p : stack.processes) {
    if (ProcessRuns(p.pid, p.binary)) out.push_back(p);
  }
  return out;
}

void RemoveStackFiles(const std::string& data_dir) {
  std::error_code ec;
  for (const char* name : {"stack.json", "orchestrator.port", "sim.port", "mcp-bridge.port", "console.port"}) {
    std::filesystem::remove(PathIn(data_dir, name), ec);
  }
}

// Where the web console is and what to sign in with (the admin key's file, never the
// key).
std::string ConsoleHint(const StackFile& stack) {
  return absl::StrCat("  Web console: ", stack.console_url, "/  (sign in with the API key in ", stack.api_key_file,
                      ")\n");
}

// The processes of one `baton up`, which are its children. Not thread-safe: used by
// the main thread only.
class UpSession {
 public:
  UpSession(const UpOptions& options, std::ostream& out, std::ostream& err)
      : options_(options), out_(out), err_(err) {
    stack_.data_dir = options.data_dir;
    stack_.started_ms = absl::ToUnixMillis(absl::Now());
    if (!options.detach) {
      stack_.supervisor_pid = ::getpid();
      // `baton down` compares this with argv[0] in /proc/PID/cmdline.
      std::ifstream cmdline("/proc/self/cmdline");
      std::getline(cmdline, stack_.supervisor_binary, '\0');
    }
  }

  int Run();

 private:
  absl::Status StartAll();
  absl::StatusOr<StackProcess> Launch(const ProcessSpec& spec);
  absl::StatusOr<int> WaitForPort(const StackProcess& process, const std::string& port_file);
  absl::Status WaitForOrchestrator(const StackProcess& process, const std::string& port_file);
  // Non-OK when `process` has exited (reaped) or a stop signal arrived.
  absl::Status CheckStartup(const StackProcess& process);
  // Reaps children that exited and reports them; returns their names.
  std::vector<std::string> ReapAndReport();
  int Supervise();
  void StopAll();
  void SaveStack();

  const UpOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  StackFile stack_;
  std::set<std::string> exited_;  // names of processes reaped so far
  std::string sim_url_;
  ClientTlsOptions tls_;  // how this session reaches the orchestrator
  std::string worker_key_;  // BATON_API_KEY of workers and the bridge (orchestrator --auth)
  // With --metrics: (process name, its /metrics URL), in start order.
  std::vector<std::pair<std::string, std::string>> metrics_urls_;
};

absl::StatusOr<StackProcess> UpSession::Launch(const ProcessSpec& spec) {
  std::error_code ec;
  // A stale file would be read as ready.
  if (!spec.port_file.empty()) std::filesystem::remove(spec.port_file, ec);
  std::filesystem::remove(MetricsPortFile(options_.data_dir, spec.name), ec);
  ASSIGN_OR_RETURN(int pid, SpawnProcess(spec));
  StackProcess process{spec.name, pid, spec.argv[0], spec.log_path};
  stack_.processes.push_back(process);
  SaveStack();
  out_ << "  started " << spec.name << " (pid " << pid << "), log " << spec.log_path << std::endl;
  return process;
}

void UpSession::SaveStack() {
  absl::Status s = WriteFileAtomically(StackPath(options_.data_dir), StackFileToJson(stack_));
  if (!s.ok()) err_ << "warning: " << s.message() << std::endl;
}

absl::Status UpSession::CheckStartup(const StackProcess& process) {
  if (auto how = ReapChild(process.pid)) {
    exited_.insert(process.name);
    return absl::UnavailableError(absl::StrCat(process.name, " (pid ", process.pid, ") ", *how,
                                               " during start-up; last lines of ", process.log, ":\n",
                                               Indented(TailFile(process.log, 15))));
  }
  int sig = NextSignal(kPoll);
  if (IsStopSignal(sig)) return absl::CancelledError(absl::StrCat("interrupted by signal ", sig));
  return absl::OkStatus();
}

absl::StatusOr<int> UpSession::WaitForPort(const StackProcess& process, const std::string& port_file) {
  absl::Time deadline = absl::Now() + options_.start_timeout;
  while (absl::Now() < deadline) {
    if (auto port = ReadPortFile(port_file); port.ok()) return *port;
    RETURN_IF_ERROR(CheckStartup(process));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      process.name, " wrote no port file (", port_file, ") within ",
      absl::FormatDuration(options_.start_timeout), "; see ", process.log));
}

absl::Status UpSession::WaitForOrchestrator(const StackProcess& process, const std::string& port_file) {
  absl::Time deadline = absl::Now() + options_.start_timeout;
  absl::Status last = absl::UnavailableError("not started");
  while (absl::Now() < deadline) {
    int port = options_.port;
    if (auto from_file = ReadPortFile(port_file); from_file.ok()) port = *from_file;
    if (port != 0) {
      std::string addr = absl::StrCat("127.0.0.1:", port);
      last = CheckOrchestrator(addr, absl::Seconds(1), tls_);
      if (last.ok()) {
        stack_.addr = addr;
        SaveStack();
        return absl::OkStatus();
      }
    }
    RETURN_IF_ERROR(CheckStartup(process));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "the orchestrator did not answer within ", absl::FormatDuration(options_.start_timeout), " (",
      last.message(), "); see ", process.log));
}

absl::Status UpSession::StartAll() {
  std::error_code ec;
  std::filesystem::create_directories(PathIn(options_.data_dir, "logs"), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", PathIn(options_.data_dir, "logs"), ": ", ec.message()));
  }
  const std::string self_dir = SelfDir();
  const char* path_env = std::getenv("PATH");
  const char* api_key = std::getenv(kApiKeyEnv);
  const bool use_sim = api_key == nullptr || *api_key == '\0';

  ASSIGN_OR_RETURN(std::string orchestrator_bin,
                   FindBinary("baton-orchestrator", self_dir, path_env ? path_env : ""));
  ASSIGN_OR_RETURN(std::string worker_bin, FindBinary("baton-worker", self_dir, path_env ? path_env : ""));
  std::string sim_bin;
  if (use_sim) {
    ASSIGN_OR_RETURN(sim_bin, FindBinary("baton-model-sim", self_dir, path_env ? path_env : ""));
  }

  out_ << "Starting Baton in " << options_.data_dir << std::endl;
  if (options_.tls) {
    ASSIGN_OR_RETURN(LocalTlsFiles files, EnsureLocalTls(options_.data_dir));
    tls_ = files.CliOptions();
    stack_.tls_ca = tls_.ca_file;
    stack_.tls_cert = tls_.cert_file;
    stack_.tls_key = tls_.key_file;
    out_ << "TLS: certificates of a local CA in " << files.dir << " (workers and the bridge use client "
         << "certificates)" << std::endl;
  }
  if (use_sim) {
    ProcessSpec spec = PlanModelSim(options_, sim_bin);
    ASSIGN_OR_RETURN(StackProcess sim, Launch(spec));
    ASSIGN_OR_RETURN(int sim_port, WaitForPort(sim, spec.port_file));
    sim_url_ = absl::StrCat("http://127.0.0.1:", sim_port);
    stack_.model_api = "simulator at " + sim_url_;
    out_ << "ANTHROPIC_API_KEY is unset: using the local Messages API simulator at " << sim_url_
         << "\n  (its answers are canned; export ANTHROPIC_API_KEY and restart to use Claude)"
         << std::endl;
  } else {
    const char* base = std::getenv(kBaseUrlEnv);
    std::string url = base && *base ? base : "https://api.anthropic.com";
    stack_.model_api = "Messages API at " + url;
    out_ << "ANTHROPIC_API_KEY is set: workers call the Messages API at " << url << std::endl;
  }

  ProcessSpec orchestrator_spec = PlanOrchestrator(options_, orchestrator_bin);
  ASSIGN_OR_RETURN(StackProcess orchestrator, Launch(orchestrator_spec));
  RETURN_IF_ERROR(WaitForOrchestrator(orchestrator, orchestrator_spec.port_file));
  int port = std::stoi(stack_.addr.substr(stack_.addr.rfind(':') + 1));
  // The orchestrator runs with --auth: the CLI uses the admin key it wrote (stack.json
  // records the path), workers and the bridge a worker key made now.
  std::error_code abs_ec;
  std::filesystem::path admin_key_path = std::filesystem::absolute(PathIn(options_.data_dir, "admin.key"), abs_ec);
  stack_.api_key_file = admin_key_path.string();
  SaveStack();
  ASSIGN_OR_RETURN(std::string admin_key, ReadApiKeyFile(stack_.api_key_file));
  ASSIGN_OR_RETURN(worker_key_, CreateStackWorkerKey(stack_.addr, tls_, admin_key));

  // The MCP bridge, when there is a config for it; workers get its tools.
  std::string mcp_config = options_.mcp_config;
  if (mcp_config.empty() && std::filesystem::exists(PathIn(options_.data_dir, "mcp.json"))) {
    mcp_config = PathIn(options_.data_dir, "mcp.json");
  }
  if (!mcp_config.empty()) {
    if (!std::filesystem::exists(mcp_config)) {
      return absl::NotFoundError(absl::StrCat("no MCP bridge config at ", mcp_config));
    }
    ASSIGN_OR_RETURN(std::string bridge_bin, FindBinary("baton-mcp-bridge", self_dir, path_env ? path_env : ""));
    ProcessSpec spec = PlanMcpBridge(options_, bridge_bin, mcp_config, port);
    spec.env_set[kBatonApiKeyEnv] = worker_key_;  // its RequestInput/AwaitInput calls
    ASSIGN_OR_RETURN(StackProcess bridge, Launch(spec));
    ASSIGN_OR_RETURN(int bridge_port, WaitForPort(bridge, spec.port_file));
    stack_.bridge_addr = absl::StrCat("127.0.0.1:", bridge_port);
    SaveStack();
    out_ << "MCP bridge at " << stack_.bridge_addr << " with the servers of " << mcp_config
         << " (baton tools ls)" << std::endl;
  }

  for (int i = 1; i <= options_.workers; ++i) {
    ProcessSpec spec = PlanWorker(options_, worker_bin, i, port, sim_url_, stack_.bridge_addr);
    spec.env_set[kBatonApiKeyEnv] = worker_key_;
    RETURN_IF_ERROR(Launch(spec).status());
  }
  // The web console, when asked for and built: without it the stack still works.
  if (!options_.console_listen.empty()) {
    absl::StatusOr<std::string> console_bin = FindBinary("baton-console", self_dir, path_env ? path_env : "");
    if (console_bin.ok()) {
      ProcessSpec spec = PlanConsole(options_, *console_bin, port);
      ASSIGN_OR_RETURN(StackProcess console, Launch(spec));
      ASSIGN_OR_RETURN(int console_port, WaitForPort(console, spec.port_file));
      stack_.console_url = absl::StrCat("http://127.0.0.1:", console_port);
      SaveStack();
    } else {
      err_ << "warning: no web console: " << console_bin.status().message() << std::endl;
    }
  }
  // A process with bad flags dies at once: catch that before saying the stack is up.
  absl::Time settle = absl::Now() + kSettleTime;
  while (absl::Now() < settle) {
    for (const StackProcess& p : stack_.processes) {
      if (!exited_.count(p.name)) RETURN_IF_ERROR(CheckStartup(p));
    }
  }
  if (options_.metrics) {
    for (const StackProcess& p : stack_.processes) {
      if (p.name != "orchestrator" && p.name != "mcp-bridge" && !absl::StartsWith(p.name, "worker-")) continue;
      ASSIGN_OR_RETURN(int metrics_port, WaitForPort(p, MetricsPortFile(options_.data_dir, p.name)));
      metrics_urls_.emplace_back(p.name, absl::StrCat("http://127.0.0.1:", metrics_port, "/metrics"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> UpSession::ReapAndReport() {
  std::vector<std::string> died;
  for (const StackProcess& p : stack_.processes) {
    if (exited_.count(p.name)) continue;
    if (auto how = ReapChild(p.pid)) {
      exited_.insert(p.name);
      died.push_back(p.name);
      err_ << "baton up: " << p.name << " (pid " << p.pid << ") " << *how << "; last lines of " << p.log
           << ":\n"
           << Indented(TailFile(p.log, 10)) << std::flush;
    }
  }
  return died;
}

int UpSession::Supervise() {
  while (true) {
    int sig = NextSignal(absl::Seconds(1));
    if (IsStopSignal(sig)) {
      out_ << "\nStopping Baton (" << strsignal(sig) << "; press Ctrl-C again to kill at once)" << std::endl;
      StopAll();
      out_ << "Baton is down (data kept in " << options_.data_dir << ")" << std::endl;
      return 0;
    }
    for (const std::string& name : ReapAndReport()) {
      if (name == "orchestrator" || name == "model-sim") {
        err_ << "baton up: the stack cannot work without " << name << "; stopping it" << std::endl;
        StopAll();
        return 1;
      }
      int workers_left = 0;
      for (const StackProcess& p : stack_.processes) {
        if (p.name.rfind("worker-", 0) == 0 && !exited_.count(p.name)) ++workers_left;
      }
      if (workers_left == 0) {
        err_ << "baton up: no worker is left; runs stay QUEUED until one connects" << std::endl;
      } else {
        err_ << "baton up: " << workers_left << " worker(s) still running; the runs of " << name
             << " are leased again when its lease expires" << std::endl;
      }
    }
  }
}

void UpSession::StopAll() {
  std::vector<StackProcess> alive;
  for (const StackProcess& p : stack_.processes) {
    if (!exited_.count(p.name)) alive.push_back(p);
  }
  auto hurry = [] { return IsStopSignal(NextSignal(absl::ZeroDuration())); };
  bool hurried = false;
  for (const auto& group : StopOrder(alive)) {
    StopGroup(group, hurried ? absl::ZeroDuration() : options_.grace, /*own_children=*/true,
              [&] { return hurried = hurried || hurry(); }, out_);
  }
  RemoveStackFiles(options_.data_dir);
}

int UpSession::Run() {
  absl::Status started = StartAll();
  if (!started.ok()) {
    if (absl::IsCancelled(started)) {
      err_ << "baton up: " << started.message() << "; stopping" << std::endl;
    } else {
      err_ << "error: " << started.message() << std::endl;
    }
    StopAll();
    return 1;
  }
  out_ << "\nBaton is up at " << stack_.addr << " (data and logs in " << options_.data_dir << ")\n";
  if (stack_.addr != "127.0.0.1:7233") out_ << "  export BATON_ADDR=" << stack_.addr << "\n";
  if (options_.tls) {
    // `baton` finds these in stack.json; other clients (and `baton` run elsewhere) need them.
    out_ << "  TLS: baton reads the CA and its certificate from " << StackPath(options_.data_dir)
         << "; for other clients:\n"
         << "  export BATON_CA=" << tls_.ca_file << " BATON_CERT=" << tls_.cert_file << " BATON_KEY=" << tls_.key_file
         << "\n";
  }
  if (!stack_.console_url.empty()) out_ << ConsoleHint(stack_);
  for (const auto& [name, url] : metrics_urls_) out_ << "  Metrics of " << name << ": " << url << "\n";
  out_ << "  try: baton run examples/agents/assistant.json \"What is 17 + 25?\" --watch\n";
  if (options_.detach) {
    out_ << "Stop it with: baton down --data-dir " << options_.data_dir << std::endl;
    return 0;
  }
  out_ << "Press Ctrl-C to stop it." << std::endl;
  return Supervise();
}

}  // namespace

absl::Status CheckOrchestrator(const std::string& addr, absl::Duration timeout, const ClientTlsOptions& tls) {
  ChannelOptions channel_options;
  channel_options.tls = tls;
  auto channel = NewChannel(addr, channel_options);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice empty("");  // HealthCheckRequest{service: ""} encodes to no bytes
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    v1::RunService::Stub run_stub(channel);
    grpc::ClientContext list_context;
    list_context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    v1::ListRunsRequest list_request;
    list_request.set_page_size(1);
    v1::ListRunsResponse list_response;
    grpc::Status list_status = run_stub.ListRuns(&list_context, list_request, &list_response);
    if (list_status.ok()) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("ListRuns: ", list_status.error_message()));
  }
  if (!status.ok()) return absl::UnavailableError(absl::StrCat("health check: ", status.error_message()));
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // HealthCheckResponse{status: SERVING (1)} is field 1, varint 1.
  if (bytes == std::string("\x08\x01", 2)) return absl::OkStatus();
  return absl::UnavailableError("health check: not SERVING yet");
}

std::string StackApiKeyFile(const std::string& data_dir, const std::string& addr) {
  absl::StatusOr<StackFile> stack = ReadStackFile(data_dir);
  if (!stack.ok() || stack->addr != addr) return "";
  return stack->api_key_file;
}

ClientTlsOptions StackClientTls(const std::string& data_dir, const std::string& addr) {
  absl::StatusOr<StackFile> stack = ReadStackFile(data_dir);
  if (!stack.ok() || stack->tls_ca.empty() || (stack->addr != addr && stack->bridge_addr != addr)) return {};
  return ClientTlsOptions{stack->tls_ca, stack->tls_cert, stack->tls_key};
}

int RunUp(const UpOptions& options, std::ostream& out, std::ostream& err) {
  sigset_t handled = HandledSignals();
  ::pthread_sigmask(SIG_BLOCK, &handled, nullptr);

  if (auto existing = ReadStackFile(options.data_dir); existing.ok()) {
    std::vector<StackProcess> running = Running(*existing);
    bool supervised = existing->supervisor_pid > 0 &&
                      ProcessRuns(existing->supervisor_pid, existing->supervisor_binary);
    if (!running.empty() || supervised) {
      const ClientTlsOptions existing_tls{existing->tls_ca, existing->tls_cert, existing->tls_key};
      if (options.detach && ValidateClientTls(existing_tls).ok() &&
          CheckOrchestrator(existing->addr, absl::Seconds(2), existing_tls).ok()) {
        out << "Baton is already up at " << existing->addr << " (data and logs in " << options.data_dir
            << ")\nStop it with: baton down --data-dir " << options.data_dir << std::endl;
        return 0;
      }
      std::vector<std::string> pids;
      for (const StackProcess& p : running) pids.push_back(absl::StrCat(p.name, " pid ", p.pid));
      err << "error: a Baton stack is already running from " << options.data_dir << " ("
          << (pids.empty() ? absl::StrCat("baton up pid ", existing->supervisor_pid) : absl::StrJoin(pids, ", "))
          << "); stop it with: baton down --data-dir " << options.data_dir << std::endl;
      return 1;
    }
  }
  UpSession session(options, out, err);
  return session.Run();
}

int RunStatus(const std::string& data_dir, std::ostream& out, std::ostream& err) {
  absl::StatusOr<StackFile> stack = ReadStackFile(data_dir);
  if (absl::IsNotFound(stack.status())) {
    out << "Baton is not running from " << data_dir << " (no stack.json; start it with baton up)" << std::endl;
    return 1;
  }
  if (!stack.ok()) {
    err << "error: " << StackPath(data_dir) << ": " << stack.status().message() << std::endl;
    return 1;
  }
  const std::vector<StackProcess> running = Running(*stack);
  out << "Baton from " << data_dir << " at " << stack->addr << " (" << stack->model_api << ")\n";
  for (const StackProcess& p : stack->processes) {
    const bool up = std::any_of(running.begin(), running.end(), [&](const StackProcess& r) { return r.pid == p.pid; });
    out << absl::StrFormat("  %-13s pid %-8d %-8s log %s\n", p.name, p.pid, up ? "running" : "stopped", p.log);
  }
  if (!stack->bridge_addr.empty()) out << "  MCP bridge: " << stack->bridge_addr << "\n";
  if (!stack->console_url.empty()) out << ConsoleHint(*stack);
  out << std::flush;
  return running.size() == stack->processes.size() ? 0 : 1;
}

int RunDown(const std::string& data_dir, absl::Duration grace, std::ostream& out, std::ostream& err) {
  absl::StatusOr<StackFile> stack = ReadStackFile(data_dir);
  if (absl::IsNotFound(stack.status())) {
    out << "Baton is not running from " << data_dir << " (no stack.json)" << std::endl;
    return 0;
  }
  if (!stack.ok()) {
    err << "error: " << StackPath(data_dir) << ": " << stack.status().message() << std::endl;
    return 1;
  }
  // A foreground `baton up` stops its own children in order; let it.
  if (stack->supervisor_pid > 0 && ProcessRuns(stack->supervisor_pid, stack->supervisor_binary)) {
    out << "asking baton up (pid " << stack->supervisor_pid << ") to stop the stack" << std::endl;
    StopGroup({StackProcess{"baton up", stack->supervisor_pid, stack->supervisor_binary, ""}},
              grace * 3 + absl::Seconds(5), /*own_children=*/false, nullptr, out);
  } else {
    for (const StackProcess& p : stack->processes) {
      if (!ProcessRuns(p.pid, p.binary)) {
        out << p.name << " (pid " << p.pid << ") had already stopped; see " << p.log << std::endl;
      }
    }
  }
  for (const auto& group : StopOrder(Running(*stack))) {
    StopGroup(group, grace, /*own_children=*/false, nullptr, out);
  }
  std::vector<StackProcess> left = Running(*stack);
  if (!left.empty()) {
    for (const StackProcess& p : left) err << "error: " << p.name << " (pid " << p.pid << ") is still running" << std::endl;
    return 1;
  }
  RemoveStackFiles(data_dir);
  out << "Baton is down (data kept in " << data_dir << ")" << std::endl;
  return 0;
}

}  // namespace baton::cli
