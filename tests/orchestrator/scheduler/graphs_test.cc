// Graph runs in the scheduler: node runs created as the graph decides, in the batch
// of the event that caused them; restarts; cancellation; human nodes; limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/orchestrator/scheduler/scheduler_fixture.h"

namespace baton::orchestrator {
namespace {

using ::testing::ElementsAre;

class GraphsTest : public SchedulerFixture {
 protected:
  static v1::GraphNode AgentNode(const std::string& id, const std::string& input = "{{input}}") {
    v1::GraphNode node;
    node.set_id(id);
    *node.mutable_agent()->mutable_agent() = Agent(id);
    node.mutable_agent()->set_input(input);
    return node;
  }

  static void Edge(v1::GraphSpec& graph, const std::string& from, const std::string& to) {
    v1::GraphEdge* edge = graph.add_edges();
    edge->set_from(from);
    edge->set_to(to);
  }

  // plan -> write, the second reading the first's output.
  static v1::GraphSpec Chain() {
    v1::GraphSpec graph;
    graph.set_name("chain");
    *graph.add_nodes() = AgentNode("plan");
    *graph.add_nodes() = AgentNode("write", "plan said: {{nodes.plan.output}}");
    Edge(graph, "plan", "write");
    return graph;
  }

  v1::Run CreateGraph(v1::GraphSpec graph, const std::string& input) {
    EXPECT_TRUE(graph::ValidateGraph(graph).ok()) << graph::ValidateGraph(graph);
    v1::Run run;
    *run.mutable_graph() = std::move(graph);
    run.set_input(input);
    absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
    scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : v1::Run();
  }

  absl::StatusOr<v1::RunState> Fail(const TaskGrant& g, const std::string& error) {
    absl::StatusOr<v1::RunState> out = absl::UnknownError("no answer");
    FailRunParams params;
    params.lease = Ref(g);
    params.error = error;
    params.failure_kind = v1::MODEL_ERROR;
    scheduler_->FailRun(params, [&](absl::StatusOr<v1::RunState> s) { out = s; });
    return out;
  }

  std::vector<v1::Run> Children(const std::string& run_id) {
    RunFilter filter;
    filter.parent_run_id = run_id;
    absl::StatusOr<RunPage> page = store_.ListRuns(filter, 1000, "");
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->runs : std::vector<v1::Run>();
  }

  // The graph's node events, as "started plan", "finished plan SUCCEEDED", "edge plan->write".
  std::vector<std::string> NodeEvents(const std::string& run_id) {
    std::vector<std::string> out;
    for (const v1::RunEvent& e : events_) {
      if (e.run_id() != run_id) continue;
      if (e.has_node_started()) out.push_back(absl::StrCat("started ", e.node_started().node()));
      if (e.has_node_finished()) {
        out.push_back(absl::StrCat("finished ", e.node_finished().node(), " ",
                                   v1::RunState_Name(e.node_finished().state())));
      }
      if (e.has_edge_taken()) out.push_back(absl::StrCat("edge ", e.edge_taken().from(), "->", e.edge_taken().to()));
    }
    return out;
  }
};

TEST_F(GraphsTest, AGraphRunWaitsWithoutALeaseAndRunsEachNodeAsAChildWhenItsInputIsReady) {
  v1::Run graph = CreateGraph(Chain(), "solar power");
  EXPECT_EQ(graph.state(), v1::WAITING);
  EXPECT_EQ(scheduler_->GraphCount(), 1u);

  std::optional<TaskGrant> plan = Poll();
  ASSERT_TRUE(plan.has_value());
  EXPECT_FALSE(Poll().has_value()) << "write must wait for plan";
  EXPECT_EQ(plan->run.parent_run_id(), graph.run_id());
  EXPECT_EQ(plan->run.root_run_id(), graph.run_id());
  EXPECT_EQ(plan->run.graph_node(), "plan");
  EXPECT_EQ(plan->run.graph_visit(), 1);
  EXPECT_EQ(plan->run.agent().name(), "plan");
  EXPECT_EQ(plan->run.input(), "solar power");

  ASSERT_TRUE(Complete(*plan, "three panels").ok());
  // The same batch ended plan and created write: both are in the store now.
  std::optional<TaskGrant> write = Poll();
  ASSERT_TRUE(write.has_value());
  EXPECT_EQ(write->run.graph_node(), "write");
  EXPECT_EQ(write->run.input(), "plan said: three panels");
  ASSERT_TRUE(Complete(*write, "the report").ok());

  v1::Run done = Get(graph.run_id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "the report");
  EXPECT_EQ(scheduler_->GraphCount(), 0u);
  EXPECT_EQ(scheduler_->WaitingCount(), 0u);
  EXPECT_EQ(Children(graph.run_id()).size(), 2u);
  EXPECT_THAT(NodeEvents(graph.run_id()), ElementsAre("started plan", "finished plan SUCCEEDED", "edge plan->write",
                                                      "started write", "finished write SUCCEEDED"));
  // The journal holds what the graph decided, in order.
  std::vector<v1::JournalEntry> journal = Journal(graph.run_id());
  ASSERT_EQ(journal.size(), 4u);
  EXPECT_EQ(journal[0].node_started().child_run_id(), plan->run.run_id());
  EXPECT_EQ(journal[1].node_finished().output(), "three panels");
  EXPECT_EQ(journal[2].node_started().input(), "plan said: three panels");
}

TEST_F(GraphsTest, ARestartContinuesFromTheJournalAndRepeatsNoFinishedNode) {
  v1::Run graph = CreateGraph(Chain(), "x");
  std::optional<TaskGrant> plan = Poll();
  ASSERT_TRUE(plan.has_value());
  ASSERT_TRUE(Complete(*plan, "p").ok());
  std::optional<TaskGrant> write = Poll();
  ASSERT_TRUE(write.has_value());

  Reset();  // the orchestrator restarts while write runs
  EXPECT_EQ(scheduler_->GraphCount(), 1u);
  EXPECT_EQ(Get(graph.run_id()).state(), v1::WAITING);
  EXPECT_FALSE(Poll().has_value()) << "plan must not run again";
  // The worker holding write goes on with its lease.
  ASSERT_TRUE(Complete(*write, "w").ok());
  EXPECT_EQ(Get(graph.run_id()).state(), v1::SUCCEEDED);
  EXPECT_EQ(Get(graph.run_id()).output(), "w");
  EXPECT_EQ(Children(graph.run_id()).size(), 2u);
}

TEST_F(GraphsTest, CancellingAGraphEndsEveryNodeRun) {
  v1::GraphSpec spec;
  spec.set_name("fan");
  v1::GraphNode map;
  map.set_id("each");
  map.mutable_map()->set_over("input.items");
  *map.mutable_map()->mutable_agent()->mutable_agent() = Agent("worker");
  map.mutable_map()->mutable_agent()->set_input("{{item}}");
  map.mutable_map()->set_max_parallel(2);
  *spec.add_nodes() = map;
  v1::Run graph = CreateGraph(spec, R"({"items":["a","b","c"]})");
  std::optional<TaskGrant> first = Poll();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->run.map_item(), 1);
  // One item leased, one queued, one not started (max_parallel 2).
  absl::StatusOr<v1::Run> cancelled = absl::UnknownError("no answer");
  scheduler_->CancelRun(graph.run_id(), "enough", [&](absl::StatusOr<v1::Run> r) { cancelled = r; });
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(Get(graph.run_id()).state(), v1::CANCELLED);
  std::vector<v1::Run> children = Children(graph.run_id());
  ASSERT_EQ(children.size(), 2u);
  for (const v1::Run& child : children) {
    if (child.run_id() == first->run.run_id()) {
      EXPECT_TRUE(child.cancel_requested());  // its worker learns it on the next heartbeat
    } else {
      EXPECT_EQ(child.state(), v1::CANCELLED);
    }
  }
  EXPECT_FALSE(Poll().has_value());
  EXPECT_EQ(scheduler_->GraphCount(), 0u);
}

TEST_F(GraphsTest, AHumanNodeIsAnApprovalWhoseDecisionIsTheNodesOutput) {
  v1::GraphSpec spec;
  spec.set_name("ask");
  v1::GraphNode ask;
  ask.set_id("ask");
  ask.mutable_human()->set_prompt("Refund {{input}}?");
  *spec.add_nodes() = ask;
  *spec.add_nodes() = AgentNode("act", "decided {{nodes.ask.output.decision}}: {{nodes.ask.output.message}}");
  Edge(spec, "ask", "act");
  v1::Run graph = CreateGraph(spec, "order 7");
  EXPECT_FALSE(Poll().has_value());

  ApprovalFilter filter;
  filter.run_id = graph.run_id();
  absl::StatusOr<ApprovalPage> pending = store_.ListApprovals(filter, 10, "");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->approvals.size(), 1u);
  const v1::Approval& approval = pending->approvals[0];
  EXPECT_EQ(approval.kind(), v1::Approval::GRAPH_NODE);
  EXPECT_EQ(approval.tool(), "ask");
  EXPECT_EQ(approval.message(), "Refund order 7?");
  // EDIT is not a decision a question allows.
  EXPECT_EQ(Decide(approval.approval_id(), v1::EDIT, "", "{}").status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(Decide(approval.approval_id(), v1::RESPOND, "half of it").ok());
  std::optional<TaskGrant> act = Poll();
  ASSERT_TRUE(act.has_value());
  EXPECT_EQ(act->run.input(), "decided RESPOND: half of it");
  ASSERT_TRUE(Complete(*act, "refunded half").ok());
  EXPECT_EQ(Get(graph.run_id()).state(), v1::SUCCEEDED);
}

TEST_F(GraphsTest, AFailedNodeFailsTheGraphAndNamesTheNode) {
  v1::Run graph = CreateGraph(Chain(), "x");
  std::optional<TaskGrant> plan = Poll();
  ASSERT_TRUE(plan.has_value());
  ASSERT_TRUE(Fail(*plan, "the model refused").ok());
  v1::Run failed = Get(graph.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::NODE_FAILED);
  EXPECT_NE(failed.error().find("plan"), std::string::npos) << failed.error();
  EXPECT_NE(failed.error().find("the model refused"), std::string::npos) << failed.error();
  EXPECT_FALSE(Poll().has_value());
}

TEST_F(GraphsTest, TheGraphsCostLimitCoversItsNodesAndEndsThem) {
  v1::GraphSpec spec = Chain();
  spec.mutable_limits()->set_max_cost_usd(1.0);
  v1::Run graph = CreateGraph(spec, "x");
  std::optional<TaskGrant> plan = Poll();
  ASSERT_TRUE(plan.has_value());
  ASSERT_TRUE(Append(*plan, {Turn(0, 0.4)}).ok());
  EXPECT_EQ(Get(graph.run_id()).state(), v1::WAITING);
  absl::StatusOr<AppendResult> over = Append(*plan, {Turn(1, 0.7)});
  ASSERT_TRUE(over.ok());
  EXPECT_TRUE(over->cancel_requested);
  v1::Run failed = Get(graph.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::LIMIT_MAX_COST);
  EXPECT_NEAR(failed.usage().cost_usd(), 1.1, 1e-9);
}

TEST_F(GraphsTest, TheGraphsTimeoutFailsItAtTheDeadline) {
  v1::GraphSpec spec = Chain();
  spec.mutable_limits()->set_timeout_seconds(60);
  v1::Run graph = CreateGraph(spec, "x");
  ASSERT_TRUE(Poll().has_value());
  clock_.Advance(absl::Seconds(59));
  scheduler_->Tick();
  EXPECT_EQ(Get(graph.run_id()).state(), v1::WAITING);
  Reset();  // the deadline survives a restart
  clock_.Advance(absl::Seconds(2));
  scheduler_->Tick();
  v1::Run failed = Get(graph.run_id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::LIMIT_RUN_TIMEOUT);
}

TEST_F(GraphsTest, ASubgraphNodeIsAChildGraphRunWhoseOutputFlowsOn) {
  v1::GraphSpec inner;
  inner.set_name("inner");
  *inner.add_nodes() = AgentNode("step", "inner got {{input}}");
  v1::GraphSpec outer;
  outer.set_name("outer");
  v1::GraphNode sub;
  sub.set_id("sub");
  *sub.mutable_graph()->mutable_graph() = inner;
  sub.mutable_graph()->set_input("from outer: {{input}}");
  *outer.add_nodes() = sub;
  *outer.add_nodes() = AgentNode("after", "sub said {{nodes.sub.output}}");
  Edge(outer, "sub", "after");
  v1::Run graph = CreateGraph(outer, "go");

  std::vector<v1::Run> children = Children(graph.run_id());
  ASSERT_EQ(children.size(), 1u);
  EXPECT_TRUE(children[0].has_graph());
  EXPECT_EQ(children[0].state(), v1::WAITING);
  EXPECT_EQ(scheduler_->GraphCount(), 2u);
  std::optional<TaskGrant> step = Poll();
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(step->run.parent_run_id(), children[0].run_id());
  EXPECT_EQ(step->run.root_run_id(), graph.run_id());
  EXPECT_EQ(step->run.input(), "inner got from outer: go");
  Reset();
  ASSERT_TRUE(Complete(*step, "inner done").ok());
  std::optional<TaskGrant> after = Poll();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->run.input(), "sub said inner done");
  ASSERT_TRUE(Complete(*after, "all done").ok());
  EXPECT_EQ(Get(graph.run_id()).state(), v1::SUCCEEDED);
}

TEST_F(GraphsTest, AMapSurvivesARestartAndStartsEachItemOnce) {
  v1::GraphSpec spec;
  spec.set_name("map");
  v1::GraphNode map;
  map.set_id("each");
  map.mutable_map()->set_over("input.items");
  *map.mutable_map()->mutable_agent()->mutable_agent() = Agent("worker");
  map.mutable_map()->mutable_agent()->set_input("do {{item}}");
  map.mutable_map()->set_max_parallel(2);
  *spec.add_nodes() = map;
  v1::Run graph = CreateGraph(spec, R"({"items":["a","b","c"]})");
  std::optional<TaskGrant> a = Poll();
  std::optional<TaskGrant> b = Poll();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_FALSE(Poll().has_value()) << "max_parallel 2";
  ASSERT_TRUE(Complete(*a, R"({"n":1})").ok());
  Reset();
  std::optional<TaskGrant> c = Poll();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run.input(), "do c");
  ASSERT_TRUE(Complete(*c, "third").ok());
  ASSERT_TRUE(Complete(*b, "second").ok());
  v1::Run done = Get(graph.run_id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(done.output(), R"([{"n":1},"second","third"])");
  EXPECT_EQ(Children(graph.run_id()).size(), 3u);
}

}  // namespace
}  // namespace baton::orchestrator
