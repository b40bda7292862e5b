#include "cli/stack.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::cli {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

TEST(StackPlanTest, OrchestratorListensOnThePortWithItsDataInTheDataDirAndAuthOn) {
  UpOptions options;
  options.data_dir = "/tmp/d";
  options.port = 7300;
  ProcessSpec spec = PlanOrchestrator(options, "/bin/baton-orchestrator");
  EXPECT_THAT(spec.argv, ElementsAre("/bin/baton-orchestrator", "--listen=127.0.0.1:7300",
                                     "--data-dir=/tmp/d/orchestrator", "--port-file=/tmp/d/orchestrator.port",
                                     "--auth", "--bootstrap-admin-key-file=/tmp/d/admin.key",
                                     "--audit-log=/tmp/d/logs/audit.jsonl"));
  EXPECT_THAT(spec.env_unset, Contains(kBatonApiKeyEnv));
  EXPECT_EQ(spec.log_path, "/tmp/d/logs/orchestrator.log");
  EXPECT_EQ(spec.port_file, "/tmp/d/orchestrator.port");
  EXPECT_THAT(spec.env_unset, Contains(kApiKeyEnv));
}

TEST(StackPlanTest, WorkersUseTheSimulatorWhenGivenItsUrl) {
  UpOptions options;
  options.data_dir = "d";
  options.concurrency = 3;
  ProcessSpec spec = PlanWorker(options, "w", 2, 7301, "http://127.0.0.1:5555");
  EXPECT_EQ(spec.name, "worker-2");
  EXPECT_THAT(spec.argv, ElementsAre("w", "--orchestrator=127.0.0.1:7301", "--concurrency=3", "--worker-id=worker-2"));
  EXPECT_EQ(spec.env_set.at(kBaseUrlEnv), "http://127.0.0.1:5555");
  EXPECT_THAT(spec.env_unset, ElementsAre(kAuthTokenEnv));
  EXPECT_EQ(spec.log_path, "d/logs/worker-2.log");
}

TEST(StackPlanTest, WorkersKeepTheirEnvironmentForTheRealApi) {
  ProcessSpec spec = PlanWorker(UpOptions(), "w", 1, 7233, "");
  EXPECT_THAT(spec.env_set, IsEmpty());
  EXPECT_THAT(spec.env_unset, IsEmpty());  // the API key reaches the workers
}

TEST(StackPlanTest, SimulatorPicksAFreePortAndWritesItsPortFile) {
  UpOptions options;
  options.data_dir = "d";
  ProcessSpec spec = PlanModelSim(options, "sim");
  EXPECT_THAT(spec.argv, ElementsAre("sim", "--listen=127.0.0.1:0", "--port-file=d/sim.port"));
  EXPECT_THAT(spec.env_unset, Contains(kApiKeyEnv));
}

TEST(StackPlanTest, ConsoleTalksToTheOrchestratorWithoutACredentialOfItsOwn) {
  UpOptions options;
  options.data_dir = "d";
  ProcessSpec spec = PlanConsole(options, "console", 7233);
  EXPECT_THAT(spec.argv, ElementsAre("console", "--orchestrator=127.0.0.1:7233", "--listen=127.0.0.1:0",
                                     "--port-file=d/console.port"));
  EXPECT_EQ(spec.port_file, "d/console.port");
  EXPECT_THAT(spec.env_unset, Contains(kBatonApiKeyEnv)) << "browsers sign in; the console holds no key";
  options.tls = true;
  options.console_listen = "127.0.0.1:8233";
  spec = PlanConsole(options, "console", 7233);
  EXPECT_THAT(spec.argv, Contains("--listen=127.0.0.1:8233"));
  EXPECT_THAT(spec.argv, Contains(HasSubstr("--ca=d/tls/")));
}

TEST(StackPlanTest, MetricsOnlyWhenAskedEachOnAFreePortWrittenToItsFile) {
  UpOptions options;
  options.data_dir = "/tmp/d";
  for (const std::string& flag : PlanOrchestrator(options, "o").argv) EXPECT_THAT(flag, Not(HasSubstr("metrics")));
  for (const std::string& flag : PlanWorker(options, "w", 1, 7233, "").argv) {
    EXPECT_THAT(flag, Not(HasSubstr("metrics")));
  }
  options.metrics = true;
  EXPECT_THAT(PlanOrchestrator(options, "o").argv, Contains("--metrics-listen=127.0.0.1:0"));
  EXPECT_THAT(PlanOrchestrator(options, "o").argv,
              Contains("--metrics-port-file=/tmp/d/orchestrator.metrics.port"));
  EXPECT_THAT(PlanWorker(options, "w", 2, 7233, "").argv, Contains("--metrics-port-file=/tmp/d/worker-2.metrics.port"));
  EXPECT_THAT(PlanMcpBridge(options, "b", "/tmp/d/mcp.json").argv,
              Contains("--metrics-port-file=/tmp/d/mcp-bridge.metrics.port"));
  EXPECT_EQ(MetricsPortFile("/tmp/d", "worker-2"), "/tmp/d/worker-2.metrics.port");
  // Neither the simulator nor the console serves metrics.
  for (const std::string& flag : PlanModelSim(options, "s").argv) EXPECT_THAT(flag, Not(HasSubstr("metrics")));
  for (const std::string& flag : PlanConsole(options, "c", 7233).argv) EXPECT_THAT(flag, Not(HasSubstr("metrics")));
}

TEST(StackFileTest, RoundTripsAndHoldsNoEnvironment) {
  StackFile stack;
  stack.data_dir = ".baton";
  stack.addr = "127.0.0.1:7233";
  stack.supervisor_pid = 42;
  stack.supervisor_binary = "build/bin/baton";
  stack.started_ms = 1700000000000;
  stack.model_api = "simulator at http://127.0.0.1:5555";
  stack.api_key_file = "/abs/.baton/admin.key";
  stack.console_url = "http://127.0.0.1:40111";
  stack.processes = {{"orchestrator", 100, "/b/baton-orchestrator", ".baton/logs/orchestrator.log"},
                     {"worker-1", 101, "/b/baton-worker", ".baton/logs/worker-1.log"}};
  std::string json = StackFileToJson(stack);
  EXPECT_THAT(json, Not(HasSubstr("ANTHROPIC")));
  auto back = StackFileFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->addr, stack.addr);
  EXPECT_EQ(back->supervisor_pid, 42);
  EXPECT_EQ(back->supervisor_binary, "build/bin/baton");
  EXPECT_EQ(back->started_ms, stack.started_ms);
  EXPECT_EQ(back->api_key_file, "/abs/.baton/admin.key") << "the path of the key, never the key";
  EXPECT_EQ(back->console_url, "http://127.0.0.1:40111");
  ASSERT_EQ(back->processes.size(), 2u);
  EXPECT_EQ(back->processes[1].name, "worker-1");
  EXPECT_EQ(back->processes[1].pid, 101);
  EXPECT_EQ(back->processes[1].binary, "/b/baton-worker");
}

TEST(StackFileTest, GarbageIsDataLoss) {
  EXPECT_EQ(StackFileFromJson("{").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StackFileFromJson(R"({"processes": [{"pid": "x"}]})").status().code(), absl::StatusCode::kDataLoss);
}

TEST(StopOrderTest, WorkersThenOrchestratorThenTheRest) {
  std::vector<StackProcess> processes = {
      {"model-sim", 1, "", ""}, {"orchestrator", 2, "", ""}, {"worker-1", 3, "", ""}, {"worker-2", 4, "", ""}};
  auto order = StopOrder(processes);
  ASSERT_EQ(order.size(), 3u);
  ASSERT_EQ(order[0].size(), 2u);
  EXPECT_EQ(order[0][0].name, "worker-1");
  EXPECT_EQ(order[0][1].name, "worker-2");
  EXPECT_EQ(order[1][0].name, "orchestrator");
  EXPECT_EQ(order[2][0].name, "model-sim");

  // The console is a client of the orchestrator: it stops with the workers.
  processes.push_back({"console", 5, "", ""});
  order = StopOrder(processes);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0].back().name, "console");
}

TEST(FindBinaryTest, PrefersTheDirectoryOfBatonThenPath) {
  namespace fs = std::filesystem;
  fs::path root = fs::path(::testing::TempDir()) / "find_binary_test";
  fs::remove_all(root);
  fs::create_directories(root / "self");
  fs::create_directories(root / "path1");
  fs::create_directories(root / "path2");
  auto make_exe = [](const fs::path& p) {
    std::ofstream(p) << "#!/bin/sh\n";
    fs::permissions(p, fs::perms::owner_all);
  };
  make_exe(root / "path2" / "baton-worker");
  std::ofstream(root / "path1" / "baton-worker") << "not executable";
  std::string path_env = (root / "path1").string() + ":" + (root / "path2").string();

  auto found = FindBinary("baton-worker", (root / "self").string(), path_env);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, (root / "path2" / "baton-worker").string());

  make_exe(root / "self" / "baton-worker");
  found = FindBinary("baton-worker", (root / "self").string(), path_env);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, (root / "self" / "baton-worker").string());

  auto missing = FindBinary("baton-nothing", (root / "self").string(), path_env);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("baton-nothing"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace baton::cli
