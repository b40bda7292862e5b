#include "orchestrator/graph/topology.h"

#include <algorithm>
#include <deque>
#include <utility>

namespace baton::orchestrator::graph {
namespace {

void AddDistinct(std::vector<int>& list, int value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

}  // namespace

Topology::Topology(const v1::GraphSpec& spec) {
  const int n = spec.nodes_size();
  ids_.reserve(n);
  for (int i = 0; i < n; ++i) {
    ids_.push_back(spec.nodes(i).id());
    index_.emplace(spec.nodes(i).id(), i);
  }
  if (!spec.start().empty() && IndexOf(spec.start()) >= 0) start_ = IndexOf(spec.start());
  out_edges_.resize(n);
  in_edges_.resize(n);
  inputs_.resize(n);
  forward_targets_.resize(n);
  reached_.assign(n, false);
  const int e = spec.edges_size();
  edge_from_.resize(e);
  edge_to_.resize(e);
  back_edge_.assign(e, false);
  for (int i = 0; i < e; ++i) {
    edge_from_[i] = IndexOf(spec.edges(i).from());
    edge_to_[i] = IndexOf(spec.edges(i).to());
    if (edge_from_[i] < 0 || edge_to_[i] < 0) continue;
    out_edges_[edge_from_[i]].push_back(i);
    in_edges_[edge_to_[i]].push_back(i);
  }
  if (n == 0) return;
  Walk();
  for (int i = 0; i < e; ++i) {
    if (edge_from_[i] < 0 || edge_to_[i] < 0 || back_edge_[i]) continue;
    AddDistinct(inputs_[edge_to_[i]], edge_from_[i]);
    AddDistinct(forward_targets_[edge_from_[i]], edge_to_[i]);
  }
}

int Topology::IndexOf(absl::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? -1 : it->second;
}

// Iterative, so a long chain cannot exhaust the stack.
void Topology::Walk() {
  enum Color { kWhite, kGray, kBlack };
  std::vector<Color> color(ids_.size(), kWhite);
  std::vector<std::pair<int, size_t>> stack;  // node, next position in out_edges_
  stack.emplace_back(start_, 0);
  color[start_] = kGray;
  reached_[start_] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next == out_edges_[node].size()) {
      color[node] = kBlack;
      stack.pop_back();
      continue;
    }
    const int edge = out_edges_[node][next++];
    const int to = edge_to_[edge];
    if (color[to] == kGray) {
      back_edge_[edge] = true;
    } else if (color[to] == kWhite) {
      color[to] = kGray;
      reached_[to] = true;
      stack.emplace_back(to, 0);
    }
  }
}

std::vector<bool> Topology::Upstream(int node) const {
  std::vector<bool> upstream(ids_.size(), false);
  std::vector<int> todo = {node};
  while (!todo.empty()) {
    const int at = todo.back();
    todo.pop_back();
    for (int edge : in_edges_[at]) {
      const int from = edge_from_[edge];
      if (!upstream[from]) {
        upstream[from] = true;
        todo.push_back(from);
      }
    }
  }
  return upstream;
}

// Kosaraju: finish order on the graph, then components on the reversed graph.
std::vector<std::vector<int>> Topology::CyclicComponents() const {
  return CyclicComponents(std::vector<bool>(ids_.size(), true));
}

std::vector<std::vector<int>> Topology::CyclicComponents(const std::vector<bool>& among) const {
  const int n = node_count();
  std::vector<int> order;
  // Nodes outside `among` count as seen and as placed in a component, so no walk
  // enters them.
  std::vector<bool> seen(n, false);
  for (int i = 0; i < n; ++i) seen[i] = !among[i];
  for (int root = 0; root < n; ++root) {
    if (seen[root]) continue;
    std::vector<std::pair<int, size_t>> stack = {{root, 0}};
    seen[root] = true;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == out_edges_[node].size()) {
        order.push_back(node);
        stack.pop_back();
        continue;
      }
      const int to = edge_to_[out_edges_[node][next++]];
      if (!seen[to]) {
        seen[to] = true;
        stack.emplace_back(to, 0);
      }
    }
  }
  std::vector<int> component_of(n, -1);
  for (int i = 0; i < n; ++i) {
    if (!among[i]) component_of[i] = n;
  }
  std::vector<std::vector<int>> components;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (component_of[*it] >= 0) continue;
    const int id = static_cast<int>(components.size());
    components.emplace_back();
    std::vector<int> todo = {*it};
    component_of[*it] = id;
    while (!todo.empty()) {
      const int at = todo.back();
      todo.pop_back();
      components[id].push_back(at);
      for (int edge : in_edges_[at]) {
        const int from = edge_from_[edge];
        if (component_of[from] < 0) {
          component_of[from] = id;
          todo.push_back(from);
        }
      }
    }
  }
  std::vector<std::vector<int>> cyclic;
  for (std::vector<int>& component : components) {
    bool cycle = component.size() > 1;
    if (!cycle) {  // one node: a cycle only with an edge to itself
      for (int edge : out_edges_[component[0]]) cycle = cycle || edge_to_[edge] == component[0];
    }
    if (!cycle) continue;
    std::sort(component.begin(), component.end());
    cyclic.push_back(std::move(component));
  }
  std::sort(cyclic.begin(), cyclic.end());
  return cyclic;
}

std::vector<int> Topology::CycleThrough(int node, const std::vector<int>& component) const {
  std::vector<bool> inside(ids_.size(), false);
  for (int member : component) inside[member] = true;
  std::vector<int> parent(ids_.size(), -1);
  std::deque<int> todo = {node};
  while (!todo.empty()) {
    const int at = todo.front();
    todo.pop_front();
    for (int edge : out_edges_[at]) {
      const int to = edge_to_[edge];
      if (!inside[to]) continue;
      if (to == node) {
        std::vector<int> cycle = {node};
        for (int back = at; back != node; back = parent[back]) cycle.push_back(back);
        cycle.push_back(node);
        std::reverse(cycle.begin() + 1, cycle.end() - 1);
        return cycle;
      }
      if (parent[to] < 0 && to != node) {
        parent[to] = at;
        todo.push_back(to);
      }
    }
  }
  return {node};
}

}  // namespace baton::orchestrator::graph
