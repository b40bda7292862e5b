// ValidateGraph: every spec a user can get wrong is refused with the node or edge named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator/graph/graph_execution.h"
#include "tests/orchestrator/graph/graph_test_util.h"

namespace baton::orchestrator::graph {
namespace {

using ::testing::HasSubstr;
using testing::Spec;

// The research graph of examples/graphs, as a user writes it.
constexpr char kResearch[] = R"({
  "name": "research",
  "nodes": [
    {"id": "planner", "agent": {"agent_name": "planner",
        "output_schema": {"type": "object", "properties": {"tasks": {"type": "array"}}}}},
    {"id": "research", "map": {"over": "nodes.planner.output.tasks", "max_parallel": 4,
        "agent": {"agent_name": "researcher", "input": "{{item}} ({{index}}) for {{input}}"},
        "on_failure": "QUORUM", "quorum": 2}},
    {"id": "writer", "max_visits": 3, "agent": {"agent_name": "writer",
        "input": "{{nodes.research.output}} {{nodes.reviewer.output.notes}} {{nodes.writer.output}}"}},
    {"id": "reviewer", "agent": {"agent": {"model": "m"},
        "output_schema": {"type": "object", "properties": {"approved": {"type": "boolean"}}}}},
    {"id": "publish", "human": {"prompt": "Publish {{ nodes.writer.output }}?", "decisions": ["APPROVE", "DENY"]}},
    {"id": "archive", "graph": {"graph_name": "archiver", "input": "{{nodes.publish.output.decision}}"}}
  ],
  "edges": [
    {"from": "planner", "to": "research"},
    {"from": "research", "to": "writer"},
    {"from": "writer", "to": "reviewer"},
    {"from": "reviewer", "to": "writer", "when": {"pointer": "/approved", "op": "EQ", "value": false}},
    {"from": "reviewer", "to": "publish", "default": true},
    {"from": "publish", "to": "archive"}
  ],
  "output": "{{nodes.writer.output}}"
})";

class GraphValidationTest : public ::testing::Test {
 protected:
  void SetUp() override { spec_ = Spec(kResearch); }
  v1::GraphNode& Node(const std::string& id) {
    for (v1::GraphNode& n : *spec_.mutable_nodes()) {
      if (n.id() == id) return n;
    }
    ADD_FAILURE() << "no node " << id;
    return *spec_.mutable_nodes(0);
  }
  std::string Error() {
    const absl::Status s = ValidateGraph(spec_);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  }
  v1::GraphSpec spec_;
};

TEST_F(GraphValidationTest, TheResearchGraphIsValid) { EXPECT_TRUE(ValidateGraph(spec_).ok()) << ValidateGraph(spec_); }

TEST_F(GraphValidationTest, EdgeToAnUnknownNodeNamesTheEdge) {
  spec_.mutable_edges(2)->set_to("reviwer");
  EXPECT_EQ(Error(), R"(graph "research": edge 2 (writer -> reviwer): unknown node "reviwer")");
  spec_ = Spec(kResearch);
  spec_.mutable_edges(0)->set_from("plan");
  EXPECT_EQ(Error(), R"(graph "research": edge 0 (plan -> research): unknown node "plan")");
}

TEST_F(GraphValidationTest, TemplateNamingANodeNotUpstreamIsRefused) {
  Node("writer").mutable_agent()->set_input("{{nodes.publish.output}}");
  EXPECT_EQ(Error(), R"(graph "research": node "writer": agent.input template names node "publish", )"
                     R"(which is not upstream of it)");
  Node("writer").mutable_agent()->set_input("{{nodes.x.output}}");
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": agent.input template names node "x", which is not a node)"));
  // A node not on a cycle cannot read its own output.
  Node("writer").mutable_agent()->set_input("");
  Node("planner").mutable_agent()->set_input("{{nodes.planner.output}}");
  EXPECT_THAT(Error(),
              HasSubstr(R"(node "planner": agent.input template names node "planner", which is not upstream)"));
}

TEST_F(GraphValidationTest, HumanPromptsAndSubgraphInputsAreCheckedToo) {
  Node("publish").mutable_human()->set_prompt("{{nodes.archive.output}}");
  EXPECT_THAT(Error(),
              HasSubstr(R"(node "publish": human.prompt template names node "archive", which is not upstream)"));
  spec_ = Spec(kResearch);
  Node("archive").mutable_graph()->set_input("{{nodes.archive.output}}");
  EXPECT_THAT(Error(), HasSubstr(R"(node "archive": graph.input template names node "archive")"));
}

TEST_F(GraphValidationTest, ACycleWithoutMaxVisitsIsRefusedWithItsPath) {
  Node("writer").set_max_visits(0);
  EXPECT_EQ(Error(), R"(graph "research": node "writer": cycle writer -> reviewer -> writer has no node with )"
                     R"(max_visits (set it on one of them))");
  Node("reviewer").set_max_visits(2);  // a bound anywhere on the cycle will do
  EXPECT_TRUE(ValidateGraph(spec_).ok());
}

TEST_F(GraphValidationTest, SelfLoopsAndSecondCyclesNeedTheirOwnBound) {
  v1::GraphEdge* self = spec_.add_edges();
  self->set_from("archive");
  self->set_to("archive");
  EXPECT_THAT(Error(), HasSubstr(R"(node "archive": cycle archive -> archive has no node with max_visits)"));
  spec_ = Spec(kResearch);
  // reviewer -> planner closes a longer cycle, which still passes the bounded writer...
  v1::GraphEdge* back = spec_.add_edges();
  back->set_from("reviewer");
  back->set_to("planner");
  EXPECT_TRUE(ValidateGraph(spec_).ok());
  // ...while research -> planner closes one that does not, though the two cycles
  // share a strongly connected component with the bounded writer.
  v1::GraphEdge* short_back = spec_.add_edges();
  short_back->set_from("research");
  short_back->set_to("planner");
  EXPECT_THAT(Error(),
              HasSubstr(R"(node "planner": cycle planner -> research -> planner has no node with max_visits)"));
}

TEST_F(GraphValidationTest, NodeIdsMustBeWellFormedAndUnique) {
  Node("archive").set_id("1archive");
  EXPECT_THAT(Error(), HasSubstr(R"(node 5: id "1archive" must match ^[a-zA-Z][a-zA-Z0-9_-]{0,63}$)"));
  Node("1archive").set_id(std::string(65, 'a'));
  EXPECT_THAT(Error(), HasSubstr("must match"));
  Node(std::string(65, 'a')).set_id("writer");
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": duplicate id (nodes 2 and 5))"));
  spec_.clear_nodes();
  EXPECT_THAT(Error(), HasSubstr("has no nodes"));
}

TEST_F(GraphValidationTest, StartMustExistAndReachEveryNode) {
  spec_.set_start("nobody");
  EXPECT_THAT(Error(), HasSubstr(R"(start node "nobody" is not a node of the graph)"));
  spec_.set_start("writer");
  EXPECT_THAT(Error(), HasSubstr(R"(node "planner": not reachable from the start node "writer")"));
  spec_.clear_start();
  spec_.mutable_edges()->RemoveLast();
  EXPECT_THAT(Error(), HasSubstr(R"(node "archive": not reachable from the start node "planner")"));
}

TEST_F(GraphValidationTest, NodesNeedAKind) {
  Node("archive").clear_graph();
  EXPECT_THAT(Error(), HasSubstr(R"(node "archive": has no kind (agent, map, human or graph))"));
}

TEST_F(GraphValidationTest, AgentNodesNeedExactlyOneAgent) {
  Node("planner").mutable_agent()->mutable_agent()->set_model("m");
  EXPECT_THAT(Error(), HasSubstr(R"(node "planner": agent: needs exactly one of agent_name and agent)"));
  Node("planner").mutable_agent()->clear_agent();
  Node("planner").mutable_agent()->clear_agent_name();
  EXPECT_THAT(Error(), HasSubstr(R"(node "planner": agent: needs exactly one of agent_name and agent)"));
}

TEST_F(GraphValidationTest, ResolvedAgentNodesKeepTheirNameWithThePinnedAgent) {
  // What CreateRun stores in the run: the name, the version it pinned, the agent.
  v1::AgentNode& planner = *Node("planner").mutable_agent();
  planner.set_agent_version(4);
  planner.mutable_agent()->set_model("m");
  v1::AgentNode& researcher = *Node("research").mutable_map()->mutable_agent();
  researcher.set_agent_version(1);
  researcher.mutable_agent()->set_model("m");
  EXPECT_TRUE(ValidateGraph(spec_).ok()) << ValidateGraph(spec_);
}

TEST_F(GraphValidationTest, OutputSchemasMustBeObjectSchemas) {
  google::protobuf::Struct& schema = *Node("reviewer").mutable_agent()->mutable_output_schema();
  (*schema.mutable_fields())["type"].set_string_value("string");
  EXPECT_THAT(Error(),
              HasSubstr(R"(node "reviewer": agent.output_schema must be an object schema ("type": "object"))"));
  (*schema.mutable_fields())["type"].set_string_value("object");
  (*schema.mutable_fields())["properties"].set_string_value("not an object");
  EXPECT_THAT(Error(), HasSubstr(R"(node "reviewer": agent.output_schema is not a JSON Schema)"));
  // The map's agent too.
  spec_ = Spec(kResearch);
  (*Node("research").mutable_map()->mutable_agent()->mutable_output_schema()->mutable_fields())["type"]
      .set_number_value(5);
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.agent.output_schema)"));
}

TEST_F(GraphValidationTest, MapNodesNeedAnUpstreamArrayPathAndSaneSettings) {
  v1::MapNode& map = *Node("research").mutable_map();
  map.set_over("");
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.over is required)"));
  map.set_over("nodes.writer.output.tasks");
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.over names node "writer", which is not upstream of it)"));
  map.set_over("item.tasks");
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.over must name the graph's input or a node's output)"));
  map.set_over("nodes.planner.tasks");
  EXPECT_THAT(Error(), HasSubstr("expected nodes.ID.output"));
  map.set_over("input.items");
  EXPECT_TRUE(ValidateGraph(spec_).ok());
  map.set_max_parallel(-1);
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.max_parallel must be >= 0, got -1)"));
  map.set_max_parallel(0);
  map.set_quorum(0);
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.quorum must be >= 1 with on_failure QUORUM, got 0)"));
  map.set_on_failure(v1::MapNode::COLLECT);
  map.set_quorum(2);
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.quorum is only for on_failure QUORUM)"));
  map.set_quorum(0);
  map.clear_agent();
  EXPECT_THAT(Error(), HasSubstr(R"(node "research": map.agent is required)"));
}

TEST_F(GraphValidationTest, ItemAndIndexOnlyInAMapsAgentInput) {
  Node("writer").mutable_agent()->set_input("{{item}}");
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": agent.input: {{item}} is only defined in a map's agent input)"));
  Node("writer").mutable_agent()->set_input("{{ index }}");
  EXPECT_THAT(Error(), HasSubstr("{{index}} is only defined"));
  Node("writer").mutable_agent()->set_input("{{input.topic");
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": agent.input: "{{" at offset 0 has no closing "}}")"));
  Node("writer").mutable_agent()->set_input("{{inptu}}");
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": agent.input: reference "inptu": unknown root "inptu")"));
}

TEST_F(GraphValidationTest, HumanNodesNeedAPromptAndOnlyAnswerableDecisions) {
  v1::HumanNode& human = *Node("publish").mutable_human();
  human.add_decisions(v1::EDIT);
  EXPECT_THAT(Error(), HasSubstr(R"(node "publish": human.decisions: EDIT is not one of APPROVE, DENY, RESPOND)"));
  human.clear_decisions();
  human.set_timeout_seconds(-1);
  EXPECT_THAT(Error(), HasSubstr(R"(node "publish": human.timeout_seconds must be >= 0)"));
  human.set_timeout_seconds(0);
  human.set_prompt("");
  EXPECT_THAT(Error(), HasSubstr(R"(node "publish": human.prompt is required)"));
}

TEST_F(GraphValidationTest, SubgraphsNeedAGraphAndInlineOnesAreValidatedToo) {
  v1::SubgraphNode& sub = *Node("archive").mutable_graph();
  sub.clear_graph_name();
  EXPECT_THAT(Error(), HasSubstr(R"(node "archive": graph: needs graph_name or graph)"));
  *sub.mutable_graph() = Spec(R"({"name": "archiver", "nodes": [{"id": "a", "agent": {"agent_name": "x"}}],
                                  "edges": [{"from": "a", "to": "b"}]})");
  EXPECT_EQ(Error(), R"(graph "research": node "archive": graph "archiver": edge 0 (a -> b): unknown node "b")");
  sub.mutable_graph()->clear_edges();
  EXPECT_TRUE(ValidateGraph(spec_).ok());
}

TEST_F(GraphValidationTest, InlineSubgraphsNestAtMostEightDeep) {
  const auto nested = [](int depth) {
    v1::GraphSpec g = Spec(R"({"nodes": [{"id": "leaf", "agent": {"agent_name": "x"}}]})");
    for (int i = 0; i < depth; ++i) {
      v1::GraphSpec outer = Spec(R"({"nodes": [{"id": "sub", "graph": {}}]})");
      *outer.mutable_nodes(0)->mutable_graph()->mutable_graph() = g;
      g = outer;
    }
    return g;
  };
  EXPECT_TRUE(ValidateGraph(nested(8)).ok()) << ValidateGraph(nested(8));
  const absl::Status s = ValidateGraph(nested(9));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("subgraphs nest deeper than 8 levels"));
}

TEST_F(GraphValidationTest, ConditionsMustBeUsable) {
  v1::GraphEdge& loop = *spec_.mutable_edges(3);
  loop.mutable_when()->set_pointer("approved");
  EXPECT_THAT(Error(),
              HasSubstr(R"(edge 3 (reviewer -> writer): condition: pointer "approved" is not a JSON Pointer)"));
  loop.mutable_when()->set_pointer("/approved");
  loop.mutable_when()->set_op(v1::Condition::OP_UNSPECIFIED);
  EXPECT_THAT(Error(), HasSubstr("edge 3 (reviewer -> writer): condition: op must be one of"));
  loop.mutable_when()->set_op(v1::Condition::IN);
  EXPECT_THAT(Error(), HasSubstr("edge 3 (reviewer -> writer): condition: IN needs an array value"));
  loop.mutable_when()->mutable_value()->mutable_list_value()->add_values()->set_bool_value(false);
  EXPECT_TRUE(ValidateGraph(spec_).ok());
  loop.set_default_(true);
  EXPECT_THAT(Error(), HasSubstr("edge 3 (reviewer -> writer): has both when and default"));
}

TEST_F(GraphValidationTest, DefaultEdgesNeedConditionalSiblingsAndAreUnique) {
  v1::GraphEdge* second = spec_.add_edges();
  second->set_from("reviewer");
  second->set_to("archive");
  second->set_default_(true);
  EXPECT_THAT(Error(), HasSubstr(R"(node "reviewer": more than one default edge (edges 4 and 6))"));
  second->set_from("planner");
  second->set_to("research");
  EXPECT_THAT(Error(),
              HasSubstr(R"(edge 6 (planner -> research): a default edge needs conditional edges out of "planner")"));
}

TEST_F(GraphValidationTest, LimitsMustNotBeNegative) {
  spec_.mutable_limits()->set_max_node_runs(-1);
  EXPECT_THAT(Error(), HasSubstr("limits.max_node_runs must be >= 0, got -1"));
  spec_.mutable_limits()->set_max_node_runs(0);
  spec_.mutable_limits()->set_max_cost_usd(-0.5);
  EXPECT_THAT(Error(), HasSubstr("limits.max_cost_usd"));
  spec_.mutable_limits()->set_max_cost_usd(0);
  spec_.mutable_limits()->set_timeout_seconds(-3);
  EXPECT_THAT(Error(), HasSubstr("limits.timeout_seconds must be >= 0"));
  spec_.mutable_limits()->set_timeout_seconds(0);
  spec_.mutable_limits()->set_max_tokens_total(-3);
  EXPECT_THAT(Error(), HasSubstr("limits.max_tokens_total must be >= 0"));
}

TEST_F(GraphValidationTest, TheOutputTemplateMayNameAnyNodeButOnlyNodes) {
  spec_.set_output("{{nodes.archive.output}} {{nodes.planner.output.tasks}}");
  EXPECT_TRUE(ValidateGraph(spec_).ok());
  spec_.set_output("{{nodes.archiv.output}}");
  EXPECT_EQ(Error(), R"(graph "research": output template names node "archiv", which is not a node of the graph)");
  spec_.set_output("{{item}}");
  EXPECT_THAT(Error(), HasSubstr(R"(graph "research": output: {{item}} is only defined)"));
}

TEST_F(GraphValidationTest, NegativeMaxVisitsAndBadNamesAreRefused) {
  Node("writer").set_max_visits(-2);
  EXPECT_THAT(Error(), HasSubstr(R"(node "writer": max_visits must be >= 0, got -2)"));
  spec_ = Spec(kResearch);
  spec_.set_name("bad name");
  EXPECT_THAT(Error(), HasSubstr("name \"bad name\" must match"));
}

}  // namespace
}  // namespace baton::orchestrator::graph
