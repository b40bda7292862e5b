// MCP elicitation: the answers of each policy (pure functions), and McpClient
// routing a server's elicitation/create to the tool call it came with, over a
// scripted in-memory transport and a fake InputRequester.
#include "mcp-bridge/elicitation.h"

#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "mcp-bridge/mcp_client.h"
#include "tests/mcp-bridge/fake_input_requester.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace ::baton::mcp::testing;

// The conformance suite's SEP-1034 schema, plus a property without a default.
json PersonSchema(bool nickname_required = false) {
  json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "default": "John Doe"},
      "age": {"type": "integer", "default": 30},
      "score": {"type": "number", "default": 95.5},
      "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
      "verified": {"type": "boolean", "default": true},
      "nickname": {"type": "string"}
    },
    "required": ["name"]
  })");
  if (nickname_required) schema["required"].push_back("nickname");
  return schema;
}

TEST(ElicitationAnswersTest, AcceptDefaultsTakesEveryDefaultAndLeavesTheRestOut) {
  EXPECT_EQ(AcceptDefaultsResult(PersonSchema()),
            json::parse(R"({"action":"accept","content":{"name":"John Doe","age":30,"score":95.5,
                            "status":"active","verified":true}})"));
}

TEST(ElicitationAnswersTest, AcceptDefaultsDeclinesWhenARequiredPropertyHasNoDefault) {
  EXPECT_EQ(AcceptDefaultsResult(PersonSchema(/*nickname_required=*/true)), json({{"action", "decline"}}));
}

TEST(ElicitationAnswersTest, AcceptDefaultsOfAnEmptySchemaAcceptsNothing) {
  EXPECT_EQ(AcceptDefaultsResult({{"type", "object"}, {"properties", json::object()}}),
            json({{"action", "accept"}, {"content", json::object()}}));
}

TEST(ElicitationAnswersTest, APersonsDecisionBecomesTheResult) {
  std::string problem;
  InputDecision accept{InputDecision::Action::kAccept, {{"name", "Ada"}, {"age", 36}}};
  EXPECT_EQ(ResultForDecision(accept, PersonSchema(), &problem),
            json({{"action", "accept"}, {"content", {{"name", "Ada"}, {"age", 36}}}}));
  EXPECT_EQ(problem, "");
  EXPECT_EQ(ResultForDecision({InputDecision::Action::kDecline, json()}, PersonSchema(), &problem),
            json({{"action", "decline"}}));
  EXPECT_EQ(ResultForDecision({InputDecision::Action::kCancel, json()}, PersonSchema(), &problem),
            json({{"action", "cancel"}}));
}

TEST(ElicitationAnswersTest, AcceptedContentThatDoesNotFitCancels) {
  for (const json& content : {json("just text"), json::parse(R"({"name": {"first": "Ada"}})"),
                              json::parse(R"({"age": 36})") /* name is required */,
                              json::parse(R"({"name": "Ada", "age": "old"})")}) {
    std::string problem;
    EXPECT_EQ(ResultForDecision({InputDecision::Action::kAccept, content}, PersonSchema(), &problem),
              json({{"action", "cancel"}}))
        << content.dump();
    EXPECT_NE(problem, "") << content.dump();
  }
}

TEST(ElicitationAnswersTest, OnlyFormModeIsAccepted) {
  EXPECT_TRUE(ParseElicitationRequest({{"message", "m"}, {"requestedSchema", PersonSchema()}}).ok());
  EXPECT_TRUE(ParseElicitationRequest({{"mode", "form"}, {"message", "m"}, {"requestedSchema", PersonSchema()}}).ok());
  absl::StatusOr<ElicitationRequest> url =
      ParseElicitationRequest({{"mode", "url"}, {"message", "m"}, {"url", "https://x"}, {"elicitationId", "1"}});
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseElicitationRequest({{"message", "m"}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElicitationAnswersTest, TheCapabilityFollowsTheProtocolVersion) {
  EXPECT_EQ(ElicitationCapability("2025-11-25"), json({{"form", json::object()}}));
  EXPECT_EQ(ElicitationCapability("2025-06-18"), json::object());
  EXPECT_TRUE(ElicitationCapability("2025-03-26").is_null());
}

// A transport the test drives: answers initialize, records everything sent, and
// delivers what the test says the server sends.
class ScriptedTransport final : public Transport {
 public:
  absl::Status Start(Callbacks callbacks) override {
    callbacks_ = std::move(callbacks);
    return absl::OkStatus();
  }
  absl::Status Send(const std::string& message) override {
    json m = json::parse(message);
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_.push_back(m);
    }
    if (m.value("method", "") == "initialize") {
      json result = {{"protocolVersion", "2025-11-25"},
                     {"capabilities", {{"tools", json::object()}}},
                     {"serverInfo", {{"name", "scripted"}, {"version", "1"}}}};
      Deliver({{"jsonrpc", "2.0"}, {"id", m["id"]}, {"result", result}});
    }
    return absl::OkStatus();
  }
  void Close() override {}
  std::string kind() const override { return "scripted"; }

  void Deliver(const json& message, std::optional<int64_t> related = std::nullopt) {
    callbacks_.on_message(message.dump(), related);
  }
  std::vector<json> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  // The messages sent that answer the request `id`.
  std::vector<json> AnswersTo(const json& id) const {
    std::vector<json> out;
    for (const json& m : sent()) {
      if (!m.contains("method") && m.contains("id") && m["id"] == id) out.push_back(m);
    }
    return out;
  }
  std::vector<json> WithMethod(const std::string& method) const {
    std::vector<json> out;
    for (const json& m : sent()) {
      if (m.value("method", "") == method) out.push_back(m);
    }
    return out;
  }

 private:
  Callbacks callbacks_;
  mutable std::mutex mu_;
  std::vector<json> sent_;
};

// One tool call in flight, its result collected when it ends.
struct PendingCall {
  absl::Notification finished;
  CallResult result;
  json rpc_id;  // of its tools/call
};

class McpClientElicitationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto transport = std::make_unique<ScriptedTransport>();
    transport_ = transport.get();
    client_ = std::make_unique<McpClient>(std::move(transport), timers_, McpClientOptions{});
    ASSERT_TRUE(client_->Connect().ok());
  }

  CallOptions Options(ElicitationPolicy policy, InputRequester* requester = nullptr) {
    CallOptions options;
    options.elicitation.policy = policy;
    options.elicitation.requester = requester;
    options.elicitation.call = ToolCallRef{"run_7", 2, "toolu_1", "mcp__shop__order"};
    return options;
  }

  // Starts a call; returns once the server has its tools/call.
  PendingCall* Start(const CallOptions& options) {
    PendingCall* raw = calls_.emplace_back(std::make_unique<PendingCall>()).get();
    const size_t before = transport_->WithMethod("tools/call").size();
    client_->CallTool("order", json::object(), options, [raw](CallResult r) {
      raw->result = std::move(r);
      raw->finished.Notify();
    });
    std::vector<json> calls = transport_->WithMethod("tools/call");
    EXPECT_EQ(calls.size(), before + 1);
    raw->rpc_id = calls.back()["id"];
    return raw;
  }

  // The server sends elicitation/create with id `id` (on the response stream of
  // the request `related`, when given).
  void Elicit(const std::string& id, const json& schema, std::optional<int64_t> related = std::nullopt) {
    transport_->Deliver({{"jsonrpc", "2.0"},
                         {"id", id},
                         {"method", "elicitation/create"},
                         {"params", {{"message", "Who is ordering?"}, {"requestedSchema", schema}}}},
                        related);
  }
  // The client's answer to the server's request `id`; null when none came.
  json AnswerTo(const std::string& id, absl::Duration wait = absl::Seconds(5)) {
    json answer;
    Eventually(
        [&] {
          std::vector<json> answers = transport_->AnswersTo(id);
          if (answers.empty()) return false;
          answer = answers.front();
          return true;
        },
        wait);
    return answer;
  }
  void Answer(PendingCall& call, const std::string& text) {
    transport_->Deliver({{"jsonrpc", "2.0"},
                         {"id", call.rpc_id},
                         {"result", {{"content", {{{"type", "text"}, {"text", text}}}}}}});
  }

  TimerQueue timers_;
  FakeInputRequester requester_;                   // outlives the client
  std::vector<std::unique_ptr<PendingCall>> calls_;  // too: the client ends them when it closes
  ScriptedTransport* transport_ = nullptr;
  std::unique_ptr<McpClient> client_;
};

TEST_F(McpClientElicitationTest, AcceptDefaultsAnswersAtOnceWithTheDefaults) {
  PendingCall* call = Start(Options(ElicitationPolicy::kAcceptDefaults));
  Elicit("e1", PersonSchema());
  json answer = AnswerTo("e1");
  EXPECT_EQ(answer["result"], AcceptDefaultsResult(PersonSchema())) << answer.dump();
  Answer(*call, "ordered");
  ASSERT_TRUE(call->finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(call->result.kind, CallResult::Kind::kResult);
  EXPECT_EQ(call->result.elicitations, 1);
}

TEST_F(McpClientElicitationTest, AcceptDefaultsDeclinesARequiredPropertyWithoutDefault) {
  Start(Options(ElicitationPolicy::kAcceptDefaults));
  Elicit("e1", PersonSchema(/*nickname_required=*/true));
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "decline"}}));
}

TEST_F(McpClientElicitationTest, DeclineDeclines) {
  Start(Options(ElicitationPolicy::kDecline, &requester_));
  Elicit("e1", PersonSchema());
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "decline"}}));
  EXPECT_THAT(requester_.requests(), IsEmpty());
}

TEST_F(McpClientElicitationTest, AskWithNobodyToAskDeclines) {
  Start(Options(ElicitationPolicy::kAsk, /*requester=*/nullptr));
  Elicit("e1", PersonSchema());
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "decline"}}));
}

TEST_F(McpClientElicitationTest, AskPassesTheCallAndTheRequestToAPersonAndSendsTheirAnswer) {
  CallOptions options = Options(ElicitationPolicy::kAsk, &requester_);
  options.max_duration = absl::Minutes(3);
  const absl::Time start = absl::Now();
  PendingCall* call = Start(options);
  Elicit("e1", PersonSchema(), call->rpc_id.get<int64_t>());
  ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == 1; }));
  const InputRequest request = requester_.requests()[0];
  EXPECT_EQ(request.call.run_id, "run_7");
  EXPECT_EQ(request.call.step, 2);
  EXPECT_EQ(request.call.tool_use_id, "toolu_1");
  EXPECT_EQ(request.call.tool, "mcp__shop__order");
  EXPECT_EQ(request.message, "Who is ordering?");
  EXPECT_EQ(request.requested_schema, PersonSchema());
  EXPECT_EQ(request.sequence, 1);
  // The person may take as long as the call may last.
  EXPECT_GE(request.deadline, start + absl::Minutes(3));
  EXPECT_LE(request.deadline, absl::Now() + absl::Minutes(3));
  EXPECT_THAT(transport_->AnswersTo("e1"), IsEmpty());  // waits for the person

  requester_.Decide(1, InputDecision{InputDecision::Action::kAccept, {{"name", "Ada"}}});
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "accept"}, {"content", {{"name", "Ada"}}}}));

  // A second request during the same call is the call's second.
  Elicit("e2", PersonSchema(), call->rpc_id.get<int64_t>());
  ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == 2; }));
  EXPECT_EQ(requester_.requests()[1].sequence, 2);
  requester_.Decide(2, InputDecision{InputDecision::Action::kDecline, json()});
  EXPECT_EQ(AnswerTo("e2")["result"], json({{"action", "decline"}}));
}

TEST_F(McpClientElicitationTest, AskMapsDeclineCancelAndFailuresToTheirActions) {
  Start(Options(ElicitationPolicy::kAsk, &requester_));
  const std::vector<std::pair<absl::StatusOr<InputDecision>, std::string>> cases = {
      {InputDecision{InputDecision::Action::kDecline, json()}, "decline"},
      {InputDecision{InputDecision::Action::kCancel, json()}, "cancel"},
      {absl::DeadlineExceededError("nobody answered"), "cancel"},
      {absl::FailedPreconditionError("the run is not running"), "cancel"},
      // Content the schema does not allow (name is required).
      {InputDecision{InputDecision::Action::kAccept, {{"age", 3}}}, "cancel"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string id = "e" + std::to_string(i);
    Elicit(id, PersonSchema());
    ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == i + 1; }));
    requester_.Decide(static_cast<InputRequester::AskId>(i + 1), cases[i].first);
    EXPECT_EQ(AnswerTo(id)["result"]["action"], cases[i].second) << i;
  }
}

TEST_F(McpClientElicitationTest, TheTimeoutWaitsWhileAPersonIsAskedAndResumesAfter) {
  CallOptions options = Options(ElicitationPolicy::kAsk, &requester_);
  options.timeout = absl::Milliseconds(300);
  options.max_duration = absl::Seconds(20);
  PendingCall* call = Start(options);
  Elicit("e1", PersonSchema());
  ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == 1; }));
  // Three timeouts pass without progress from the server: it waits for us.
  EXPECT_FALSE(call->finished.WaitForNotificationWithTimeout(absl::Milliseconds(1000)));
  requester_.Decide(1, InputDecision{InputDecision::Action::kAccept, {{"name", "Ada"}}});
  EXPECT_EQ(AnswerTo("e1")["result"]["action"], "accept");
  // The server's turn again: silence for longer than the timeout fails the call.
  ASSERT_TRUE(call->finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(call->result.kind, CallResult::Kind::kTimeout);
  EXPECT_THAT(call->result.message, HasSubstr("no answer or progress"));
}

TEST_F(McpClientElicitationTest, TheMaximumDurationEndsTheWaitForAPerson) {
  CallOptions options = Options(ElicitationPolicy::kAsk, &requester_);
  options.timeout = absl::Milliseconds(100);
  options.max_duration = absl::Milliseconds(800);
  PendingCall* call = Start(options);
  Elicit("e1", PersonSchema());
  ASSERT_TRUE(call->finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(call->result.kind, CallResult::Kind::kTimeout);
  EXPECT_THAT(call->result.message, HasSubstr("maximum duration"));
  // The person is no longer asked, the server hears cancel for its request and
  // notifications/cancelled for the call.
  EXPECT_THAT(requester_.cancelled(), ElementsAre(1));
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "cancel"}}));
  ASSERT_TRUE(Eventually([&] { return transport_->WithMethod("notifications/cancelled").size() == 1; }));
  EXPECT_EQ(transport_->WithMethod("notifications/cancelled")[0]["params"]["requestId"], call->rpc_id);
}

TEST_F(McpClientElicitationTest, CancellingTheCallWithdrawsTheQuestion) {
  PendingCall* call = Start(Options(ElicitationPolicy::kAsk, &requester_));
  Elicit("e1", PersonSchema());
  ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == 1; }));
  client_->CancelCall(1, "run cancelled");
  ASSERT_TRUE(call->finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(call->result.kind, CallResult::Kind::kCancelled);
  EXPECT_THAT(requester_.cancelled(), ElementsAre(1));
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "cancel"}}));
  absl::SleepFor(absl::Milliseconds(100));  // the requester's late `done` comes meanwhile
  EXPECT_EQ(transport_->AnswersTo("e1").size(), 1u);  // answered once
}

TEST_F(McpClientElicitationTest, TheServerCanWithdrawItsRequest) {
  Start(Options(ElicitationPolicy::kAsk, &requester_));
  Elicit("e1", PersonSchema());
  ASSERT_TRUE(Eventually([&] { return requester_.requests().size() == 1; }));
  transport_->Deliver({{"jsonrpc", "2.0"},
                       {"method", "notifications/cancelled"},
                       {"params", {{"requestId", "e1"}, {"reason", "gave up"}}}});
  ASSERT_TRUE(Eventually([&] { return requester_.cancelled().size() == 1; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_THAT(transport_->AnswersTo("e1"), IsEmpty());  // a cancelled request is not answered
}

TEST_F(McpClientElicitationTest, TheResponseStreamTellsWhichCallAsked) {
  PendingCall* accepting = Start(Options(ElicitationPolicy::kAcceptDefaults));
  PendingCall* declining = Start(Options(ElicitationPolicy::kDecline));
  Elicit("to-declining", PersonSchema(), declining->rpc_id.get<int64_t>());
  Elicit("to-accepting", PersonSchema(), accepting->rpc_id.get<int64_t>());
  EXPECT_EQ(AnswerTo("to-declining")["result"]["action"], "decline");
  EXPECT_EQ(AnswerTo("to-accepting")["result"]["action"], "accept");
  // A request sent while answering something else (tools/list...) is no call's.
  Elicit("to-none", PersonSchema(), 9999);
  EXPECT_EQ(AnswerTo("to-none")["result"]["action"], "decline");
}

TEST_F(McpClientElicitationTest, WithoutTheStreamSeveralCallsAgreeOrDecline) {
  Start(Options(ElicitationPolicy::kAcceptDefaults));
  Start(Options(ElicitationPolicy::kAcceptDefaults));
  Elicit("agreed", PersonSchema());
  EXPECT_EQ(AnswerTo("agreed")["result"]["action"], "accept");
  Start(Options(ElicitationPolicy::kAsk, &requester_));
  Elicit("ambiguous", PersonSchema());
  EXPECT_EQ(AnswerTo("ambiguous")["result"]["action"], "decline");
  EXPECT_THAT(requester_.requests(), IsEmpty());
}

TEST_F(McpClientElicitationTest, OutsideAnyCallTheRequestIsDeclined) {
  Elicit("e1", PersonSchema());
  EXPECT_EQ(AnswerTo("e1")["result"], json({{"action", "decline"}}));
}

TEST_F(McpClientElicitationTest, UrlModeIsRefusedAsInvalidParams) {
  Start(Options(ElicitationPolicy::kAcceptDefaults));
  transport_->Deliver({{"jsonrpc", "2.0"},
                       {"id", "u1"},
                       {"method", "elicitation/create"},
                       {"params",
                        {{"mode", "url"}, {"message", "Sign in"}, {"url", "https://example.com"}, {"elicitationId", "x"}}}});
  json answer = AnswerTo("u1");
  EXPECT_EQ(answer["error"]["code"], kInvalidParams) << answer.dump();
}

}  // namespace
}  // namespace baton::mcp
