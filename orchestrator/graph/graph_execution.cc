#include "orchestrator/graph/graph_execution.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "orchestrator/graph/condition.h"
#include "orchestrator/graph/json_value.h"
#include "orchestrator/graph/template.h"
#include "orchestrator/graph/topology.h"

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;

constexpr int32_t kDefaultMaxNodeRuns = 10'000;
constexpr int32_t kDefaultMaxParallel = 16;
constexpr int64_t kDefaultHumanTimeoutSeconds = 24 * 60 * 60;

// One node run: a node's visit, or one item of a map node's visit.
struct RunKey {
  int node = 0;
  int32_t visit = 0;
  int32_t item = 0;
  bool operator<(const RunKey& o) const { return std::tie(node, visit, item) < std::tie(o.node, o.visit, o.item); }
  bool operator==(const RunKey& o) const { return node == o.node && visit == o.visit && item == o.item; }
};

// What the state still has to write: the entries that follow from the entries applied
// so far without anything happening outside (a node's start, a map item's start, a map
// node's end). Live, each becomes an entry at once, in the same step; in a replay the
// journal's next entries are those.
struct Action {
  enum Kind { kStartNode, kStartItem, kFinishMap };
  Kind kind = kStartNode;
  RunKey key;
};

// A node's templates, parsed once.
struct NodePlan {
  Template input = Template::Literal("");  // agent, subgraph and map item input; human prompt
  std::optional<Path> over;                // map nodes
  // Position of each input (a forward edge's source) in Topology::inputs(node).
  absl::flat_hash_map<int, int> input_position;
  // Per input: whether its report stands for later activations too. So it is for a
  // node on a cycle and an input from outside that cycle: a loop's later visits do
  // not wait for a node before the loop, which will not report again.
  std::vector<bool> standing;
};

// What one input has reported to its node.
struct InputReports {
  std::deque<bool> fresh;    // taken or not, oldest first, not yet used by an activation
  std::optional<bool> last;  // standing inputs: the report the last activation used
};

struct NodeState {
  int32_t visits = 0;                 // visits started or about to start (the last visit's number)
  std::optional<std::string> output;  // the latest visit's output
  std::vector<InputReports> inputs;   // by position in Topology::inputs(node)
};

// One visit of a map node.
struct MapVisit {
  json items = json::array();
  int32_t total = 0;
  int32_t scheduled = 0;  // items whose start is written or pending
  int32_t running = 0;
  int32_t succeeded = 0;
  int32_t failed = 0;
  std::vector<std::optional<std::string>> outputs;  // per item; nullopt: failed or not ended
  bool decided = false;                             // its end is pending or written
  std::string error;                                // set when the node fails
  int32_t failed_item = 0;                          // FAIL_FAST: the item that failed the node
};

// What applying a finished entry decided; live, it fills the entry's fields.
struct Routing {
  std::vector<std::string> next;
  std::vector<std::string> dropped;
  std::vector<std::string> skipped;
  std::optional<v1::MapProgress> progress;
};

struct Running {
  std::string child_run_id;
  std::string approval_id;
};

template <typename T>
void AddDistinct(std::vector<T>& list, const T& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

bool Failed(v1::RunState state) { return state != v1::SUCCEEDED; }

}  // namespace

// All of a graph run's state. Apply() is the only way it changes after construction,
// live and in replay, so the two cannot drift; the live methods (Start, OnChildEnded,
// OnDecision) only build the entries that Apply then takes in.
struct GraphExecution::State {
  State(std::string graph_run_id, v1::GraphSpec spec, std::string input, std::function<std::string()> new_run_id);

  // --- Applying entries (live and replay) ---
  absl::StatusOr<Routing> Apply(const v1::JournalEntry& entry);
  absl::Status ApplyStarted(const v1::GraphNodeStarted& started);
  absl::StatusOr<Routing> ApplyFinished(const v1::GraphNodeFinished& finished);
  Routing ApplyItemFinished(const v1::GraphNodeFinished& finished, MapVisit& map, const RunKey& map_key);
  void StartMapVisit(const RunKey& key, const v1::GraphNodeStarted& started);
  Routing Route(int node, const std::string& output);
  void Report(int to, int from, bool taken, Routing& routing);
  std::optional<bool> NextActivation(int node);
  bool Activate(int node, Routing& routing);
  void EndIfDone();
  bool TakeAction(Action::Kind kind, const RunKey& key);
  std::string NodeError(int node, const v1::GraphNodeFinished& finished) const;

  // --- Deciding (live only) ---
  GraphStep Drain(GraphStep step);
  v1::JournalEntry EmitAction(const Action& action, GraphStep& step);
  v1::JournalEntry EmitNodeStart(const RunKey& key, GraphStep& step);
  v1::JournalEntry EmitItemStart(const RunKey& key, GraphStep& step);
  v1::JournalEntry EmitMapEnd(const RunKey& key);
  GraphStep Finish(v1::JournalEntry entry);

  TemplateScope Scope() const;
  const v1::GraphNode& node(int i) const { return spec.nodes(i); }
  bool IsRunStart(const Action& action) const {
    return action.kind == Action::kStartItem ||
           (action.kind == Action::kStartNode && node(action.key.node).kind_case() != v1::GraphNode::kMap);
  }

  // Fixed at construction.
  const std::string graph_run_id;
  const v1::GraphSpec spec;
  const std::string input;
  const std::function<std::string()> new_run_id;
  const Topology topology;
  const int32_t max_node_runs;
  std::vector<NodePlan> plans;
  Template output_template = Template::Literal("");

  // Changed by Apply only.
  std::vector<NodeState> nodes;
  std::map<RunKey, Running> running;                     // node runs started and not ended
  absl::flat_hash_map<std::string, RunKey> by_child;     // child run id -> run
  absl::flat_hash_map<std::string, RunKey> by_question;  // approval id -> run
  std::map<RunKey, MapVisit> maps;                       // key.item == 0
  std::deque<Action> pending;
  int32_t node_runs = 0;
  std::optional<std::string> last_output;  // of the last node (not item) that finished
  std::optional<GraphStep::End> end;
};

GraphExecution::State::State(std::string graph_run_id_in, v1::GraphSpec spec_in, std::string input_in,
                             std::function<std::string()> new_run_id_in)
    : graph_run_id(std::move(graph_run_id_in)),
      spec(std::move(spec_in)),
      input(std::move(input_in)),
      new_run_id(std::move(new_run_id_in)),
      topology(spec),
      max_node_runs(spec.limits().max_node_runs() > 0 ? spec.limits().max_node_runs() : kDefaultMaxNodeRuns) {
  // Templates of a validated spec parse; anything else is taken as plain text rather
  // than crashing on what a caller let through.
  const auto parse = [](const std::string& text, absl::string_view fallback) {
    absl::StatusOr<Template> parsed = Template::Parse(text.empty() ? fallback : text);
    return parsed.ok() ? *std::move(parsed) : Template::Literal(text);
  };
  const int n = topology.node_count();
  plans.resize(n);
  nodes.resize(n);
  std::vector<int> cycle_of(n, -1);  // the cyclic component holding each node, if any
  const std::vector<std::vector<int>> cycles = topology.CyclicComponents();
  for (int c = 0; c < static_cast<int>(cycles.size()); ++c) {
    for (int member : cycles[c]) cycle_of[member] = c;
  }
  for (int i = 0; i < n; ++i) {
    const v1::GraphNode& g = node(i);
    NodePlan& plan = plans[i];
    switch (g.kind_case()) {
      case v1::GraphNode::kAgent:
        plan.input = parse(g.agent().input(), "{{input}}");
        break;
      case v1::GraphNode::kGraph:
        plan.input = parse(g.graph().input(), "{{input}}");
        break;
      case v1::GraphNode::kHuman:
        plan.input = parse(g.human().prompt(), "");
        break;
      case v1::GraphNode::kMap:
        plan.input = parse(g.map().agent().input(), "{{item}}");
        if (absl::StatusOr<Path> over = ParsePath(g.map().over()); over.ok()) plan.over = *std::move(over);
        break;
      case v1::GraphNode::KIND_NOT_SET:
        break;
    }
    const std::vector<int>& inputs = topology.inputs(i);
    for (int p = 0; p < static_cast<int>(inputs.size()); ++p) {
      plan.input_position[inputs[p]] = p;
      plan.standing.push_back(cycle_of[i] >= 0 && cycle_of[inputs[p]] != cycle_of[i]);
    }
    nodes[i].inputs.resize(inputs.size());
  }
  output_template = parse(spec.output(), "");
  if (n > 0) {
    const int start = topology.start();
    nodes[start].visits = 1;
    pending.push_back({Action::kStartNode, {start, 1, 0}});
  }
}

TemplateScope GraphExecution::State::Scope() const {
  TemplateScope scope;
  scope.input = input;
  scope.node_output = [this](absl::string_view id) -> const std::string* {
    const int i = topology.IndexOf(id);
    if (i < 0 || !nodes[i].output) return nullptr;
    return &*nodes[i].output;
  };
  return scope;
}

// ---------------------------------------------------------------------------------
// Applying entries.

absl::StatusOr<Routing> GraphExecution::State::Apply(const v1::JournalEntry& entry) {
  Routing routing;
  if (entry.has_node_started()) {
    if (absl::Status s = ApplyStarted(entry.node_started()); !s.ok()) return s;
  } else if (entry.has_node_finished()) {
    absl::StatusOr<Routing> r = ApplyFinished(entry.node_finished());
    if (!r.ok()) return r.status();
    routing = *std::move(r);
  }
  EndIfDone();
  return routing;
}

bool GraphExecution::State::TakeAction(Action::Kind kind, const RunKey& key) {
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (it->kind == kind && it->key == key) {
      pending.erase(it);
      return true;
    }
  }
  return false;
}

absl::Status GraphExecution::State::ApplyStarted(const v1::GraphNodeStarted& started) {
  const int i = topology.IndexOf(started.node());
  if (i < 0) {
    return absl::FailedPreconditionError(absl::StrCat("graph: node \"", started.node(), "\" is not in the graph"));
  }
  const RunKey key{i, started.visit(), started.item()};
  const Action::Kind kind = key.item == 0 ? Action::kStartNode : Action::kStartItem;
  if (!TakeAction(kind, key)) {
    return absl::FailedPreconditionError(absl::StrCat("graph: node \"", started.node(), "\" visit ", started.visit(),
                                                      " item ", started.item(), " started, but no such start was due"));
  }
  if (node(i).kind_case() == v1::GraphNode::kMap && key.item == 0) {
    StartMapVisit(key, started);
    return absl::OkStatus();
  }
  Running& run = running[key];
  run.child_run_id = started.child_run_id();
  run.approval_id = started.approval_id();
  if (!run.child_run_id.empty()) by_child[run.child_run_id] = key;
  if (!run.approval_id.empty()) by_question[run.approval_id] = key;
  ++node_runs;
  if (key.item > 0) {
    auto map = maps.find({i, key.visit, 0});
    if (map != maps.end()) ++map->second.running;
  }
  return absl::OkStatus();
}

// The items come from the entry (the `over` array as it was rendered); the first
// max_parallel of them start next, before anything else pending.
void GraphExecution::State::StartMapVisit(const RunKey& key, const v1::GraphNodeStarted& started) {
  const v1::MapNode& spec_map = node(key.node).map();
  MapVisit& map = maps[key];
  json items = ParseJsonOrString(started.input());
  if (items.is_array()) {
    map.items = std::move(items);
  } else {
    // Resolving `over` again gives the same answer: nothing has changed since.
    absl::StatusOr<json> over = plans[key.node].over ? ResolveArray(*plans[key.node].over, Scope())
                                                     : absl::InvalidArgumentError("over is not a path");
    map.error = over.ok() ? absl::StrCat("over \"", spec_map.over(), "\" is not an array")
                          : std::string(over.status().message());
  }
  map.total = static_cast<int32_t>(map.items.size());
  map.outputs.resize(map.total);
  if (map.error.empty() && spec_map.on_failure() == v1::MapNode::QUORUM && map.total < spec_map.quorum()) {
    map.error = absl::StrCat("quorum ", spec_map.quorum(), " cannot be reached: over \"", spec_map.over(), "\" has ",
                             map.total, " items");
  }
  if (!map.error.empty() || map.total == 0) {
    map.decided = true;
    pending.push_front({Action::kFinishMap, key});
    return;
  }
  const int32_t parallel = spec_map.max_parallel() > 0 ? spec_map.max_parallel() : kDefaultMaxParallel;
  map.scheduled = std::min(parallel, map.total);
  for (int32_t item = map.scheduled; item >= 1; --item) {
    pending.push_front({Action::kStartItem, {key.node, key.visit, item}});
  }
}

absl::StatusOr<Routing> GraphExecution::State::ApplyFinished(const v1::GraphNodeFinished& finished) {
  const int i = topology.IndexOf(finished.node());
  const RunKey key{i, finished.visit(), finished.item()};
  const auto not_running = [&finished] {
    return absl::FailedPreconditionError(absl::StrCat("graph: node \"", finished.node(), "\" visit ", finished.visit(),
                                                      " item ", finished.item(), " finished but was not running"));
  };
  if (i < 0) return not_running();
  const bool is_map = node(i).kind_case() == v1::GraphNode::kMap;
  if (is_map && key.item == 0) {
    if (!TakeAction(Action::kFinishMap, key)) return not_running();
  } else {
    auto run = running.find(key);
    if (run == running.end()) return not_running();
    by_child.erase(run->second.child_run_id);
    by_question.erase(run->second.approval_id);
    running.erase(run);
  }
  if (key.item > 0) {
    auto map = maps.find({i, key.visit, 0});
    if (map == maps.end()) return not_running();
    return ApplyItemFinished(finished, map->second, map->first);
  }
  if (Failed(finished.state())) {
    end = GraphStep::End{v1::FAILED, "", NodeError(i, finished), v1::NODE_FAILED};
    return Routing{};
  }
  nodes[i].output = finished.output();
  last_output = finished.output();
  return Route(i, finished.output());
}

Routing GraphExecution::State::ApplyItemFinished(const v1::GraphNodeFinished& finished, MapVisit& map,
                                                 const RunKey& map_key) {
  const v1::MapNode& spec_map = node(map_key.node).map();
  --map.running;
  if (Failed(finished.state())) {
    ++map.failed;
  } else {
    ++map.succeeded;
    if (finished.item() <= map.total) map.outputs[finished.item() - 1] = finished.output();
  }
  Routing routing;
  v1::MapProgress& progress = routing.progress.emplace();
  progress.set_total(map.total);
  progress.set_succeeded(map.succeeded);
  progress.set_failed(map.failed);
  progress.set_running(map.running);
  if (map.decided) return routing;

  if (Failed(finished.state())) {
    const std::string why = finished.error().empty() ? v1::RunState_Name(finished.state()) : finished.error();
    if (spec_map.on_failure() == v1::MapNode::FAIL_FAST) {
      map.failed_item = finished.item();
      map.error = absl::StrCat("item ", finished.item(), " failed: ", why);
    } else if (spec_map.on_failure() == v1::MapNode::QUORUM && map.failed > map.total - spec_map.quorum()) {
      map.error = absl::StrCat("quorum ", spec_map.quorum(), " can no longer be reached: ", map.failed, " of ",
                               map.total, " items failed (item ", finished.item(), ": ", why, ")");
    }
    if (!map.error.empty()) {
      map.decided = true;
      pending.push_back({Action::kFinishMap, map_key});
      return routing;
    }
  }
  if (map.scheduled < map.total) {
    ++map.scheduled;
    pending.push_back({Action::kStartItem, {map_key.node, map_key.visit, map.scheduled}});
  } else if (map.running == 0) {
    map.decided = true;
    pending.push_back({Action::kFinishMap, map_key});
  }
  return routing;
}

std::string GraphExecution::State::NodeError(int i, const v1::GraphNodeFinished& finished) const {
  const std::string& id = node(i).id();
  auto map = maps.find({i, finished.visit(), 0});
  if (map != maps.end() && map->second.failed_item > 0) {
    return absl::StrCat("node \"", id, "\" ", finished.error());  // "item 3 failed: ..."
  }
  std::string why = finished.error();
  if (why.empty()) why = absl::StrCat("the child run ended ", v1::RunState_Name(finished.state()));
  return absl::StrCat("node \"", id, "\" failed: ", why);
}

// The node succeeded: its static edges are taken, then the first conditional edge that
// holds, else its default edges. Back edges start their target at once; forward edges
// report to their target, taken or not.
Routing GraphExecution::State::Route(int from, const std::string& output) {
  const std::vector<int>& edges = topology.out_edges(from);
  std::vector<bool> taken(edges.size(), false);
  bool conditional_held = false;
  const json document = ParseJsonOrString(output);
  for (size_t e = 0; e < edges.size(); ++e) {
    const v1::GraphEdge& edge = spec.edges(edges[e]);
    if (edge.has_when()) {
      if (!conditional_held && ConditionHolds(edge.when(), document)) taken[e] = conditional_held = true;
    } else if (!edge.default_()) {
      taken[e] = true;
    }
  }
  for (size_t e = 0; e < edges.size(); ++e) {
    if (spec.edges(edges[e]).default_()) taken[e] = !conditional_held;
  }
  // One report per target, taken when any edge to it is. Edges between the same two
  // nodes are all back edges or all forward edges.
  std::vector<int> targets;
  std::vector<bool> target_taken;
  std::vector<bool> target_back;
  for (size_t e = 0; e < edges.size(); ++e) {
    const int to = topology.edge_to(edges[e]);
    auto it = std::find(targets.begin(), targets.end(), to);
    if (it == targets.end()) {
      targets.push_back(to);
      target_taken.push_back(taken[e]);
      target_back.push_back(topology.is_back_edge(edges[e]));
    } else if (taken[e]) {
      target_taken[it - targets.begin()] = true;
    }
  }
  Routing routing;
  for (size_t t = 0; t < targets.size(); ++t) {
    if (!target_back[t]) {
      Report(targets[t], from, target_taken[t], routing);
    } else if (target_taken[t]) {
      Activate(targets[t], routing);
    }
  }
  for (size_t t = 0; t < targets.size(); ++t) {
    const std::string& id = node(targets[t]).id();
    if (target_taken[t] && std::find(routing.dropped.begin(), routing.dropped.end(), id) == routing.dropped.end()) {
      routing.next.push_back(id);
    }
  }
  return routing;
}

// Reports reach a node input by input; an activation takes one report from every
// input (a standing input's last one when it has no new one). Skipping and dropping
// report "not taken" downstream, breadth first; forward edges form no cycle, so this
// ends.
void GraphExecution::State::Report(int to, int from, bool taken, Routing& routing) {
  struct Pending {
    int to, from;
    bool taken;
  };
  std::deque<Pending> work = {{to, from, taken}};
  while (!work.empty()) {
    const Pending report = work.front();
    work.pop_front();
    NodeState& target = nodes[report.to];
    auto position = plans[report.to].input_position.find(report.from);
    if (position == plans[report.to].input_position.end()) continue;
    target.inputs[position->second].fresh.push_back(report.taken);
    while (true) {
      const std::optional<bool> any = NextActivation(report.to);
      if (!any) break;
      if (!*any) AddDistinct(routing.skipped, node(report.to).id());
      if (!*any || !Activate(report.to, routing)) {
        for (int next : topology.forward_targets(report.to)) work.push_back({next, report.to, false});
      }
    }
  }
}

// Takes the reports of the node's next activation if all its inputs have reported
// (standing inputs once at least) and one report is new: whether any was taken.
std::optional<bool> GraphExecution::State::NextActivation(int i) {
  std::vector<InputReports>& inputs = nodes[i].inputs;
  bool any_fresh = false;
  for (const InputReports& input : inputs) {
    if (input.fresh.empty() && !input.last) return std::nullopt;
    any_fresh = any_fresh || !input.fresh.empty();
  }
  if (!any_fresh) return std::nullopt;
  bool any_taken = false;
  for (size_t p = 0; p < inputs.size(); ++p) {
    InputReports& input = inputs[p];
    bool taken = input.last.value_or(false);
    if (!input.fresh.empty()) {
      taken = input.fresh.front();
      input.fresh.pop_front();
      if (plans[i].standing[p]) input.last = taken;
    }
    any_taken = any_taken || taken;
  }
  return any_taken;
}

// A taken input (or back edge) starts a new visit, unless the node has run max_visits
// times: then it is dropped (false) and the path ends there.
bool GraphExecution::State::Activate(int i, Routing& routing) {
  NodeState& state = nodes[i];
  const int32_t max_visits = node(i).max_visits();
  if (max_visits > 0 && state.visits >= max_visits) {
    AddDistinct(routing.dropped, node(i).id());
    return false;
  }
  ++state.visits;
  pending.push_back({Action::kStartNode, {i, state.visits, 0}});
  return true;
}

void GraphExecution::State::EndIfDone() {
  if (end) return;
  for (const Action& action : pending) {
    if (IsRunStart(action) && node_runs >= max_node_runs) {
      end = GraphStep::End{v1::FAILED, "",
                           absl::StrCat("node \"", node(action.key.node).id(), "\" not started: the graph reached ",
                                        "max_node_runs (", max_node_runs, ")"),
                           v1::LIMIT_MAX_NODE_RUNS};
      return;
    }
  }
  if (!pending.empty() || !running.empty()) return;
  std::string output = spec.output().empty() ? last_output.value_or("") : output_template.Render(Scope());
  end = GraphStep::End{v1::SUCCEEDED, std::move(output), "", v1::FAILURE_KIND_UNSPECIFIED};
}

// ---------------------------------------------------------------------------------
// Deciding: each pending action becomes an entry, applied at once.

GraphStep GraphExecution::State::Drain(GraphStep step) {
  while (!end && !pending.empty()) {
    v1::JournalEntry entry = EmitAction(pending.front(), step);
    absl::StatusOr<Routing> routing = Apply(entry);
    // An entry built from the pending action always fits the state.
    if (!routing.ok()) break;
    if (entry.has_node_finished()) {
      v1::GraphNodeFinished* f = entry.mutable_node_finished();
      for (const std::string& id : routing->next) f->add_next(id);
      for (const std::string& id : routing->dropped) f->add_dropped(id);
      for (const std::string& id : routing->skipped) f->add_skipped(id);
    }
    step.entries.push_back(std::move(entry));
  }
  return step;
}

v1::JournalEntry GraphExecution::State::EmitAction(const Action& action, GraphStep& step) {
  switch (action.kind) {
    case Action::kStartNode:
      return EmitNodeStart(action.key, step);
    case Action::kStartItem:
      return EmitItemStart(action.key, step);
    case Action::kFinishMap:
      break;
  }
  return EmitMapEnd(action.key);
}

v1::JournalEntry GraphExecution::State::EmitNodeStart(const RunKey& key, GraphStep& step) {
  const v1::GraphNode& g = node(key.node);
  v1::JournalEntry entry;
  v1::GraphNodeStarted* started = entry.mutable_node_started();
  started->set_node(g.id());
  started->set_visit(key.visit);
  if (g.kind_case() == v1::GraphNode::kMap) {
    // A path that names no array starts the node with no items; applying the entry
    // then fails the node with what the path found.
    absl::StatusOr<json> items = plans[key.node].over ? ResolveArray(*plans[key.node].over, Scope())
                                                      : absl::InvalidArgumentError("over is not a path");
    if (items.ok()) {
      started->set_items(static_cast<int32_t>(items->size()));
      started->set_input(CompactJson(*items));
    }
    return entry;
  }
  started->set_input(plans[key.node].input.Render(Scope()));
  if (g.kind_case() == v1::GraphNode::kHuman) {
    const v1::HumanNode& human = g.human();
    QuestionToAsk& question = step.questions.emplace_back();
    question.approval_id = absl::StrCat(graph_run_id, ":", g.id(), ":", key.visit);
    question.node = g.id();
    question.visit = key.visit;
    question.prompt = started->input();
    for (int d : human.decisions()) question.decisions.push_back(static_cast<v1::Decision>(d));
    if (question.decisions.empty()) question.decisions = {v1::APPROVE, v1::DENY, v1::RESPOND};
    question.timeout_ms = (human.timeout_seconds() > 0 ? human.timeout_seconds() : kDefaultHumanTimeoutSeconds) * 1000;
    question.on_timeout = human.on_timeout();
    started->set_approval_id(question.approval_id);
    return entry;
  }
  ChildToStart& child = step.children.emplace_back();
  child.child_run_id = new_run_id();
  child.node = g.id();
  child.visit = key.visit;
  child.input = started->input();
  if (g.kind_case() == v1::GraphNode::kGraph) {
    child.graph = g.graph().graph();
  } else {
    child.agent = g.agent().agent();
    if (g.agent().has_output_schema()) *child.agent->mutable_output_schema() = g.agent().output_schema();
  }
  started->set_child_run_id(child.child_run_id);
  return entry;
}

v1::JournalEntry GraphExecution::State::EmitItemStart(const RunKey& key, GraphStep& step) {
  const v1::GraphNode& g = node(key.node);
  const MapVisit& map = maps.at({key.node, key.visit, 0});
  TemplateScope scope = Scope();
  scope.item = &map.items[key.item - 1];
  scope.index = key.item - 1;
  ChildToStart& child = step.children.emplace_back();
  child.child_run_id = new_run_id();
  child.node = g.id();
  child.visit = key.visit;
  child.item = key.item;
  child.input = plans[key.node].input.Render(scope);
  child.agent = g.map().agent().agent();
  if (g.map().agent().has_output_schema()) *child.agent->mutable_output_schema() = g.map().agent().output_schema();
  v1::JournalEntry entry;
  v1::GraphNodeStarted* started = entry.mutable_node_started();
  started->set_node(g.id());
  started->set_visit(key.visit);
  started->set_item(key.item);
  started->set_child_run_id(child.child_run_id);
  started->set_input(child.input);
  return entry;
}

// The map's output: the items' outputs in item order, each parsed when it is JSON,
// null for a failed item.
v1::JournalEntry GraphExecution::State::EmitMapEnd(const RunKey& key) {
  const MapVisit& map = maps.at(key);
  v1::JournalEntry entry;
  v1::GraphNodeFinished* finished = entry.mutable_node_finished();
  finished->set_node(node(key.node).id());
  finished->set_visit(key.visit);
  if (!map.error.empty()) {
    finished->set_state(v1::FAILED);
    finished->set_error(map.error);
    return entry;
  }
  json outputs = json::array();
  for (const std::optional<std::string>& output : map.outputs) {
    outputs.push_back(output ? ParseJsonOrString(*output) : json(nullptr));
  }
  finished->set_state(v1::SUCCEEDED);
  finished->set_output(CompactJson(outputs));
  return entry;
}

// Applies an entry built from an outside event, then writes what follows from it.
GraphStep GraphExecution::State::Finish(v1::JournalEntry entry) {
  GraphStep step;
  absl::StatusOr<Routing> routing = Apply(entry);
  if (!routing.ok()) return step;
  v1::GraphNodeFinished* f = entry.mutable_node_finished();
  for (const std::string& id : routing->next) f->add_next(id);
  for (const std::string& id : routing->dropped) f->add_dropped(id);
  for (const std::string& id : routing->skipped) f->add_skipped(id);
  if (routing->progress) *f->mutable_progress() = *routing->progress;
  step.entries.push_back(std::move(entry));
  step = Drain(std::move(step));
  step.end = end;
  return step;
}

// ---------------------------------------------------------------------------------

GraphExecution::GraphExecution(std::string graph_run_id, v1::GraphSpec spec, std::string input,
                               std::function<std::string()> new_run_id)
    : state_(
          std::make_unique<State>(std::move(graph_run_id), std::move(spec), std::move(input), std::move(new_run_id))) {}

GraphExecution::~GraphExecution() = default;

GraphStep GraphExecution::Start() {
  if (state_->end) return {};
  GraphStep step = state_->Drain(GraphStep{});
  step.end = state_->end;
  return step;
}

absl::Status GraphExecution::Replay(const v1::JournalEntry& entry) {
  if (!entry.has_node_started() && !entry.has_node_finished()) return absl::OkStatus();
  return state_->Apply(entry).status();
}

GraphStep GraphExecution::OnChildEnded(const v1::Run& child) {
  State& s = *state_;
  if (s.end) return {};
  auto it = s.by_child.find(child.run_id());
  if (it == s.by_child.end()) return {};
  if (child.state() != v1::SUCCEEDED && child.state() != v1::FAILED && child.state() != v1::CANCELLED) return {};
  const RunKey key = it->second;
  v1::JournalEntry entry;
  v1::GraphNodeFinished* finished = entry.mutable_node_finished();
  finished->set_node(s.node(key.node).id());
  finished->set_visit(key.visit);
  finished->set_item(key.item);
  finished->set_state(child.state());
  finished->set_child_run_id(child.run_id());
  if (child.state() == v1::SUCCEEDED) {
    finished->set_output(child.output());
  } else {
    finished->set_error(child.error().empty() ? absl::StrCat("the child run ended ", v1::RunState_Name(child.state()))
                                              : child.error());
  }
  return s.Finish(std::move(entry));
}

GraphStep GraphExecution::OnDecision(const std::string& approval_id, const v1::ApprovalDecision& decision) {
  State& s = *state_;
  if (s.end) return {};
  auto it = s.by_question.find(approval_id);
  if (it == s.by_question.end()) return {};
  const RunKey key = it->second;
  const v1::HumanNode& human = s.node(key.node).human();
  v1::JournalEntry entry;
  v1::GraphNodeFinished* finished = entry.mutable_node_finished();
  finished->set_node(s.node(key.node).id());
  finished->set_visit(key.visit);
  if (decision.timed_out() && human.on_timeout() == v1::ApprovalRule::TIMEOUT_FAIL) {
    const int64_t seconds = human.timeout_seconds() > 0 ? human.timeout_seconds() : kDefaultHumanTimeoutSeconds;
    finished->set_state(v1::FAILED);
    finished->set_error(absl::StrCat("no decision within ", seconds, " s (on_timeout TIMEOUT_FAIL)"));
    return s.Finish(std::move(entry));
  }
  v1::Decision choice = decision.decision();
  if (decision.timed_out() && choice == v1::DECISION_UNSPECIFIED) {
    choice = human.on_timeout() == v1::ApprovalRule::TIMEOUT_APPROVE ? v1::APPROVE : v1::DENY;
  }
  // Keys in the documented order, so people reading the output see it as documented.
  nlohmann::ordered_json output;
  output["decision"] = v1::Decision_Name(choice);
  output["message"] = decision.message();
  output["decided_by"] = decision.decided_by();
  output["timed_out"] = decision.timed_out();
  finished->set_state(v1::SUCCEEDED);
  finished->set_output(output.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  return s.Finish(std::move(entry));
}

std::vector<std::string> GraphExecution::RunningChildren() const {
  std::vector<std::string> ids;
  for (const auto& [key, run] : state_->running) {
    if (!run.child_run_id.empty()) ids.push_back(run.child_run_id);
  }
  return ids;
}

std::vector<std::string> GraphExecution::OpenQuestions() const {
  std::vector<std::string> ids;
  for (const auto& [key, run] : state_->running) {
    if (!run.approval_id.empty()) ids.push_back(run.approval_id);
  }
  return ids;
}

int32_t GraphExecution::node_runs() const { return state_->node_runs; }

bool GraphExecution::ended() const { return state_->end.has_value(); }

}  // namespace baton::orchestrator::graph
