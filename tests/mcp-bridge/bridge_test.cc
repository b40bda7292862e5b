// The bridge's registry and policy, over fake servers.
#include "mcp-bridge/bridge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/tracing/span.h"
#include "tests/mcp-bridge/fake_input_requester.h"
#include "tests/mcp-bridge/fake_tool_server.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using namespace ::baton::mcp::testing;

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    audit_ = std::move(*AuditLog::Open(dir_ + "/audit.jsonl"));
    ServerConfig fs;
    fs.name = "fs";
    fs.call_timeout = absl::Seconds(30);
    fs.max_call_duration = absl::Minutes(2);
    fs.max_result_bytes = 1000;
    fs.disabled_tools = {"delete_everything"};
    McpTool read = MakeTool("read_file", json::parse(R"({"type":"object","properties":{"path":{"type":"string"}},
                                                        "required":["path"],"additionalProperties":false})"));
    read.read_only = true;
    read.idempotent = true;
    auto fs_server = std::make_unique<FakeToolServer>(fs, std::vector<McpTool>{read, MakeTool("write.file"),
                                                                               MakeTool("delete_everything")});
    ServerConfig other;
    other.name = "other";
    auto other_server = std::make_unique<FakeToolServer>(other, std::vector<McpTool>{MakeTool("ping")});
    fs_ = fs_server.get();
    other_ = other_server.get();
    std::vector<std::unique_ptr<ToolServer>> servers;
    servers.push_back(std::move(fs_server));
    servers.push_back(std::move(other_server));
    bridge_ = std::make_unique<Bridge>(std::move(servers), *audit_, clock_, &requester_);
    bridge_->Start();
  }

  v1::CallToolResponse Call(const std::string& name, const std::string& args, std::vector<std::string> allowed = {"*"},
                            v1::ElicitationPolicy elicitation = v1::ELICITATION_ASK) {
    v1::CallToolRequest request;
    request.set_elicitation(elicitation);
    request.set_name(name);
    request.set_arguments_json(args);
    request.set_run_id("run_1");
    request.set_step(3);
    request.set_tool_use_id("toolu_9");
    request.set_idempotency_key("run_1:3:toolu_9");
    for (const std::string& a : allowed) request.add_allowed_tools(a);
    v1::CallToolResponse response;
    bool called = false;
    bridge_->CallTool(request, [&](v1::CallToolResponse r) {
      response = std::move(r);
      called = true;
    });
    EXPECT_TRUE(called);
    return response;
  }

  static std::string Text(const v1::CallToolResponse& r) {
    json content = json::parse(r.content_json());
    return content[0].value("text", "");
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<AuditLog> audit_;
  FakeInputRequester requester_;
  FakeToolServer* fs_ = nullptr;
  FakeToolServer* other_ = nullptr;
  std::unique_ptr<Bridge> bridge_;
};

TEST_F(BridgeTest, ListsToolsUnderExposedNamesWithHintsAndServers) {
  v1::ListToolsResponse list = bridge_->ListTools({});
  std::vector<std::string> names;
  for (const v1::ToolInfo& t : list.tools()) names.push_back(t.name());
  // Disabled by config: absent. Invalid characters: sanitised.
  EXPECT_THAT(names, ElementsAre("mcp__fs__read_file", "mcp__fs__write_file", "mcp__other__ping"));
  const v1::ToolInfo& read = list.tools(0);
  EXPECT_EQ(read.server(), "fs");
  EXPECT_EQ(read.mcp_name(), "read_file");
  EXPECT_TRUE(read.read_only());
  EXPECT_TRUE(read.idempotent());
  EXPECT_EQ(json::parse(read.input_schema_json())["required"], json({"path"}));
  EXPECT_EQ(list.tools(1).mcp_name(), "write.file");
  ASSERT_THAT(list.servers(), SizeIs(2));
  EXPECT_TRUE(list.servers(0).connected());
}

TEST_F(BridgeTest, ListToolsFiltersByAllowedTools) {
  v1::ListToolsRequest request;
  request.add_allowed_tools("mcp__other__*");
  v1::ListToolsResponse list = bridge_->ListTools(request);
  ASSERT_THAT(list.tools(), SizeIs(1));
  EXPECT_EQ(list.tools(0).name(), "mcp__other__ping");
}

TEST_F(BridgeTest, ACallReachesTheServerUnderItsOwnNameWithTheIdempotencyKey) {
  v1::CallToolResponse r = Call("mcp__fs__write_file", "{}");
  EXPECT_EQ(r.outcome(), v1::TOOL_OUTCOME_OK);
  EXPECT_FALSE(r.is_error());
  EXPECT_EQ(Text(r), "ran write.file");
  ASSERT_THAT(fs_->calls(), SizeIs(1));
  EXPECT_EQ(fs_->calls()[0].tool, "write.file");
  EXPECT_EQ(fs_->calls()[0].options.meta[kIdempotencyMetaKey], "run_1:3:toolu_9");
}

// Keeps the spans it is given.
class CollectingExporter : public tracing::SpanExporter {
 public:
  void Export(tracing::SpanData span) override { spans.push_back(std::move(span)); }
  std::vector<tracing::SpanData> spans;
};

TEST_F(BridgeTest, ACallsSpanNestsUnderItsCallerAndItsTraceparentGoesToTheServer) {
  CollectingExporter exporter;
  tracing::Tracer tracer(&exporter);
  tracing::Tracer::SetGlobal(&tracer);
  v1::CallToolRequest request;
  request.set_name("mcp__fs__write_file");
  request.set_arguments_json("{}");
  request.set_tool_use_id("toolu_9");
  request.add_allowed_tools("*");
  const tracing::SpanContext caller = *tracing::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  bool called = false;
  bridge_->CallTool(request, [&](v1::CallToolResponse r) { called = true; }, caller);
  tracing::Tracer::SetGlobal(nullptr);
  ASSERT_TRUE(called);
  ASSERT_THAT(exporter.spans, SizeIs(1));
  const tracing::SpanData& span = exporter.spans[0];
  EXPECT_EQ(span.name, "tools/call mcp__fs__write_file");
  EXPECT_EQ(span.trace_id, caller.trace_id);
  EXPECT_EQ(span.parent_span_id, caller.span_id);
  ASSERT_THAT(fs_->calls(), SizeIs(1));
  EXPECT_EQ(fs_->calls()[0].options.meta[kTraceparentMetaKey],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.span_id + "-01");
}

TEST_F(BridgeTest, TheCallCarriesItsElicitationPolicyAndWhoToAsk) {
  ASSERT_EQ(Call("mcp__fs__write_file", "{}").outcome(), v1::TOOL_OUTCOME_OK);
  ASSERT_EQ(Call("mcp__fs__write_file", "{}", {"*"}, v1::ELICITATION_ACCEPT_DEFAULTS).outcome(), v1::TOOL_OUTCOME_OK);
  ASSERT_EQ(Call("mcp__fs__write_file", "{}", {"*"}, v1::ELICITATION_DECLINE).outcome(), v1::TOOL_OUTCOME_OK);
  // A value this bridge does not know gives nothing away.
  ASSERT_EQ(Call("mcp__fs__write_file", "{}", {"*"}, static_cast<v1::ElicitationPolicy>(9)).outcome(),
            v1::TOOL_OUTCOME_OK);
  std::vector<FakeToolServer::SeenCall> calls = fs_->calls();
  ASSERT_THAT(calls, SizeIs(4));
  const ElicitationOptions& ask = calls[0].options.elicitation;
  EXPECT_EQ(ask.policy, ElicitationPolicy::kAsk);  // the proto's default
  EXPECT_EQ(ask.requester, &requester_);
  EXPECT_EQ(ask.call.run_id, "run_1");
  EXPECT_EQ(ask.call.step, 3);
  EXPECT_EQ(ask.call.tool_use_id, "toolu_9");
  EXPECT_EQ(ask.call.tool, "mcp__fs__write_file");  // the name the person knows it by
  EXPECT_EQ(calls[1].options.elicitation.policy, ElicitationPolicy::kAcceptDefaults);
  EXPECT_EQ(calls[2].options.elicitation.policy, ElicitationPolicy::kDecline);
  EXPECT_EQ(calls[3].options.elicitation.policy, ElicitationPolicy::kDecline);
}

TEST_F(BridgeTest, ADisallowedToolIsRefusedReadablyAndNeverCalled) {
  v1::CallToolResponse r = Call("mcp__fs__write_file", "{}", {"mcp__fs__read_file", "mcp__other__*"});
  EXPECT_EQ(r.outcome(), v1::TOOL_OUTCOME_NOT_ALLOWED);
  EXPECT_TRUE(r.is_error());
  EXPECT_THAT(Text(r), HasSubstr("not_allowed: "));
  EXPECT_THAT(Text(r), HasSubstr("mcp__fs__write_file"));
  EXPECT_FALSE(r.reached_server());
  EXPECT_THAT(fs_->calls(), IsEmpty());
  // Wildcards allow a whole server; no allowed_tools allows nothing.
  EXPECT_EQ(Call("mcp__other__ping", "{}", {"mcp__other__*"}).outcome(), v1::TOOL_OUTCOME_OK);
  EXPECT_EQ(Call("mcp__other__ping", "{}", {}).outcome(), v1::TOOL_OUTCOME_NOT_ALLOWED);
}

TEST_F(BridgeTest, SchemaInvalidArgumentsAreRefusedBeforeTheServerSeesThem) {
  v1::CallToolResponse r = Call("mcp__fs__read_file", R"({"path": 42})");
  EXPECT_EQ(r.outcome(), v1::TOOL_OUTCOME_INVALID_ARGUMENTS);
  EXPECT_TRUE(r.is_error());
  EXPECT_THAT(Text(r), HasSubstr("invalid_arguments: "));
  EXPECT_THAT(Text(r), HasSubstr("/path"));
  EXPECT_TRUE(r.read_only());  // hints come back even with a refusal
  EXPECT_EQ(Call("mcp__fs__read_file", "{}").outcome(), v1::TOOL_OUTCOME_INVALID_ARGUMENTS);
  EXPECT_EQ(Call("mcp__fs__read_file", "[1]").outcome(), v1::TOOL_OUTCOME_INVALID_ARGUMENTS);
  EXPECT_EQ(Call("mcp__fs__read_file", "{not json").outcome(), v1::TOOL_OUTCOME_INVALID_ARGUMENTS);
  EXPECT_THAT(fs_->calls(), IsEmpty());
  EXPECT_EQ(Call("mcp__fs__read_file", R"({"path": "/a"})").outcome(), v1::TOOL_OUTCOME_OK);
}

TEST_F(BridgeTest, UnknownAndDisabledToolsAreRefused) {
  EXPECT_EQ(Call("mcp__fs__nope", "{}").outcome(), v1::TOOL_OUTCOME_UNKNOWN_TOOL);
  EXPECT_EQ(Call("mcp__fs__delete_everything", "{}").outcome(), v1::TOOL_OUTCOME_UNKNOWN_TOOL);
  EXPECT_THAT(fs_->calls(), IsEmpty());
}

TEST_F(BridgeTest, AnOversizedResultIsCutWithAVisibleMarker) {
  fs_->respond = [](const std::string&, const json&) {
    CallResult r;
    r.kind = CallResult::Kind::kResult;
    r.sent = true;
    r.result = {{"content", {{{"type", "text"}, {"text", std::string(50'000, 'z')}}}}};
    return r;
  };
  v1::CallToolResponse r = Call("mcp__fs__write_file", "{}");
  EXPECT_EQ(r.outcome(), v1::TOOL_OUTCOME_OK);
  EXPECT_TRUE(r.truncated());
  EXPECT_GT(r.result_bytes(), 50'000);
  EXPECT_LE(r.content_json().size(), 1000u);
  EXPECT_THAT(r.content_json(), HasSubstr("[truncated: the tool's result was"));
}

TEST_F(BridgeTest, FailuresBecomeReadableErrorsWithTheirOutcome) {
  CallResult next;
  fs_->respond = [&](const std::string&, const json&) { return next; };
  next.kind = CallResult::Kind::kTimeout;
  next.sent = true;
  next.message = "no answer for 30s";
  v1::CallToolResponse timeout = Call("mcp__fs__write_file", "{}");
  EXPECT_EQ(timeout.outcome(), v1::TOOL_OUTCOME_TOOL_TIMEOUT);
  EXPECT_THAT(Text(timeout), HasSubstr("tool_timeout: "));

  next.kind = CallResult::Kind::kUnavailable;
  next.message = "the server exited with status 3";
  v1::CallToolResponse down = Call("mcp__fs__write_file", "{}");
  EXPECT_EQ(down.outcome(), v1::TOOL_OUTCOME_SERVER_UNAVAILABLE);
  EXPECT_TRUE(down.reached_server());
  EXPECT_THAT(Text(down), HasSubstr("server_unavailable: "));
  EXPECT_THAT(Text(down), HasSubstr("may or may not have taken effect"));

  next.kind = CallResult::Kind::kRpcError;
  next.error = {kInvalidParams, "Unknown tool", nullptr};
  EXPECT_EQ(Call("mcp__fs__write_file", "{}").outcome(), v1::TOOL_OUTCOME_INVALID_ARGUMENTS);
  next.error = {-32000, "boom", nullptr};
  EXPECT_EQ(Call("mcp__fs__write_file", "{}").outcome(), v1::TOOL_OUTCOME_PROTOCOL_ERROR);

  next.kind = CallResult::Kind::kResult;
  next.result = {{"content", {{{"type", "text"}, {"text", "bad"}}}}, {"isError", true}};
  v1::CallToolResponse tool_error = Call("mcp__fs__write_file", "{}");
  EXPECT_EQ(tool_error.outcome(), v1::TOOL_OUTCOME_TOOL_ERROR);
  EXPECT_TRUE(tool_error.is_error());
  EXPECT_EQ(Text(tool_error), "bad");
}

TEST_F(BridgeTest, TimeoutsAreTheServersUnlessTheCallerAsksForLess) {
  v1::CallToolRequest request;
  request.set_name("mcp__fs__write_file");
  request.add_allowed_tools("*");
  request.set_timeout_ms(5'000);
  request.set_max_duration_ms(3'600'000);
  bridge_->CallTool(request, [](auto) {});
  request.set_timeout_ms(0);
  request.set_max_duration_ms(0);
  bridge_->CallTool(request, [](auto) {});
  ASSERT_THAT(fs_->calls(), SizeIs(2));
  EXPECT_EQ(fs_->calls()[0].options.timeout, absl::Seconds(5));
  EXPECT_EQ(fs_->calls()[0].options.max_duration, absl::Minutes(2));
  EXPECT_EQ(fs_->calls()[1].options.timeout, absl::Seconds(30));
}

TEST_F(BridgeTest, CancelStopsTheCallAtTheServer) {
  fs_->hold_calls = true;
  v1::CallToolRequest request;
  request.set_name("mcp__fs__write_file");
  request.add_allowed_tools("*");
  std::optional<v1::CallToolResponse> response;
  Bridge::CallId id = bridge_->CallTool(request, [&](v1::CallToolResponse r) { response = std::move(r); });
  EXPECT_FALSE(response.has_value());
  bridge_->Cancel(id, "run cancelled");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->outcome(), v1::TOOL_OUTCOME_CANCELLED);
  EXPECT_THAT(fs_->cancels(), ElementsAre("run cancelled"));
  bridge_->Cancel(id, "again");  // finished: no-op
  EXPECT_THAT(fs_->cancels(), SizeIs(1));
}

TEST_F(BridgeTest, ToolListChangesReachTheRegistry) {
  other_->SetTools({MakeTool("ping"), MakeTool("pong")});
  v1::ListToolsResponse list = bridge_->ListTools({});
  EXPECT_THAT(list.tools(), SizeIs(4));
}

TEST_F(BridgeTest, TheAuditLogHasOneLinePerCallWithoutArgumentsOrResults) {
  Call("mcp__fs__read_file", R"({"path": "/home/me/secret-token-123"})");
  Call("mcp__fs__write_file", "{}", {"mcp__fs__read_file"});
  std::vector<std::string> lines = ReadLines(dir_ + "/audit.jsonl");
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], Not(HasSubstr("secret-token-123")));
  json first = json::parse(lines[0]);
  EXPECT_EQ(first["run_id"], "run_1");
  EXPECT_EQ(first["step"], 3);
  EXPECT_EQ(first["tool"], "mcp__fs__read_file");
  EXPECT_EQ(first["server"], "fs");
  EXPECT_EQ(first["mcp_tool"], "read_file");
  EXPECT_EQ(first["outcome"], "ok");
  EXPECT_EQ(first["arguments_sha256"], Sha256Hex(R"({"path": "/home/me/secret-token-123"})"));
  EXPECT_EQ(first["arguments_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(json::parse(lines[1])["outcome"], "not_allowed");
}

}  // namespace
}  // namespace baton::mcp
