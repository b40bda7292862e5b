// Human nodes: a question through the approvals API, and its answer as the node's output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator/graph/graph_execution.h"
#include "tests/orchestrator/graph/graph_test_util.h"

namespace baton::orchestrator::graph {
namespace {

using testing::AgentNode;
using testing::Describe;
using ::testing::ElementsAre;
using testing::GraphDriver;
using ::testing::IsEmpty;
using testing::List;
using testing::Spec;

// draft -> gate (a person) -> ship when approved, -> revise when denied, -> answer
// otherwise (RESPOND).
v1::GraphSpec Gate(const std::string& human_settings = "") {
  return Spec(R"({"nodes": [)" + AgentNode("draft") + R"(,
      {"id": "gate", "human": {"prompt": "Ship this? {{nodes.draft.output}}")" +
              human_settings + R"(}},
      )" + AgentNode("ship") +
              "," + AgentNode("revise", "{{nodes.gate.output.message}}") + "," + AgentNode("answer") + R"(],
    "edges": [
      {"from": "draft", "to": "gate"},
      {"from": "gate", "to": "ship", "when": {"pointer": "/decision", "op": "EQ", "value": "APPROVE"}},
      {"from": "gate", "to": "revise", "when": {"pointer": "/decision", "op": "EQ", "value": "DENY"}},
      {"from": "gate", "to": "answer", "default": true}]})");
}

TEST(HumanNodeTest, AsksTheRenderedQuestionWithDefaults) {
  GraphDriver g(Gate(), "in", "graph-7");
  g.Start();
  GraphStep step = g.Succeed("draft", "v1");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done draft", "start gate"));
  EXPECT_THAT(step.children, IsEmpty());
  ASSERT_EQ(step.questions.size(), 1u);
  const QuestionToAsk& q = step.questions[0];
  EXPECT_EQ(q.approval_id, "graph-7:gate:1");
  EXPECT_EQ(q.node, "gate");
  EXPECT_EQ(q.visit, 1);
  EXPECT_EQ(q.prompt, "Ship this? v1");
  EXPECT_THAT(q.decisions, ElementsAre(v1::APPROVE, v1::DENY, v1::RESPOND));
  EXPECT_EQ(q.timeout_ms, 24 * 60 * 60 * 1000LL);
  EXPECT_EQ(q.on_timeout, v1::ApprovalRule::TIMEOUT_DENY);
  const v1::GraphNodeStarted& started = step.entries[1].node_started();
  EXPECT_EQ(started.approval_id(), "graph-7:gate:1");
  EXPECT_TRUE(started.child_run_id().empty());
  EXPECT_EQ(started.input(), "Ship this? v1");
  EXPECT_THAT(g.execution().OpenQuestions(), ElementsAre("graph-7:gate:1"));
  EXPECT_THAT(g.execution().RunningChildren(), IsEmpty());
  EXPECT_EQ(g.execution().node_runs(), 2);  // a question is a node run
}

TEST(HumanNodeTest, GivenDecisionsAndTimeoutArePassedOn) {
  GraphDriver g(Gate(R"(, "decisions": ["APPROVE", "DENY"], "timeout_seconds": 90, "on_timeout": "TIMEOUT_APPROVE")"));
  g.Start();
  const QuestionToAsk q = g.Succeed("draft", "v1").questions.at(0);
  EXPECT_THAT(q.decisions, ElementsAre(v1::APPROVE, v1::DENY));
  EXPECT_EQ(q.timeout_ms, 90'000);
  EXPECT_EQ(q.on_timeout, v1::ApprovalRule::TIMEOUT_APPROVE);
}

TEST(HumanNodeTest, ApproveBecomesTheOutputAndRoutes) {
  GraphDriver g(Gate());
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::APPROVE, "looks good");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start ship"));
  EXPECT_EQ(step.entries[0].node_finished().output(),
            R"({"decision":"APPROVE","message":"looks good","decided_by":"alice","timed_out":false})");
  EXPECT_THAT(g.execution().OpenQuestions(), IsEmpty());
}

TEST(HumanNodeTest, DenyRoutesToRevisionWithTheMessage) {
  GraphDriver g(Gate());
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::DENY, "add sources");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start revise"));
  EXPECT_EQ(step.children.at(0).input, "add sources");
}

TEST(HumanNodeTest, RespondTakesTheDefault) {
  GraphDriver g(Gate());
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::RESPOND, "what about tides?");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start answer"));
  EXPECT_EQ(step.entries[0].node_finished().output(),
            R"({"decision":"RESPOND","message":"what about tides?","decided_by":"alice","timed_out":false})");
}

TEST(HumanNodeTest, TimeoutThatDeniesSaysSo) {
  GraphDriver g(Gate());
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::DENY, "", /*timed_out=*/true);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start revise"));
  EXPECT_EQ(step.entries[0].node_finished().output(),
            R"({"decision":"DENY","message":"","decided_by":"alice","timed_out":true})");
}

TEST(HumanNodeTest, TimeoutWithoutADecisionTakesTheNodesOnTimeout) {
  GraphDriver g(Gate(R"(, "on_timeout": "TIMEOUT_APPROVE")"));
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::DECISION_UNSPECIFIED, "", /*timed_out=*/true);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start ship"));
}

TEST(HumanNodeTest, TimeoutThatFailsFailsTheGraph) {
  GraphDriver g(Gate(R"(, "timeout_seconds": 600, "on_timeout": "TIMEOUT_FAIL")"));
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::DENY, "", /*timed_out=*/true);
  EXPECT_THAT(Describe(step.entries), ElementsAre("failed gate"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::FAILED);
  EXPECT_EQ(step.end->kind, v1::NODE_FAILED);
  EXPECT_EQ(step.end->error, R"(node "gate" failed: no decision within 600 s (on_timeout TIMEOUT_FAIL))");
}

TEST(HumanNodeTest, ADecisionInTimeIsTakenEvenUnderTimeoutFail) {
  GraphDriver g(Gate(R"(, "on_timeout": "TIMEOUT_FAIL")"));
  g.Start();
  g.Succeed("draft", "v1");
  GraphStep step = g.Decide("gate", v1::APPROVE, "ok");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done gate", "start ship"));
}

TEST(HumanNodeTest, QuestionsInALoopGetOneIdPerVisit) {
  GraphDriver g(Spec(R"({"nodes": [
      {"id": "ask", "max_visits": 2, "human": {"prompt": "again? {{nodes.ask.output.message}}"}}],
    "edges": [{"from": "ask", "to": "ask", "when": {"pointer": "/decision", "op": "EQ", "value": "RESPOND"}}]})"),
                "in", "g9");
  EXPECT_EQ(g.Start().questions.at(0).approval_id, "g9:ask:1");
  GraphStep step = g.Decide("ask", v1::RESPOND, "more");
  ASSERT_EQ(step.questions.size(), 1u);
  EXPECT_EQ(step.questions[0].approval_id, "g9:ask:2");
  EXPECT_EQ(step.questions[0].prompt, "again? more");
  step = g.Decide("ask", v1::RESPOND, "more still");
  EXPECT_THAT(List(step.entries[0].node_finished().dropped()), ElementsAre("ask"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::SUCCEEDED);
}

}  // namespace
}  // namespace baton::orchestrator::graph
