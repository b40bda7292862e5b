// Clients other than C++ gRPC stubs drive the stack: the baton CLI and the Python
// example generated from proto/.
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("BATON_SOURCE_DIR");
  return dir ? dir : ".";
}

TEST(ClientsTest, CliRunsWatchesAndShowsTheTranscript) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::string out;
  const std::string agent = SourceDir() + "/examples/agents/assistant.json";
  int code = RunCommand({Cluster::Bin("baton"), "run", agent, "[sim steps=3 text=The answer is 42.] What is 17 + 25?",
                         "--watch", "--addr", cluster.address()},
                        {}, &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("The answer is 42."), std::string::npos) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;

  // --json for scripts: `ls` prints the ListRunsResponse as one JSON object.
  code = RunCommand({Cluster::Bin("baton"), "ls", "--json"}, {{"BATON_ADDR", cluster.address()}}, &out);
  EXPECT_EQ(code, 0) << out;
  nlohmann::json listed = nlohmann::json::parse(out.substr(0, out.find('\n')), nullptr, false);
  ASSERT_FALSE(listed.is_discarded()) << out;
  ASSERT_EQ(listed["runs"].size(), 1u) << out;
  nlohmann::json run = listed["runs"][0];
  const std::string run_id = run.value("runId", "");
  EXPECT_EQ(run.value("state", ""), "SUCCEEDED");

  code = RunCommand({Cluster::Bin("baton"), "transcript", run_id, "--addr", cluster.address()}, {}, &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("What is 17 + 25?"), std::string::npos) << out;
  EXPECT_NE(out.find("The answer is 42."), std::string::npos) << out;

  code = RunCommand({Cluster::Bin("baton"), "get", "run_00000000000000000000", "--addr", cluster.address()}, {}, &out);
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
}

TEST(ClientsTest, PythonExampleSubmitsAndWatchesARun) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::string out;
  int code = RunCommand({"/usr/bin/python3", SourceDir() + "/examples/python/client.py", "--addr", cluster.address(),
                         "--input", "[sim steps=3 tool=sum text=Forty-two.] What is 17 + 25?"},
                        {}, &out, absl::Seconds(120));
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Forty-two."), std::string::npos) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
}

}  // namespace
}  // namespace baton::testing
