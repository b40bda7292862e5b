// Map nodes: one child run per item, at most max_parallel at once, and the three
// failure policies.
#include <map>
#include <random>
#include <set>

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
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Spec;

// plan -> fan (a map over plan's tasks) -> join.
v1::GraphSpec Fan(const std::string& map_settings, const std::string& item_input = "") {
  std::string map = R"({"id": "fan", "map": {"over": "nodes.plan.output.tasks", "agent": {"agent": {"model": "m"})";
  if (!item_input.empty()) map += R"(, "input": ")" + item_input + "\"";
  map += "}" + map_settings + "}}";
  return Spec(R"({"nodes": [)" + AgentNode("plan") + "," + map + "," + AgentNode("join", "{{nodes.fan.output}}") +
              R"(], "edges": [{"from": "plan", "to": "fan"}, {"from": "fan", "to": "join"}]})");
}

std::string Tasks(int n) {
  std::string tasks = R"({"tasks": [)";
  for (int i = 0; i < n; ++i) tasks += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\"";
  return tasks + "]}";
}

TEST(MapNodeTest, StartsTheNodeThenItsFirstItemsWithRenderedInputs) {
  GraphDriver g(Fan(R"(, "max_parallel": 2)", "{{index}}:{{item.q}}"));
  g.Start();
  GraphStep step = g.Succeed("plan", R"({"tasks": [{"q": "moon"}, {"q": "sun"}, {"q": "wind"}]})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done plan", "start fan", "start fan[1]", "start fan[2]"));
  const v1::GraphNodeStarted& node = step.entries[1].node_started();
  EXPECT_EQ(node.items(), 3);
  EXPECT_EQ(node.input(), R"([{"q":"moon"},{"q":"sun"},{"q":"wind"}])");
  EXPECT_TRUE(node.child_run_id().empty());
  ASSERT_EQ(step.children.size(), 2u);
  EXPECT_EQ(step.children[0].item, 1);
  EXPECT_EQ(step.children[0].input, "0:moon");
  EXPECT_EQ(step.children[1].input, "1:sun");
  EXPECT_EQ(step.entries[3].node_started().input(), "1:sun");
  EXPECT_EQ(step.entries[3].node_started().child_run_id(), step.children[1].child_run_id);
}

TEST(MapNodeTest, ItemInputDefaultsToTheItem) {
  GraphDriver g(Fan(""));
  g.Start();
  GraphStep step = g.Succeed("plan", R"({"tasks": ["alpha", {"b": 1}]})");
  ASSERT_EQ(step.children.size(), 2u);
  EXPECT_EQ(step.children[0].input, "alpha");
  EXPECT_EQ(step.children[1].input, R"({"b":1})");
}

TEST(MapNodeTest, NextItemStartsAsOneEndsAndProgressIsReported) {
  GraphDriver g(Fan(R"(, "max_parallel": 2)"));
  g.Start();
  g.Succeed("plan", Tasks(3));
  GraphStep step = g.Succeed("fan", "r2", 2);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done fan[2]", "start fan[3]"));
  const v1::MapProgress& progress = step.entries[0].node_finished().progress();
  EXPECT_EQ(progress.total(), 3);
  EXPECT_EQ(progress.succeeded(), 1);
  EXPECT_EQ(progress.failed(), 0);
  EXPECT_EQ(progress.running(), 1);
  g.Succeed("fan", R"({"n": 3})", 3);
  step = g.Succeed("fan", "plain text", 1);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done fan[1]", "done fan", "start join"));
  // Item order, not end order; JSON outputs as JSON, text as strings.
  EXPECT_EQ(step.entries[1].node_finished().output(), R"(["plain text","r2",{"n":3}])");
  EXPECT_EQ(step.children.at(0).input, R"(["plain text","r2",{"n":3}])");
  EXPECT_EQ(g.execution().node_runs(), 1 + 3 + 1);
}

TEST(MapNodeTest, NeverMoreThanMaxParallelAndEveryItemStartsExactlyOnce) {
  for (int seed = 0; seed < 20; ++seed) {
    constexpr int kItems = 23;
    constexpr int kParallel = 4;
    GraphDriver g(Fan(R"(, "max_parallel": 4, "on_failure": "COLLECT")"));
    g.Start();
    g.Succeed("plan", Tasks(kItems));
    std::mt19937 rng(seed);
    std::set<int> running;
    std::map<int, int> starts;
    size_t seen = 0;
    const auto account = [&] {
      for (; seen < g.journal().size(); ++seen) {
        const v1::JournalEntry& e = g.journal()[seen];
        if (e.has_node_started() && e.node_started().node() == "fan" && e.node_started().item() > 0) {
          ++starts[e.node_started().item()];
          running.insert(e.node_started().item());
        }
        if (e.has_node_finished() && e.node_finished().node() == "fan" && e.node_finished().item() > 0) {
          running.erase(e.node_finished().item());
        }
      }
      ASSERT_LE(running.size(), static_cast<size_t>(kParallel)) << "seed " << seed;
    };
    account();
    while (!running.empty()) {
      auto it = running.begin();
      std::advance(it, rng() % running.size());
      const int item = *it;
      if (rng() % 5 == 0) {
        g.Fail("fan", "flaky", item);
      } else {
        g.Succeed("fan", "r" + std::to_string(item), item);
      }
      account();
      if (!running.empty()) {
        ASSERT_EQ(running.size(), std::min<size_t>(kParallel, kItems - (starts.size() - running.size())))
            << "a slot stayed empty while items waited; seed " << seed;
      }
    }
    ASSERT_EQ(starts.size(), static_cast<size_t>(kItems)) << "seed " << seed;
    for (const auto& [item, count] : starts) EXPECT_EQ(count, 1) << "item " << item << " seed " << seed;
    EXPECT_EQ(g.Finished("fan").state(), v1::SUCCEEDED) << "seed " << seed;
    EXPECT_EQ(g.execution().RunningChildren().size(), 1u);  // the join
  }
}

TEST(MapNodeTest, FailFastFailsTheNodeAndTheGraphAtTheFirstFailedItem) {
  GraphDriver g(Fan(R"(, "max_parallel": 3)"));
  g.Start();
  g.Succeed("plan", Tasks(5));
  g.Succeed("fan", "ok", 1);  // item 4 starts
  GraphStep step = g.Fail("fan", "tool crashed", 3);
  EXPECT_THAT(Describe(step.entries), ElementsAre("failed fan[3]", "failed fan"));
  EXPECT_EQ(step.entries[1].node_finished().error(), "item 3 failed: tool crashed");
  EXPECT_THAT(step.children, IsEmpty());  // item 5 never starts
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->state, v1::FAILED);
  EXPECT_EQ(step.end->kind, v1::NODE_FAILED);
  EXPECT_EQ(step.end->error, R"(node "fan" item 3 failed: tool crashed)");
  // Items 2 and 4 are still running: the scheduler cancels them.
  EXPECT_THAT(g.execution().RunningChildren(), ElementsAre(g.RunningChild("fan", 2), g.RunningChild("fan", 4)));
  EXPECT_THAT(g.Succeed("fan", "late", 2).entries, IsEmpty());
}

TEST(MapNodeTest, CollectRunsEveryItemAndLeavesNullsForFailedOnes) {
  GraphDriver g(Fan(R"(, "on_failure": "COLLECT")"));
  g.Start();
  g.Succeed("plan", Tasks(3));
  g.Fail("fan", "no", 2);
  g.End("fan", 3, v1::CANCELLED, "", "cancelled by user");  // counts as failed
  GraphStep step = g.Succeed("fan", "[1, 2]", 1);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done fan[1]", "done fan", "start join"));
  EXPECT_EQ(step.entries[0].node_finished().progress().failed(), 2);
  EXPECT_EQ(g.Finished("fan").output(), "[[1,2],null,null]");
}

TEST(MapNodeTest, QuorumSucceedsWithEnoughItemsOnceAllHaveEnded) {
  GraphDriver g(Fan(R"(, "on_failure": "QUORUM", "quorum": 3)"));
  g.Start();
  g.Succeed("plan", Tasks(5));
  g.Fail("fan", "x", 1);
  g.Fail("fan", "y", 2);  // 2 failed: 3 can still succeed
  g.Succeed("fan", "c", 3);
  g.Succeed("fan", "d", 4);
  EXPECT_EQ(g.Finished("fan").state(), v1::RUN_STATE_UNSPECIFIED);  // the node has not ended yet
  GraphStep step = g.Succeed("fan", "e", 5);
  EXPECT_THAT(Describe(step.entries), ElementsAre("done fan[5]", "done fan", "start join"));
  EXPECT_EQ(g.Finished("fan").output(), R"([null,null,"c","d","e"])");
}

TEST(MapNodeTest, QuorumFailsAsSoonAsItCanNoLongerBeReached) {
  GraphDriver g(Fan(R"(, "on_failure": "QUORUM", "quorum": 3)"));
  g.Start();
  g.Succeed("plan", Tasks(5));
  g.Fail("fan", "x", 1);
  g.Succeed("fan", "b", 2);
  g.Fail("fan", "y", 3);
  GraphStep step = g.Fail("fan", "z", 4);  // 3 failed of 5: at most 2 can succeed
  EXPECT_THAT(Describe(step.entries), ElementsAre("failed fan[4]", "failed fan"));
  EXPECT_EQ(step.end->error,
            R"(node "fan" failed: quorum 3 can no longer be reached: 3 of 5 items failed (item 4: z))");
  EXPECT_THAT(g.execution().RunningChildren(), ElementsAre(g.RunningChild("fan", 5)));
}

TEST(MapNodeTest, QuorumLargerThanTheItemsFailsAtOnce) {
  GraphDriver g(Fan(R"(, "on_failure": "QUORUM", "quorum": 3)"));
  g.Start();
  GraphStep step = g.Succeed("plan", Tasks(2));
  EXPECT_THAT(Describe(step.entries), ElementsAre("done plan", "start fan", "failed fan"));
  EXPECT_THAT(step.children, IsEmpty());
  EXPECT_THAT(step.end->error, HasSubstr("quorum 3 cannot be reached"));
}

TEST(MapNodeTest, EmptyArraySucceedsAtOnce) {
  GraphDriver g(Fan(""));
  g.Start();
  GraphStep step = g.Succeed("plan", R"({"tasks": []})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done plan", "start fan", "done fan", "start join"));
  EXPECT_EQ(step.entries[1].node_started().items(), 0);
  EXPECT_EQ(step.entries[2].node_finished().output(), "[]");
  EXPECT_EQ(step.children.at(0).input, "[]");
}

TEST(MapNodeTest, OverThatIsNotAnArrayFailsTheNodeNamingThePathAndWhatItFound) {
  GraphDriver g(Fan(""));
  g.Start();
  GraphStep step = g.Succeed("plan", R"({"tasks": {"first": "moon"}})");
  EXPECT_THAT(Describe(step.entries), ElementsAre("done plan", "start fan", "failed fan"));
  EXPECT_EQ(step.entries[2].node_finished().error(),
            R"(over "nodes.plan.output.tasks" is not an array: found {"first":"moon"})");
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->kind, v1::NODE_FAILED);
  EXPECT_EQ(step.end->error,
            R"(node "fan" failed: over "nodes.plan.output.tasks" is not an array: found {"first":"moon"})");
}

TEST(MapNodeTest, OverMayBeAStringHoldingAnArray) {
  GraphDriver g(Spec(R"({"nodes": [{"id": "fan", "map": {"over": "input", "agent": {"agent": {"model": "m"}}}}]})"),
                R"(["a", "b"])");
  GraphStep step = g.Start();
  EXPECT_THAT(Describe(step.entries), ElementsAre("start fan", "start fan[1]", "start fan[2]"));
}

TEST(MapNodeTest, ItemsGetTheMapAgentWithItsOutputSchema) {
  v1::GraphSpec spec = Fan("");
  (*spec.mutable_nodes(1)->mutable_map()->mutable_agent()->mutable_output_schema()->mutable_fields())["type"]
      .set_string_value("object");
  GraphDriver h(spec);
  h.Start();
  GraphStep step = h.Succeed("plan", Tasks(1));
  ASSERT_TRUE(step.children.at(0).agent.has_value());
  EXPECT_EQ(step.children[0].agent->output_schema().fields().at("type").string_value(), "object");
}

TEST(MapNodeTest, EachItemIsANodeRunForTheLimit) {
  GraphDriver g(Spec(R"({"nodes": [{"id": "fan", "map": {"over": "input", "agent": {"agent": {"model": "m"}}}}],
                         "limits": {"max_node_runs": 3}})"),
                "[1, 2, 3, 4, 5]");
  GraphStep step = g.Start();
  EXPECT_THAT(Describe(step.entries), ElementsAre("start fan", "start fan[1]", "start fan[2]", "start fan[3]"));
  EXPECT_EQ(step.children.size(), 3u);
  ASSERT_TRUE(step.end.has_value());
  EXPECT_EQ(step.end->kind, v1::LIMIT_MAX_NODE_RUNS);
  EXPECT_EQ(step.end->error, R"(node "fan" not started: the graph reached max_node_runs (3))");
}

TEST(MapNodeTest, NodeRunsShowTheNodeRowAndItsItems) {
  GraphDriver g(Fan(R"(, "max_parallel": 1)"));
  g.Start();
  g.Succeed("plan", Tasks(2));
  g.Succeed("fan", "one", 1);
  const std::vector<v1::GraphNodeRun> runs = NodeRuns(g.journal());
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[1].node(), "fan");
  EXPECT_EQ(runs[1].item(), 0);
  EXPECT_EQ(runs[1].state(), v1::RUNNING);
  EXPECT_EQ(runs[2].item(), 1);
  EXPECT_EQ(runs[2].state(), v1::SUCCEEDED);
  EXPECT_EQ(runs[2].output(), "one");
  EXPECT_EQ(runs[3].item(), 2);
  EXPECT_EQ(runs[3].state(), v1::RUNNING);
  EXPECT_EQ(runs[3].input(), "t1");
}

}  // namespace
}  // namespace baton::orchestrator::graph
