#include "orchestrator/graph/topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/orchestrator/graph/graph_test_util.h"

namespace baton::orchestrator::graph {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Spec;

std::vector<std::string> Ids(const Topology& t, const std::vector<int>& nodes) {
  std::vector<std::string> ids;
  for (int n : nodes) ids.push_back(t.id(n));
  return ids;
}

v1::GraphSpec Shape(const std::string& nodes, const std::string& edges, const std::string& start = "") {
  std::string json = "{\"nodes\": [";
  bool first = true;
  for (char c : nodes) {
    if (!first) json += ", ";
    first = false;
    json += std::string("{\"id\": \"") + c + "\"}";
  }
  json += "], \"edges\": [";
  first = true;
  for (size_t i = 0; i + 1 < edges.size(); i += 3) {  // "ab ac " -> a->b, a->c
    if (!first) json += ", ";
    first = false;
    json += std::string("{\"from\": \"") + edges[i] + "\", \"to\": \"" + edges[i + 1] + "\"}";
  }
  json += "]";
  if (!start.empty()) json += ", \"start\": \"" + start + "\"";
  return Spec(json + "}");
}

TEST(TopologyTest, BackEdgesCloseCyclesOnTheWalkFromStart) {
  // planner -> writer -> reviewer -> writer (the review loop), reviewer -> done.
  const Topology t(Shape("pwrd", "pw wr rw rd "));
  EXPECT_EQ(t.start(), 0);
  EXPECT_FALSE(t.is_back_edge(0));
  EXPECT_FALSE(t.is_back_edge(1));
  EXPECT_TRUE(t.is_back_edge(2));  // r -> w
  EXPECT_FALSE(t.is_back_edge(3));
  EXPECT_THAT(Ids(t, t.inputs(t.IndexOf("w"))), ElementsAre("p"));  // not r: that edge is back
  EXPECT_THAT(Ids(t, t.forward_targets(t.IndexOf("r"))), ElementsAre("d"));
}

TEST(TopologyTest, DeclarationOrderDecidesWhichEdgeOfACycleIsBack) {
  // a -> b, b -> c, c -> b: the walk reaches b first, so c -> b is the back edge.
  const Topology first(Shape("abc", "ab bc cb "));
  EXPECT_TRUE(first.is_back_edge(2));
  EXPECT_THAT(Ids(first, first.inputs(first.IndexOf("c"))), ElementsAre("b"));
  // Declaring a -> c first makes the walk reach c first: b -> c is back instead.
  const Topology second(Shape("abc", "ac ab bc cb "));
  EXPECT_TRUE(second.is_back_edge(2));
  EXPECT_FALSE(second.is_back_edge(3));
  EXPECT_THAT(Ids(second, second.inputs(second.IndexOf("b"))), ElementsAre("a", "c"));
  EXPECT_THAT(Ids(second, second.inputs(second.IndexOf("c"))), ElementsAre("a"));
}

TEST(TopologyTest, JoinsHaveEveryDistinctForwardSourceAsInput) {
  const Topology t(Shape("abcd", "ab ac bd cd cd "));
  EXPECT_THAT(Ids(t, t.inputs(t.IndexOf("d"))), ElementsAre("b", "c"));
  EXPECT_THAT(Ids(t, t.forward_targets(t.IndexOf("a"))), ElementsAre("b", "c"));
  EXPECT_THAT(t.inputs(t.IndexOf("a")), IsEmpty());
}

TEST(TopologyTest, StartDefaultsToTheFirstNodeAndDecidesReach) {
  const Topology t(Shape("abc", "ab cb ", "c"));
  EXPECT_EQ(t.id(t.start()), "c");
  EXPECT_TRUE(t.reachable_from_start(t.IndexOf("b")));
  EXPECT_FALSE(t.reachable_from_start(t.IndexOf("a")));
  const Topology by_default(Shape("abc", "ab cb "));
  EXPECT_FALSE(by_default.reachable_from_start(by_default.IndexOf("c")));
}

TEST(TopologyTest, UpstreamIsEverythingThatCanReachTheNode) {
  const Topology t(Shape("pwrdx", "pw wr rw rd px "));
  const std::vector<bool> up = t.Upstream(t.IndexOf("w"));
  EXPECT_TRUE(up[t.IndexOf("p")]);
  EXPECT_TRUE(up[t.IndexOf("r")]);  // through the back edge
  EXPECT_TRUE(up[t.IndexOf("w")]);  // on a cycle: its own earlier visit
  EXPECT_FALSE(up[t.IndexOf("d")]);
  EXPECT_FALSE(up[t.IndexOf("x")]);
  EXPECT_FALSE(t.Upstream(t.IndexOf("p"))[t.IndexOf("p")]);  // not on a cycle
}

TEST(TopologyTest, CyclicComponentsIncludeSelfLoopsAndNotSingleNodes) {
  const Topology t(Shape("abcde", "ab bc cb cd dd de "));
  const auto components = t.CyclicComponents();
  ASSERT_EQ(components.size(), 2u);
  EXPECT_THAT(Ids(t, components[0]), ElementsAre("b", "c"));
  EXPECT_THAT(Ids(t, components[1]), ElementsAre("d"));
  EXPECT_THAT(Ids(t, t.CycleThrough(t.IndexOf("b"), components[0])), ElementsAre("b", "c", "b"));
  EXPECT_THAT(Ids(t, t.CycleThrough(t.IndexOf("d"), components[1])), ElementsAre("d", "d"));
}

TEST(TopologyTest, CyclesAmongSomeNodesIgnoreTheOthers) {
  // Two cycles through a: a -> b -> a and a -> c -> a. Without b, one is left.
  const Topology t(Shape("abc", "ab ba ac ca "));
  std::vector<bool> among = {true, false, true};
  const auto components = t.CyclicComponents(among);
  ASSERT_EQ(components.size(), 1u);
  EXPECT_THAT(Ids(t, t.CycleThrough(components[0][0], components[0])), ElementsAre("a", "c", "a"));
  among = {false, true, true};
  EXPECT_THAT(t.CyclicComponents(among), IsEmpty());
}

TEST(TopologyTest, LongChainsDoNotRecurse) {
  std::string json = R"({"nodes": [)";
  const int n = 20000;
  for (int i = 0; i < n; ++i) json += (i ? "," : "") + std::string("{\"id\": \"n") + std::to_string(i) + "\"}";
  json += R"(], "edges": [)";
  for (int i = 0; i + 1 < n; ++i) {
    json += (i ? "," : "") + std::string("{\"from\": \"n") + std::to_string(i) + "\", \"to\": \"n" +
            std::to_string(i + 1) + "\"}";
  }
  const Topology t(Spec(json + "]}"));
  EXPECT_TRUE(t.reachable_from_start(n - 1));
  EXPECT_THAT(t.CyclicComponents(), IsEmpty());
}

}  // namespace
}  // namespace baton::orchestrator::graph
