#include "bench/stack.h"

#include <curl/curl.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "baton/v1/run_service.grpc.pb.h"

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

absl::Status Stack::Start() {
  if (options_.start_sim) {
    if (absl::Status s = StartSim(); !s.ok()) return s;
  }
  if (absl::Status s = StartOrchestrator(); !s.ok()) return s;
  for (int i = 0; i < options_.workers; ++i) StartWorker(i);
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
  const std::string binary = argv.front();
  argv.erase(argv.begin());
  orchestrator_ = std::make_unique<Process>(
      binary, argv, std::map<std::string, std::string>{{"BATON_LOG_LEVEL", options_.orchestrator_log_level}},
      orchestrator_log());
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
  int attempt = 0;
  while (absl::Now() < deadline) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("baton.bench.probe", ++attempt);
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(options_.client_tls);
    if (!credentials.ok()) return credentials.status();
    auto channel = grpc::CreateCustomChannel(address(), *credentials, args);
    auto stub = v1::RunService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
    v1::GetRunRequest request;
    request.set_run_id("run_000000000000_probe");
    v1::Run run;
    grpc::Status s = stub->GetRun(&ctx, request, &run);
    // Any answer from the service (NOT_FOUND, INVALID_ARGUMENT) means it serves.
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
}  // namespace

absl::StatusOr<std::string> Stack::SimPost(const std::string& path, const std::string& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string out;
  const std::string url = sim_url() + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  struct curl_slist* headers = curl_slist_append(nullptr, "content-type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc)));
  if (code != 200) return absl::InvalidArgumentError(absl::StrCat("POST ", url, ": HTTP ", code, ": ", out));
  return out;
}

}  // namespace baton::bench
