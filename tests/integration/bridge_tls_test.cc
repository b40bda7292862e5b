// The MCP bridge's ToolService over mTLS, with real processes: a TLS cluster, a
// baton-mcp-bridge with --tls-client-ca (the fault server's tools behind it), and a
// worker whose client certificate is its identity. A worker with a certificate from the
// cluster's CA runs an MCP tool through the bridge; a client without a certificate, one
// with a certificate from another CA, and a plaintext one are refused, and the bridge
// goes on serving the others.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "baton/v1/tool_service.grpc.pb.h"
#include "common/grpc_channel.h"
#include "common/x509_issuer.h"
#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// A client certificate NAME.pem / NAME.key in `dir`, signed by `ca`, for a client that
// trusts `ca_file` (the server's CA).
ClientTlsOptions ClientCertificate(const PemKeyPair& ca, const std::string& name, const std::string& dir,
                                   const std::string& ca_file) {
  absl::StatusOr<PemKeyPair> pair = IssueCertificate(ca, {.common_name = name, .client = true});
  EXPECT_TRUE(pair.ok()) << pair.status();
  const std::string cert = dir + "/" + name + ".pem";
  const std::string key = dir + "/" + name + ".key";
  EXPECT_TRUE(WritePemFile(cert, pair.ok() ? pair->cert_pem : "").ok());
  EXPECT_TRUE(WritePemFile(key, pair.ok() ? pair->key_pem : "", 0600).ok());
  return {ca_file, cert, key};
}

class BridgeTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Workers are started here: theirs need --tool-bridge, known once the bridge serves.
    cluster_ = std::make_unique<Cluster>(ClusterOptions{.workers = 0, .tls = true});
    cluster_->Start();
    const std::string dir = cluster_->dir();
    const std::string tls = cluster_->tls_dir();
    cluster_ca_ = {ReadFile(tls + "/ca.pem"), ReadFile(tls + "/ca.key")};

    json config = {{"servers", {{"fault", {{"command", "node"}, {"args", {mcp::testing::FaultServer()}}}}}}};
    mcp::testing::WriteFile(dir + "/bridge.json", config.dump(2));
    // The bridge serves with the orchestrator's certificate (127.0.0.1, from the same
    // CA) and asks every client for a certificate from that CA.
    bridge_ = std::make_unique<Process>(
        Cluster::Bin("baton-mcp-bridge"),
        std::vector<std::string>{"--config=" + dir + "/bridge.json", "--listen=127.0.0.1:0",
                                 "--port-file=" + dir + "/bridge.port", "--audit-log=" + audit_log(),
                                 "--tls-cert=" + tls + "/server.pem", "--tls-key=" + tls + "/server.key",
                                 "--tls-client-ca=" + tls + "/ca.pem"},
        std::map<std::string, std::string>{}, dir + "/bridge.log");
    bridge_port_ = WaitForPortFile(dir + "/bridge.port", absl::Seconds(30));
  }

  std::string bridge_address() const { return "127.0.0.1:" + std::to_string(bridge_port_); }
  std::string audit_log() const { return cluster_->dir() + "/bridge-audit.jsonl"; }

  // ListTools over a fresh channel with `tls`.
  grpc::Status ListTools(const ClientTlsOptions& tls, v1::ListToolsResponse* response) {
    auto stub = v1::ToolService::NewStub(NewChannel(bridge_address(), ChannelOptions{.tls = tls}));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub->ListTools(&ctx, v1::ListToolsRequest(), response);
  }

  grpc::Status CallEcho(const ClientTlsOptions& tls) {
    auto stub = v1::ToolService::NewStub(NewChannel(bridge_address(), ChannelOptions{.tls = tls}));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CallToolRequest request;
    request.set_name("mcp__fault__echo");
    request.set_arguments_json(R"({"text": "intruder"})");
    request.add_allowed_tools("*");
    v1::CallToolResponse response;
    return stub->CallTool(&ctx, request, &response);
  }

  std::unique_ptr<Cluster> cluster_;
  PemKeyPair cluster_ca_;
  std::unique_ptr<Process> bridge_;
  int bridge_port_ = 0;
};

TEST_F(BridgeTlsTest, WorkerWithAClientCertificateRunsAnMcpToolThroughTheBridge) {
  const ClientTlsOptions worker_tls =
      ClientCertificate(cluster_ca_, "bridge-worker", cluster_->tls_dir(), cluster_->client_tls().ca_file);
  // The worker's one set of --ca/--cert/--key serves both connections: to the
  // orchestrator (WorkerService) and to the bridge (ToolService).
  Process worker(Cluster::Bin("baton-worker"),
                 {"--orchestrator=" + cluster_->address(), "--tool-bridge=" + bridge_address(),
                  "--ca=" + worker_tls.ca_file, "--cert=" + worker_tls.cert_file, "--key=" + worker_tls.key_file,
                  "--heartbeat-ms=300", "--model-retries=2", "--drain-timeout-ms=5000"},
                 {{"ANTHROPIC_BASE_URL", cluster_->sim_url()}, {"ANTHROPIC_API_KEY", "test-key"}},
                 cluster_->dir() + "/bridge-worker.log");
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__fault__echo"}, {"input", {{"text", "over mTLS"}}}}}}},
      {{"content", "All done."}},
  }));
  v1::CreateRunRequest request;
  v1::AgentSpec* agent = request.mutable_agent();
  agent->set_name("bridge-tls");
  agent->set_model("claude-sonnet-4-5");
  agent->set_max_steps(5);
  agent->add_allowed_tools("mcp__fault__echo");
  request.set_input("Echo something.");
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run created;
  grpc::Status s = cluster_->runs().CreateRun(&ctx, request, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::Run run = cluster_->WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_EQ(run.output(), "All done.");
  EXPECT_THAT(run.worker_id(), ::testing::StartsWith("bridge-worker/"));
  const v1::Transcript transcript = cluster_->Transcript(run.run_id());
  std::vector<v1::ToolResult> results;
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_tool_result()) results.push_back(e.tool_result());
  }
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_FALSE(results[0].is_error()) << results[0].content_json();
  EXPECT_THAT(results[0].content_json(), HasSubstr("echo: over mTLS"));
  // The call went through the bridge (its audit log), not around it.
  std::vector<std::string> audit = mcp::testing::ReadLines(audit_log());
  ASSERT_THAT(audit, SizeIs(1));
  EXPECT_EQ(json::parse(audit[0])["run_id"], run.run_id());
  EXPECT_EQ(json::parse(audit[0])["outcome"], "ok");
}

TEST_F(BridgeTlsTest, ClientsWithoutAValidCertificateAreRefusedAndTheBridgeKeepsServing) {
  const std::string ca_file = cluster_->client_tls().ca_file;
  // TLS, the right CA, no client certificate: the handshake succeeds (the bridge asks,
  // and verifies what is presented), every ToolService call is then refused.
  v1::ListToolsResponse listed;
  grpc::Status s = ListTools({ca_file}, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("a client certificate is required, but none was presented"));
  EXPECT_EQ(listed.tools_size(), 0);
  s = CallEcho({ca_file});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();

  // A certificate from another CA fails the handshake: the call never arrives.
  absl::StatusOr<PemKeyPair> other_ca = CreateCertificateAuthority("other CA");
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  const ClientTlsOptions foreign = ClientCertificate(*other_ca, "foreign-client", cluster_->dir(), ca_file);
  for (int i = 0; i < 3; ++i) {
    s = ListTools(foreign, &listed);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  s = CallEcho(foreign);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Plaintext to a TLS server fails the handshake too.
  s = ListTools({}, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // None of the refused calls reached a server.
  EXPECT_THAT(mcp::testing::ReadLines(audit_log()), SizeIs(0));

  // The bridge still serves a client with a certificate from its CA.
  ASSERT_TRUE(bridge_->Running());
  s = ListTools(cluster_->client_tls(), &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> names;
  for (const v1::ToolInfo& tool : listed.tools()) names.push_back(tool.name());
  EXPECT_THAT(names, ::testing::Contains("mcp__fault__echo"));
  EXPECT_TRUE(CallEcho(cluster_->client_tls()).ok());

  // So does the CLI, with the operator's certificate; without one it is refused.
  std::string out;
  const ClientTlsOptions& tls = cluster_->client_tls();
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "tools", "ls", "--bridge", bridge_address(), "--ca", tls.ca_file,
                        "--cert", tls.cert_file, "--key", tls.key_file},
                       {}, &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("mcp__fault__echo"));
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "tools", "ls", "--bridge", bridge_address(), "--ca", tls.ca_file}, {},
                       &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("UNAUTHENTICATED"));
}

}  // namespace
}  // namespace baton::testing
