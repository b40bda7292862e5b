// The HTTP transports against server-everything: Streamable HTTP (JSON and SSE
// answers, sessions, progress, re-initialisation after the session is lost, DELETE,
// elicitation on a call's stream and on the GET stream) and the legacy HTTP+SSE
// transport, directly and as a fallback.
#include "mcp-bridge/http_transport.h"

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "mcp-bridge/content.h"
#include "mcp-bridge/mcp_client.h"
#include "mcp-bridge/server_connection.h"
#include "tests/integration/cluster.h"
#include "tests/mcp-bridge/fake_input_requester.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::baton::mcp::testing;

// server-everything over HTTP on a port it picks (PORT=0, reported by
// servers/report_port.mjs), or on a given port. The traceparent headers it gets are
// logged (servers/log_traceparent.mjs).
class EverythingHttp {
 public:
  EverythingHttp(const std::string& mode, int port = 0) : dir_(MakeTempDir()) {
    process_ = std::make_unique<baton::testing::Process>(
        "/usr/bin/env",
        std::vector<std::string>{"node", "--import", SourceDir() + "/tests/mcp-bridge/servers/report_port.mjs",
                                 "--import", SourceDir() + "/tests/mcp-bridge/servers/log_traceparent.mjs",
                                 EverythingServer(), mode},
        std::map<std::string, std::string>{
            {"PORT", std::to_string(port)}, {"PORT_FILE", dir_ + "/port"}, {"TRACEPARENT_LOG", dir_ + "/traceparents"}},
        dir_ + "/server.log");
    port_ = baton::testing::WaitForPortFile(dir_ + "/port", absl::Seconds(20));
  }
  void Kill() {
    process_->Kill(SIGKILL);
    process_->Wait(absl::Seconds(5));
  }
  int port() const { return port_; }
  std::string log() const { return ReadFile(dir_ + "/server.log"); }
  // "METHOD traceparent" of each request that had the header.
  std::vector<std::string> traceparents() const { return ReadLines(dir_ + "/traceparents"); }
  // A client of its Streamable HTTP endpoint, not connected yet.
  std::unique_ptr<McpClient> Client(TimerQueue& timers) const {
    HttpTransportOptions options;
    options.url = "http://127.0.0.1:" + std::to_string(port_) + "/mcp";
    return std::make_unique<McpClient>(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<baton::testing::Process> process_;
};

// servers/elicit_http_server.mjs on a port it picks; its GET stream opens after
// `get_delay`.
class ElicitHttp {
 public:
  explicit ElicitHttp(absl::Duration get_delay = absl::ZeroDuration()) : dir_(MakeTempDir()) {
    process_ = std::make_unique<baton::testing::Process>(
        "/usr/bin/env",
        std::vector<std::string>{"node", "--import", SourceDir() + "/tests/mcp-bridge/servers/report_port.mjs",
                                 SourceDir() + "/tests/mcp-bridge/servers/elicit_http_server.mjs"},
        std::map<std::string, std::string>{{"PORT", "0"},
                                           {"PORT_FILE", dir_ + "/port"},
                                           {"GET_DELAY_MS", std::to_string(absl::ToInt64Milliseconds(get_delay))}},
        dir_ + "/server.log");
    port_ = baton::testing::WaitForPortFile(dir_ + "/port", absl::Seconds(20));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  std::string log() const { return ReadFile(dir_ + "/server.log"); }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<baton::testing::Process> process_;
};

std::string FirstText(const CallResult& r) {
  if (r.kind != CallResult::Kind::kResult) return "<" + r.message + ">";
  return r.result["content"][0].value("text", "");
}

std::vector<std::string> Names(const std::vector<json>& tools) {
  std::vector<std::string> out;
  for (const json& t : tools) out.push_back(t["name"]);
  return out;
}

TEST(StreamableHttpTest, ListsCallsAndStreamsProgress) {
  EverythingHttp server("streamableHttp");
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/mcp";
  options.log_name = "everything-http";
  auto transport = std::make_unique<HttpTransport>(options);
  HttpTransport* http = transport.get();
  McpClient client(std::move(transport), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->protocol_version, "2025-11-25");
  EXPECT_EQ(client.transport_kind(), "streamable_http");
  const std::string session = http->session_id();
  EXPECT_FALSE(session.empty());

  absl::StatusOr<std::vector<json>> tools = client.ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status();
  EXPECT_THAT(Names(*tools), Contains("echo"));

  EXPECT_EQ(FirstText(client.CallToolAndWait("echo", {{"message", "over http"}}, CallOptions{})), "Echo: over http");

  CallResult image = client.CallToolAndWait("get-tiny-image", json::object(), CallOptions{});
  ASSERT_EQ(image.kind, CallResult::Kind::kResult) << image.message;
  EXPECT_THAT(MapCallToolResult(image.result).content.dump(), HasSubstr("image/png"));

  CallResult structured = client.CallToolAndWait("get-structured-content", {{"location", "New York"}}, CallOptions{});
  ASSERT_EQ(structured.kind, CallResult::Kind::kResult) << structured.message;
  EXPECT_TRUE(MapCallToolResult(structured.result).structured_content.is_object());

  CallOptions short_timeout;
  short_timeout.timeout = absl::Milliseconds(1400);  // 500 ms between steps: 900 ms of slack
  CallResult progress =
      client.CallToolAndWait("trigger-long-running-operation", {{"duration", 3}, {"steps", 6}}, short_timeout);
  ASSERT_EQ(progress.kind, CallResult::Kind::kResult) << progress.message;
  EXPECT_GE(progress.progress_count, 3);

  CallResult invalid = client.CallToolAndWait("echo", json::object(), CallOptions{});
  ASSERT_EQ(invalid.kind, CallResult::Kind::kResult);
  EXPECT_TRUE(MapCallToolResult(invalid.result).is_error);

  // After initialization the client opened the server's GET stream.
  EXPECT_TRUE(Eventually([&] { return absl::StrContains(server.log(), "Establishing new SSE stream for session " + session); }))
      << server.log();
  client.Close();
  // Close ended the session with DELETE.
  EXPECT_TRUE(Eventually([&] { return absl::StrContains(server.log(), "session termination request for session " + session); }))
      << server.log();
}

TEST(StreamableHttpTest, ACallsTraceparentAndTracestateInItsMetaAreAlsoItsHeaders) {
  EverythingHttp server("streamableHttp");
  TimerQueue timers;
  std::unique_ptr<McpClient> client = server.Client(timers);
  ASSERT_TRUE(client->Connect().ok());
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CallOptions call;
  call.meta["traceparent"] = traceparent;
  EXPECT_EQ(FirstText(client->CallToolAndWait("echo", {{"message", "traced"}}, call)), "Echo: traced");
  call.meta["tracestate"] = "congo=t61rcWkgMzE";
  EXPECT_EQ(FirstText(client->CallToolAndWait("echo", {{"message", "with state"}}, call)), "Echo: with state");
  EXPECT_EQ(FirstText(client->CallToolAndWait("echo", {{"message", "untraced"}}, CallOptions{})), "Echo: untraced");
  client->Close();
  // Only the traced calls' POSTs had the headers.
  EXPECT_THAT(server.traceparents(), ::testing::ElementsAre("POST " + traceparent,
                                                            "POST " + traceparent + " tracestate=congo=t61rcWkgMzE"));
}

TEST(StreamableHttpTest, ALostSessionIsInitializedAgainAndTheCallGoesThrough) {
  EverythingHttp first("streamableHttp");
  const int port = first.port();
  TimerQueue timers;
  ServerConfig config;
  config.name = "web";
  config.transport = TransportKind::kStreamableHttp;
  config.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  config.restart_backoff_initial = absl::Milliseconds(50);
  ServerConnection connection(config, DefaultTransportFactory(), timers);
  connection.Start();
  ASSERT_TRUE(connection.WaitUntilStarted(absl::Seconds(20)));
  ASSERT_TRUE(connection.state().connected) << connection.state().last_error;

  // The server restarts on the same port and forgets every session: the next POST
  // gets 404, and the bridge initializes a new session and sends the call there.
  first.Kill();
  EverythingHttp second("streamableHttp", port);
  absl::Notification done;
  CallResult result;
  connection.CallTool("echo", {{"message", "after restart"}}, CallOptions{}, [&](CallResult r) {
    result = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(FirstText(result), "Echo: after restart");
  EXPECT_GE(connection.state().restarts, 1);
}

CallOptions WithElicitation(ElicitationPolicy policy, InputRequester* requester = nullptr) {
  CallOptions options;
  options.timeout = absl::Seconds(10);
  options.elicitation.policy = policy;
  options.elicitation.requester = requester;
  options.elicitation.call = ToolCallRef{"run_1", 1, "toolu_1", "mcp__shop__ask"};
  return options;
}

TEST(StreamableHttpElicitationTest, ARequestOnTheCallsStreamIsAnsweredByThatCall) {
  ElicitHttp server;
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = server.url();
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  ASSERT_TRUE(client.Connect().ok());
  // Two calls in flight: the stream tells which one asked.
  FakeInputRequester requester;
  requester.AnswerEveryAskWith(InputDecision{InputDecision::Action::kAccept, {{"name", "Grace"}, {"size", "S"}}});
  absl::Notification asked_done;
  CallResult asked;
  client.CallTool("ask_on_call_stream", json::object(), WithElicitation(ElicitationPolicy::kAsk, &requester),
                  [&](CallResult r) {
                    asked = std::move(r);
                    asked_done.Notify();
                  });
  CallResult defaults =
      client.CallToolAndWait("ask_on_call_stream", json::object(), WithElicitation(ElicitationPolicy::kAcceptDefaults));
  ASSERT_TRUE(asked_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(json::parse(FirstText(defaults), nullptr, false),
            json::parse(R"({"action":"accept","content":{"name":"Ada","size":"M"}})"))
      << FirstText(defaults);
  EXPECT_EQ(json::parse(FirstText(asked), nullptr, false),
            json::parse(R"({"action":"accept","content":{"name":"Grace","size":"S"}})"))
      << FirstText(asked);
  ASSERT_EQ(requester.requests().size(), 1u);
  EXPECT_EQ(requester.requests()[0].message, "Who is ordering?");
  EXPECT_EQ(defaults.elicitations, 1);
  EXPECT_EQ(asked.elicitations, 1);

  EXPECT_EQ(FirstText(client.CallToolAndWait("ask_on_call_stream", json::object(),
                                             WithElicitation(ElicitationPolicy::kDecline))),
            R"({"action":"decline"})");
}

TEST(StreamableHttpElicitationTest, ARequestOnTheGetStreamIsNotLostWhenTheStreamOpensLate) {
  // The server drops what it sends while no GET stream is open: the client's calls
  // wait for the stream, however slowly it opens.
  ElicitHttp server(/*get_delay=*/absl::Milliseconds(600));
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = server.url();
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  ASSERT_TRUE(client.Connect().ok());
  CallResult r =
      client.CallToolAndWait("ask_on_get_stream", json::object(), WithElicitation(ElicitationPolicy::kAcceptDefaults));
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message << "\n" << server.log();
  EXPECT_EQ(json::parse(FirstText(r), nullptr, false),
            json::parse(R"({"action":"accept","content":{"name":"Ada","size":"M"}})"));
}

TEST(StreamableHttpElicitationTest, ServerEverythingGetsAPersonsAnswer) {
  EverythingHttp server("streamableHttp");
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/mcp";
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  ASSERT_TRUE(client.Connect().ok());
  FakeInputRequester requester;
  requester.AnswerEveryAskWith(InputDecision{InputDecision::Action::kAccept, {{"name", "Ada Lovelace"}}});
  CallResult r = client.CallToolAndWait("trigger-elicitation-request", json::object(),
                                        WithElicitation(ElicitationPolicy::kAsk, &requester));
  ASSERT_EQ(r.kind, CallResult::Kind::kResult) << r.message;
  EXPECT_THAT(MapCallToolResult(r.result).content.dump(), HasSubstr("Name: Ada Lovelace"));
}

TEST(LegacySseTest, TheLegacyTransportWorks) {
  EverythingHttp server("sse");
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/sse";
  options.legacy_only = true;
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(client.transport_kind(), "sse");
  EXPECT_EQ(FirstText(client.CallToolAndWait("echo", {{"message", "legacy"}}, CallOptions{})), "Echo: legacy");
}

TEST(LegacySseTest, StreamableHttpFallsBackToLegacyWhenPostIsRefused) {
  EverythingHttp server("sse");
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/sse";
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(client.transport_kind(), "sse");
  absl::StatusOr<std::vector<json>> tools = client.ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status();
  EXPECT_THAT(Names(*tools), Contains("get-sum"));
  CallResult sum = client.CallToolAndWait("get-sum", {{"a", 2}, {"b", 40}}, CallOptions{});
  EXPECT_THAT(FirstText(sum), HasSubstr("42"));
}

TEST(HttpTransportTest, AServerThatIsNotThereFailsToConnect) {
  TimerQueue timers;
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:1/mcp";  // nothing listens on port 1
  McpClient client(std::make_unique<HttpTransport>(options), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  EXPECT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("cannot reach"));
}

}  // namespace
}  // namespace baton::mcp
