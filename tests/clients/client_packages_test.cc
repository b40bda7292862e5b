// The client packages of clients/ against a real stack: each runs its own tests
// (clients/python/tests, clients/node/test) against a Cluster, then reads and watches
// through an orchestrator restart. The build installs the Python package into a venv
// ($BATON_CLIENT_PYTHON) and compiles the Node one into clients/node/dist.
#include <signal.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using ::testing::HasSubstr;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

struct ClientPackage {
  std::string name;
  // The package's own tests, run against the stack at $BATON_ADDR.
  std::vector<std::string> tests;
  // What its output says when no test ran (exit code 0 all the same).
  std::string ran_none;
  // The interpreter, where its programs are and their extension: Program() runs them.
  std::string runner;
  std::string programs;
  std::string extension;
  std::map<std::string, std::string> env;

  // A test program of the package that takes ADDR RUN_ID, started in the background.
  std::unique_ptr<Process> Program(const std::string& program, const Cluster& cluster, const std::string& run_id,
                                   const std::string& log) const {
    return std::make_unique<Process>(
        runner, std::vector<std::string>{programs + "/" + program + extension, cluster.address(), run_id}, env, log);
  }
};

std::ostream& operator<<(std::ostream& os, const ClientPackage& package) { return os << package.name; }

ClientPackage Python() {
  const std::string python = Env("BATON_CLIENT_PYTHON");
  const std::string tests = Env("BATON_SOURCE_DIR") + "/clients/python/tests";
  return {.name = "Python",
          .tests = {python, "-m", "unittest", "discover", "-v", "-s", tests, "-p", "test_*.py"},
          .ran_none = "Ran 0 tests",
          .runner = python,
          .programs = tests,
          .extension = ".py",
          .env = {}};
}

ClientPackage Node() {
  const std::string node = Env("BATON_NODE");
  const std::string tests = Env("BATON_SOURCE_DIR") + "/clients/node/dist/test";
  // NODE_DEBUG=baton: the client says when it retries.
  return {.name = "Node",
          .tests = {node, "--test", "--test-reporter=tap", tests + "/client.test.js"},
          .ran_none = "# tests 0",
          .runner = node,
          .programs = tests,
          .extension = ".js",
          .env = {{"NODE_DEBUG", "baton"}}};
}

bool Logged(const std::string& log, const std::string& text) {
  return WaitUntil([&] { return ReadFile(log).find(text) != std::string::npos; }, absl::Seconds(60));
}

class ClientPackageTest : public ::testing::TestWithParam<ClientPackage> {};

TEST_P(ClientPackageTest, PassesItsTestsAgainstAStack) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::map<std::string, std::string> env = GetParam().env;
  env["BATON_ADDR"] = cluster.address();
  std::string out;
  int code = RunCommand(GetParam().tests, env, &out, absl::Seconds(300));
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::Not(HasSubstr(GetParam().ran_none))) << out;
}

// A read started while the orchestrator is down is retried until it is back; a
// CreateRun without a request_id is not (it could create the run twice).
TEST_P(ClientPackageTest, ReadsRetryWhileTheOrchestratorRestarts) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  const v1::Run run = cluster.WaitForEnd(cluster.CreateRun("[sim steps=1] before the restart").run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  cluster.KillOrchestrator(SIGKILL);

  const std::string log = cluster.dir() + "/client.log";
  std::unique_ptr<Process> client = GetParam().Program("read_through_restart", cluster, run.run_id(), log);
  // The read has failed and waits to try again.
  ASSERT_TRUE(Logged(log, "retrying in")) << ReadFile(log);
  cluster.StartOrchestrator();
  EXPECT_EQ(client->Wait(absl::Seconds(120)), 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_THAT(out, HasSubstr("create: UNAVAILABLE"));
  EXPECT_THAT(out, HasSubstr("read: " + run.run_id() + " SUCCEEDED"));
  // Only the run made before the restart exists.
  EXPECT_EQ(ListRuns(cluster, {}).size(), 1u);
}

// A watch across an orchestrator killed and started again gets every event of the run
// once, in order, to its end.
TEST_P(ClientPackageTest, WatchResumesAcrossAnOrchestratorRestart) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  const std::string run_id = cluster.CreateRun("[sim steps=8 tool=echo sleep_ms=300] work slowly").run_id();
  const std::string log = cluster.dir() + "/client.log";
  std::unique_ptr<Process> client = GetParam().Program("watch_through_restart", cluster, run_id, log);
  ASSERT_TRUE(Logged(log, "event 3\n")) << ReadFile(log);
  cluster.KillOrchestrator(SIGKILL);
  ASSERT_TRUE(Logged(log, "retrying in")) << ReadFile(log);
  cluster.StartOrchestrator();
  EXPECT_EQ(client->Wait(absl::Seconds(180)), 0) << ReadFile(log);

  const v1::Run run = cluster.GetRun(run_id);
  EXPECT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_THAT(ReadFile(log), HasSubstr(absl::StrCat("watched ", run.last_event_seq(),
                                                    " events, each once in order: yes; last state SUCCEEDED")));
}

INSTANTIATE_TEST_SUITE_P(Clients, ClientPackageTest, ::testing::Values(Python(), Node()),
                         [](const ::testing::TestParamInfo<ClientPackage>& info) { return info.param.name; });

}  // namespace
}  // namespace baton::testing
