#include "mcp-bridge/json_rpc.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

class JsonRpcTest : public ::testing::Test {
 protected:
  JsonRpcTest()
      : rpc_([this](const std::string& m) {
               sent_.push_back(json::parse(m));
               return send_status_;
             },
             JsonRpcConnection::Handlers{
                 [this](const std::string& method, const json& params) { notifications_.push_back(method); },
                 [this](IncomingRequest request, Responder respond) {
                   if (request.method == "ping") {
                     respond(ResultResponse(json::object()));
                   } else if (request.method == "later") {
                     held_.push_back(std::move(respond));
                     related_.push_back(request.related_request);
                   } else {
                     respond(ErrorResponse(kMethodNotFound, "no " + request.method));
                   }
                 }}) {}

  absl::Status send_status_ = absl::OkStatus();
  std::vector<Responder> held_;  // requests answered later
  std::vector<std::optional<int64_t>> related_;
  std::vector<json> sent_;
  std::vector<std::string> notifications_;
  JsonRpcConnection rpc_;
};

TEST_F(JsonRpcTest, RequestsCarryIncreasingIdsAndTheMethod) {
  auto a = rpc_.SendRequest("tools/list", json::object(), [](auto) {});
  auto b = rpc_.SendRequest("ping", json(), [](auto) {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(*a, *b);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0]["jsonrpc"], "2.0");
  EXPECT_EQ(sent_[0]["method"], "tools/list");
  EXPECT_EQ(sent_[0]["id"], *a);
  EXPECT_FALSE(sent_[1].contains("params"));
}

TEST_F(JsonRpcTest, ResponsesOutOfOrderReachTheirOwnCallers) {
  std::vector<std::string> order;
  auto a = rpc_.SendRequest("a", json::object(), [&](absl::StatusOr<JsonRpcResponse> r) {
    ASSERT_TRUE(r.ok());
    order.push_back("a:" + r->result["v"].get<std::string>());
  });
  auto b = rpc_.SendRequest("b", json::object(), [&](absl::StatusOr<JsonRpcResponse> r) {
    ASSERT_TRUE(r.ok());
    order.push_back("b:" + r->result["v"].get<std::string>());
  });
  rpc_.OnMessage(json({{"jsonrpc", "2.0"}, {"id", *b}, {"result", {{"v", "B"}}}}).dump());
  rpc_.OnMessage(json({{"jsonrpc", "2.0"}, {"id", *a}, {"result", {{"v", "A"}}}}).dump());
  EXPECT_THAT(order, ElementsAre("b:B", "a:A"));
  EXPECT_EQ(rpc_.pending(), 0u);
}

TEST_F(JsonRpcTest, ErrorResponsesCarryCodeAndMessage) {
  std::optional<JsonRpcError> error;
  auto id = rpc_.SendRequest("x", json::object(), [&](absl::StatusOr<JsonRpcResponse> r) { error = r->error; });
  rpc_.OnMessage(json({{"jsonrpc", "2.0"}, {"id", *id}, {"error", {{"code", -32602}, {"message", "bad"}}}}).dump());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, -32602);
  EXPECT_EQ(error->message, "bad");
}

TEST_F(JsonRpcTest, GarbageIsIgnoredAndCounted) {
  int calls = 0;
  auto id = rpc_.SendRequest("x", json::object(), [&](auto) { ++calls; });
  EXPECT_FALSE(rpc_.OnMessage("not json at all"));
  EXPECT_FALSE(rpc_.OnMessage("[1,2]"));
  EXPECT_FALSE(rpc_.OnMessage(R"({"hello":"world"})"));
  EXPECT_FALSE(rpc_.OnMessage(R"({"jsonrpc":"1.0","id":1,"result":{}})"));
  // Not a string: ignored too, not thrown (found by tests/fuzz/json_rpc_fuzz.cc).
  EXPECT_FALSE(rpc_.OnMessage(R"({"jsonrpc":2,"id":1,"result":{}})"));
  EXPECT_EQ(rpc_.ignored_messages(), 5);
  EXPECT_EQ(calls, 0);
  // A response to an id never sent is dropped without disturbing the pending one.
  EXPECT_TRUE(rpc_.OnMessage(R"({"jsonrpc":"2.0","id":987654,"result":{}})"));
  EXPECT_EQ(rpc_.pending(), 1u);
  rpc_.OnMessage(json({{"jsonrpc", "2.0"}, {"id", *id}, {"result", json::object()}}).dump());
  EXPECT_EQ(calls, 1);
}

TEST_F(JsonRpcTest, PingFromTheServerIsAnsweredAndOtherRequestsRefused) {
  rpc_.OnMessage(R"({"jsonrpc":"2.0","id":"s1","method":"ping"})");
  rpc_.OnMessage(R"({"jsonrpc":"2.0","id":7,"method":"roots/list"})");
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0]["id"], "s1");
  EXPECT_EQ(sent_[0]["result"], json::object());
  EXPECT_EQ(sent_[1]["id"], 7);
  EXPECT_EQ(sent_[1]["error"]["code"], kMethodNotFound);
}

TEST_F(JsonRpcTest, ARequestCanBeAnsweredLaterAndKnowsTheRequestItCameWith) {
  rpc_.OnMessage(R"({"jsonrpc":"2.0","id":"e1","method":"later","params":{}})", 41);
  rpc_.OnMessage(R"({"jsonrpc":"2.0","id":"e2","method":"later"})");
  ASSERT_EQ(held_.size(), 2u);
  EXPECT_EQ(related_[0], 41);
  EXPECT_EQ(related_[1], std::nullopt);
  EXPECT_TRUE(sent_.empty());  // nothing answered yet

  held_[1](ResultResponse({{"action", "decline"}}));
  held_[0](ErrorResponse(kInvalidParams, "bad mode"));
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0]["id"], "e2");
  EXPECT_EQ(sent_[0]["result"]["action"], "decline");
  EXPECT_EQ(sent_[1]["id"], "e1");
  EXPECT_EQ(sent_[1]["error"]["code"], kInvalidParams);
  EXPECT_EQ(sent_[1]["error"]["message"], "bad mode");
}

TEST_F(JsonRpcTest, AnAnswerAfterCloseIsNotSent) {
  rpc_.OnMessage(R"({"jsonrpc":"2.0","id":"e1","method":"later"})");
  ASSERT_EQ(held_.size(), 1u);
  rpc_.Close(absl::UnavailableError("gone"));
  held_[0](ResultResponse({{"action", "cancel"}}));
  EXPECT_TRUE(sent_.empty());
}

TEST_F(JsonRpcTest, NotificationsAreHandedOnAndNeverAnswered) {
  rpc_.OnMessage(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  EXPECT_THAT(notifications_, ElementsAre("notifications/tools/list_changed"));
  EXPECT_TRUE(sent_.empty());
}

TEST_F(JsonRpcTest, AbandonedRequestIgnoresItsLateAnswer) {
  std::vector<absl::StatusCode> seen;
  auto id = rpc_.SendRequest("x", json::object(), [&](absl::StatusOr<JsonRpcResponse> r) {
    seen.push_back(r.status().code());
  });
  EXPECT_TRUE(rpc_.Abandon(*id, absl::DeadlineExceededError("t")));
  EXPECT_FALSE(rpc_.Abandon(*id, absl::DeadlineExceededError("t")));
  rpc_.OnMessage(json({{"jsonrpc", "2.0"}, {"id", *id}, {"result", json::object()}}).dump());
  EXPECT_THAT(seen, ElementsAre(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(JsonRpcTest, CloseFailsPendingAndLaterRequests) {
  std::vector<absl::StatusCode> seen;
  ASSERT_TRUE(rpc_.SendRequest("x", json::object(), [&](auto r) { seen.push_back(r.status().code()); }).ok());
  rpc_.Close(absl::UnavailableError("gone"));
  EXPECT_THAT(seen, ElementsAre(absl::StatusCode::kUnavailable));
  bool called = false;
  auto late = rpc_.SendRequest("y", json::object(), [&](auto) { called = true; });
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(called);
}

TEST_F(JsonRpcTest, SendFailureReturnsTheErrorWithoutCallingBack) {
  send_status_ = absl::UnavailableError("pipe closed");
  bool called = false;
  auto id = rpc_.SendRequest("x", json::object(), [&](auto) { called = true; });
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(called);
  EXPECT_EQ(rpc_.pending(), 0u);
}

}  // namespace
}  // namespace baton::mcp
