// The baton-mcp-bridge binary, driven the way a worker drives it: through
// BridgeToolExecutor (workers/bridge_tool_executor.h) over gRPC.
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "baton/v1/worker_service.grpc.pb.h"
#include "common/grpc_server.h"
#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/mcp_test_util.h"
#include "workers/bridge_tool_executor.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using worker::BridgeToolExecutor;
using worker::ToolCallContext;
using worker::ToolDefinition;
using worker::ToolOutput;
using namespace ::baton::mcp::testing;

class BridgeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    json config = {
        {"defaults", {{"restart_backoff_initial_ms", 50}}},
        {"servers",
         {{"fault",
           {{"command", "node"},
            {"args", {FaultServer()}},
            {"env", {{"CANCEL_LOG", dir_ + "/cancels"}, {"START_LOG", dir_ + "/starts"}}},
            {"max_result_bytes", 2000}}},
          {"everything", {{"command", "node"}, {"args", {EverythingServer(), "stdio"}}}}}}};
    WriteFile(dir_ + "/bridge.json", config.dump(2));
    StartBridge();
    worker::BridgeToolExecutorOptions options;
    options.address = "127.0.0.1:" + std::to_string(port_);
    options.list_timeout = absl::Seconds(3);
    options.connect_wait = absl::Milliseconds(500);
    executor_ = std::make_unique<BridgeToolExecutor>(options);
  }

  void StartBridge(const std::vector<std::string>& extra_flags = {}) {
    std::remove((dir_ + "/bridge.port").c_str());
    std::vector<std::string> flags{"--config=" + dir_ + "/bridge.json", "--listen=127.0.0.1:" + std::to_string(port_),
                                   "--port-file=" + dir_ + "/bridge.port", "--audit-log=" + dir_ + "/audit.jsonl"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    bridge_ = std::make_unique<baton::testing::Process>(BinDir() + "/baton-mcp-bridge", flags,
                                                        std::map<std::string, std::string>{}, dir_ + "/bridge.log");
    port_ = baton::testing::WaitForPortFile(dir_ + "/bridge.port", absl::Seconds(30));
  }

  ToolCallContext Context(std::vector<std::string> allowed = {"mcp__fault__*", "mcp__everything__*"}) {
    ToolCallContext ctx;
    ctx.run_id = "run_7";
    ctx.step = 2;
    ctx.tool_use_id = "toolu_" + std::to_string(++calls_);
    ctx.idempotency_key = ctx.run_id + ":2:" + ctx.tool_use_id;
    ctx.allowed_tools = std::move(allowed);
    ctx.timeout = absl::Seconds(20);
    return ctx;
  }

  static std::string Text(const ToolOutput& out) {
    if (out.content.is_array() && !out.content.empty()) return out.content[0].value("text", "");
    return out.content.dump();
  }

  std::string dir_;
  int port_ = 0;
  int calls_ = 0;
  std::unique_ptr<baton::testing::Process> bridge_;
  std::unique_ptr<BridgeToolExecutor> executor_;
};

TEST_F(BridgeServiceTest, ListsEveryServersToolsWithHints) {
  absl::StatusOr<std::vector<ToolDefinition>> tools = executor_->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status();
  std::vector<std::string> names;
  for (const ToolDefinition& t : *tools) {
    names.push_back(t.name);
    if (t.name == "mcp__everything__echo") {
      EXPECT_TRUE(t.read_only);
      EXPECT_TRUE(t.idempotent);
      EXPECT_EQ(t.input_schema["required"], json({"message"}));
    }
    if (t.name == "mcp__fault__crash") {
      EXPECT_FALSE(t.idempotent);
    }
  }
  EXPECT_THAT(names, Contains("mcp__everything__echo"));
  EXPECT_THAT(names, Contains("mcp__everything__get-tiny-image"));
  EXPECT_THAT(names, Contains("mcp__fault__hang"));
}

TEST_F(BridgeServiceTest, CallsRealToolsAndAuditsThem) {
  absl::StatusOr<ToolOutput> echo =
      executor_->CallTool("mcp__everything__echo", {{"message", "through the bridge"}}, Context());
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_FALSE(echo->is_error);
  EXPECT_EQ(Text(*echo), "Echo: through the bridge");

  absl::StatusOr<ToolOutput> image = executor_->CallTool("mcp__everything__get-tiny-image", json::object(), Context());
  ASSERT_TRUE(image.ok());
  EXPECT_THAT(image->content.dump(), HasSubstr("\"media_type\":\"image/png\""));

  std::vector<std::string> audit = ReadLines(dir_ + "/audit.jsonl");
  ASSERT_THAT(audit, SizeIs(2));
  json line = json::parse(audit[0]);
  EXPECT_EQ(line["run_id"], "run_7");
  EXPECT_EQ(line["tool"], "mcp__everything__echo");
  EXPECT_EQ(line["outcome"], "ok");
  EXPECT_EQ(line["idempotency_key"], "run_7:2:toolu_1");
}

TEST_F(BridgeServiceTest, PolicyRefusalsAreReadableErrors) {
  absl::StatusOr<ToolOutput> not_allowed =
      executor_->CallTool("mcp__fault__echo", {{"text", "x"}}, Context({"mcp__everything__*"}));
  ASSERT_TRUE(not_allowed.ok());
  EXPECT_TRUE(not_allowed->is_error);
  EXPECT_THAT(Text(*not_allowed), HasSubstr("not_allowed"));

  absl::StatusOr<ToolOutput> invalid = executor_->CallTool("mcp__everything__echo", {{"message", 5}}, Context());
  ASSERT_TRUE(invalid.ok());
  EXPECT_TRUE(invalid->is_error);
  EXPECT_THAT(Text(*invalid), HasSubstr("invalid_arguments"));

  absl::StatusOr<ToolOutput> big = executor_->CallTool("mcp__fault__big", {{"bytes", 100'000}}, Context());
  ASSERT_TRUE(big.ok());
  EXPECT_FALSE(big->is_error);
  EXPECT_LE(big->content.dump().size(), 2000u);
  EXPECT_THAT(big->content.dump(), HasSubstr("[truncated"));

  absl::StatusOr<ToolOutput> failed = executor_->CallTool("mcp__fault__fail", json::object(), Context());
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->is_error);
  EXPECT_EQ(Text(*failed), "it went wrong");
}

TEST_F(BridgeServiceTest, TheAgentsElicitationPolicyAnswersTheServer) {
  ToolCallContext defaults = Context();
  defaults.elicitation = 1;  // ELICITATION_ACCEPT_DEFAULTS
  absl::StatusOr<ToolOutput> accepted = executor_->CallTool("mcp__fault__ask", json::object(), defaults);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(json::parse(Text(*accepted), nullptr, false), json::parse(R"({"action":"accept","content":{"size":"M"}})"))
      << Text(*accepted);

  ToolCallContext decline = Context();
  decline.elicitation = 2;  // ELICITATION_DECLINE
  absl::StatusOr<ToolOutput> declined = executor_->CallTool("mcp__fault__ask", json::object(), decline);
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_EQ(Text(*declined), R"({"action":"decline"})");

  // ELICITATION_ASK, but this bridge has no --orchestrator to ask through.
  absl::StatusOr<ToolOutput> ask = executor_->CallTool("mcp__fault__ask", json::object(), Context());
  ASSERT_TRUE(ask.ok()) << ask.status();
  EXPECT_EQ(Text(*ask), R"({"action":"decline"})");
}

// The orchestrator's side of elicitation: every request is answered at once with
// `decision`.
class AnsweringOrchestrator final : public v1::WorkerService::CallbackService {
 public:
  explicit AnsweringOrchestrator(v1::ApprovalDecision decision) : decision_(std::move(decision)) {}
  grpc::ServerUnaryReactor* RequestInput(grpc::CallbackServerContext* context, const v1::RequestInputRequest* request,
                                         v1::RequestInputResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(*request);
    }
    response->set_approval_id("ap-1");
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* AwaitInput(grpc::CallbackServerContext* context, const v1::AwaitInputRequest* request,
                                       v1::AwaitInputResponse* response) override {
    response->set_decided(request->approval_id() == "ap-1");
    *response->mutable_decision() = decision_;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<v1::RequestInputRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  const v1::ApprovalDecision decision_;
  std::mutex mu_;
  std::vector<v1::RequestInputRequest> requests_;
};

TEST_F(BridgeServiceTest, WithAnOrchestratorAPersonAnswersTheServer) {
  v1::ApprovalDecision decision;
  decision.set_decision(v1::ACCEPT);
  decision.set_input_json(R"({"size":"L"})");
  AnsweringOrchestrator orchestrator(decision);
  absl::StatusOr<StartedServer> started = StartGrpcServer("127.0.0.1:0", {&orchestrator});
  ASSERT_TRUE(started.ok()) << started.status();
  bridge_->Kill(SIGTERM);
  ASSERT_EQ(bridge_->Wait(absl::Seconds(10)), 0);
  StartBridge({"--orchestrator=127.0.0.1:" + std::to_string(started->port)});

  ToolCallContext ctx = Context();  // elicitation 0: ELICITATION_ASK
  absl::StatusOr<ToolOutput> out = executor_->CallTool("mcp__fault__ask", json::object(), ctx);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(json::parse(Text(*out), nullptr, false), json::parse(R"({"action":"accept","content":{"size":"L"}})"))
      << Text(*out) << "\n" << ReadFile(dir_ + "/bridge.log");
  std::vector<v1::RequestInputRequest> requests = orchestrator.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].run_id(), "run_7");
  EXPECT_EQ(requests[0].step(), 2);
  EXPECT_EQ(requests[0].tool_use_id(), ctx.tool_use_id);
  EXPECT_EQ(requests[0].tool(), "mcp__fault__ask");
  EXPECT_EQ(requests[0].message(), "Which size?");
  EXPECT_EQ(json::parse(requests[0].requested_schema_json())["required"], json({"size"}));
  EXPECT_EQ(requests[0].sequence(), 1);
  EXPECT_GT(requests[0].timeout_ms(), 0);
  started->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

TEST_F(BridgeServiceTest, ATimeoutIsAnErrorResultAndTheServerIsTold) {
  ToolCallContext ctx = Context();
  ctx.timeout = absl::Milliseconds(300);
  absl::StatusOr<ToolOutput> out = executor_->CallTool("mcp__fault__hang", json::object(), ctx);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->is_error);
  EXPECT_THAT(Text(*out), HasSubstr("tool_timeout"));
  EXPECT_TRUE(Eventually([&] { return !ReadLines(dir_ + "/cancels").empty(); }));
}

TEST_F(BridgeServiceTest, CancellingTheRunCancelsTheCallAtTheServer) {
  std::atomic<bool> cancelled{false};
  ToolCallContext ctx = Context();
  ctx.is_cancelled = [&] { return cancelled.load(); };
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(300));
    cancelled = true;
  });
  absl::StatusOr<ToolOutput> out = executor_->CallTool("mcp__fault__hang", json::object(), ctx);
  canceller.join();
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(Eventually([&] { return !ReadLines(dir_ + "/cancels").empty(); }));
  EXPECT_THAT(ReadLines(dir_ + "/cancels")[0], HasSubstr("cancelled"));
}

TEST_F(BridgeServiceTest, AServerCrashMidCallIsUnavailableAndTheNextCallWorks) {
  absl::StatusOr<ToolOutput> crashed = executor_->CallTool("mcp__fault__crash", json::object(), Context());
  // The call reached the server, which died: its outcome is unknown, so the worker
  // must apply the journal's resume rule rather than tell the model anything.
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(crashed.status().message()), HasSubstr("server_unavailable"));
  absl::StatusOr<ToolOutput> next = executor_->CallTool("mcp__fault__echo", {{"text", "after"}}, Context());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(Text(*next), "echo: after");
  EXPECT_THAT(ReadLines(dir_ + "/starts"), SizeIs(2));
}

TEST_F(BridgeServiceTest, ABridgeThatIsDownIsUnavailableUntilItIsBack) {
  bridge_->Kill(SIGKILL);
  bridge_->Wait(absl::Seconds(5));
  EXPECT_EQ(executor_->ListTools().status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<ToolOutput> down = executor_->CallTool("mcp__fault__echo", {{"text", "x"}}, Context());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  // Its servers die with it (PR_SET_PDEATHSIG)...
  std::vector<std::string> starts = ReadLines(dir_ + "/starts");
  ASSERT_THAT(starts, SizeIs(1));
  const pid_t server_pid = std::stoi(starts[0]);
  EXPECT_TRUE(Eventually([&] { return kill(server_pid, 0) != 0; }, absl::Seconds(5)));
  // ...and a new bridge on the same port serves again.
  StartBridge();
  worker::BridgeToolExecutorOptions options;
  options.address = "127.0.0.1:" + std::to_string(port_);
  options.connect_wait = absl::Seconds(10);
  BridgeToolExecutor patient(options);
  absl::StatusOr<ToolOutput> back = patient.CallTool("mcp__fault__echo", {{"text", "back"}}, Context());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Text(*back), "echo: back");
}

TEST_F(BridgeServiceTest, ACallMadeWhileTheBridgeRestartsWaitsForIt) {
  bridge_->Kill(SIGKILL);
  bridge_->Wait(absl::Seconds(5));
  worker::BridgeToolExecutorOptions options;
  options.address = "127.0.0.1:" + std::to_string(port_);
  options.connect_wait = absl::Seconds(20);
  BridgeToolExecutor patient(options);
  std::thread restart([&] {
    absl::SleepFor(absl::Milliseconds(300));
    StartBridge();
  });
  absl::StatusOr<ToolOutput> out = patient.CallTool("mcp__fault__echo", {{"text", "waited"}}, Context());
  restart.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Text(*out), "echo: waited");
}

TEST_F(BridgeServiceTest, ShutdownStopsTheServers) {
  std::vector<std::string> starts = ReadLines(dir_ + "/starts");
  ASSERT_THAT(starts, SizeIs(1));
  bridge_->Kill(SIGTERM);
  EXPECT_EQ(bridge_->Wait(absl::Seconds(10)), 0);
  EXPECT_NE(kill(std::stoi(starts[0]), 0), 0);
}

}  // namespace
}  // namespace baton::mcp
