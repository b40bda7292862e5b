#include "tests/integration/cluster.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "baton/v1/auth.grpc.pb.h"
#include "common/grpc_channel.h"
#include "common/x509_issuer.h"

namespace baton::testing {

namespace fs = std::filesystem;

namespace {
constexpr char kIpBinary[] = "/usr/sbin/ip";
}  // namespace

extern "C" char** environ;

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (env.count(key) == 0) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
}

Process::~Process() {
  if (Running()) Kill(SIGKILL);
  Wait(absl::Seconds(10));
}

void Process::Kill(int signal) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
}

bool Process::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return status_;
}

int RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, absl::Duration timeout) {
  static int counter = 0;
  std::string log = absl::StrCat(fs::temp_directory_path().string(), "/baton-cmd-", getpid(), "-", ++counter, ".log");
  int code;
  {
    Process p(argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()), env, log);
    code = p.Wait(timeout);
    if (code == -1) p.Kill(SIGKILL);
  }
  if (output != nullptr) *output = ReadFile(log);
  fs::remove(log);
  return code;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

int WaitForPortFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string text = ReadFile(path);
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) && port > 0) return port;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ADD_FAILURE() << "no port in " << path;
  return 0;
}

NetNamespace::NetNamespace() {
  // Interface names have at most 15 characters; the pid keeps concurrent tests apart.
  const int n = static_cast<int>(getpid() % 16384);
  name_ = absl::StrCat("baton-it-", getpid());
  host_link_ = absl::StrCat("bit", n, "h");
  ns_link_ = absl::StrCat("bit", n, "n");
  const std::string prefix = absl::StrCat("10.251.", n / 64, ".");
  host_address_ = absl::StrCat(prefix, (n % 64) * 4 + 1);
  const std::string ns_address = absl::StrCat(prefix, (n % 64) * 4 + 2);
  if (access(kIpBinary, X_OK) != 0) {
    error_ = absl::StrCat(kIpBinary, " is not there");
    return;
  }
  made_ns_ = Ip({"netns", "add", name_});
  if (!made_ns_) return;
  made_link_ = Ip({"link", "add", host_link_, "type", "veth", "peer", "name", ns_link_});
  if (!made_link_) return;
  (void)(Ip({"link", "set", ns_link_, "netns", name_}) &&
         Ip({"addr", "add", host_address_ + "/30", "dev", host_link_}) && Ip({"link", "set", host_link_, "up"}) &&
         Ip({"-n", name_, "addr", "add", ns_address + "/30", "dev", ns_link_}) &&
         Ip({"-n", name_, "link", "set", ns_link_, "up"}) && Ip({"-n", name_, "link", "set", "lo", "up"}));
}

NetNamespace::~NetNamespace() {
  std::string ignored;
  if (made_link_) RunCommand({kIpBinary, "link", "del", host_link_}, {}, &ignored);
  if (made_ns_) RunCommand({kIpBinary, "netns", "del", name_}, {}, &ignored);
}

bool NetNamespace::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kIpBinary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output;
  if (RunCommand(argv, {}, &output, absl::Seconds(20)) == 0) return true;
  if (error_.empty()) {
    error_ = absl::StrCat("`ip ", absl::StrJoin(args, " "), "` failed: ", absl::StripAsciiWhitespace(output));
  }
  return false;
}

bool NetNamespace::SetLinkUp(bool up) {
  // The host's side: the namespace's side stays up, so its packets are sent and
  // dropped (as in a partition) rather than refused at once.
  const bool done = Ip({"link", "set", host_link_, up ? "up" : "down"});
  EXPECT_TRUE(done) << error_;
  return done;
}

std::string Cluster::Bin(const std::string& name) {
  const char* dir = std::getenv("BATON_BIN_DIR");
  return std::string(dir ? dir : "build/bin") + "/" + name;
}

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  std::string tmpl = fs::temp_directory_path().string() + "/baton-it-XXXXXX";
  dir_ = mkdtemp(tmpl.data());
}

Cluster::~Cluster() {
  workers_.clear();
  orchestrator_.reset();
  sim_.reset();
  if (!::testing::Test::HasFailure()) {
    fs::remove_all(dir_);
  } else {
    std::cerr << "cluster logs kept in " << dir_ << "\n";
  }
}

void Cluster::MakeCertificates() {
  fs::create_directories(tls_dir());
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("baton test CA");
  ASSERT_TRUE(ca.ok()) << ca.status();
  ASSERT_TRUE(WritePemFile(tls_dir() + "/ca.pem", ca->cert_pem).ok());
  ASSERT_TRUE(WritePemFile(tls_dir() + "/ca.key", ca->key_pem, 0600).ok());
  auto issue = [&](const std::string& name, CertificateRequest request) {
    absl::StatusOr<PemKeyPair> pair = IssueCertificate(*ca, request);
    ASSERT_TRUE(pair.ok()) << pair.status();
    ASSERT_TRUE(WritePemFile(tls_dir() + "/" + name + ".pem", pair->cert_pem).ok());
    ASSERT_TRUE(WritePemFile(tls_dir() + "/" + name + ".key", pair->key_pem, 0600).ok());
  };
  issue("server", {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"},
                   .server = true});
  issue("test-client", {.common_name = "test-client", .client = true});
  for (int i = 0; i < options_.workers; ++i) {
    const std::string name = "worker-" + std::to_string(i);
    issue(name, {.common_name = name, .client = true});
  }
  client_tls_ = {tls_dir() + "/ca.pem", tls_dir() + "/test-client.pem", tls_dir() + "/test-client.key"};
}

void Cluster::Start() {
  if (options_.tls) MakeCertificates();
  if (options_.start_sim) {
    std::vector<std::string> sim_args{"--listen=" + options_.host + ":0", "--port-file=" + dir_ + "/sim.port"};
    sim_args.insert(sim_args.end(), options_.sim_args.begin(), options_.sim_args.end());
    sim_ = std::make_unique<Process>(Bin("baton-model-sim"), sim_args, options_.sim_env, dir_ + "/sim.log");
    sim_port_ = WaitForPortFile(dir_ + "/sim.port", absl::Seconds(20));
  }
  StartOrchestrator();
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(nullptr);
    StartWorker(i);
  }
}

void Cluster::StartOrchestrator() {
  const std::string port_file = dir_ + "/orchestrator.port";
  fs::remove(port_file);
  std::vector<std::string> args{"--data-dir=" + data_dir(), "--listen=" + options_.host + ":" + std::to_string(orchestrator_port_),
                                "--port-file=" + port_file, "--lease-ttl-ms=" + std::to_string(options_.lease_ttl_ms),
                                "--retry-backoff-ms=" + std::to_string(options_.retry_backoff_ms)};
  if (options_.host != "127.0.0.1") args.push_back("--insecure");  // a private test address
  if (options_.tls) {
    args.insert(args.end(), {"--tls-cert=" + tls_dir() + "/server.pem", "--tls-key=" + tls_dir() + "/server.key",
                             "--tls-client-ca=" + tls_dir() + "/ca.pem"});
  }
  if (options_.auth) {
    args.insert(args.end(), {"--auth", "--bootstrap-admin-key-file=" + dir_ + "/admin.key",
                             "--audit-log=" + auth_audit_log()});
  }
  const std::string worker_port_file = dir_ + "/orchestrator-workers.port";
  if (options_.worker_listen) {
    fs::remove(worker_port_file);
    args.insert(args.end(), {"--worker-listen=" + options_.host + ":" + std::to_string(worker_port_),
                             "--worker-port-file=" + worker_port_file});
  }
  const std::string metrics_port_file = dir_ + "/orchestrator-metrics.port";
  if (options_.metrics) {
    fs::remove(metrics_port_file);
    args.insert(args.end(),
                {"--metrics-listen=" + options_.host + ":0", "--metrics-port-file=" + metrics_port_file});
  }
  args.insert(args.end(), options_.orchestrator_args.begin(), options_.orchestrator_args.end());
  orchestrator_ = std::make_unique<Process>(Bin("baton-orchestrator"), args, options_.orchestrator_env,
                                            dir_ + "/orchestrator.log");
  orchestrator_port_ = WaitForPortFile(port_file, absl::Seconds(30));
  if (options_.worker_listen) worker_port_ = WaitForPortFile(worker_port_file, absl::Seconds(30));
  if (options_.metrics) orchestrator_metrics_port_ = WaitForPortFile(metrics_port_file, absl::Seconds(30));
  ++orchestrator_starts_;
  if (options_.auth && admin_key_.empty()) {
    admin_key_ = std::string(absl::StripAsciiWhitespace(ReadFile(dir_ + "/admin.key")));
    EXPECT_FALSE(admin_key_.empty()) << "no bootstrap admin key in " << dir_ << "/admin.key";
    v1::KeyService::Stub keys(ChannelWithKey(admin_key_));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CreateKeyRequest request;
    request.set_principal("test-workers");
    request.add_roles("worker");
    request.add_namespaces("*");
    v1::CreateKeyResponse created;
    grpc::Status status = keys.CreateKey(&context, request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    worker_key_ = created.secret();
  }
  // A fresh channel: one to a killed orchestrator may still hold the dead connection,
  // and the first call on it would fail.
  channel_ = ChannelWithKey(admin_key_);
  if (options_.tls) {
    // Seen once under load: the first call on a fresh TLS channel failed ("tcp
    // handshaker shutdown"). The tests are about what follows, so connect first.
    channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  }
  runs_ = v1::RunService::NewStub(channel_);
  agents_ = v1::AgentService::NewStub(channel_);
  graphs_ = v1::GraphService::NewStub(channel_);
  std::shared_ptr<grpc::Channel> worker_channel = channel_;
  if (options_.worker_listen) {
    ChannelOptions worker_options;
    worker_options.tls = client_tls_;
    worker_options.bearer_token = admin_key_;
    worker_channel = NewChannel(worker_address(), worker_options);
  }
  worker_api_ = v1::WorkerService::NewStub(worker_channel);
}

std::shared_ptr<grpc::Channel> Cluster::ChannelWithKey(const std::string& bearer_token) const {
  ChannelOptions channel_options;
  channel_options.tls = client_tls_;
  channel_options.bearer_token = bearer_token;
  return NewChannel(address(), channel_options);
}

void Cluster::KillOrchestrator(int signal) {
  orchestrator_->Kill(signal);
  orchestrator_->Wait(absl::Seconds(10));
}

void Cluster::StartWorker(int index) {
  if (index >= static_cast<int>(workers_.size())) workers_.resize(index + 1);  // one more than options.workers
  std::map<std::string, std::string> env = options_.worker_env;
  if (options_.start_sim) env["ANTHROPIC_BASE_URL"] = sim_url();
  if (env.count("ANTHROPIC_API_KEY") == 0) env["ANTHROPIC_API_KEY"] = "test-key";
  if (!worker_key_.empty()) env["BATON_API_KEY"] = worker_key_;
  std::vector<std::string> args{"--orchestrator=" + worker_address(), "--worker-id=worker-" + std::to_string(index),
                                "--concurrency=" + std::to_string(options_.concurrency),
                                "--heartbeat-ms=" + std::to_string(options_.heartbeat_ms),
                                "--tool-audit-log=" + audit_log(index), "--model-retries=2",
                                "--drain-timeout-ms=5000"};
  if (options_.tls) {
    const std::string name = tls_dir() + "/worker-" + std::to_string(index);
    args.insert(args.end(), {"--ca=" + tls_dir() + "/ca.pem", "--cert=" + name + ".pem", "--key=" + name + ".key"});
  }
  args.insert(args.end(), options_.worker_args.begin(), options_.worker_args.end());
  std::string binary = Bin("baton-worker");
  if (auto it = options_.worker_netns.find(index); it != options_.worker_netns.end()) {
    // `ip netns exec` execs the worker in place: the pid (and its signals) stay its.
    args.insert(args.begin(), {"netns", "exec", it->second, binary});
    binary = kIpBinary;
  }
  workers_.at(index) =
      std::make_unique<Process>(binary, args, env, dir_ + "/worker-" + std::to_string(index) + ".log");
}

void Cluster::KillWorker(int index, int signal) {
  workers_.at(index)->Kill(signal);
  if (signal != SIGSTOP && signal != SIGCONT) workers_.at(index)->Wait(absl::Seconds(30));
}

std::vector<std::string> Cluster::LogFiles() const {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path().string());
  }
  return out;
}

namespace {
size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
}  // namespace

std::string Cluster::HttpRequest(const std::string& method, const std::string& path, const std::string& body) {
  CURL* curl = curl_easy_init();
  std::string out;
  std::string url = sim_url() + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  struct curl_slist* headers = curl_slist_append(nullptr, "content-type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

void Cluster::SimScript(const nlohmann::json& replies) {
  HttpRequest("POST", "/_sim/script", nlohmann::json{{"replies", replies}}.dump());
}

nlohmann::json Cluster::SimStats() {
  return nlohmann::json::parse(HttpRequest("GET", "/_sim/stats", ""), nullptr, false);
}

nlohmann::json Cluster::SimRequests() {
  return nlohmann::json::parse(HttpRequest("GET", "/_sim/requests", ""), nullptr, false);
}

v1::AgentSpec Cluster::Agent() {
  v1::AgentSpec agent;
  agent.set_name("tester");
  agent.set_model("claude-sonnet-4-5");
  agent.set_system("You are a test agent.");
  agent.add_allowed_tools("echo");
  agent.add_allowed_tools("sum");
  agent.add_allowed_tools("current_time");
  agent.set_max_steps(20);
  return agent;
}

v1::Run Cluster::CreateRun(const std::string& input, const std::string& request_id, int max_steps) {
  v1::CreateRunRequest request;
  *request.mutable_agent() = Agent();
  if (max_steps > 0) request.mutable_agent()->set_max_steps(max_steps);
  request.set_input(input);
  request.set_request_id(request_id);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::Run run;
  grpc::Status s = runs().CreateRun(&ctx, request, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

v1::PollTaskResponse Cluster::PollTask(const std::string& worker_id) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::PollTaskRequest request;
  request.set_worker_id(worker_id);
  request.set_wait_ms(5000);
  v1::PollTaskResponse response;
  grpc::Status s = worker_api().PollTask(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response;
}

v1::Run Cluster::GetRun(const std::string& run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx.set_wait_for_ready(true);  // the orchestrator may be restarting
  v1::GetRunRequest request;
  request.set_run_id(run_id);
  v1::Run run;
  grpc::Status s = runs().GetRun(&ctx, request, &run);
  EXPECT_TRUE(s.ok()) << run_id << ": " << s.error_message();
  return run;
}

v1::Transcript Cluster::Transcript(const std::string& run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx.set_wait_for_ready(true);
  v1::GetTranscriptRequest request;
  request.set_run_id(run_id);
  v1::Transcript transcript;
  grpc::Status s = runs().GetTranscript(&ctx, request, &transcript);
  EXPECT_TRUE(s.ok()) << run_id << ": " << s.error_message();
  return transcript;
}

v1::Run Cluster::WaitForEnd(const std::string& run_id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  v1::Run run;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetRunRequest request;
    request.set_run_id(run_id);
    if (runs().GetRun(&ctx, request, &run).ok() &&
        (run.state() == v1::SUCCEEDED || run.state() == v1::FAILED || run.state() == v1::CANCELLED)) {
      return run;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "run " << run_id << " did not end; last state " << v1::RunState_Name(run.state());
  return run;
}

std::vector<v1::RunEvent> Cluster::Events(const std::string& run_id, WatchOptions options) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  v1::WatchRunRequest request;
  request.set_run_id(run_id);
  request.set_live_text(options.live_text);
  request.set_include_children(options.include_children);
  auto reader = runs().WatchRun(&ctx, request);
  std::vector<v1::RunEvent> events;
  v1::RunEvent event;
  while (reader->Read(&event)) events.push_back(event);
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  return events;
}

std::vector<nlohmann::json> Cluster::ToolAudit() const {
  std::vector<nlohmann::json> lines;
  for (int i = 0; i < static_cast<int>(workers_.size()); ++i) {
    for (absl::string_view line : absl::StrSplit(ReadFile(audit_log(i)), '\n', absl::SkipEmpty())) {
      lines.push_back(nlohmann::json::parse(line, nullptr, false));
    }
  }
  return lines;
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx.set_wait_for_ready(true);
}

std::vector<v1::Run> ListRuns(Cluster& cluster, v1::ListRunsRequest request) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  request.set_page_size(1000);
  // Tests read any field of the runs they list (inputs, outputs, waits' results).
  if (request.view() == v1::RUN_VIEW_UNSPECIFIED) request.set_view(v1::FULL);
  v1::ListRunsResponse response;
  grpc::Status s = cluster.runs().ListRuns(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {response.runs().begin(), response.runs().end()};
}

std::vector<v1::Run> Children(Cluster& cluster, const std::string& parent_id) {
  v1::ListRunsRequest request;
  request.set_parent_run_id(parent_id);
  return ListRuns(cluster, request);
}

std::vector<v1::Approval> ListApprovals(Cluster& cluster, const std::string& run_id,
                                        v1::ListApprovalsRequest::Filter filter) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ListApprovalsRequest request;
  request.set_run_id(run_id);
  request.set_filter(filter);
  v1::ListApprovalsResponse response;
  grpc::Status s = cluster.runs().ListApprovals(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {response.approvals().begin(), response.approvals().end()};
}

std::map<std::pair<std::string, std::string>, int> ExecutedCalls(const Cluster& cluster) {
  std::map<std::pair<std::string, std::string>, int> calls;
  for (const nlohmann::json& line : cluster.ToolAudit()) {
    calls[{line.value("run_id", ""), line.value("tool_use_id", "")}]++;
  }
  return calls;
}

}  // namespace baton::testing
