#include "mcp-bridge/config.h"

#include <cstdlib>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::mcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ExpandVariablesTest, ExpandsSetVariablesDefaultsAndDollars) {
  EnvLookup env = FakeEnv({{"TOKEN", "s3cret"}, {"EMPTY", ""}});
  EXPECT_EQ(*ExpandVariables("Bearer ${TOKEN}", env), "Bearer s3cret");
  EXPECT_EQ(*ExpandVariables("${MISSING:-fallback}", env), "fallback");
  EXPECT_EQ(*ExpandVariables("${EMPTY:-fallback}", env), "fallback");
  EXPECT_EQ(*ExpandVariables("cost $$5 and $HOME", env), "cost $5 and $HOME");
}

TEST(ExpandVariablesTest, AnUnsetVariableIsAnErrorNamingIt) {
  absl::StatusOr<std::string> s = ExpandVariables("x ${NOPE} y", FakeEnv({}));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("NOPE"));
  EXPECT_FALSE(ExpandVariables("${unterminated", FakeEnv({})).ok());
  EXPECT_FALSE(ExpandVariables("${1BAD}", FakeEnv({})).ok());
}

TEST(BridgeConfigTest, ParsesStdioAndHttpServersWithDefaultsAndLimits) {
  const char* text = R"({
    "defaults": {"timeout_ms": 5000, "max_result_bytes": 2048},
    "servers": {
      "fs": {"command": "node", "args": ["${CONFIG_DIR}/fs.js", "/data"], "env": {"TOKEN": "${TOKEN}"},
             "cwd": "/tmp", "disabled_tools": ["write_file"], "timeout_ms": 1000},
      "web": {"url": "http://127.0.0.1:3001/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
      "old": {"url": "http://127.0.0.1:3002/sse", "transport": "sse"},
      "off": {"command": "nothing", "enabled": false}
    }})";
  absl::StatusOr<BridgeConfig> config = ParseBridgeConfig(text, FakeEnv({{"TOKEN", "t0k"}}), "/etc/baton");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->servers.size(), 3u);  // sorted by name; "off" is disabled
  const ServerConfig& fs = config->servers[0];
  EXPECT_EQ(fs.name, "fs");
  EXPECT_EQ(fs.transport, TransportKind::kStdio);
  EXPECT_THAT(fs.args, ElementsAre("/etc/baton/fs.js", "/data"));
  EXPECT_EQ(fs.env.at("TOKEN"), "t0k");
  EXPECT_EQ(fs.call_timeout, absl::Seconds(1));
  EXPECT_EQ(fs.max_result_bytes, 2048);
  EXPECT_THAT(fs.disabled_tools, ElementsAre("write_file"));
  const ServerConfig& web = config->servers[2];
  EXPECT_EQ(web.transport, TransportKind::kStreamableHttp);
  EXPECT_EQ(web.headers.at("Authorization"), "Bearer t0k");
  EXPECT_EQ(web.call_timeout, absl::Seconds(5));
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(config->servers[1].name, "old");
  EXPECT_EQ(config->servers[1].transport, TransportKind::kSse);
}

TEST(BridgeConfigTest, MistakesAreErrorsThatNameTheField) {
  auto error = [](const char* text) {
    absl::StatusOr<BridgeConfig> c = ParseBridgeConfig(text, FakeEnv({}));
    EXPECT_FALSE(c.ok()) << text;
    return std::string(c.status().message());
  };
  EXPECT_THAT(error(R"({"servers": {"a": {"comand": "x"}}})"), HasSubstr("servers.a: unknown field \"comand\""));
  EXPECT_THAT(error(R"({"servers": {"a": {"command": "x", "url": "http://h"}}})"), HasSubstr("exactly one"));
  EXPECT_THAT(error(R"({"servers": {"a__b": {"command": "x"}}})"), HasSubstr("servers.a__b"));
  EXPECT_THAT(error(R"({"servers": {"a": {"command": "x", "env": {"K": "${UNSET}"}}}})"),
              HasSubstr("servers.a.env.K: environment variable UNSET is not set"));
  EXPECT_THAT(error(R"({"servers": {"a": {"url": "ftp://h"}}})"), HasSubstr("servers.a.url"));
  EXPECT_THAT(error(R"({"servers": {"a": {"command": "x", "timeout_ms": -1}}})"), HasSubstr("servers.a.timeout_ms"));
  EXPECT_THAT(error("not json"), HasSubstr("not a JSON object"));
}

// deploy/kubernetes/bridge/bridge.json becomes the bridge's ConfigMap: the bridge must
// start with it (a bad config exits 2 and the pod would crash-loop).
TEST(BridgeConfigTest, TheKubernetesExampleConfigLoads) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  ASSERT_NE(source_dir, nullptr);
  absl::StatusOr<BridgeConfig> config =
      LoadBridgeConfig(std::string(source_dir) + "/deploy/kubernetes/bridge/bridge.json", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->servers.size(), 1u);
  EXPECT_EQ(config->servers[0].transport, TransportKind::kStdio);
  EXPECT_THAT(config->servers[0].args,
              ElementsAre("/opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", "/workspace"));
}

TEST(BridgeConfigTest, ServerNamesSplitBackUnambiguously) {
  EXPECT_TRUE(IsValidServerName("everything"));
  EXPECT_TRUE(IsValidServerName("my_fs-2"));
  EXPECT_FALSE(IsValidServerName("a__b"));
  EXPECT_FALSE(IsValidServerName("trailing_"));
  EXPECT_FALSE(IsValidServerName("_lead"));
  EXPECT_FALSE(IsValidServerName("has.dot"));
  EXPECT_FALSE(IsValidServerName(std::string(33, 'a')));
}

}  // namespace
}  // namespace baton::mcp
