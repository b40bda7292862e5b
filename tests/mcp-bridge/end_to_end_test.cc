// A run whose agent uses MCP tools through orchestrator + worker + bridge, with the
// bridge SIGKILLed in the middle of a tool call and started again.
#include <signal.h>

#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace ::baton::mcp::testing;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    baton::testing::ClusterOptions options;
    options.workers = 0;  // ours run with --tool-bridge
    cluster_ = std::make_unique<baton::testing::Cluster>(options);
    cluster_->Start();
    dir_ = cluster_->dir();
    json config = {{"defaults", {{"restart_backoff_initial_ms", 50}}},
                   {"servers",
                    {{"fault",
                      {{"command", "node"},
                       {"args", {FaultServer()}},
                       {"env", {{"META_LOG", dir_ + "/meta.jsonl"}}}}},
                     {"everything", {{"command", "node"}, {"args", {EverythingServer(), "stdio"}}}}}}};
    WriteFile(dir_ + "/bridge.json", config.dump(2));
    StartBridge();
    worker_ = std::make_unique<baton::testing::Process>(
        baton::testing::Cluster::Bin("baton-worker"),
        std::vector<std::string>{"--orchestrator=" + cluster_->address(), "--worker-id=mcp-worker",
                                 "--heartbeat-ms=300", "--tool-bridge=127.0.0.1:" + std::to_string(bridge_port_),
                                 "--model-retries=2", "--drain-timeout-ms=5000"},
        std::map<std::string, std::string>{{"ANTHROPIC_BASE_URL", cluster_->sim_url()},
                                           {"ANTHROPIC_API_KEY", "test-key"}},
        dir_ + "/mcp-worker.log");
  }

  void StartBridge() {
    std::remove((dir_ + "/bridge.port").c_str());
    bridge_ = std::make_unique<baton::testing::Process>(
        baton::testing::Cluster::Bin("baton-mcp-bridge"),
        std::vector<std::string>{"--config=" + dir_ + "/bridge.json",
                                 "--listen=127.0.0.1:" + std::to_string(bridge_port_),
                                 "--port-file=" + dir_ + "/bridge.port", "--audit-log=" + dir_ + "/audit.jsonl"},
        std::map<std::string, std::string>{}, dir_ + "/bridge.log");
    bridge_port_ = baton::testing::WaitForPortFile(dir_ + "/bridge.port", absl::Seconds(30));
  }

  v1::Run CreateRun(const std::string& input, std::vector<std::string> allowed) {
    v1::CreateRunRequest request;
    v1::AgentSpec* agent = request.mutable_agent();
    agent->set_name("mcp-tester");
    agent->set_model("claude-sonnet-4-5");
    agent->set_max_steps(10);
    agent->set_max_attempts(5);
    for (const std::string& a : allowed) agent->add_allowed_tools(a);
    request.set_input(input);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::Run run;
    grpc::Status s = cluster_->runs().CreateRun(&ctx, request, &run);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return run;
  }

  std::vector<v1::ToolResult> ToolResults(const std::string& run_id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::GetTranscriptRequest request;
    request.set_run_id(run_id);
    v1::Transcript transcript;
    EXPECT_TRUE(cluster_->runs().GetTranscript(&ctx, request, &transcript).ok());
    std::vector<v1::ToolResult> out;
    for (const v1::JournalEntry& e : transcript.entries()) {
      if (e.has_tool_result()) out.push_back(e.tool_result());
    }
    return out;
  }

  std::string dir_;
  int bridge_port_ = 0;
  std::unique_ptr<baton::testing::Cluster> cluster_;
  std::unique_ptr<baton::testing::Process> bridge_;
  std::unique_ptr<baton::testing::Process> worker_;
};

TEST_F(EndToEndTest, AnAgentUsesRealMcpServersThroughTheBridge) {
  // The simulator's default agent calls every offered tool once, then summarises.
  v1::Run run = CreateRun("Use the tools.", {"mcp__everything__echo", "mcp__everything__get-sum"});
  v1::Run done = cluster_->WaitForEnd(run.run_id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_THAT(done.output(), HasSubstr("Echo: hello"));
  EXPECT_THAT(done.output(), HasSubstr("5"));  // get-sum(2, 3)
  std::vector<std::string> audit = ReadLines(dir_ + "/audit.jsonl");
  ASSERT_THAT(audit, SizeIs(2));
  for (const std::string& line : audit) {
    json record = json::parse(line);
    EXPECT_EQ(record["run_id"], run.run_id());
    EXPECT_EQ(record["outcome"], "ok");
  }
}

TEST_F(EndToEndTest, ABridgeKilledMidCallIsSurvivedWithoutRunningRecordedCallsAgain) {
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__fault__echo"}, {"input", {{"text", "one"}}}}}}},
      // Not idempotent, and slow: the bridge dies while it runs.
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__fault__delayed"}, {"input", {{"ms", 4000}, {"tag", "two"}}}}}}},
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__fault__echo"}, {"input", {{"text", "three"}}}}}}},
      {{"content", "All done."}},
  }));
  v1::Run run = CreateRun("Go.", {"mcp__fault__*"});
  // Wait until the slow call has reached the server, then kill the bridge.
  ASSERT_TRUE(Eventually([&] { return ReadLines(dir_ + "/meta.jsonl").size() >= 2; }, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(200));
  bridge_->Kill(SIGKILL);
  bridge_->Wait(absl::Seconds(5));
  absl::SleepFor(absl::Milliseconds(500));
  StartBridge();

  v1::Run done = cluster_->WaitForEnd(run.run_id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.output(), "All done.");

  // Every call the server saw has its own idempotency key: nothing ran twice.
  std::vector<std::string> meta = ReadLines(dir_ + "/meta.jsonl");
  std::multiset<std::string> keys;
  for (const std::string& line : meta) keys.insert(json::parse(line)["baton/idempotencyKey"].get<std::string>());
  EXPECT_THAT(meta, SizeIs(3));  // one, two (interrupted), three
  for (const std::string& k : keys) EXPECT_EQ(keys.count(k), 1u) << k;

  // The interrupted non-idempotent call was not repeated: the model was told.
  std::vector<v1::ToolResult> results = ToolResults(run.run_id());
  ASSERT_THAT(results, SizeIs(3));
  EXPECT_FALSE(results[0].is_error());
  EXPECT_THAT(results[0].content_json(), HasSubstr("echo: one"));
  EXPECT_TRUE(results[1].is_error());
  EXPECT_THAT(results[1].content_json(), HasSubstr("unknown"));
  EXPECT_FALSE(results[2].is_error());
  EXPECT_THAT(results[2].content_json(), HasSubstr("echo: three"));
  EXPECT_GE(done.attempt(), 2);
}

}  // namespace
}  // namespace baton::mcp
