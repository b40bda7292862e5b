// `baton tools ls` / `baton tools call` against a real baton-mcp-bridge, and the
// `baton up` plumbing that starts the bridge (cli/stack.h).
#include "cli/tools.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/stack.h"
#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::cli {
namespace {

using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::baton::mcp::testing;

class ToolsCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir());
    json config = {{"servers", {{"fault", {{"command", "node"}, {"args", {FaultServer()}}}}}}};
    WriteFile(*dir_ + "/bridge.json", config.dump());
    bridge_ = new baton::testing::Process(BinDir() + "/baton-mcp-bridge",
                                          {"--config=" + *dir_ + "/bridge.json", "--listen=127.0.0.1:0",
                                           "--port-file=" + *dir_ + "/port"},
                                          {}, *dir_ + "/bridge.log");
    addr_ = new std::string("127.0.0.1:" +
                            std::to_string(baton::testing::WaitForPortFile(*dir_ + "/port", absl::Seconds(30))));
  }
  static void TearDownTestSuite() {
    delete bridge_;
    delete addr_;
    delete dir_;
  }

  int Cli(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunCli(std::move(args), out_, err_);
  }

  static std::string* dir_;
  static std::string* addr_;
  static baton::testing::Process* bridge_;
  std::ostringstream out_, err_;
};
std::string* ToolsCommandTest::dir_ = nullptr;
std::string* ToolsCommandTest::addr_ = nullptr;
baton::testing::Process* ToolsCommandTest::bridge_ = nullptr;

TEST_F(ToolsCommandTest, LsShowsToolsHintsAndServers) {
  ASSERT_EQ(Cli({"tools", "ls", "--bridge", *addr_}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("mcp__fault__echo"));
  EXPECT_THAT(out_.str(), HasSubstr("read-only,idempotent"));
  EXPECT_THAT(out_.str(), HasSubstr("server fault (stdio): "));
  ASSERT_EQ(Cli({"tools", "ls", "--bridge", *addr_, "--json"}), 0);
  json listed = json::parse(out_.str());
  EXPECT_TRUE(listed["tools"].is_array());
}

TEST_F(ToolsCommandTest, CallPrintsTheResultAndExitsNonZeroOnErrors) {
  ASSERT_EQ(Cli({"tools", "call", "mcp__fault__echo", R"({"text":"from the cli"})", "--bridge", *addr_}), 0)
      << err_.str();
  EXPECT_EQ(out_.str(), "echo: from the cli\n");
  EXPECT_EQ(Cli({"tools", "call", "mcp__fault__fail", "{}", "--bridge", *addr_}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("it went wrong"));
  EXPECT_EQ(Cli({"tools", "call", "mcp__fault__echo", R"({"text": 1})", "--bridge", *addr_}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("invalid_arguments"));
  EXPECT_EQ(Cli({"tools", "call", "mcp__fault__echo", "not json", "--bridge", *addr_}), 2);
  EXPECT_EQ(Cli({"tools", "call", "mcp__fault__echo", "--bridge", *addr_}), 2);
  EXPECT_EQ(Cli({"tools"}), 2);
}

TEST_F(ToolsCommandTest, ABridgeThatIsNotThereIsAnRpcErrorWithAHint) {
  EXPECT_EQ(Cli({"tools", "ls", "--bridge", "127.0.0.1:1"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(err_.str(), HasSubstr("baton-mcp-bridge"));
}

TEST(ToolsAddressTest, TheFlagThenTheEnvironmentThenTheStackFile) {
  const std::string dir = MakeTempDir();
  unsetenv("BATON_BRIDGE_ADDR");
  EXPECT_EQ(ResolveBridgeAddr("", dir), kDefaultBridgeAddr);
  StackFile stack;
  stack.bridge_addr = "127.0.0.1:4242";
  WriteFile(dir + "/stack.json", StackFileToJson(stack));
  EXPECT_EQ(ResolveBridgeAddr("", dir), "127.0.0.1:4242");
  setenv("BATON_BRIDGE_ADDR", "127.0.0.1:5353", 1);
  EXPECT_EQ(ResolveBridgeAddr("", dir), "127.0.0.1:5353");
  EXPECT_EQ(ResolveBridgeAddr("h:1", dir), "h:1");
  unsetenv("BATON_BRIDGE_ADDR");
  absl::StatusOr<StackFile> back = StackFileFromJson(StackFileToJson(stack));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->bridge_addr, "127.0.0.1:4242");
}

TEST(UpPlanTest, TheBridgeRunsWithItsConfigAndWorkersUseIt) {
  UpOptions options;
  options.data_dir = "/d";
  ProcessSpec bridge = PlanMcpBridge(options, "/bin/baton-mcp-bridge", "/etc/mcp.json");
  EXPECT_EQ(bridge.name, "mcp-bridge");
  EXPECT_THAT(bridge.argv, Contains("--config=/etc/mcp.json"));
  EXPECT_THAT(bridge.argv, Contains("--port-file=/d/mcp-bridge.port"));
  EXPECT_THAT(bridge.argv, Contains("--audit-log=/d/logs/mcp-audit.jsonl"));
  EXPECT_THAT(bridge.env_unset, Contains(std::string(kApiKeyEnv)));
  for (const std::string& arg : bridge.argv) EXPECT_THAT(arg, Not(HasSubstr("--orchestrator")));
  // Elicitation with the ask policy reaches people through the orchestrator.
  EXPECT_THAT(PlanMcpBridge(options, "/bin/baton-mcp-bridge", "/etc/mcp.json", 7233).argv,
              Contains("--orchestrator=127.0.0.1:7233"));
  ProcessSpec worker = PlanWorker(options, "/bin/baton-worker", 1, 7233, "", "127.0.0.1:9999");
  EXPECT_THAT(worker.argv, Contains("--tool-bridge=127.0.0.1:9999"));
  ProcessSpec plain = PlanWorker(options, "/bin/baton-worker", 1, 7233, "");
  for (const std::string& arg : plain.argv) EXPECT_THAT(arg, Not(HasSubstr("tool-bridge")));
}

}  // namespace
}  // namespace baton::cli
