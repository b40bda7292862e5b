// GraphExecution's scheduling: dataflow order, routing, dead paths, loops, limits and
// failures, as the journal entries a user watches show them.
#include "orchestrator/graph/graph_execution.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
using ::testing::UnorderedElementsAre;

TEST(GraphExecutionTest, LinearChainRunsEachNodeWithTheOutputBefore) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b", "{{nodes.a.output}}!") + "," +
                     AgentNode("c", "x={{nodes.b.output.x}}") +
                     R"(], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]})"));
  GraphStep step = g.Start();
  EXPECT_THAT(Describe(step.entries), ElementsAre("start a"));
  ASSERT_EQ(step.children.size(), 1u);
  EXPECT_EQ(step.children[0].node, "a");
  EXPECT_EQ(step.children[0].visit, 1);
  EXPECT_EQ(step.children[0].input, "the input");  // default {{input}}
  EXPECT_EQ(step.children[0].child_run_id, step.entries[0].node_started().child_run_id());
  ASSERT_TRUE(step.children[0].agent.has_value());
  EXPECT_EQ(step.children[0].agent->model(), "m");
  EXPECT_FALSE(step.children[0].graph.has_value());
  EXPECT_EQ(step.entries[0].step(), 0);
  EXPECT_EQ(step.entries[0].seq(), 0);
  EXPECT_FALSE(step.end.has_value());
  EXPECT_THAT(g.execution().RunningChildren(), ElementsAre(step.children[0].child_run_id));

  step = g.Succeed("a", "A");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done a", "start b"));
  EXPECT_THAT(List(step.entries[0].node_finished().next()), ElementsAre("b"));
  EXPECT_EQ(step.entries[0].node_finished().output(), "A");
  EXPECT_EQ(step.children.at(0).input, "A!");
  EXPECT_EQ(step.entries[1].node_started().input(), "A!");

  step = g.Succeed("b", R"({"x": 5})");
  EXPECT_EQ(step.children.at(0).input, "x=5");
  step = g.Succeed("c", "the end");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done c"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::SUCCEEDED);
  EXPECT_EQ(step.end->output, "the end");  // no output template: the last node's output
  EXPECT_TRUE(g.execution().ended());
  EXPECT_EQ(g.execution().node_runs(), 3);
  EXPECT_THAT(g.execution().RunningChildren(), IsEmpty());
}

TEST(GraphExecutionTest, JoinStartsOnlyAfterBothBranchesFinished) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b") + "," + AgentNode("c") + "," +
                     AgentNode("d", "{{nodes.b.output}}+{{nodes.c.output}}") + R"(], "edges": [
      {"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "d"}, {"from": "c", "to": "d"}]})"));
  g.Start();
  GraphStep step = g.Succeed("a", "A");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done a", "start b", "start c"));
  EXPECT_THAT(List(step.entries[0].node_finished().next()), ElementsAre("b", "c"));
  step = g.Succeed("c", "C");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done c"));  // d waits for b
  EXPECT_THAT(List(step.entries[0].node_finished().next()), ElementsAre("d"));
  EXPECT_THAT(step.children, IsEmpty());
  step = g.Succeed("b", "B");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done b", "start d"));
  EXPECT_EQ(step.children.at(0).input, "B+C");
  EXPECT_THAT(g.described(), ElementsAre("start a", "done a", "start b", "start c", "done c", "done b", "start d"));
  step = g.Succeed("d", "D");
  EXPECT_EQ(step.end->output, "D");
}

TEST(GraphExecutionTest, WithoutOutputTemplateTheLastFinishedNodeIsTheOutput) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b") + "," + AgentNode("c") +
                     R"(], "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}]})"));
  g.Start();
  g.Succeed("a", "A");
  g.Succeed("c", "C");
  EXPECT_FALSE(g.execution().ended());
  GraphStep step = g.Succeed("b", "B");
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->output, "B");
}

// router -> billing (topic is billing), router -> urgent (priority > 5),
// router -> general (default), router -> log (always).
constexpr char kRouterEdges[] = R"([
    {"from": "router", "to": "billing", "when": {"pointer": "/topic", "op": "EQ", "value": "billing"}},
    {"from": "router", "to": "urgent", "when": {"pointer": "/priority", "op": "GT", "value": 5}},
    {"from": "router", "to": "general", "default": true},
    {"from": "router", "to": "log"}])";

v1::GraphSpec Router() {
  return Spec(R"({"nodes": [)" + AgentNode("router") + "," + AgentNode("billing") + "," + AgentNode("urgent") + "," +
              AgentNode("general") + "," + AgentNode("log") + R"(], "edges": )" + kRouterEdges + "}");
}

TEST(GraphExecutionTest, FirstConditionThatHoldsWinsAndStaticEdgesAlwaysRun) {
  GraphDriver g(Router());
  g.Start();
  GraphStep step = g.Succeed("router", R"({"topic": "billing", "priority": 9})");  // both hold
  EXPECT_THAT(Describe(step.entries), ElementsAre("done router", "start billing", "start log"));
  const v1::GraphNodeFinished& done = step.entries[0].node_finished();
  EXPECT_THAT(List(done.next()), ElementsAre("billing", "log"));
  EXPECT_THAT(List(done.skipped()), ElementsAre("urgent", "general"));
  EXPECT_THAT(List(done.dropped()), IsEmpty());
}

TEST(GraphExecutionTest, SecondConditionWhenTheFirstDoesNotHold) {
  GraphDriver g(Router());
  g.Start();
  GraphStep step = g.Succeed("router", R"({"topic": "tech", "priority": 9})");
  EXPECT_THAT(List(step.entries[0].node_finished().next()), ElementsAre("urgent", "log"));
}

TEST(GraphExecutionTest, DefaultEdgeWhenNoConditionHolds) {
  GraphDriver g(Router());
  g.Start();
  GraphStep step = g.Succeed("router", "not even JSON");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done router", "start general", "start log"));
  EXPECT_THAT(List(step.entries[0].node_finished().skipped()), ElementsAre("billing", "urgent"));
  g.Succeed("log", "logged");
  step = g.Succeed("general", "answered");
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->output, "answered");
}

TEST(GraphExecutionTest, SkippedBranchLetsTheJoinRunWithTheTakenOne) {
  // router -> a (go == a) -> join; router -> b (default) -> b2 -> join.
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("router") + "," + AgentNode("a") + "," + AgentNode("b") + "," +
                     AgentNode("b2") + "," + AgentNode("join", "[{{nodes.a.output}}][{{nodes.b2.output}}]") +
                     R"(], "edges": [
      {"from": "router", "to": "a", "when": {"pointer": "/go", "op": "EQ", "value": "a"}},
      {"from": "router", "to": "b", "default": true},
      {"from": "a", "to": "join"}, {"from": "b", "to": "b2"}, {"from": "b2", "to": "join"}]})"));
  g.Start();
  GraphStep step = g.Succeed("router", R"({"go": "a"})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done router", "start a"));
  // The whole dead branch is skipped at once; the join has heard from b2 already.
  EXPECT_THAT(List(step.entries[0].node_finished().skipped()), ElementsAre("b", "b2"));
  step = g.Succeed("a", "A");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done a", "start join"));
  EXPECT_EQ(step.children.at(0).input, "[A][]");
  step = g.Succeed("join", "J");
  EXPECT_EQ(step.end->state, v1::SUCCEEDED);
}

TEST(GraphExecutionTest, NodeWhoseInputsAreAllNotTakenIsSkippedAndTheGraphEnds) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("router") + "," + AgentNode("a") + "," + AgentNode("b") + "," +
                     AgentNode("join") + R"(], "edges": [
      {"from": "router", "to": "a", "when": {"pointer": "/go", "op": "EQ", "value": "a"}},
      {"from": "router", "to": "b", "when": {"pointer": "/go", "op": "EQ", "value": "b"}},
      {"from": "a", "to": "join"}, {"from": "b", "to": "join"}]})"));
  g.Start();
  GraphStep step = g.Succeed("router", R"({"go": "neither"})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done router"));
  EXPECT_THAT(List(step.entries[0].node_finished().next()), IsEmpty());
  EXPECT_THAT(List(step.entries[0].node_finished().skipped()), ElementsAre("a", "b", "join"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::SUCCEEDED);
  EXPECT_EQ(step.end->output, R"({"go": "neither"})");
}

// writer (max_visits 2) -> reviewer; reviewer -> writer while not approved, else -> publish.
v1::GraphSpec ReviewLoop() {
  return Spec(R"({"nodes": [
      {"id": "writer", "max_visits": 2, "agent": {"agent": {"model": "m"},
          "input": "{{input}}; notes: {{nodes.reviewer.output.notes}}"}},
      )" + AgentNode("reviewer", "{{nodes.writer.output}}") +
              "," + AgentNode("publish") + R"js(],
    "edges": [
      {"from": "writer", "to": "reviewer"},
      {"from": "reviewer", "to": "writer", "when": {"pointer": "/approved", "op": "EQ", "value": false}},
      {"from": "reviewer", "to": "publish", "default": true}],
    "output": "{{nodes.writer.output}} ({{nodes.reviewer.output.notes}})"})js");
}

TEST(GraphExecutionTest, ReviewLoopRunsUntilMaxVisitsThenTheEdgeIsDropped) {
  GraphDriver g(ReviewLoop(), "tides");
  GraphStep step = g.Start();
  EXPECT_EQ(step.children.at(0).input, "tides; notes: ");  // the reviewer has not run yet
  g.Succeed("writer", "W1");
  step = g.Succeed("reviewer", R"({"approved": false, "notes": "too short"})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done reviewer", "start writer#2"));
  EXPECT_THAT(List(step.entries[0].node_finished().next()), ElementsAre("writer"));
  EXPECT_THAT(List(step.entries[0].node_finished().skipped()), ElementsAre("publish"));
  EXPECT_EQ(step.children.at(0).visit, 2);
  EXPECT_EQ(step.children.at(0).input, "tides; notes: too short");
  step = g.Succeed("writer", "W2");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done writer#2", "start reviewer#2"));
  step = g.Succeed("reviewer", R"({"approved": false, "notes": "still short"})");
  // The writer has run twice: the loop's edge leads nowhere and the graph is done.
  EXPECT_THAT(Describe(step.entries), ElementsAre("done reviewer#2"));
  EXPECT_THAT(List(step.entries[0].node_finished().next()), IsEmpty());
  EXPECT_THAT(List(step.entries[0].node_finished().dropped()), ElementsAre("writer"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::SUCCEEDED);
  EXPECT_EQ(step.end->output, "W2 (still short)");
  EXPECT_EQ(g.execution().node_runs(), 4);
}

TEST(GraphExecutionTest, ReviewLoopLeavesThroughTheDefaultOnceApproved) {
  GraphDriver g(ReviewLoop());
  g.Start();
  g.Succeed("writer", "W1");
  g.Succeed("reviewer", R"({"approved": false, "notes": "n1"})");
  g.Succeed("writer", "W2");
  GraphStep step = g.Succeed("reviewer", R"({"approved": true, "notes": "good"})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done reviewer#2", "start publish"));
  step = g.Succeed("publish", "published");
  EXPECT_EQ(step.end->output, "W2 (good)");
  EXPECT_THAT(g.described(),
              ElementsAre("start writer", "done writer", "start reviewer", "done reviewer", "start writer#2",
                          "done writer#2", "start reviewer#2", "done reviewer#2", "start publish", "done publish"));
}

TEST(GraphExecutionTest, LoopDoesNotWaitAgainForAnInputFromBeforeTheLoop) {
  // plan -> writer, plan -> reviewer (the rubric), writer -> reviewer, reviewer -> writer.
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("plan") + R"(,
      {"id": "writer", "max_visits": 2, "agent": {"agent": {"model": "m"}}},
      )" + AgentNode("reviewer", "{{nodes.plan.output}}: {{nodes.writer.output}}") +
                     R"(],
    "edges": [
      {"from": "plan", "to": "writer"}, {"from": "plan", "to": "reviewer"}, {"from": "writer", "to": "reviewer"},
      {"from": "reviewer", "to": "writer", "when": {"pointer": "/approved", "op": "EQ", "value": false}}]})"));
  g.Start();
  GraphStep step = g.Succeed("plan", "rubric");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done plan", "start writer"));  // the reviewer waits
  step = g.Succeed("writer", "W1");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done writer", "start reviewer"));
  g.Succeed("reviewer", R"({"approved": false})");
  step = g.Succeed("writer", "W2");
  // The plan's report stands: the second review starts with the second draft.
  EXPECT_THAT(Describe(step.entries), ElementsAre("done writer#2", "start reviewer#2"));
  EXPECT_EQ(step.children.at(0).input, "rubric: W2");
}

TEST(GraphExecutionTest, PassingMaxNodeRunsFailsTheGraphAndStartsNothingMore) {
  GraphDriver g(Spec(R"({"nodes": [{"id": "a", "max_visits": 100, "agent": {"agent": {"model": "m"}}}],
                         "edges": [{"from": "a", "to": "a"}], "limits": {"max_node_runs": 3}})"));
  g.Start();
  g.Succeed("a", "1");
  g.Succeed("a", "2");
  EXPECT_EQ(g.execution().node_runs(), 3);
  GraphStep step = g.Succeed("a", "3");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done a#3"));
  EXPECT_THAT(step.children, IsEmpty());
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::FAILED);
  EXPECT_EQ(step.end->kind, v1::LIMIT_MAX_NODE_RUNS);
  EXPECT_EQ(step.end->error, R"(node "a" not started: the graph reached max_node_runs (3))");
  EXPECT_EQ(g.execution().node_runs(), 3);
}

TEST(GraphExecutionTest, FailedNodeFailsTheGraphAndLeavesTheOthersToCancel) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b") + "," + AgentNode("c") + "," +
                     AgentNode("d") + R"(], "edges": [
      {"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "d"}, {"from": "c", "to": "d"}]})"));
  g.Start();
  g.Succeed("a", "A");
  const std::string c_child = g.RunningChild("c");
  GraphStep step = g.Fail("b", "model refused");
  EXPECT_THAT(Describe(step.entries), ElementsAre("failed b"));
  EXPECT_EQ(step.entries[0].node_finished().error(), "model refused");
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::FAILED);
  EXPECT_EQ(step.end->kind, v1::NODE_FAILED);
  EXPECT_EQ(step.end->error, R"(node "b" failed: model refused)");
  EXPECT_THAT(g.execution().RunningChildren(), ElementsAre(c_child));

  // c ends afterwards (it was cancelled, or finished anyway): nothing more is decided.
  step = g.EndChild(c_child, v1::SUCCEEDED, "C");
  EXPECT_THAT(step.entries, IsEmpty());
  EXPECT_THAT(step.children, IsEmpty());
  EXPECT_FALSE(step.end.has_value());
  EXPECT_TRUE(g.execution().ended());
}

TEST(GraphExecutionTest, CancelledChildCountsAsFailed) {
  GraphDriver g(
      Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b") + R"(], "edges": [{"from": "a", "to": "b"}]})"));
  g.Start();
  GraphStep step = g.End("a", 0, v1::CANCELLED, "", "");
  EXPECT_THAT(Describe(step.entries), ElementsAre("cancelled a"));
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->kind, v1::NODE_FAILED);
  EXPECT_EQ(step.end->error, R"(node "a" failed: the child run ended CANCELLED)");
}

TEST(GraphExecutionTest, EventsForUnknownOrUnfinishedRunsDecideNothing) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "]}"));
  g.Start();
  EXPECT_THAT(g.EndChild("run-999", v1::SUCCEEDED, "x").entries, IsEmpty());
  EXPECT_THAT(g.EndChild(g.RunningChild("a"), v1::RUNNING, "").entries, IsEmpty());
  EXPECT_THAT(g.execution().OnDecision("g1:a:1", v1::ApprovalDecision()).entries, IsEmpty());
  EXPECT_FALSE(g.execution().ended());
  EXPECT_EQ(g.Succeed("a", "A").end->output, "A");
}

TEST(GraphExecutionTest, AgentNodesApplyTheirOutputSchemaToTheChild) {
  GraphDriver g(Spec(R"({"nodes": [{"id": "a", "agent": {
      "agent": {"model": "m", "system": "be brief", "output_schema": {"type": "object", "title": "old"}},
      "output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}]})"));
  GraphStep step = g.Start();
  ASSERT_TRUE(step.children.at(0).agent.has_value());
  const v1::AgentSpec& agent = *step.children[0].agent;
  EXPECT_EQ(agent.system(), "be brief");
  EXPECT_TRUE(agent.output_schema().fields().contains("properties"));
  EXPECT_FALSE(agent.output_schema().fields().contains("title"));
}

TEST(GraphExecutionTest, SubgraphNodesStartAChildGraphRun) {
  GraphDriver g(Spec(R"({"nodes": [
      {"id": "sub", "graph": {"graph_name": "inner", "input": "topic={{input.topic}}",
          "graph": {"name": "inner", "nodes": [{"id": "x", "agent": {"agent": {"model": "m"}}}]}}},
      )" + AgentNode("after", "{{nodes.sub.output}}") +
                     R"(], "edges": [{"from": "sub", "to": "after"}]})"),
                R"({"topic": "tides"})");
  GraphStep step = g.Start();
  ASSERT_EQ(step.children.size(), 1u);
  EXPECT_FALSE(step.children[0].agent.has_value());
  ASSERT_TRUE(step.children[0].graph.has_value());
  EXPECT_EQ(step.children[0].graph->name(), "inner");
  EXPECT_EQ(step.children[0].graph->nodes(0).id(), "x");
  EXPECT_EQ(step.children[0].input, "topic=tides");
  step = g.Succeed("sub", "inner result");
  EXPECT_EQ(step.children.at(0).input, "inner result");
}

TEST(GraphExecutionTest, NodeRunsListEachRunInStartOrderWithItsOutcome) {
  GraphDriver g(Spec(R"({"nodes": [)" + AgentNode("a") + "," + AgentNode("b") + "," + AgentNode("c") +
                     R"(], "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}]})"));
  g.Start();
  g.Succeed("a", "A");
  g.Fail("c", "boom");
  const std::vector<v1::GraphNodeRun> runs = NodeRuns(g.journal());
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].node(), "a");
  EXPECT_EQ(runs[0].state(), v1::SUCCEEDED);
  EXPECT_EQ(runs[0].output(), "A");
  EXPECT_EQ(runs[0].input(), "the input");
  EXPECT_EQ(runs[0].child_run_id(), "run-1");
  EXPECT_EQ(runs[1].node(), "b");
  EXPECT_EQ(runs[1].state(), v1::RUNNING);
  EXPECT_EQ(runs[2].node(), "c");
  EXPECT_EQ(runs[2].state(), v1::FAILED);
  EXPECT_EQ(runs[2].error(), "boom");
  // Entries of other kinds are not node runs.
  std::vector<v1::JournalEntry> journal = g.journal();
  journal.insert(journal.begin(), v1::JournalEntry());
  EXPECT_EQ(NodeRuns(journal).size(), 3u);
}

}  // namespace
}  // namespace baton::orchestrator::graph
