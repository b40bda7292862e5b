// ValidateGraph (declared in graph_execution.h): every rule a graph must pass before it
// is stored or run, each error naming the node or edge.
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/schema_validator.h"
#include "orchestrator/graph/condition.h"
#include "orchestrator/graph/graph_execution.h"
#include "orchestrator/graph/json_value.h"
#include "orchestrator/graph/template.h"
#include "orchestrator/graph/topology.h"

namespace baton::orchestrator::graph {
namespace {

// Subgraphs given inline are validated with their parent, at most this deep.
constexpr int kMaxSubgraphDepth = 8;
constexpr int kMaxNodeIdLength = 64;

bool IsValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > kMaxNodeIdLength) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(id[0])) return false;
  for (char c : id) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-') return false;
  }
  return true;
}

bool IsValidGraphName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// One graph's checks, in the order a user fixes them: ids, edges, the start and what
// it reaches, each node, cycles, the output. The first error is returned.
class GraphValidator {
 public:
  GraphValidator(const v1::GraphSpec& spec, int depth) : spec_(spec), depth_(depth) {}

  absl::Status Validate() {
    if (!spec_.name().empty() && !IsValidGraphName(spec_.name())) {
      return Error(absl::StrCat("name ", Quoted(spec_.name()), " must match [a-zA-Z0-9_.-]{1,128}"));
    }
    if (spec_.nodes().empty()) return Error("has no nodes");
    if (absl::Status s = CheckNodeIds(); !s.ok()) return s;
    if (absl::Status s = CheckLimits(); !s.ok()) return s;
    if (absl::Status s = CheckEdges(); !s.ok()) return s;
    if (!spec_.start().empty() && ids_.find(spec_.start()) == ids_.end()) {
      return Error(absl::StrCat("start node ", Quoted(spec_.start()), " is not a node of the graph"));
    }
    topology_.emplace(spec_);
    for (int i = 0; i < topology_->node_count(); ++i) {
      if (!topology_->reachable_from_start(i)) {
        return NodeError(i,
                         absl::StrCat("not reachable from the start node ", Quoted(topology_->id(topology_->start()))));
      }
    }
    for (int i = 0; i < spec_.nodes_size(); ++i) {
      if (absl::Status s = CheckNode(i); !s.ok()) return s;
    }
    if (absl::Status s = CheckCycles(); !s.ok()) return s;
    return CheckOutput();
  }

 private:
  absl::Status Error(absl::string_view what) const {
    const std::string graph = spec_.name().empty() ? "graph" : absl::StrCat("graph ", Quoted(spec_.name()));
    return absl::InvalidArgumentError(absl::StrCat(graph, ": ", what));
  }
  absl::Status NodeError(int node, absl::string_view what) const {
    return Error(absl::StrCat("node ", Quoted(spec_.nodes(node).id()), ": ", what));
  }
  absl::Status EdgeError(int edge, absl::string_view what) const {
    const v1::GraphEdge& e = spec_.edges(edge);
    return Error(absl::StrCat("edge ", edge, " (", e.from(), " -> ", e.to(), "): ", what));
  }

  absl::Status CheckNodeIds() {
    for (int i = 0; i < spec_.nodes_size(); ++i) {
      const std::string& id = spec_.nodes(i).id();
      if (!IsValidNodeId(id)) {
        return Error(absl::StrCat("node ", i, ": id ", Quoted(id), " must match ^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"));
      }
      auto [it, inserted] = ids_.emplace(id, i);
      if (!inserted) return NodeError(i, absl::StrCat("duplicate id (nodes ", it->second, " and ", i, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckLimits() const {
    const v1::GraphLimits& limits = spec_.limits();
    if (!(limits.max_cost_usd() >= 0) || std::isinf(limits.max_cost_usd())) {
      return Error(absl::StrCat("limits.max_cost_usd must be a number >= 0, got ", limits.max_cost_usd()));
    }
    const std::pair<const char*, int64_t> counts[] = {
        {"max_tokens_total", limits.max_tokens_total()},
        {"max_node_runs", limits.max_node_runs()},
        {"timeout_seconds", limits.timeout_seconds()},
    };
    for (const auto& [field, value] : counts) {
      if (value < 0) return Error(absl::StrCat("limits.", field, " must be >= 0, got ", value));
    }
    return absl::OkStatus();
  }

  absl::Status CheckEdges() const {
    absl::flat_hash_map<std::string, int> default_edge;  // node -> its default edge
    absl::flat_hash_map<std::string, bool> conditional;  // node -> has conditional edges
    for (int i = 0; i < spec_.edges_size(); ++i) {
      const v1::GraphEdge& edge = spec_.edges(i);
      for (const std::string* end : {&edge.from(), &edge.to()}) {
        if (ids_.find(*end) == ids_.end()) return EdgeError(i, absl::StrCat("unknown node ", Quoted(*end)));
      }
      if (edge.has_when() && edge.default_()) return EdgeError(i, "has both when and default");
      if (edge.has_when()) {
        if (absl::Status s = ValidateCondition(edge.when()); !s.ok()) return EdgeError(i, s.message());
        conditional[edge.from()] = true;
      }
      if (edge.default_()) {
        auto [it, inserted] = default_edge.emplace(edge.from(), i);
        if (!inserted) {
          return NodeError(ids_.at(edge.from()),
                           absl::StrCat("more than one default edge (edges ", it->second, " and ", i, ")"));
        }
      }
    }
    for (const auto& [from, edge] : default_edge) {
      if (!conditional[from]) {
        return EdgeError(edge, absl::StrCat("a default edge needs conditional edges out of ", Quoted(from)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckNode(int i) {
    const v1::GraphNode& node = spec_.nodes(i);
    if (node.max_visits() < 0) return NodeError(i, absl::StrCat("max_visits must be >= 0, got ", node.max_visits()));
    switch (node.kind_case()) {
      case v1::GraphNode::kAgent:
        return CheckAgentNode(i, "agent", node.agent(), /*map_item=*/false);
      case v1::GraphNode::kMap:
        return CheckMapNode(i, node.map());
      case v1::GraphNode::kHuman:
        return CheckHumanNode(i, node.human());
      case v1::GraphNode::kGraph:
        return CheckSubgraphNode(i, node.graph());
      case v1::GraphNode::KIND_NOT_SET:
        break;
    }
    return NodeError(i, "has no kind (agent, map, human or graph)");
  }

  absl::Status CheckAgentNode(int i, absl::string_view field, const v1::AgentNode& agent, bool map_item) {
    // A user gives one of the two; CreateRun's resolution keeps agent_name, pins
    // agent_version and adds the stored agent, and that resolved form is valid too.
    const bool resolved = !agent.agent_name().empty() && agent.has_agent() && agent.agent_version() > 0;
    if (agent.agent_name().empty() == !agent.has_agent() && !resolved) {
      return NodeError(i, absl::StrCat(field, ": needs exactly one of agent_name and agent"));
    }
    if (agent.agent_version() < 0) {
      return NodeError(i, absl::StrCat(field, ".agent_version must be >= 0, got ", agent.agent_version()));
    }
    if (agent.has_output_schema()) {
      const nlohmann::json schema = StructToJson(agent.output_schema());
      if (absl::StatusOr<std::unique_ptr<SchemaValidator>> compiled = SchemaValidator::Compile(schema);
          !compiled.ok()) {
        return NodeError(i, absl::StrCat(field, ".output_schema is not a JSON Schema: ", compiled.status().message()));
      }
      auto type = schema.find("type");
      if (type == schema.end() || *type != "object") {
        return NodeError(i, absl::StrCat(field,
                                         ".output_schema must be an object schema (\"type\": \"object\"): the "
                                         "agent answers through a tool, and tool inputs are objects"));
      }
    }
    return CheckTemplate(i, absl::StrCat(field, ".input"), agent.input(), map_item);
  }

  absl::Status CheckMapNode(int i, const v1::MapNode& map) {
    if (map.over().empty()) return NodeError(i, "map.over is required");
    absl::StatusOr<Path> over = ParsePath(map.over());
    if (!over.ok()) return NodeError(i, absl::StrCat("map.over: ", over.status().message()));
    if (over->root == Path::Root::kItem || over->root == Path::Root::kIndex) {
      return NodeError(i, "map.over must name the graph's input or a node's output");
    }
    if (absl::Status s = CheckNamedNode(i, "map.over", *over); !s.ok()) return s;
    if (!map.has_agent()) return NodeError(i, "map.agent is required");
    if (absl::Status s = CheckAgentNode(i, "map.agent", map.agent(), /*map_item=*/true); !s.ok()) return s;
    if (map.max_parallel() < 0) {
      return NodeError(i, absl::StrCat("map.max_parallel must be >= 0, got ", map.max_parallel()));
    }
    if (!v1::MapNode::FailurePolicy_IsValid(map.on_failure())) {
      return NodeError(i, absl::StrCat("map.on_failure ", map.on_failure(), " is not a failure policy"));
    }
    if (map.on_failure() == v1::MapNode::QUORUM && map.quorum() < 1) {
      return NodeError(i, absl::StrCat("map.quorum must be >= 1 with on_failure QUORUM, got ", map.quorum()));
    }
    if (map.on_failure() != v1::MapNode::QUORUM && map.quorum() != 0) {
      return NodeError(i, "map.quorum is only for on_failure QUORUM");
    }
    return absl::OkStatus();
  }

  absl::Status CheckHumanNode(int i, const v1::HumanNode& human) {
    if (human.prompt().empty()) return NodeError(i, "human.prompt is required");
    if (absl::Status s = CheckTemplate(i, "human.prompt", human.prompt(), false); !s.ok()) return s;
    for (int d : human.decisions()) {
      if (d != v1::APPROVE && d != v1::DENY && d != v1::RESPOND) {
        const std::string name = v1::Decision_IsValid(d) ? v1::Decision_Name(d) : absl::StrCat(d);
        return NodeError(i, absl::StrCat("human.decisions: ", name, " is not one of APPROVE, DENY, RESPOND"));
      }
    }
    if (human.timeout_seconds() < 0) {
      return NodeError(i, absl::StrCat("human.timeout_seconds must be >= 0, got ", human.timeout_seconds()));
    }
    if (!v1::ApprovalRule::OnTimeout_IsValid(human.on_timeout())) {
      return NodeError(i, absl::StrCat("human.on_timeout ", human.on_timeout(), " is not a timeout action"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckSubgraphNode(int i, const v1::SubgraphNode& sub) {
    if (sub.graph_name().empty() && !sub.has_graph()) return NodeError(i, "graph: needs graph_name or graph");
    if (sub.graph_version() < 0) {
      return NodeError(i, absl::StrCat("graph.graph_version must be >= 0, got ", sub.graph_version()));
    }
    if (absl::Status s = CheckTemplate(i, "graph.input", sub.input(), false); !s.ok()) return s;
    if (!sub.has_graph()) return absl::OkStatus();
    if (depth_ + 1 > kMaxSubgraphDepth) {
      return NodeError(i, absl::StrCat("subgraphs nest deeper than ", kMaxSubgraphDepth, " levels"));
    }
    if (absl::Status s = GraphValidator(sub.graph(), depth_ + 1).Validate(); !s.ok()) {
      return NodeError(i, s.message());
    }
    return absl::OkStatus();
  }

  // `node` < 0: the graph's output template, which may name any node.
  absl::Status CheckTemplate(int node, absl::string_view field, const std::string& text, bool map_item) {
    absl::StatusOr<Template> parsed = Template::Parse(text);
    const auto error = [&](absl::string_view what) {
      return node < 0 ? Error(absl::StrCat(field, ": ", what)) : NodeError(node, absl::StrCat(field, ": ", what));
    };
    if (!parsed.ok()) return error(parsed.status().message());
    for (const Path& path : parsed->references()) {
      if (!map_item && (path.root == Path::Root::kItem || path.root == Path::Root::kIndex)) {
        return error(absl::StrCat("{{", path.text, "}} is only defined in a map's agent input"));
      }
      if (absl::Status s = CheckNamedNode(node, absl::StrCat(field, " template"), path); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // A path naming a node: the node exists and (unless `node` < 0) can reach `node`.
  absl::Status CheckNamedNode(int node, absl::string_view what, const Path& path) {
    if (path.root != Path::Root::kNodeOutput) return absl::OkStatus();
    const int named = topology_->IndexOf(path.node);
    if (named < 0) {
      const std::string message =
          absl::StrCat(what, " names node ", Quoted(path.node), ", which is not a node of the graph");
      return node < 0 ? Error(message) : NodeError(node, message);
    }
    if (node < 0) return absl::OkStatus();
    if (upstream_.find(node) == upstream_.end()) upstream_.emplace(node, topology_->Upstream(node));
    if (!upstream_.at(node)[named]) {
      return NodeError(node, absl::StrCat(what, " names node ", Quoted(path.node), ", which is not upstream of it"));
    }
    return absl::OkStatus();
  }

  // Every cycle needs a node with max_visits: a cycle left among the unbounded nodes
  // alone has none. (A strongly connected component with one bounded node can still
  // hold a cycle around it.)
  absl::Status CheckCycles() const {
    std::vector<bool> unbounded(spec_.nodes_size());
    for (int i = 0; i < spec_.nodes_size(); ++i) unbounded[i] = spec_.nodes(i).max_visits() == 0;
    for (const std::vector<int>& component : topology_->CyclicComponents(unbounded)) {
      std::vector<std::string> names;
      for (int node : topology_->CycleThrough(component[0], component)) names.push_back(topology_->id(node));
      return NodeError(component[0], absl::StrCat("cycle ", absl::StrJoin(names, " -> "),
                                                  " has no node with max_visits (set it on one of them)"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckOutput() { return CheckTemplate(-1, "output", spec_.output(), false); }

  const v1::GraphSpec& spec_;
  const int depth_;
  absl::flat_hash_map<std::string, int> ids_;
  std::optional<Topology> topology_;
  absl::flat_hash_map<int, std::vector<bool>> upstream_;  // per node, computed when asked
};

}  // namespace

absl::Status ValidateGraph(const v1::GraphSpec& spec) { return GraphValidator(spec, 0).Validate(); }

}  // namespace baton::orchestrator::graph
