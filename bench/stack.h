// A real Baton stack for the benchmarks: baton-model-sim (no added latency),
// baton-orchestrator on a temp data dir and N baton-workers, all on loopback, as
// child processes that can be signalled (SIGKILL, SIGSTOP) and started again;
// plaintext, or with TLS, authentication and encryption at rest (Protections).
#ifndef BATON_BENCH_STACK_H_
#define BATON_BENCH_STACK_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/process.h"
#include "cli/tls_files.h"
#include "common/grpc_channel.h"

namespace baton::bench {

// What a secured stack turns on; all three are what `baton up --tls` does plus
// encryption at rest. Each can be on alone, to see what it costs.
struct Protections {
  // TLS with the certificates of a local CA (cli/tls_files.h); workers present a
  // client certificate (mTLS: WorkerService requires one). Default: false
  bool tls = false;
  // --auth with a bootstrap admin key (the driver's) and a worker key (the workers').
  // Without TLS the orchestrator takes local (loopback) connections. Default: false
  bool auth = false;
  // --encryption-key-file with one key-encryption key. Default: false
  bool encryption = false;

  // "TLS, auth and encryption", "auth", "nothing".
  std::string Describe() const;
  // From "tls,auth,encryption" (some of them, any order; "all" for the three).
  // INVALID_ARGUMENT naming an unknown part, or for none.
  static absl::StatusOr<Protections> Parse(const std::string& parts);
};

// What an observed stack turns on (W2-obs): Prometheus metrics on every process
// (`--metrics-listen`) and traces exported over OTLP/HTTP to `otlp_endpoint`.
struct Observability {
  bool metrics = false;  // Default: false
  bool tracing = false;  // Default: false
  std::string otlp_endpoint;  // OTEL_EXPORTER_OTLP_ENDPOINT of every process; required with tracing

  // "metrics and tracing", "metrics", "nothing".
  std::string Describe() const;
};

struct StackOptions {
  std::string bin_dir;  // holds baton-orchestrator, baton-worker, baton-model-sim. Required.
  std::string dir;      // working directory of this stack (created). Required.
  int workers = 4;      // Default: 4
  int concurrency = 64;  // runs per worker. Default: 64
  int lease_ttl_ms = 10'000;       // Default: the orchestrator's default, 10 s
  int retry_backoff_ms = 1'000;    // Default: the orchestrator's default, 1 s
  int heartbeat_ms = 0;            // 0: the worker's default (TTL / 3)
  bool start_sim = true;           // Default: true
  // Prepended to the orchestrator's command line (valgrind ...). Default: none.
  std::vector<std::string> orchestrator_wrapper;
  // Prepended to worker 0's command line (valgrind ...). Default: none.
  std::vector<std::string> worker_wrapper;
  // Log level of the simulator and the workers. Default: warning (their per-run
  // INFO lines cost CPU).
  std::string log_level = "warning";
  std::string orchestrator_log_level = "warning";  // Default: warning
  // Default: none (plaintext, no auth, no encryption).
  Protections protections;
  // Default: none (no metrics, no traces).
  Observability observability;
};

// Not thread-safe: one driver thread manages the processes.
class Stack {
 public:
  explicit Stack(StackOptions options);
  ~Stack();  // SIGKILLs whatever still runs

  // Simulator, orchestrator, then the workers. With protections, first the
  // certificates and the encryption key file, and between the orchestrator and the
  // workers the worker key.
  absl::Status Start();
  absl::Status StartSim();
  // On the port and data dir of the previous start, if any. With `wait_for_port`,
  // returns once the port file is written (the server is listening); without, at
  // once (the port must be known from a previous start).
  absl::Status StartOrchestrator(bool wait_for_port = true);
  void SignalOrchestrator(int signal);
  // Waits for the orchestrator to exit; its exit code, -1 on timeout.
  int WaitOrchestrator(absl::Duration timeout);
  void StartWorker(int index);
  void SignalWorker(int index, int signal);
  // SIGTERM to every worker (drain; they write their stats files), then waits.
  void StopWorkers(absl::Duration timeout = absl::Seconds(30));
  // SIGTERM to the orchestrator, then waits.
  void StopOrchestrator(absl::Duration timeout = absl::Seconds(30));

  // Polls the orchestrator with GetRun on fresh connections until it answers;
  // returns when it first did.
  absl::StatusOr<absl::Time> WaitServing(absl::Duration timeout);

  std::string address() const { return "127.0.0.1:" + std::to_string(orchestrator_port_); }
  std::string sim_url() const { return "http://127.0.0.1:" + std::to_string(sim_port_); }
  std::string data_dir() const { return options_.dir + "/data"; }
  std::string orchestrator_log() const { return options_.dir + "/orchestrator.log"; }
  std::string audit_log(int index) const;
  std::string stats_file(int index) const;
  // With TLS, prefixed by the workers' certificate identity, as the orchestrator
  // requires of a worker with a client certificate (CheckWorkerId).
  std::string worker_id(int index) const;
  // How the driver reaches the orchestrator, as `baton` does: with TLS, the local CA
  // and the CLI's client certificate; with auth, the admin key.
  ChannelOptions client_options() const;
  Process* orchestrator() { return orchestrator_.get(); }
  Process* worker(int index) { return workers_[index].get(); }
  const StackOptions& options() const { return options_; }

  // CPU seconds used so far by each kind of process: {"orchestrator", "workers",
  // "sim"} (workers summed over the live ones), and by the whole machine ("host").
  nlohmann::json CpuSeconds();

  // With metrics: GET /metrics from the orchestrator ("orchestrator") or a worker
  // ("worker-0", ...); the exposition text.
  absl::StatusOr<std::string> ScrapeMetrics(const std::string& process) const;

  // POST to the simulator's control API; returns the body.
  absl::StatusOr<std::string> SimPost(const std::string& path, const std::string& body);
  // GET from the simulator's control API (/_sim/stats); returns the body.
  absl::StatusOr<std::string> SimGet(const std::string& path);

 private:
  // The certificates (tls) and the encryption key file (encryption).
  absl::Status WriteSecrets();
  // POST `body`, or GET when it is null.
  absl::StatusOr<std::string> SimRequest(const std::string& path, const std::string* body);
  // With auth: reads the admin key the orchestrator wrote and makes the workers' key.
  absl::Status CreateKeys();
  // With observability: the metrics flags in `args` and the tracing variables in
  // `env` of `process` ("orchestrator", "worker-N").
  void Observe(const std::string& process, std::vector<std::string>& args,
               std::map<std::string, std::string>& env) const;
  std::string metrics_port_file(const std::string& process) const {
    return options_.dir + "/" + process + ".metrics.port";
  }
  std::string encryption_key_file() const { return options_.dir + "/encryption.keys"; }
  std::string admin_key_file() const { return options_.dir + "/admin.key"; }

  StackOptions options_;
  cli::LocalTlsFiles tls_;  // with TLS
  std::string admin_key_;   // with auth: the driver's bearer credential
  std::string worker_key_;  // with auth: the workers' BATON_API_KEY
  int orchestrator_port_ = 0;
  int sim_port_ = 0;
  // Destroyed (killed) in reverse order: workers, orchestrator, simulator.
  std::unique_ptr<Process> sim_;
  std::unique_ptr<Process> orchestrator_;
  std::vector<std::unique_ptr<Process>> workers_;
};

}  // namespace baton::bench

#endif  // BATON_BENCH_STACK_H_
