#include "bench/stack.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "cli/keys.h"
#include "cli/stack.h"
#include "common/status_macros.h"
#include "common/x509_issuer.h"

namespace baton::bench {

namespace fs = std::filesystem;

Stack::Stack(StackOptions options) : options_(std::move(options)) {
  fs::create_directories(options_.dir);
}

Stack::~Stack() {
  workers_.clear();
  orchestrator_.reset();
  sim_.reset();
}

std::string Stack::audit_log(int index) const {
  return absl::StrCat(options_.dir, "/tools-", index, ".jsonl");
}

std::string Stack::stats_file(int index) const {
  return absl::StrCat(options_.dir, "/worker-stats-", index, ".json");
}

std::string Protections::Describe() const {
  std::vector<std::string> parts;
  if (tls) parts.push_back("TLS");
  if (auth) parts.push_back("auth");
  if (encryption) parts.push_back("encryption");
  if (parts.empty()) return "nothing";
  const std::string last = parts.back();
  parts.pop_back();
  return parts.empty() ? last : absl::StrCat(absl::StrJoin(parts, ", "), " and ", last);
}

std::string Observability::Describe() const {
  if (metrics && tracing) return "metrics and tracing";
  if (metrics) return "metrics";
  if (tracing) return "tracing";
  return "nothing";
}

absl::StatusOr<Protections> Protections::Parse(const std::string& parts) {
  Protections p;
  for (absl::string_view part : absl::StrSplit(parts, ',', absl::SkipEmpty())) {
    if (part == "all") {
      p = {.tls = true, .auth = true, .encryption = true};
    } else if (part == "tls") {
      p.tls = true;
    } else if (part == "auth") {
      p.auth = true;
    } else if (part == "encryption") {
      p.encryption = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown protection \"", part, "\" (tls, auth, encryption or all)"));
    }
  }
  if (!p.tls && !p.auth && !p.encryption) {
    return absl::InvalidArgumentError("no protection named (tls, auth, encryption or all)");
  }
  return p;
}

std::string Stack::worker_id(int index) const {
  return absl::StrCat(options_.protections.tls ? absl::StrCat(cli::kLocalWorkerIdentity, "/") : "", "worker-",
                      index);
}

ChannelOptions Stack::client_options() const {
  ChannelOptions channel;
  if (options_.protections.tls) channel.tls = tls_.CliOptions();
  channel.bearer_token = admin_key_;
  return channel;
}

absl::Status Stack::Start() {
  if (options_.start_sim) {
    if (absl::Status s = StartSim(); !s.ok()) return s;
  }
  RETURN_IF_ERROR(WriteSecrets());
  if (absl::Status s = StartOrchestrator(); !s.ok()) return s;
  RETURN_IF_ERROR(CreateKeys());
  for (int i = 0; i < options_.workers; ++i) StartWorker(i);
  return absl::OkStatus();
}

absl::Status Stack::WriteSecrets() {
  if (options_.protections.tls) {
    // The library `baton up --tls` makes its CA and certificates with, in DIR/tls.
    ASSIGN_OR_RETURN(tls_, cli::EnsureLocalTls(options_.dir));
  }
  if (!options_.protections.encryption) return absl::OkStatus();
  // One key-encryption key (orchestrator/store/value_cipher.h): "<version> <base64>".
  std::string kek(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(kek.data()), static_cast<int>(kek.size())) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return WritePemFile(encryption_key_file(), absl::StrCat("1 ", absl::Base64Escape(kek), "\n"), 0600);
}

absl::Status Stack::CreateKeys() {
  if (!options_.protections.auth) return absl::OkStatus();
  // Listening is not answering: the first TLS handshakes can fail (under valgrind,
  // many seconds), and KeyService's calls are not retried.
  RETURN_IF_ERROR(WaitServing(absl::Seconds(120)).status());
  // The orchestrator wrote its bootstrap admin key before it listened (port file).
  ASSIGN_OR_RETURN(admin_key_, cli::ReadApiKeyFile(admin_key_file()));
  ASSIGN_OR_RETURN(worker_key_, cli::CreateStackWorkerKey(address(), client_options().tls, admin_key_));
  return absl::OkStatus();
}

absl::Status Stack::StartSim() {
  const std::string port_file = options_.dir + "/sim.port";
  fs::remove(port_file);
  sim_ = std::make_unique<Process>(
      options_.bin_dir + "/baton-model-sim",
      std::vector<std::string>{"--listen=127.0.0.1:0", "--port-file=" + port_file, "--latency-ms=0"},
      std::map<std::string, std::string>{{"BATON_LOG_LEVEL", options_.log_level}}, options_.dir + "/sim.log");
  absl::StatusOr<int> port = WaitForPortFile(port_file, absl::Seconds(20));
  if (!port.ok()) return port.status();
  sim_port_ = *port;
  return absl::OkStatus();
}

absl::Status Stack::StartOrchestrator(bool wait_for_port) {
  const std::string port_file = options_.dir + "/orchestrator.port";
  fs::remove(port_file);
  std::vector<std::string> argv = options_.orchestrator_wrapper;
  argv.push_back(options_.bin_dir + "/baton-orchestrator");
  argv.push_back("--data-dir=" + data_dir());
  argv.push_back(absl::StrCat("--listen=127.0.0.1:", orchestrator_port_));
  argv.push_back("--port-file=" + port_file);
  argv.push_back(absl::StrCat("--lease-ttl-ms=", options_.lease_ttl_ms));
  argv.push_back(absl::StrCat("--retry-backoff-ms=", options_.retry_backoff_ms));
  // The flags `baton up --tls` gives it (cli/stack.cc), and encryption at rest.
  if (options_.protections.tls) {
    argv.push_back("--tls-cert=" + tls_.server_cert);
    argv.push_back("--tls-key=" + tls_.server_key);
    argv.push_back("--tls-client-ca=" + tls_.ca_cert);
  }
  if (options_.protections.auth) {
    argv.push_back("--auth");
    argv.push_back("--bootstrap-admin-key-file=" + admin_key_file());
  }
  if (options_.protections.encryption) argv.push_back("--encryption-key-file=" + encryption_key_file());
  std::map<std::string, std::string> env{{"BATON_LOG_LEVEL", options_.orchestrator_log_level}};
  Observe("orchestrator", argv, env);
  const std::string binary = argv.front();
  argv.erase(argv.begin());
  orchestrator_ = std::make_unique<Process>(binary, argv, env, orchestrator_log());
  if (!wait_for_port) {
    if (orchestrator_port_ == 0) return absl::FailedPreconditionError("the orchestrator's port is not known yet");
    return absl::OkStatus();
  }
  // Under valgrind the start takes many seconds; a process that exits fails at once.
  absl::StatusOr<int> port = absl::UnavailableError("not started");
  for (const absl::Time until = absl::Now() + absl::Seconds(120); absl::Now() < until;) {
    port = WaitForPortFile(port_file, absl::Milliseconds(100));
    if (port.ok()) break;
    if (!orchestrator_->Running()) {
      return absl::UnavailableError(absl::StrCat("the orchestrator exited; see ", orchestrator_log()));
    }
  }
  if (!port.ok()) return port.status();
  orchestrator_port_ = *port;
  return absl::OkStatus();
}

void Stack::Observe(const std::string& process, std::vector<std::string>& args,
                    std::map<std::string, std::string>& env) const {
  const Observability& observe = options_.observability;
  if (observe.metrics) {
    fs::remove(metrics_port_file(process));
    args.push_back("--metrics-listen=127.0.0.1:0");
    args.push_back("--metrics-port-file=" + metrics_port_file(process));
  }
  if (observe.tracing) {
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = observe.otlp_endpoint;
    env["OTEL_SERVICE_NAME"] = "baton-bench-" + process;
  }
}

void Stack::SignalOrchestrator(int signal) {
  if (orchestrator_) orchestrator_->Signal(signal);
}

int Stack::WaitOrchestrator(absl::Duration timeout) {
  return orchestrator_ ? orchestrator_->Wait(timeout) : 0;
}

void Stack::StopOrchestrator(absl::Duration timeout) {
  SignalOrchestrator(SIGTERM);
  if (WaitOrchestrator(timeout) == -1) {
    SignalOrchestrator(SIGKILL);
    WaitOrchestrator(absl::Seconds(10));
  }
}

void Stack::StartWorker(int index) {
  if (static_cast<int>(workers_.size()) <= index) workers_.resize(index + 1);
  std::map<std::string, std::string> env = {
      {"ANTHROPIC_BASE_URL", sim_url()},
      {"ANTHROPIC_API_KEY", "bench-key"},
      {"BATON_WORKER_STATS_FILE", stats_file(index)},
      {"BATON_LOG_LEVEL", options_.log_level},
  };
  std::vector<std::string> args = {
      "--orchestrator=" + address(),
      "--worker-id=" + worker_id(index),
      absl::StrCat("--concurrency=", options_.concurrency),
      "--tool-audit-log=" + audit_log(index),
      "--model-retries=2",
      "--drain-timeout-ms=5000",
  };
  if (options_.heartbeat_ms > 0) args.push_back(absl::StrCat("--heartbeat-ms=", options_.heartbeat_ms));
  // As `baton up` starts them: mTLS with the workers' certificate, and their key in
  // the environment (command lines are visible in ps).
  if (options_.protections.tls) {
    args.push_back("--ca=" + tls_.ca_cert);
    args.push_back("--cert=" + tls_.worker_cert);
    args.push_back("--key=" + tls_.worker_key);
  }
  if (options_.protections.auth) env[cli::kBatonApiKeyEnv] = worker_key_;
  Observe(absl::StrCat("worker-", index), args, env);
  std::string binary = options_.bin_dir + "/baton-worker";
  if (index == 0 && !options_.worker_wrapper.empty()) {
    args.insert(args.begin(), binary);
    args.insert(args.begin(), options_.worker_wrapper.begin() + 1, options_.worker_wrapper.end());
    binary = options_.worker_wrapper.front();
  }
  workers_[index] =
      std::make_unique<Process>(binary, args, env, absl::StrCat(options_.dir, "/worker-", index, ".log"));
}

void Stack::SignalWorker(int index, int signal) {
  if (index < static_cast<int>(workers_.size()) && workers_[index]) workers_[index]->Signal(signal);
}

void Stack::StopWorkers(absl::Duration timeout) {
  for (auto& w : workers_) {
    if (w) w->Signal(SIGTERM);
  }
  for (auto& w : workers_) {
    if (w && w->Wait(timeout) == -1) w->Signal(SIGKILL);
  }
  workers_.clear();
}

absl::StatusOr<absl::Time> Stack::WaitServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    ChannelOptions channel = client_options();
    channel.own_connection = true;
    auto stub = v1::RunService::NewStub(NewChannel(address(), channel));
    grpc::ClientContext ctx;
    // A refused connection fails at once whatever the deadline; an orchestrator under
    // valgrind takes seconds for a TLS handshake, which a deadline cuts short.
    ctx.set_deadline(absl::ToChronoTime(
        absl::Now() + (options_.orchestrator_wrapper.empty() ? absl::Milliseconds(500) : absl::Seconds(10))));
    v1::GetRunRequest request;
    request.set_run_id("run_000000000000_probe");
    v1::Run run;
    grpc::Status s = stub->GetRun(&ctx, request, &run);
    // Any answer from the service (NOT_FOUND, INVALID_ARGUMENT; UNAUTHENTICATED before
    // the stack has its keys) means it serves.
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
        s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::DeadlineExceededError("the orchestrator did not serve in time");
}

nlohmann::json Stack::CpuSeconds() {
  auto cpu = [](Process* p) {
    if (p == nullptr || !p->Running()) return 0.0;
    absl::StatusOr<double> s = bench::CpuSeconds(p->pid());
    return s.ok() ? *s : 0.0;
  };
  double workers = 0;
  for (auto& w : workers_) workers += cpu(w.get());
  return {{"orchestrator", cpu(orchestrator_.get())},
          {"workers", workers},
          {"sim", cpu(sim_.get())},
          {"host", bench::HostBusySeconds().value_or(0)}};
}

namespace {
size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET `url`, or POST `body` when it is not null; the answer's body, if 200.
absl::StatusOr<std::string> Fetch(const std::string& url, const std::string* body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string out;
  const char* method = body != nullptr ? "POST " : "GET ";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  struct curl_slist* headers = curl_slist_append(nullptr, "content-type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (body != nullptr) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat(method, url, ": ", curl_easy_strerror(rc)));
  if (code != 200) return absl::InvalidArgumentError(absl::StrCat(method, url, ": HTTP ", code, ": ", out));
  return out;
}
}  // namespace

absl::StatusOr<std::string> Stack::SimPost(const std::string& path, const std::string& body) {
  return SimRequest(path, &body);
}

absl::StatusOr<std::string> Stack::SimGet(const std::string& path) { return SimRequest(path, nullptr); }

absl::StatusOr<std::string> Stack::SimRequest(const std::string& path, const std::string* body) {
  return Fetch(sim_url() + path, body);
}

absl::StatusOr<std::string> Stack::ScrapeMetrics(const std::string& process) const {
  if (!options_.observability.metrics) return absl::FailedPreconditionError("the stack has no metrics");
  ASSIGN_OR_RETURN(const int port, WaitForPortFile(metrics_port_file(process), absl::Seconds(5)));
  return Fetch(absl::StrCat("http://127.0.0.1:", port, "/metrics"), nullptr);
}


}  // namespace baton::bench
