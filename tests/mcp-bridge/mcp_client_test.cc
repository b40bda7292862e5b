// The MCP client over stdio against the real npm servers (server-everything,
// server-filesystem).
#include "mcp-bridge/mcp_client.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mcp-bridge/content.h"
#include "mcp-bridge/stdio_transport.h"
#include "tests/mcp-bridge/fake_input_requester.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::baton::mcp::testing;

std::unique_ptr<McpClient> StartClient(TimerQueue& timers, StdioTransportOptions options) {
  auto client = std::make_unique<McpClient>(std::make_unique<StdioTransport>(std::move(options)), timers,
                                            McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client->Connect();
  EXPECT_TRUE(info.ok()) << info.status();
  return client;
}

StdioTransportOptions Everything() {
  StdioTransportOptions o;
  o.command = "node";
  o.args = {EverythingServer(), "stdio"};
  o.log_name = "everything";
  return o;
}

std::vector<std::string> ToolNames(const std::vector<json>& tools) {
  std::vector<std::string> names;
  for (const json& t : tools) names.push_back(t["name"]);
  return names;
}

std::string FirstText(const CallResult& r) {
  if (r.kind != CallResult::Kind::kResult) return "<" + r.message + ">";
  return r.result["content"][0].value("text", "");
}

class EverythingTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = StartClient(timers_, Everything()); }
  TimerQueue timers_;
  std::unique_ptr<McpClient> client_;
};

TEST_F(EverythingTest, NegotiatesTheLatestProtocolAndListsTools) {
  EXPECT_EQ(client_->server_info().protocol_version, "2025-11-25");
  EXPECT_EQ(client_->server_info().name, "mcp-servers/everything");
  absl::StatusOr<std::vector<json>> tools = client_->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status();
  EXPECT_THAT(ToolNames(*tools), Contains("echo"));
  EXPECT_THAT(ToolNames(*tools), Contains("get-tiny-image"));
  EXPECT_THAT(ToolNames(*tools), Contains("trigger-long-running-operation"));
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(EverythingTest, EchoAnswers) {
  CallResult r = client_->CallToolAndWait("echo", {{"message", "hello bridge"}}, CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  EXPECT_EQ(FirstText(r), "Echo: hello bridge");
  EXPECT_TRUE(r.sent);
}

TEST_F(EverythingTest, TinyImageBecomesAnImageBlock) {
  CallResult r = client_->CallToolAndWait("get-tiny-image", json::object(), CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  MappedResult m = MapCallToolResult(r.result);
  bool image = false;
  for (const json& b : m.content) {
    if (b["type"] == "image") {
      image = true;
      EXPECT_EQ(b["source"]["type"], "base64");
      EXPECT_EQ(b["source"]["media_type"], "image/png");
      EXPECT_GT(b["source"]["data"].get<std::string>().size(), 100u);
    }
  }
  EXPECT_TRUE(image) << m.content.dump().substr(0, 300);
}

TEST_F(EverythingTest, StructuredContentIsKept) {
  CallResult r = client_->CallToolAndWait("get-structured-content", {{"location", "Chicago"}}, CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  MappedResult m = MapCallToolResult(r.result);
  ASSERT_TRUE(m.structured_content.is_object()) << r.result.dump();
  EXPECT_TRUE(m.structured_content.contains("temperature"));
}

TEST_F(EverythingTest, LongRunningOperationReportsProgressAndFinishes) {
  CallOptions options;
  // Shorter than the operation: only the progress notifications keep it alive.
  options.timeout = absl::Milliseconds(1400);  // 500 ms between steps: 900 ms of slack
  CallResult r = client_->CallToolAndWait("trigger-long-running-operation", {{"duration", 3}, {"steps", 6}}, options);
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  EXPECT_GE(r.progress_count, 3);
  EXPECT_THAT(FirstText(r), HasSubstr("completed"));
}

CallOptions WithElicitation(ElicitationPolicy policy, InputRequester* requester = nullptr) {
  CallOptions options;
  options.elicitation.policy = policy;
  options.elicitation.requester = requester;
  options.elicitation.call = ToolCallRef{"run_1", 1, "toolu_1", "mcp__everything__trigger-elicitation-request"};
  return options;
}

TEST_F(EverythingTest, ElicitationOverStdioFollowsTheCallsPolicy) {
  // The server offers its elicitation tool only to clients that declare elicitation.
  absl::StatusOr<std::vector<json>> tools = client_->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status();
  ASSERT_THAT(ToolNames(*tools), Contains("trigger-elicitation-request"));

  // Its schema requires a name without a default: accepting defaults declines.
  CallResult defaults = client_->CallToolAndWait("trigger-elicitation-request", json::object(),
                                                 WithElicitation(ElicitationPolicy::kAcceptDefaults));
  ASSERT_EQ(defaults.kind, CallResult::Kind::kResult) << defaults.message;
  EXPECT_THAT(FirstText(defaults), HasSubstr("declined"));
  EXPECT_EQ(defaults.elicitations, 1);

  FakeInputRequester requester;
  requester.AnswerEveryAskWith(InputDecision{InputDecision::Action::kAccept, {{"name", "Ada Lovelace"}, {"check", true}}});
  CallResult asked = client_->CallToolAndWait("trigger-elicitation-request", json::object(),
                                              WithElicitation(ElicitationPolicy::kAsk, &requester));
  ASSERT_EQ(asked.kind, CallResult::Kind::kResult) << asked.message;
  EXPECT_THAT(MapCallToolResult(asked.result).content.dump(), HasSubstr("Name: Ada Lovelace"));
  ASSERT_EQ(requester.requests().size(), 1u);
  EXPECT_THAT(requester.requests()[0].message, HasSubstr("Please provide inputs"));
  EXPECT_TRUE(requester.requests()[0].requested_schema["properties"].contains("email"));
}

TEST_F(EverythingTest, InvalidArgumentsComeBackAsAnIsErrorResult) {
  CallResult r = client_->CallToolAndWait("echo", json::object(), CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  EXPECT_TRUE(MapCallToolResult(r.result).is_error) << r.result.dump();
}

TEST(StdioEnvironmentTest, TheServerGetsAMinimalEnvironmentPlusConfiguredVariables) {
  setenv("BATON_TEST_BRIDGE_SECRET", "do-not-leak", 1);
  TimerQueue timers;
  StdioTransportOptions options = Everything();
  options.env["CONFIGURED_VAR"] = "configured-value";
  auto client = StartClient(timers, options);
  CallResult r = client->CallToolAndWait("get-env", json::object(), CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  const std::string env = FirstText(r);
  EXPECT_THAT(env, HasSubstr("configured-value"));
  EXPECT_THAT(env, HasSubstr("PATH"));
  EXPECT_THAT(env, Not(HasSubstr("do-not-leak")));
}

TEST(StdioTransportTest, AMissingCommandFailsToStartWithAReadableError) {
  TimerQueue timers;
  StdioTransportOptions options;
  options.command = "baton-no-such-command";
  McpClient client(std::make_unique<StdioTransport>(options), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  EXPECT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("baton-no-such-command"));
}

class FilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    mkdir((dir_ + "/allowed").c_str(), 0755);
    WriteFile(dir_ + "/allowed/note.txt", "inside the allowed directory\n");
    WriteFile(dir_ + "/secret.txt", "outside\n");
    StdioTransportOptions o;
    o.command = "node";
    o.args = {FilesystemServer(), dir_ + "/allowed"};
    o.log_name = "filesystem";
    client_ = StartClient(timers_, o);
  }
  std::string dir_;
  TimerQueue timers_;
  std::unique_ptr<McpClient> client_;
};

TEST_F(FilesystemTest, ReadsAFileInTheAllowedDirectory) {
  CallResult r = client_->CallToolAndWait("read_text_file", {{"path", dir_ + "/allowed/note.txt"}}, CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  EXPECT_FALSE(MapCallToolResult(r.result).is_error);
  EXPECT_THAT(FirstText(r), HasSubstr("inside the allowed directory"));
}

TEST_F(FilesystemTest, AccessOutsideTheAllowedDirectoriesIsDenied) {
  CallResult r = client_->CallToolAndWait("read_text_file", {{"path", dir_ + "/secret.txt"}}, CallOptions{});
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  MappedResult m = MapCallToolResult(r.result);
  EXPECT_TRUE(m.is_error);
  EXPECT_THAT(m.content.dump(), HasSubstr("Access denied"));
}

}  // namespace
}  // namespace baton::mcp
