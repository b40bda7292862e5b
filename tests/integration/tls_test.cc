// TLS everywhere, with real processes: a run over TLS with mTLS workers, clients that
// must be refused (wrong CA, expired certificate, a worker without a certificate),
// certificate reload without a restart, and the non-loopback rule.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "common/grpc_channel.h"
#include "common/x509_issuer.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

namespace fs = std::filesystem;

// Certificates for tests that start their own orchestrator, in a temp dir.
class Certificates {
 public:
  Certificates() {
    std::string tmpl = fs::temp_directory_path().string() + "/baton-tls-it-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
  }
  ~Certificates() { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  // A CA named `name`: NAME.pem.
  PemKeyPair Ca(const std::string& name) {
    absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority(name);
    EXPECT_TRUE(ca.ok()) << ca.status();
    EXPECT_TRUE(WritePemFile(Path(name + ".pem"), ca->cert_pem).ok());
    return *ca;
  }
  // A server certificate for 127.0.0.1 signed by `ca`: NAME.pem and NAME.key, each
  // replaced atomically.
  void Server(const std::string& name, const PemKeyPair& ca, absl::Time not_after = absl::Now() + absl::Hours(24),
              absl::Time not_before = absl::Now() - absl::Hours(1)) {
    absl::StatusOr<PemKeyPair> pair =
        IssueCertificate(ca, {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"},
                              .server = true, .not_before = not_before, .not_after = not_after});
    ASSERT_TRUE(pair.ok()) << pair.status();
    ASSERT_TRUE(WritePemFile(Path(name + ".key"), pair->key_pem, 0600).ok());
    ASSERT_TRUE(WritePemFile(Path(name + ".pem"), pair->cert_pem).ok());
  }

 private:
  std::string dir_;
};

// ListRuns over a fresh channel with `tls`.
grpc::Status ListRuns(const std::string& address, const ClientTlsOptions& tls) {
  ChannelOptions options;
  options.tls = tls;
  auto stub = v1::RunService::NewStub(NewChannel(address, options));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListRunsRequest request;
  v1::ListRunsResponse response;
  return stub->ListRuns(&ctx, request, &response);
}

// A baton-orchestrator of its own, for tests about the server's certificate.
struct LoneOrchestrator {
  LoneOrchestrator(const std::string& dir, const std::vector<std::string>& extra_args,
                   const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> args = {"--data-dir=" + dir + "/data", "--listen=127.0.0.1:0",
                                     "--port-file=" + dir + "/orchestrator.port"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process = std::make_unique<Process>(Cluster::Bin("baton-orchestrator"), args, env, dir + "/orchestrator.log");
    port = WaitForPortFile(dir + "/orchestrator.port", absl::Seconds(30));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  std::unique_ptr<Process> process;
  int port = 0;
};

TEST(TlsTest, RunSucceedsOverTlsWithMtlsWorkers) {
  Cluster cluster(ClusterOptions{.workers = 2, .tls = true});
  cluster.Start();
  v1::Run created = cluster.CreateRun("[sim steps=3 tool=echo] Echo twice.");
  ASSERT_FALSE(created.run_id().empty());
  v1::Run run = cluster.WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_EQ(run.steps(), 3);
  EXPECT_TRUE(absl::StartsWith(run.worker_id(), "worker-")) << run.worker_id();

  // The CLI over TLS: with the CA and a certificate it reads the run; without the CA
  // (plaintext to a TLS server) it cannot.
  std::string output;
  const ClientTlsOptions& tls = cluster.client_tls();
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "get", run.run_id(), "--addr", cluster.address(), "--ca", tls.ca_file,
                        "--cert", tls.cert_file, "--key", tls.key_file},
                       {}, &output),
            0)
      << output;
  EXPECT_NE(output.find("SUCCEEDED"), std::string::npos) << output;
  EXPECT_NE(RunCommand({Cluster::Bin("baton"), "get", run.run_id(), "--addr", cluster.address()}, {}, &output), 0);
  // The same through BATON_CA and friends.
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "get", run.run_id(), "--addr", cluster.address()},
                       {{"BATON_CA", tls.ca_file}}, &output),
            0)
      << output;
}

TEST(TlsTest, ClientWithWrongCaFailsAndServerKeepsServing) {
  Cluster cluster(ClusterOptions{.workers = 0, .tls = true});
  cluster.Start();
  Certificates certs;
  certs.Ca("other-ca");
  for (int i = 0; i < 3; ++i) {
    grpc::Status s = ListRuns(cluster.address(), {certs.Path("other-ca.pem")});
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  grpc::Status plaintext = ListRuns(cluster.address(), {});
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
  // Still serving clients that trust the right CA, with or without a certificate.
  EXPECT_TRUE(ListRuns(cluster.address(), cluster.client_tls()).ok());
  EXPECT_TRUE(ListRuns(cluster.address(), {cluster.client_tls().ca_file}).ok());
}

TEST(TlsTest, ExpiredServerCertificateIsRefusedByClients) {
  Certificates certs;
  PemKeyPair ca = certs.Ca("ca");
  certs.Server("server", ca, /*not_after=*/absl::Now() - absl::Hours(1), /*not_before=*/absl::Now() - absl::Hours(48));
  LoneOrchestrator orchestrator(certs.Path(""), {"--tls-cert=" + certs.Path("server.pem"),
                                                 "--tls-key=" + certs.Path("server.key")});
  grpc::Status s = ListRuns(orchestrator.address(), {certs.Path("ca.pem")});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  std::string output;
  EXPECT_NE(RunCommand({Cluster::Bin("baton"), "ls", "--addr", orchestrator.address(), "--ca", certs.Path("ca.pem")},
                       {}, &output),
            0);
  EXPECT_TRUE(orchestrator.process->Running());
}

TEST(TlsTest, WorkerWithoutClientCertificateIsUnauthenticatedAndLeasesNothing) {
  Cluster cluster(ClusterOptions{.workers = 0, .tls = true});
  cluster.Start();
  v1::Run created = cluster.CreateRun("[sim steps=1] hi");
  ASSERT_FALSE(created.run_id().empty());

  // WorkerService over TLS, but without a client certificate.
  ChannelOptions options;
  options.tls = {cluster.client_tls().ca_file};
  auto no_cert = v1::WorkerService::NewStub(NewChannel(cluster.address(), options));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PollTaskRequest request;
    request.set_worker_id("intruder");
    request.set_wait_ms(100);
    v1::PollTaskResponse response;
    grpc::Status s = no_cert->PollTask(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(s.error_message().find("client certificate"), std::string::npos) << s.error_message();
    EXPECT_FALSE(response.has_task());
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::HeartbeatRequest request;
    request.set_worker_id("intruder");
    v1::HeartbeatResponse response;
    EXPECT_EQ(no_cert->Heartbeat(&ctx, request, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // A certificate does not let a worker report another worker's id.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PollTaskRequest request;
    request.set_worker_id("worker-0");  // the test client's certificate is "test-client"
    request.set_wait_ms(100);
    v1::PollTaskResponse response;
    grpc::Status s = cluster.worker_api().PollTask(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  // A real worker process without a certificate runs nothing.
  Process worker(Cluster::Bin("baton-worker"),
                 {"--orchestrator=" + cluster.address(), "--ca=" + cluster.client_tls().ca_file, "--worker-id=nocert",
                  "--concurrency=1"},
                 {{"ANTHROPIC_BASE_URL", cluster.sim_url()}, {"ANTHROPIC_API_KEY", "test-key"}},
                 cluster.dir() + "/nocert-worker.log");
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(cluster.GetRun(created.run_id()).state(), v1::QUEUED);
  worker.Kill();
  worker.Wait(absl::Seconds(10));

  // With its certificate, the same client leases the run.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::PollTaskRequest request;
  request.set_worker_id("test-client/poller");
  request.set_wait_ms(2000);
  v1::PollTaskResponse response;
  grpc::Status s = cluster.worker_api().PollTask(&ctx, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(response.has_task());
}

TEST(TlsTest, ServerCertificateIsReloadedWithoutRestart) {
  Certificates certs;
  PemKeyPair first_ca = certs.Ca("first-ca");
  PemKeyPair second_ca = certs.Ca("second-ca");
  certs.Server("server", first_ca);
  LoneOrchestrator orchestrator(certs.Path(""),
                                {"--tls-cert=" + certs.Path("server.pem"), "--tls-key=" + certs.Path("server.key")},
                                {{"BATON_TLS_REFRESH_SECONDS", "1"}});
  const pid_t pid = orchestrator.process->pid();
  ASSERT_TRUE(ListRuns(orchestrator.address(), {certs.Path("first-ca.pem")}).ok());
  EXPECT_EQ(ListRuns(orchestrator.address(), {certs.Path("second-ca.pem")}).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  certs.Server("server", second_ca);  // a new key and certificate from another CA
  EXPECT_TRUE(WaitUntil([&] { return ListRuns(orchestrator.address(), {certs.Path("second-ca.pem")}).ok(); },
                        absl::Seconds(20)));
  EXPECT_EQ(ListRuns(orchestrator.address(), {certs.Path("first-ca.pem")}).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(orchestrator.process->Running());
  EXPECT_EQ(orchestrator.process->pid(), pid);
}

TEST(TlsTest, NonLoopbackListenNeedsTlsAndAuthOrInsecure) {
  Certificates certs;
  std::string output;
  int code = RunCommand({Cluster::Bin("baton-orchestrator"), "--data-dir=" + certs.Path("data"),
                         "--listen=0.0.0.0:0"},
                        {}, &output, absl::Seconds(30));
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("refusing to listen on 0.0.0.0:0 without TLS"), std::string::npos) << output;
  EXPECT_NE(output.find("--insecure"), std::string::npos) << output;

  Certificates insecure_dir;
  LoneOrchestrator insecure(insecure_dir.Path(""), {"--listen=0.0.0.0:0", "--insecure"});
  EXPECT_GT(insecure.port, 0);

  PemKeyPair ca = certs.Ca("ca");
  certs.Server("server", ca);
  // TLS alone is not enough: without auth anyone who reaches the port can use it.
  code = RunCommand({Cluster::Bin("baton-orchestrator"), "--data-dir=" + certs.Path("data-tls-only"),
                     "--listen=0.0.0.0:0", "--tls-cert=" + certs.Path("server.pem"),
                     "--tls-key=" + certs.Path("server.key")},
                    {}, &output, absl::Seconds(30));
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("without auth"), std::string::npos) << output;

  LoneOrchestrator with_tls(certs.Path(""), {"--listen=0.0.0.0:0", "--tls-cert=" + certs.Path("server.pem"),
                                             "--tls-key=" + certs.Path("server.key"), "--auth",
                                             "--bootstrap-admin-key-file=" + certs.Path("admin.key")});
  ASSERT_GT(with_tls.port, 0);
  // The TLS handshake succeeds; the call then needs a key.
  EXPECT_EQ(ListRuns(with_tls.address(), {certs.Path("ca.pem")}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace baton::testing
