// A real Baton stack for integration tests: baton-model-sim, baton-orchestrator
// and baton-workers as child processes on loopback, with data in a temp dir.
// Processes can be killed with SIGKILL and started again, or paused (SIGSTOP,
// SIGCONT); a worker can run in a network namespace the test made (NetNamespace).
#ifndef BATON_TESTS_INTEGRATION_CLUSTER_H_
#define BATON_TESTS_INTEGRATION_CLUSTER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/graph.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/tls.h"

namespace baton::testing {

// A child process with its output in a log file. Killed (SIGKILL) on destruction.
class Process {
 public:
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& log_path);
  ~Process();
  void Kill(int signal = 9);
  // Waits for exit; returns the exit code (128+signal when killed), -1 on timeout.
  int Wait(absl::Duration timeout);
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Runs a command to completion; returns its exit code and puts stdout+stderr in *output.
int RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, absl::Duration timeout = absl::Seconds(60));

struct ClusterOptions {
  int workers = 2;
  int concurrency = 4;
  int lease_ttl_ms = 1500;
  int heartbeat_ms = 300;
  int retry_backoff_ms = 100;
  bool start_sim = true;
  // Extra environment for the workers (ANTHROPIC_API_KEY...).
  std::map<std::string, std::string> worker_env;
  // Environment of the simulator (BATON_SIM_API_KEY...).
  std::map<std::string, std::string> sim_env;
  // Environment of the orchestrator (OTEL_*...).
  std::map<std::string, std::string> orchestrator_env;
  // The address the simulator and the orchestrator listen on, and the test's stubs
  // and workers use. Not loopback: the orchestrator gets --insecure (tests only).
  // Default: 127.0.0.1.
  std::string host = "127.0.0.1";
  // Workers (by index) that run in a network namespace (`ip netns exec NAME`).
  // Default: none.
  std::map<int, std::string> worker_netns;
  // Extra flags for the workers (--prices=FILE...) and the simulator.
  std::vector<std::string> worker_args;
  std::vector<std::string> sim_args;
  std::vector<std::string> orchestrator_args;
  // TLS everywhere: a CA in DIR/tls signs the orchestrator's certificate (127.0.0.1),
  // the orchestrator verifies client certificates (--tls-client-ca), each worker gets
  // its own client certificate named "worker-N" (its --worker-id), and the test's
  // stubs connect with client_tls(). Default: false (plaintext).
  bool tls = false;
  // Authentication: the orchestrator runs with --auth, a bootstrap admin key (the
  // test's stubs use it) and --audit-log=auth_audit_log(); workers get a worker key
  // made through KeyService in BATON_API_KEY. Default: false.
  bool auth = false;
  // WorkerService on its own listener (--worker-listen): the workers and worker_api()
  // use worker_address(), and address() serves clients only. Default: false.
  bool worker_listen = false;
  // Prometheus metrics: the orchestrator serves them on a port of its own
  // (orchestrator_metrics_port()). Default: false.
  bool metrics = false;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();

  // Starts the simulator (if asked), the orchestrator and the workers.
  void Start();
  // On the same port and data dir as before, if any. Replaces the client stubs: do not
  // hold runs() and the like across a restart.
  void StartOrchestrator();
  // For the orchestrator's next start (a test that learns it after Start()).
  void SetOrchestratorEnv(std::map<std::string, std::string> env) { options_.orchestrator_env = std::move(env); }
  void KillOrchestrator(int signal = 9);
  // Starts worker `index` (again); an index past the last adds a worker.
  void StartWorker(int index);
  // Sends `signal`; waits for the worker to exit unless the signal pauses or resumes
  // it (SIGSTOP, SIGCONT).
  void KillWorker(int index, int signal = 9);
  Process* worker(int index) { return workers_.at(index).get(); }

  std::string address() const { return options_.host + ":" + std::to_string(orchestrator_port_); }
  // Where workers connect: address(), or the --worker-listen port with options.worker_listen.
  std::string worker_address() const {
    return options_.worker_listen ? options_.host + ":" + std::to_string(worker_port_) : address();
  }
  // With options.tls: the CA and the test client's certificate ("test-client"); empty
  // (plaintext) otherwise.
  const ClientTlsOptions& client_tls() const { return client_tls_; }
  std::string tls_dir() const { return dir_ + "/tls"; }
  // With options.auth: the admin key of the stubs and the workers' key; "" otherwise.
  const std::string& admin_key() const { return admin_key_; }
  const std::string& worker_key() const { return worker_key_; }
  std::string auth_audit_log() const { return dir_ + "/audit.jsonl"; }
  // A channel to the orchestrator (with client_tls()) that sends `bearer_token`.
  std::shared_ptr<grpc::Channel> ChannelWithKey(const std::string& bearer_token) const;
  // With options.metrics: the orchestrator's --metrics-listen port.
  int orchestrator_metrics_port() const { return orchestrator_metrics_port_; }
  std::string sim_url() const { return "http://" + options_.host + ":" + std::to_string(sim_port_); }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/orchestrator"; }
  std::string audit_log(int index) const { return dir_ + "/tools-" + std::to_string(index) + ".jsonl"; }
  std::vector<std::string> LogFiles() const;

  v1::RunService::Stub& runs() { return *runs_; }
  v1::AgentService::Stub& agents() { return *agents_; }
  v1::GraphService::Stub& graphs() { return *graphs_; }
  v1::WorkerService::Stub& worker_api() { return *worker_api_; }
  // PollTask as worker `worker_id`, waiting up to 5 s for a run (a test failure when
  // the call fails), for tests that play a worker.
  v1::PollTaskResponse PollTask(const std::string& worker_id);

  // The simulator's control endpoints.
  void SimScript(const nlohmann::json& replies);
  nlohmann::json SimRequests();
  nlohmann::json SimStats();

  // Creates a run of an inline agent with the built-in tools.
  v1::Run CreateRun(const std::string& input, const std::string& request_id = "",
                    int max_steps = 0);
  // GetRun (waiting for a restarting orchestrator); an empty Run and a test failure when
  // the call fails.
  v1::Run GetRun(const std::string& run_id);
  // GetTranscript; an empty Transcript (and a test failure) when the call fails.
  v1::Transcript Transcript(const std::string& run_id);
  // Polls GetRun until the run is terminal or `timeout` passes; returns the last state.
  v1::Run WaitForEnd(const std::string& run_id, absl::Duration timeout = absl::Seconds(60));
  struct WatchOptions {
    bool live_text = false;         // WatchRunRequest.live_text
    bool include_children = false;  // WatchRunRequest.include_children
    absl::Duration timeout = absl::Seconds(20);
  };
  // Every event of the run, read with WatchRun from the beginning (to its end).
  std::vector<v1::RunEvent> Events(const std::string& run_id, WatchOptions options);
  std::vector<v1::RunEvent> Events(const std::string& run_id) { return Events(run_id, WatchOptions{}); }
  // Lines of every worker's tool audit log, parsed.
  std::vector<nlohmann::json> ToolAudit() const;

  static v1::AgentSpec Agent();
  static std::string Bin(const std::string& name);

 private:
  std::string HttpRequest(const std::string& method, const std::string& path, const std::string& body);
  // With options.tls: the CA, the orchestrator's and the test client's certificates.
  void MakeCertificates();

  ClusterOptions options_;
  std::string dir_;
  int orchestrator_port_ = 0;
  int worker_port_ = 0;  // with options.worker_listen
  int orchestrator_metrics_port_ = 0;  // with options.metrics
  int sim_port_ = 0;
  std::unique_ptr<Process> sim_;
  std::unique_ptr<Process> orchestrator_;
  std::vector<std::unique_ptr<Process>> workers_;
  int orchestrator_starts_ = 0;
  ClientTlsOptions client_tls_;
  std::string admin_key_;
  std::string worker_key_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::AgentService::Stub> agents_;
  std::unique_ptr<v1::GraphService::Stub> graphs_;
  std::unique_ptr<v1::WorkerService::Stub> worker_api_;
};

// A deadline for a test's call, waiting for the server to be ready (the orchestrator
// may be restarting).
void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout = absl::Seconds(10));
// ListRuns with page_size 1000, view FULL unless the request sets one (a test failure
// when the call fails).
std::vector<v1::Run> ListRuns(Cluster& cluster, v1::ListRunsRequest request);
// The runs whose parent is `parent_id`: a run's subagents, a graph run's node runs.
std::vector<v1::Run> Children(Cluster& cluster, const std::string& parent_id);
std::vector<v1::Approval> ListApprovals(Cluster& cluster, const std::string& run_id,
                                        v1::ListApprovalsRequest::Filter filter);
// Tool calls the workers executed (their audit logs), per (run_id, tool_use_id).
std::map<std::pair<std::string, std::string>, int> ExecutedCalls(const Cluster& cluster);

// A network namespace joined to this one by a veth pair with private addresses
// (10.251.x.y/30, chosen from the test's pid). Made with `ip`, which needs root or
// CAP_NET_ADMIN: ok() is false and error() says why when it could not be made.
// Removed on destruction.
class NetNamespace {
 public:
  NetNamespace();
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  // This side's address (listen here to be reachable from the namespace).
  const std::string& host_address() const { return host_address_; }
  // Cuts the link (packets are dropped, nothing is refused: a partition), or joins it
  // again. Returns false (and records a test failure) when `ip` fails.
  bool SetLinkUp(bool up);

 private:
  // Runs `ip args...`; on failure sets error_ (unless set) and returns false.
  bool Ip(const std::vector<std::string>& args);

  std::string name_;
  std::string host_link_;
  std::string ns_link_;
  std::string host_address_;
  std::string error_;
  bool made_ns_ = false;
  bool made_link_ = false;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

// Waits for a non-empty file holding a port number.
int WaitForPortFile(const std::string& path, absl::Duration timeout);
std::string ReadFile(const std::string& path);

}  // namespace baton::testing

#endif  // BATON_TESTS_INTEGRATION_CLUSTER_H_
