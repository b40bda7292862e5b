#include "cli/approvals.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

namespace baton::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Approval Approval(const std::string& text_proto) {
  v1::Approval approval;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &approval)) << text_proto;
  return approval;
}

const v1::Approval kToolCall = Approval("approval_id: 'r:0:t' kind: TOOL_CALL tool: 'sleep'");
const v1::Approval kInputRequest = Approval(
    R"pb(approval_id: 'r:0:e' kind: ELICITATION
         input_schema_json: '{"type":"object","properties":{"date":{"type":"string"}},"required":["date"]}')pb");

const v1::Approval kGraphQuestion =
    Approval("approval_id: 'g:approve_refund:1' kind: GRAPH_NODE tool: 'approve_refund' message: 'Refund?'");

DecisionFlags Flags(DecisionVerb verb) {
  DecisionFlags flags;
  flags.verb = verb;
  flags.decided_by = "alice";
  return flags;
}

TEST(BuildDecideRequestTest, ApproveAToolCallAsIsOrEdited) {
  auto request = BuildDecideRequest(kToolCall, Flags(DecisionVerb::kApprove));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->approval_id(), "r:0:t");
  EXPECT_EQ(request->decision(), v1::APPROVE);
  EXPECT_EQ(request->decided_by(), "alice");
  EXPECT_EQ(request->input_json(), "");

  DecisionFlags edit = Flags(DecisionVerb::kApprove);
  edit.edit = R"({"seconds": 1})";
  request = BuildDecideRequest(kToolCall, edit);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::EDIT);
  EXPECT_EQ(request->input_json(), R"({"seconds": 1})");
}

TEST(BuildDecideRequestTest, AnEditedInputMustBeAJsonObject) {
  DecisionFlags edit = Flags(DecisionVerb::kApprove);
  edit.edit = "[1]";
  EXPECT_THAT(BuildDecideRequest(kToolCall, edit).status().message(), HasSubstr("expected a JSON object"));
  edit.edit = "{";
  EXPECT_THAT(BuildDecideRequest(kToolCall, edit).status().message(), HasSubstr("not valid JSON"));
}

TEST(BuildDecideRequestTest, DenyAndRespondCarryTheMessage) {
  DecisionFlags deny = Flags(DecisionVerb::kDeny);
  EXPECT_EQ(BuildDecideRequest(kToolCall, deny).status().code(), absl::StatusCode::kInvalidArgument);
  deny.message = "";
  EXPECT_EQ(BuildDecideRequest(kToolCall, deny).status().code(), absl::StatusCode::kInvalidArgument);
  deny.message = "too risky";
  auto request = BuildDecideRequest(kToolCall, deny);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::DENY);
  EXPECT_EQ(request->message(), "too risky");

  DecisionFlags respond = Flags(DecisionVerb::kRespond);
  respond.message = "42";
  request = BuildDecideRequest(kToolCall, respond);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::RESPOND);
  EXPECT_EQ(request->message(), "42");
}

TEST(BuildDecideRequestTest, ContentIsForInputRequestsOnly) {
  DecisionFlags content = Flags(DecisionVerb::kApprove);
  content.content = "{}";
  EXPECT_THAT(BuildDecideRequest(kToolCall, content).status().message(), HasSubstr("use --edit JSON"));
  DecisionFlags edit = Flags(DecisionVerb::kApprove);
  edit.edit = "{}";
  EXPECT_THAT(BuildDecideRequest(kInputRequest, edit).status().message(), HasSubstr("--content JSON"));
}

TEST(BuildDecideRequestTest, InputRequestsAreAcceptedOrDeclined) {
  EXPECT_THAT(BuildDecideRequest(kInputRequest, Flags(DecisionVerb::kApprove)).status().message(),
              HasSubstr("needs --content JSON matching its schema: {\"type\":\"object\""));
  DecisionFlags accept = Flags(DecisionVerb::kApprove);
  accept.content = R"({"date":"2026-12-01"})";
  auto request = BuildDecideRequest(kInputRequest, accept);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::ACCEPT);
  EXPECT_EQ(request->input_json(), R"({"date":"2026-12-01"})");

  request = BuildDecideRequest(kInputRequest, Flags(DecisionVerb::kDeny));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::DECLINE);

  DecisionFlags respond = Flags(DecisionVerb::kRespond);
  respond.message = "x";
  EXPECT_EQ(BuildDecideRequest(kInputRequest, respond).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildDecideRequestTest, AcceptingARequestThatNeedsNoContentSendsAnEmptyObject) {
  v1::Approval optional = Approval(R"pb(approval_id: 'e' kind: ELICITATION
                                        input_schema_json: '{"type":"object","properties":{"n":{}}}')pb");
  auto request = BuildDecideRequest(optional, Flags(DecisionVerb::kApprove));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::ACCEPT);
  EXPECT_EQ(request->input_json(), "{}");
}

TEST(BuildDecideRequestTest, SomeoneMustDecide) {
  DecisionFlags flags = Flags(DecisionVerb::kApprove);
  flags.decided_by = "";
  EXPECT_THAT(BuildDecideRequest(kToolCall, flags).status().message(), HasSubstr("--as"));
}

TEST(NeedsContentTest, OnlyWhenTheSchemaRequiresAProperty) {
  EXPECT_TRUE(NeedsContent(kInputRequest));
  EXPECT_FALSE(NeedsContent(Approval("kind: ELICITATION")));
  EXPECT_FALSE(NeedsContent(Approval(R"pb(kind: ELICITATION input_schema_json: '{"required":[]}')pb")));
  EXPECT_TRUE(NeedsContent(Approval("kind: ELICITATION input_schema_json: 'not json'")));
}

TEST(AllowedDecisionsTest, TheRulesListElseTheKindsDefault) {
  EXPECT_THAT(AllowedDecisions(kToolCall), ElementsAre(v1::APPROVE, v1::EDIT, v1::DENY, v1::RESPOND));
  EXPECT_THAT(AllowedDecisions(kInputRequest), ElementsAre(v1::ACCEPT, v1::DECLINE, v1::CANCEL));
  EXPECT_THAT(AllowedDecisions(Approval("decisions: [APPROVE, DENY]")), ElementsAre(v1::APPROVE, v1::DENY));
}

TEST(DefaultDeciderTest, TheLocalUserElseCli) {
  EXPECT_EQ(DefaultDecider("alice"), "alice");
  EXPECT_EQ(DefaultDecider(""), "cli");
  EXPECT_EQ(DefaultDecider(nullptr), "cli");
}

TEST(BuildDecideRequestTest, AGraphQuestionIsApprovedDeniedOrAnswered) {
  auto request = BuildDecideRequest(kGraphQuestion, Flags(DecisionVerb::kApprove));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::APPROVE);
  EXPECT_EQ(request->approval_id(), "g:approve_refund:1");

  // Denying needs no reason: the node's output says DENY either way.
  request = BuildDecideRequest(kGraphQuestion, Flags(DecisionVerb::kDeny));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::DENY);
  EXPECT_EQ(request->message(), "");
  DecisionFlags deny = Flags(DecisionVerb::kDeny);
  deny.message = "over the limit";
  EXPECT_EQ(BuildDecideRequest(kGraphQuestion, deny)->message(), "over the limit");

  DecisionFlags respond = Flags(DecisionVerb::kRespond);
  EXPECT_THAT(BuildDecideRequest(kGraphQuestion, respond).status().message(), HasSubstr("needs --message TEXT"));
  respond.message = "refund half";
  request = BuildDecideRequest(kGraphQuestion, respond);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->decision(), v1::RESPOND);
  EXPECT_EQ(request->message(), "refund half");
}

TEST(BuildDecideRequestTest, AGraphQuestionTakesNoEditedInputOrContent) {
  DecisionFlags edit = Flags(DecisionVerb::kApprove);
  edit.edit = "{}";
  EXPECT_THAT(BuildDecideRequest(kGraphQuestion, edit).status().message(),
              HasSubstr("is a question from graph node approve_refund"));
  DecisionFlags content = Flags(DecisionVerb::kApprove);
  content.content = "{}";
  EXPECT_EQ(BuildDecideRequest(kGraphQuestion, content).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AllowedDecisionsTest, AGraphQuestionAllowsApproveDenyAndRespondByDefault) {
  EXPECT_THAT(AllowedDecisions(kGraphQuestion), ElementsAre(v1::APPROVE, v1::DENY, v1::RESPOND));
}

}  // namespace
}  // namespace baton::cli
