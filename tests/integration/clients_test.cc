// Clients other than C++ gRPC stubs drive the stack: the baton CLI and the Python
// example on the clients/python package (installed by the build into build/python,
// $BATON_CLIENT_PYTHON; tests/clients/ tests the package itself).
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/x509_issuer.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("BATON_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string Python() {
  const char* python = std::getenv("BATON_CLIENT_PYTHON");
  return python ? python : "build/python/bin/python";
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
  int code = RunCommand({Python(), SourceDir() + "/examples/python/client.py", "--addr", cluster.address(),
                         "--input", "[sim steps=3 tool=sum text=Forty-two.] What is 17 + 25?"},
                        {}, &out, absl::Seconds(120));
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Forty-two."), std::string::npos) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
}

// The Python example against an orchestrator with TLS and --auth: the CA and an API key
// are all it needs (its role comes from the key; a client certificate is optional, as
// for every RunService client). Without the CA, or with the wrong one, it says so.
TEST(ClientsTest, PythonExampleOverTlsWithAnApiKey) {
  Cluster cluster(ClusterOptions{.workers = 1, .tls = true, .auth = true});
  cluster.Start();
  const std::string client = SourceDir() + "/examples/python/client.py";
  const ClientTlsOptions& tls = cluster.client_tls();
  std::string out;
  // Flags: --ca, the key in BATON_API_KEY.
  int code = RunCommand({Python(), client, "--addr", cluster.address(), "--ca", tls.ca_file, "--input",
                         "[sim steps=3 tool=sum text=Forty-two.] What is 17 + 25?"},
                        {{"BATON_API_KEY", cluster.admin_key()}}, &out, absl::Seconds(120));
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("tool sum -> "));
  EXPECT_THAT(out, ::testing::HasSubstr("SUCCEEDED after 3 steps"));
  EXPECT_THAT(out, ::testing::HasSubstr("Forty-two."));

  // The environment: BATON_CA with a client certificate (mTLS), the key in a file.
  const std::string key_file = cluster.dir() + "/python.key";
  std::ofstream(key_file) << cluster.admin_key() << "\n";
  code = RunCommand({Python(), client, "--addr", cluster.address(), "--api-key-file", key_file, "--input",
                     "[sim steps=1 text=Hello over mTLS.] Hi"},
                    {{"BATON_CA", tls.ca_file}, {"BATON_CERT", tls.cert_file}, {"BATON_KEY", tls.key_file}}, &out,
                    absl::Seconds(120));
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("Hello over mTLS."));

  // Without the CA the client speaks plaintext to a TLS server; with another CA it
  // cannot verify the server. Both are refused, and it says what to check. No run is
  // created.
  absl::StatusOr<PemKeyPair> other_ca = CreateCertificateAuthority("other CA");
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  ASSERT_TRUE(WritePemFile(cluster.dir() + "/other-ca.pem", other_ca->cert_pem).ok());
  for (const std::vector<std::string>& ca_flags :
       std::vector<std::vector<std::string>>{{}, {"--ca", cluster.dir() + "/other-ca.pem"}}) {
    std::vector<std::string> argv = {Python(), client, "--addr", cluster.address(), "--input",
                                     "[sim steps=1] Hi"};
    argv.insert(argv.end(), ca_flags.begin(), ca_flags.end());
    code = RunCommand(argv, {{"BATON_API_KEY", cluster.admin_key()}}, &out, absl::Seconds(120));
    EXPECT_EQ(code, 1) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("error: UNAVAILABLE"));
    EXPECT_THAT(out, ::testing::HasSubstr(ca_flags.empty() ? "without TLS" : "signed the orchestrator's certificate"));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("Traceback")));
  }
  // With the CA but no key: the orchestrator refuses the call, and the client says
  // where a key goes.
  code = RunCommand({Python(), client, "--addr", cluster.address(), "--ca", tls.ca_file, "--input",
                     "[sim steps=1] Hi"},
                    {}, &out, absl::Seconds(120));
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("error: UNAUTHENTICATED"));
  EXPECT_THAT(out, ::testing::HasSubstr("--api-key-file or BATON_API_KEY"));
  EXPECT_EQ(ListRuns(cluster, {}).size(), 2u);
}

}  // namespace
}  // namespace baton::testing
