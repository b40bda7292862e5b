// The shape of a graph: node indexes, edges classified as forward or back by a
// depth-first walk from the start node (edges taken in declaration order), each
// node's inputs, what can reach what, and the cycles. Immutable after construction;
// thread-safe.
#ifndef BATON_ORCHESTRATOR_GRAPH_TOPOLOGY_H_
#define BATON_ORCHESTRATOR_GRAPH_TOPOLOGY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "baton/v1/graph.pb.h"

namespace baton::orchestrator::graph {

class Topology {
 public:
  // Edges naming unknown nodes are left out; a start that names no node means node 0
  // (ValidateGraph refuses both). The first of duplicate ids wins.
  explicit Topology(const v1::GraphSpec& spec);

  int node_count() const { return static_cast<int>(ids_.size()); }
  // -1 when there is no such node.
  int IndexOf(absl::string_view id) const;
  const std::string& id(int node) const { return ids_[node]; }
  int start() const { return start_; }

  // Edge indexes (into spec.edges) leaving `node`, in declaration order.
  const std::vector<int>& out_edges(int node) const { return out_edges_[node]; }
  int edge_from(int edge) const { return edge_from_[edge]; }  // -1: unknown node
  int edge_to(int edge) const { return edge_to_[edge]; }      // -1: unknown node
  // A back edge leads to a node on the depth-first walk's stack: it closes a cycle.
  // Every other edge is forward; without the back edges the graph is acyclic.
  bool is_back_edge(int edge) const { return back_edge_[edge]; }

  // The distinct sources of the forward edges into `node`, in order of first edge.
  const std::vector<int>& inputs(int node) const { return inputs_[node]; }
  // The distinct targets of the forward edges out of `node`, in order of first edge.
  const std::vector<int>& forward_targets(int node) const { return forward_targets_[node]; }

  bool reachable_from_start(int node) const { return reached_[node]; }
  // Nodes that can reach `node` through one edge or more (any edges, so `node` itself
  // when it is on a cycle), as a mask over node indexes.
  std::vector<bool> Upstream(int node) const;

  // The strongly connected components that hold a cycle (more than one node, or one
  // node with an edge to itself), each in node order, the components ordered by their
  // first node. With `among` (a mask over node indexes), of the graph that only has
  // those nodes: ValidateGraph asks it of the nodes without max_visits, because a cycle
  // left there is a cycle with no bound.
  std::vector<std::vector<int>> CyclicComponents() const;
  std::vector<std::vector<int>> CyclicComponents(const std::vector<bool>& among) const;
  // A shortest cycle through `node` inside `component`, starting and ending with
  // `node`. REQUIRES: `component` is one of CyclicComponents() and holds `node`.
  std::vector<int> CycleThrough(int node, const std::vector<int>& component) const;

 private:
  void Walk();

  std::vector<std::string> ids_;
  absl::flat_hash_map<std::string, int> index_;
  int start_ = 0;
  std::vector<int> edge_from_;
  std::vector<int> edge_to_;
  std::vector<bool> back_edge_;
  std::vector<std::vector<int>> out_edges_;
  std::vector<std::vector<int>> in_edges_;
  std::vector<std::vector<int>> inputs_;
  std::vector<std::vector<int>> forward_targets_;
  std::vector<bool> reached_;
};

}  // namespace baton::orchestrator::graph

#endif  // BATON_ORCHESTRATOR_GRAPH_TOPOLOGY_H_
