// McpClient over a scripted in-memory transport: the handshake and version
// negotiation, without processes.
#include <deque>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mcp-bridge/mcp_client.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// Answers initialize with `version`, tools/list with one tool, and records what was sent.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::string version, std::vector<json>* sent) : version_(std::move(version)), sent_(sent) {}
  absl::Status Start(Callbacks callbacks) override {
    callbacks_ = std::move(callbacks);
    return absl::OkStatus();
  }
  absl::Status Send(const std::string& message) override {
    json m = json::parse(message);
    sent_->push_back(m);
    if (!m.contains("id") || !m.contains("method")) return absl::OkStatus();
    json result = json::object();
    if (m["method"] == "initialize") {
      result = {{"protocolVersion", version_},
                {"capabilities", {{"tools", {{"listChanged", true}}}}},
                {"serverInfo", {{"name", "fake"}, {"version", "9"}}}};
    } else if (m["method"] == "tools/list") {
      result = {{"tools", {{{"name", "t"}, {"inputSchema", {{"type", "object"}}}}}}};
    }
    callbacks_.on_message(json({{"jsonrpc", "2.0"}, {"id", m["id"]}, {"result", result}}).dump(), std::nullopt);
    return absl::OkStatus();
  }
  void SetProtocolVersion(const std::string& version) override { negotiated = version; }
  void Close() override {}
  std::string kind() const override { return "fake"; }

  std::string negotiated;

 private:
  std::string version_;
  std::vector<json>* sent_;
  Callbacks callbacks_;
};

TEST(McpClientHandshakeTest, AsksForTheLatestVersionAndSaysInitialized) {
  TimerQueue timers;
  std::vector<json> sent;
  auto transport = std::make_unique<FakeTransport>("2025-11-25", &sent);
  FakeTransport* fake = transport.get();
  McpClient client(std::move(transport), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[0]["method"], "initialize");
  EXPECT_EQ(sent[0]["params"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(sent[0]["params"]["clientInfo"]["name"], "baton-mcp-bridge");
  // Form-mode elicitation only: no roots, no sampling, no URL mode.
  EXPECT_EQ(sent[0]["params"]["capabilities"], json({{"elicitation", {{"form", json::object()}}}}));
  EXPECT_EQ(sent[1]["method"], "notifications/initialized");
  EXPECT_FALSE(sent[1].contains("id"));
  EXPECT_EQ(fake->negotiated, "2025-11-25");
  EXPECT_EQ(info->name, "fake");
}

TEST(McpClientHandshakeTest, DeclaresElicitationAsTheVersionItAsksForExpects) {
  for (const auto& [version, capabilities] :
       std::vector<std::pair<std::string, json>>{{"2025-06-18", {{"elicitation", json::object()}}},
                                                 {"2025-03-26", json::object()}}) {
    TimerQueue timers;
    std::vector<json> sent;
    McpClientOptions options;
    options.protocol_version = version;
    McpClient client(std::make_unique<FakeTransport>(version, &sent), timers, options);
    ASSERT_TRUE(client.Connect().ok()) << version;
    EXPECT_EQ(sent[0]["params"]["capabilities"], capabilities) << version;
  }
}

TEST(McpClientHandshakeTest, AcceptsAnOlderVersionTheServerChooses) {
  for (const char* version : {"2025-06-18", "2025-03-26", "2024-11-05"}) {
    TimerQueue timers;
    std::vector<json> sent;
    McpClient client(std::make_unique<FakeTransport>(version, &sent), timers, McpClientOptions{});
    absl::StatusOr<ServerInfo> info = client.Connect();
    ASSERT_TRUE(info.ok()) << version << ": " << info.status();
    EXPECT_EQ(info->protocol_version, version);
  }
}

TEST(McpClientHandshakeTest, RefusesAVersionItDoesNotSpeak) {
  TimerQueue timers;
  std::vector<json> sent;
  McpClient client(std::make_unique<FakeTransport>("1999-01-01", &sent), timers, McpClientOptions{});
  absl::StatusOr<ServerInfo> info = client.Connect();
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("1999-01-01"));
  // Disconnects without saying initialized.
  for (const json& m : sent) EXPECT_NE(m.value("method", ""), "notifications/initialized");
}

}  // namespace
}  // namespace baton::mcp
