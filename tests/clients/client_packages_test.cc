// The client packages of clients/ against a real stack: each runs its own tests
// (clients/python/tests, clients/node/test) against a Cluster, and reads through an
// orchestrator restart. The build installs the Python package into a venv
// ($BATON_CLIENT_PYTHON) and compiles the Node one into clients/node/dist.
#include <signal.h>

#include <cstdlib>
#include <ostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  // A program that takes ADDR RUN_ID, creates a run and reads one (see
  // read_through_restart in each package's tests).
  std::vector<std::string> read_through_restart;
  std::map<std::string, std::string> env;
};

std::ostream& operator<<(std::ostream& os, const ClientPackage& package) { return os << package.name; }

ClientPackage Python() {
  const std::string python = Env("BATON_CLIENT_PYTHON");
  const std::string tests = Env("BATON_SOURCE_DIR") + "/clients/python/tests";
  return {"Python",
          {python, "-m", "unittest", "discover", "-v", "-s", tests, "-p", "test_*.py"},
          "Ran 0 tests",
          {python, tests + "/read_through_restart.py"},
          {}};
}

ClientPackage Node() {
  const std::string node = Env("BATON_NODE");
  const std::string tests = Env("BATON_SOURCE_DIR") + "/clients/node/dist/test";
  // NODE_DEBUG=baton: the client says when it retries.
  return {"Node",
          {node, "--test", "--test-reporter=tap", tests + "/client.test.js"},
          "# tests 0",
          {node, tests + "/read_through_restart.js"},
          {{"NODE_DEBUG", "baton"}}};
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

  const std::vector<std::string>& argv = GetParam().read_through_restart;
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  args.insert(args.end(), {cluster.address(), run.run_id()});
  const std::string log = cluster.dir() + "/client.log";
  Process client(argv[0], args, GetParam().env, log);
  // The read has failed and waits to try again.
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(log).find("retrying in") != std::string::npos; }, absl::Seconds(60)))
      << ReadFile(log);
  cluster.StartOrchestrator();
  EXPECT_EQ(client.Wait(absl::Seconds(120)), 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_THAT(out, HasSubstr("create: UNAVAILABLE"));
  EXPECT_THAT(out, HasSubstr("read: " + run.run_id() + " SUCCEEDED"));
  // Only the run made before the restart exists.
  EXPECT_EQ(ListRuns(cluster, {}).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Clients, ClientPackageTest, ::testing::Values(Python(), Node()),
                         [](const ::testing::TestParamInfo<ClientPackage>& info) { return info.param.name; });

}  // namespace
}  // namespace baton::testing
