// W9, W10 and W5-graph of docs/PERFORMANCE.md: graph runs (docs/design.md, "Graphs").
// W9: a planner, a map of 1,000 one-step nodes, a join; W10: chains of 50 one-step
// nodes on an idle stack; W5-graph: stored bytes per node for graphs of three sizes.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/graph.pb.h"
#include "bench/run_client.h"
#include "bench/stack.h"
#include "bench/stats.h"
#include "bench/store_size.h"
#include "bench/workload_common.h"
#include "bench/workloads.h"

namespace baton::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What the planner answers with (its `respond` tool's input schema).
constexpr char kItemsSchema[] =
    R"({"type":"object","properties":{"items":{"type":"array","items":{"type":"string"}}},"required":["items"]})";

google::protobuf::Struct Schema(const char* text) {
  google::protobuf::Struct schema;
  if (!google::protobuf::util::JsonStringToMessage(text, &schema).ok()) {
    OrDie(absl::InternalError(absl::StrCat("not a JSON object: ", text)), "output schema");
  }
  return schema;
}

bool IsTerminal(v1::RunState s) { return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED; }

// ---------------------------------------------------------------------------
// Graphs.

v1::GraphNode* AddAgentNode(v1::GraphSpec& graph, const std::string& id, const v1::AgentSpec& agent,
                            const std::string& input) {
  v1::GraphNode* node = graph.add_nodes();
  node->set_id(id);
  *node->mutable_agent()->mutable_agent() = agent;
  node->mutable_agent()->set_input(input);
  return node;
}

void AddEdge(v1::GraphSpec& graph, const std::string& from, const std::string& to) {
  v1::GraphEdge* edge = graph.add_edges();
  edge->set_from(from);
  edge->set_to(to);
}

// The agent of every one-step node: the benchmark's agent without tools, answering
// at once ("Done. You said: <input>").
v1::AgentSpec NodeAgent(const BenchOptions& o, const std::string& name) {
  v1::AgentSpec agent = Agent(o, /*echo_tool=*/false, 4);
  agent.set_name(name);
  return agent;
}

// plan -> work (map over the plan's items) -> join. The planner answers with
// structured output ({"items": [...]}); the graph input's `[sim items=N]` makes the
// simulator give it N items, "hello 1".."hello N", which are the items' inputs.
v1::GraphSpec WideGraph(const BenchOptions& o, int max_parallel) {
  v1::GraphSpec graph;
  graph.set_name("bench-wide");
  v1::AgentSpec planner = NodeAgent(o, "bench-planner");
  // 1,000 items are ≈14 kB of tool input: ≈3,500 tokens at the simulator's 4 bytes each.
  planner.set_max_tokens(16'384);
  v1::GraphNode* plan = AddAgentNode(graph, "plan", planner, "{{input}}");
  *plan->mutable_agent()->mutable_output_schema() = Schema(kItemsSchema);
  v1::GraphNode* work = graph.add_nodes();
  work->set_id("work");
  v1::MapNode* map = work->mutable_map();
  map->set_over("nodes.plan.output.items");
  map->set_max_parallel(max_parallel);
  *map->mutable_agent()->mutable_agent() = NodeAgent(o, "bench-item");
  map->mutable_agent()->set_input("{{item}}");
  // The join reads no item output: its prompt stays one line, so the figure is the
  // platform's, not a 30 kB prompt's.
  AddAgentNode(graph, "join", NodeAgent(o, "bench-join"), "join the results");
  AddEdge(graph, "plan", "work");
  AddEdge(graph, "work", "join");
  return graph;
}

std::string WideInput(int items) { return absl::StrCat("[sim items=", items, "] plan ", items, " tasks"); }

// n1 -> n2 -> ... -> nN, every node reading the graph input (what each node adds
// stays the same size along the chain).
v1::GraphSpec ChainGraph(const BenchOptions& o, int length) {
  v1::GraphSpec graph;
  graph.set_name("bench-chain");
  const v1::AgentSpec agent = NodeAgent(o, "bench-link");
  for (int i = 1; i <= length; ++i) {
    AddAgentNode(graph, absl::StrCat("n", i), agent, "{{input}}");
    if (i > 1) AddEdge(graph, absl::StrCat("n", i - 1), absl::StrCat("n", i));
  }
  return graph;
}

// ---------------------------------------------------------------------------
// Running one graph.

struct Arrived {
  v1::RunEvent event;
  absl::Time at;  // driver clock when the client read it
};

// The events of one watched graph run with their arrival times. Thread-safe: filled
// on gRPC threads, taken once the run ended.
class ArrivalLog {
 public:
  void Add(const v1::RunEvent& e) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    events_.push_back({e, now});
  }
  std::vector<Arrived> Take() {
    absl::MutexLock lock(&mu_);
    return std::move(events_);
  }

 private:
  absl::Mutex mu_;
  std::vector<Arrived> events_ ABSL_GUARDED_BY(mu_);
};

struct WatchedGraph {
  RunRecord record;
  std::vector<Arrived> events;
};

// Creates the graph run and watches it to its end, as `baton run --graph FILE --watch`
// does (the graph's own events), or as a tree (its node runs' events too).
WatchedGraph RunGraph(RunClient& client, const v1::GraphSpec& graph, const std::string& input,
                      bool include_children) {
  ArrivalLog log;
  SubmitOptions watch;
  watch.include_children = include_children;
  watch.on_event = [&log](const v1::RunEvent& e) { log.Add(e); };
  v1::CreateRunRequest request;
  *request.mutable_graph() = graph;
  request.set_input(input);
  std::vector<RunRecord> records = RunClosedLoop(client, [&](int64_t) { return request; }, 1, 1, watch);
  return {std::move(records.at(0)), log.Take()};
}

// The node runs of a graph run (at most 1,000).
absl::StatusOr<std::vector<v1::Run>> NodeRuns(v1::RunService::Stub& stub, const std::string& graph_run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::ListRunsRequest request;
  request.set_parent_run_id(graph_run_id);
  request.set_page_size(1000);
  v1::ListRunsResponse response;
  grpc::Status s = stub.ListRuns(&ctx, request, &response);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return std::vector<v1::Run>(response.runs().begin(), response.runs().end());
}

// CPU seconds the rest of the machine (other users) used between two snapshots, as
// cores busy over `seconds`; `driver_seconds` is the driver's own CPU meanwhile.
double OtherCoresBusy(const json& before, const json& after, double driver_seconds, double seconds) {
  double ours = driver_seconds;
  for (const char* k : {"orchestrator", "workers", "sim"}) ours += after[k].get<double>() - before[k].get<double>();
  const double host = after["host"].get<double>() - before["host"].get<double>();
  return seconds > 0 ? std::max(0.0, host - ours) / seconds : 0;
}

// ---------------------------------------------------------------------------
// W9: what one wide graph showed, from the graph's own events (orchestrator clock,
// whole ms) and their arrival (driver clock).

struct WideGraphFigures {
  bool ok = false;
  std::string error;
  int items = 0;  // succeeded map items
  int64_t plan_started_ms = 0;
  int64_t map_started_ms = 0;   // NodeStarted of the map node as a whole
  int64_t map_finished_ms = 0;  // its NodeFinished
  int64_t join_started_ms = 0;
  int64_t end_ms = 0;
  absl::Time map_started_at, map_finished_at;  // their arrival
};

WideGraphFigures ReadWideGraph(const WatchedGraph& g, int items) {
  WideGraphFigures f;
  if (!g.record.ok || g.record.state != v1::SUCCEEDED) {
    f.error = absl::StrCat("graph ", g.record.run_id, " ended ", v1::RunState_Name(g.record.state), " ",
                           g.record.error);
    return f;
  }
  f.end_ms = g.record.end_ms;
  for (const Arrived& a : g.events) {
    const v1::RunEvent& e = a.event;
    if (e.has_node_started()) {
      const v1::RunEvent::NodeStarted& s = e.node_started();
      if (s.node() == "plan") f.plan_started_ms = e.time_ms();
      if (s.node() == "join") f.join_started_ms = e.time_ms();
      if (s.node() == "work" && s.item() == 0) {
        f.map_started_ms = e.time_ms();
        f.map_started_at = a.at;
      }
    }
    if (e.has_node_finished()) {
      const v1::RunEvent::NodeFinished& n = e.node_finished();
      if (n.node() == "work" && n.item() > 0 && n.state() == v1::SUCCEEDED) ++f.items;
      if (n.node() == "work" && n.item() == 0) {
        f.map_finished_ms = e.time_ms();
        f.map_finished_at = a.at;
      }
    }
  }
  if (f.items != items) {
    f.error = absl::StrCat("graph ", g.record.run_id, ": ", f.items, " map items succeeded, want ", items);
  } else if (f.plan_started_ms == 0 || f.map_started_ms == 0 || f.map_finished_ms == 0 || f.join_started_ms == 0) {
    f.error = absl::StrCat("graph ", g.record.run_id, ": a node event is missing");
  } else {
    f.ok = true;
  }
  return f;
}

// Plain runs completed per second: from the first CreateRun to the last terminal
// event. Counts and notes (up to 5) the runs that did not succeed.
double RunsPerSecond(const std::vector<RunRecord>& records, int64_t& failed, std::vector<std::string>& errors) {
  absl::Time first = absl::InfiniteFuture(), last = absl::InfinitePast();
  for (const RunRecord& r : records) {
    first = std::min(first, r.submit);
    last = std::max(last, r.done);
    if (!r.ok || r.state != v1::SUCCEEDED) {
      ++failed;
      if (errors.size() < 5) errors.push_back(absl::StrCat("plain run ", r.run_id, ": ", r.error));
    }
  }
  return last > first ? static_cast<double>(records.size()) / absl::ToDoubleSeconds(last - first) : 0;
}

}  // namespace

nlohmann::json RunW9Wide(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    const int items = 1'000;
    const int max_parallel = 256;
    const int node_runs = items + 2;  // the planner, the items, the join
    StackOptions so = BaseStack(o, absl::StrCat("w9-", rep));
    so.workers = 4;
    so.concurrency = 64;
    Stack stack(so);
    OrDie(stack.Start(), "W9: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W9: serving");
    RunClient client(stack.address(), o.channels);
    const v1::GraphSpec graph = WideGraph(o, max_parallel);
    const v1::AgentSpec item_agent = NodeAgent(o, "bench-item");
    // The baseline: the map's items as plain runs, W1's way (watched, 512 unfinished).
    auto plain_request = [&](int64_t i) { return Request(item_agent, absl::StrCat("hello ", i + 1)); };
    SubmitOptions plain;

    // Warm-up (connections, allocator, memtables, the simulator): not counted.
    RunGraph(client, graph, WideInput(items), /*include_children=*/false);
    RunClosedLoop(client, plain_request, items, 2 * so.workers * so.concurrency, plain);

    const int64_t rounds = Scaled(o, 5);
    Log(absl::StrCat("W9 #", rep, ": ", rounds, " rounds of (a graph with a map of ", items,
                     ", max_parallel ", max_parallel, ", watched, then watched as a tree; ", items,
                     " plain runs, 512 then 256 unfinished) on 4 x 64 slots"));
    CpuTally graph_cpu, tree_cpu, plain_cpu;
    // Each round's phases, [start, end] in Unix ms (driver clock): to cut a profile.
    json round_phases = json::array();
    int64_t tree_gaps = 0;
    std::vector<double> nodes_per_s, nodes_per_s_client, map_ms, plan_ms, join_ms, graph_ms, plain_runs_per_s,
        plain_runs_per_s_at_max_parallel, nodes_per_s_tree, other_busy;
    int64_t failed = 0;
    std::vector<std::string> errors;
    for (int64_t k = 0; k < rounds; ++k) {
      // Interleaved, so drift of the shared machine hits both alike.
      json& phases = round_phases.emplace_back();
      json cpu0 = stack.CpuSeconds();
      const double driver0 = DriverCpuSeconds();
      absl::Time phase_start = absl::Now();
      const WatchedGraph g = RunGraph(client, graph, WideInput(items), /*include_children=*/false);
      phases["graph"] = {UnixMs(phase_start), UnixMs(absl::Now())};
      Settle();
      json cpu1 = stack.CpuSeconds();
      graph_cpu.Add(cpu0, cpu1, node_runs);
      const double seconds = absl::ToDoubleSeconds(g.record.done - g.record.submit) + 0.02;
      other_busy.push_back(OtherCoresBusy(cpu0, cpu1, DriverCpuSeconds() - driver0, seconds));
      const WideGraphFigures f = ReadWideGraph(g, items);
      if (!f.ok) {
        ++failed;
        if (errors.size() < 5) errors.push_back(f.error);
      } else {
        const double map_s = static_cast<double>(f.map_finished_ms - f.map_started_ms) / 1000.0;
        nodes_per_s.push_back(map_s > 0 ? items / map_s : 0);
        const double map_client_s = absl::ToDoubleSeconds(f.map_finished_at - f.map_started_at);
        nodes_per_s_client.push_back(map_client_s > 0 ? items / map_client_s : 0);
        map_ms.push_back(static_cast<double>(f.map_finished_ms - f.map_started_ms));
        plan_ms.push_back(static_cast<double>(f.map_started_ms - f.plan_started_ms));
        join_ms.push_back(static_cast<double>(f.end_ms - f.join_started_ms));
        graph_ms.push_back(absl::ToDoubleMilliseconds(g.record.done - g.record.submit));
      }

      // The same graph watched as a tree (`baton run --watch --children`): the items'
      // events are streamed too.
      cpu0 = stack.CpuSeconds();
      phase_start = absl::Now();
      const WatchedGraph t = RunGraph(client, graph, WideInput(items), /*include_children=*/true);
      phases["tree"] = {UnixMs(phase_start), UnixMs(absl::Now())};
      Settle();
      tree_cpu.Add(cpu0, stack.CpuSeconds(), node_runs);
      const WideGraphFigures tf = ReadWideGraph(t, items);
      if (!tf.ok) {
        ++failed;
        if (errors.size() < 5) errors.push_back(absl::StrCat("tree watched: ", tf.error));
      } else {
        const double map_s = static_cast<double>(tf.map_finished_ms - tf.map_started_ms) / 1000.0;
        nodes_per_s_tree.push_back(map_s > 0 ? items / map_s : 0);
      }
      for (const Arrived& a : t.events) tree_gaps += a.event.has_gap();

      cpu0 = stack.CpuSeconds();
      phase_start = absl::Now();
      const std::vector<RunRecord> r =
          RunClosedLoop(client, plain_request, items, 2 * so.workers * so.concurrency, plain);
      phases["plain"] = {UnixMs(phase_start), UnixMs(absl::Now())};
      Settle();
      plain_cpu.Add(cpu0, stack.CpuSeconds(), items);
      plain_runs_per_s.push_back(RunsPerSecond(r, failed, errors));
      // The same runs with at most max_parallel unfinished, as the map keeps them:
      // throughput only.
      plain_runs_per_s_at_max_parallel.push_back(
          RunsPerSecond(RunClosedLoop(client, plain_request, items, max_parallel, plain), failed, errors));
    }
    if (failed > 0) KeepLogs(o, so.dir, absl::StrCat("w9-", rep));
    stack.StopWorkers();
    stack.StopOrchestrator();

    json out;
    out["items"] = items;
    out["max_parallel"] = max_parallel;
    out["workers"] = so.workers;
    out["concurrency"] = so.concurrency;
    out["rounds"] = rounds;
    out["failed"] = failed;
    out["errors"] = errors;
    // Map items completed per second: the map's NodeStarted to its NodeFinished
    // (orchestrator clock); the same from their arrival at the driver.
    out["map_nodes_per_s"] = Median(nodes_per_s);
    out["map_nodes_per_s_client"] = Median(nodes_per_s_client);
    out["map_nodes_per_s_rounds"] = nodes_per_s;
    out["map_nodes_per_s_tree_watched"] = Median(nodes_per_s_tree);
    // Gap events on the tree watches (fell behind: events read again from the store).
    out["tree_watch_gaps"] = tree_gaps;
    out["map_ms"] = Median(map_ms);
    out["plan_ms"] = Median(plan_ms);
    out["join_ms"] = Median(join_ms);
    out["graph_ms"] = Median(graph_ms);
    out["graph_nodes_per_s"] = Median(graph_ms) > 0 ? node_runs / (Median(graph_ms) / 1000.0) : 0;
    out["plain_runs_per_s"] = Median(plain_runs_per_s);
    out["plain_runs_per_s_at_max_parallel"] = Median(plain_runs_per_s_at_max_parallel);
    out["other_processes_cores_busy"] = Median(other_busy);
    out["round_phases_unix_ms"] = round_phases;
    // CPU of each process from before the graph's CreateRun to its end (+20 ms),
    // summed over the rounds, per node run (planner + items + join); the baseline
    // per plain run likewise.
    const json per_node = graph_cpu.PerUnitMs();
    const json per_plain = plain_cpu.PerUnitMs();
    out["cpu_ms_per_node"] = per_node;
    out["cpu_ms_per_plain_run"] = per_plain;
    const double plain_orchestrator = per_plain["orchestrator"].get<double>();
    const double plain_baton = per_plain["baton"].get<double>();
    out["cpu_ratio_orchestrator"] =
        plain_orchestrator > 0 ? per_node["orchestrator"].get<double>() / plain_orchestrator : 0;
    out["cpu_ratio_baton"] = plain_baton > 0 ? per_node["baton"].get<double>() / plain_baton : 0;
    const json per_node_tree = tree_cpu.PerUnitMs();
    out["cpu_ms_per_node_tree_watched"] = per_node_tree;
    out["cpu_ratio_orchestrator_tree_watched"] =
        plain_orchestrator > 0 ? per_node_tree["orchestrator"].get<double>() / plain_orchestrator : 0;
    Log(absl::StrCat("W9 #", rep, ": map ", out["map_nodes_per_s"].dump(), " nodes/s (rounds ", json(nodes_per_s).dump(),
                     "); orchestrator CPU per node ", per_node["orchestrator"].dump(), " ms, per plain run ",
                     per_plain["orchestrator"].dump(), " ms (ratio ", out["cpu_ratio_orchestrator"].dump(),
                     "; tree watched ", out["cpu_ratio_orchestrator_tree_watched"].dump(),
                     "); plain ", out["plain_runs_per_s"].dump(), " runs/s (", out["plain_runs_per_s_at_max_parallel"].dump(),
                     " with ", max_parallel, " unfinished); failed ", failed));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W10: chains of 50 one-step nodes, one at a time on an idle stack.

namespace {

// The edges and nodes of W10's chains. Per edge (node k ended -> node k+1), from the
// node runs' records (orchestrator clock, whole ms): to the next one's first lease;
// to its creation (the same batch); its creation to its lease; to the start of its
// model call (its first journal entry: worker clock, same host). From a tree watch
// (driver clock): the arrival of node k's terminal event to that of k+1's RUNNING.
// Not thread-safe.
class ChainFigures {
 public:
  explicit ChainFigures(int length) : length_(length) {}

  // One chain that succeeded: `nodes[k]` is node k's run (1-based), every one set.
  void Add(RunClient& client, const WatchedGraph& g, const std::vector<const v1::Run*>& nodes, bool tree) {
    const std::vector<int64_t> model_call_ms = ModelCallStarts(client, nodes);
    // Arrival of each node run's first RUNNING and terminal event, and the time of
    // its StepFinished (the orchestrator took the model turn's append): tree watched.
    std::map<std::string, absl::Time> running_at, ended_at;
    std::map<std::string, int64_t> turn_appended_ms;
    for (const Arrived& a : g.events) {
      if (a.event.run_id() == g.record.run_id) continue;
      if (a.event.has_step_finished()) turn_appended_ms.emplace(a.event.run_id(), a.event.time_ms());
      if (!a.event.has_state_changed()) continue;
      const v1::RunState s = a.event.state_changed().state();
      if (s == v1::RUNNING) running_at.emplace(a.event.run_id(), a.at);
      if (IsTerminal(s)) ended_at.emplace(a.event.run_id(), a.at);
    }
    // Where a node's own time goes: its lease to its model call's start, the model
    // call and its append, the append to its end.
    for (int k = 1; k <= length_; ++k) {
      const v1::Run& r = *nodes[k];
      auto appended = turn_appended_ms.find(r.run_id());
      if (model_call_ms[k] == 0 || appended == turn_appended_ms.end()) continue;
      lease_to_model_call_.push_back(static_cast<double>(model_call_ms[k] - r.start_time_ms()));
      model_call_to_appended_.push_back(static_cast<double>(appended->second - model_call_ms[k]));
      appended_to_end_.push_back(static_cast<double>(r.end_time_ms() - appended->second));
    }
    for (int k = 1; k < length_; ++k) {
      const v1::Run& cur = *nodes[k];
      const v1::Run& next = *nodes[k + 1];
      const double e = static_cast<double>(next.start_time_ms() - cur.end_time_ms());
      edge_.push_back(e);
      (tree ? edge_tree_watched_ : edge_graph_watched_).push_back(e);
      created_after_end_.push_back(static_cast<double>(next.create_time_ms() - cur.end_time_ms()));
      created_to_leased_.push_back(static_cast<double>(next.start_time_ms() - next.create_time_ms()));
      node_run_.push_back(static_cast<double>(cur.end_time_ms() - cur.start_time_ms()));
      lease_to_lease_.push_back(static_cast<double>(next.start_time_ms() - cur.start_time_ms()));
      if (model_call_ms[k + 1] > 0) {
        edge_to_model_call_.push_back(static_cast<double>(model_call_ms[k + 1] - cur.end_time_ms()));
      }
      auto end = ended_at.find(cur.run_id());
      auto run = running_at.find(next.run_id());
      if (end != ended_at.end() && run != running_at.end()) {
        edge_client_.push_back(absl::ToDoubleMilliseconds(run->second - end->second));
      }
    }
  }

  // Summaries (n, p50, p90, p99, max, mean) of each figure, in ms.
  void ToJson(json& out) const {
    out["edge_ms"] = Summary(edge_);
    out["edge_ms_graph_watched"] = Summary(edge_graph_watched_);
    out["edge_ms_tree_watched"] = Summary(edge_tree_watched_);
    out["edge_client_ms"] = Summary(edge_client_);
    out["created_after_end_ms"] = Summary(created_after_end_);
    out["created_to_leased_ms"] = Summary(created_to_leased_);
    out["edge_to_model_call_ms"] = Summary(edge_to_model_call_);
    out["node_run_ms"] = Summary(node_run_);
    out["node_lease_to_model_call_ms"] = Summary(lease_to_model_call_);
    out["node_model_call_to_turn_appended_ms"] = Summary(model_call_to_appended_);
    out["node_turn_appended_to_end_ms"] = Summary(appended_to_end_);
    out["lease_to_next_lease_ms"] = Summary(lease_to_lease_);
  }

 private:
  // When each node run's model call started (its first journal entry, the model
  // turn: worker clock, whole ms); 0 when unknown.
  std::vector<int64_t> ModelCallStarts(RunClient& client, const std::vector<const v1::Run*>& nodes) const {
    std::vector<int64_t> out(length_ + 1, 0);
    for (int k = 1; k <= length_; ++k) {
      absl::StatusOr<v1::Transcript> t = GetTranscript(client.stub(), nodes[k]->run_id());
      if (!t.ok()) continue;
      for (const v1::JournalEntry& e : t->entries()) {
        if (e.has_model_turn()) {
          out[k] = e.time_ms();
          break;
        }
      }
    }
    return out;
  }

  const int length_;
  std::vector<double> edge_, edge_graph_watched_, edge_tree_watched_, edge_client_, created_after_end_,
      created_to_leased_, edge_to_model_call_, node_run_, lease_to_model_call_, model_call_to_appended_,
      appended_to_end_, lease_to_lease_;
};

// The node runs of a chain graph by position (nodes are n1..nN; index 0 unused), or
// nothing unless every one succeeded.
std::optional<std::vector<const v1::Run*>> ChainNodes(const std::vector<v1::Run>& children, int length) {
  std::vector<const v1::Run*> nodes(length + 1, nullptr);
  for (const v1::Run& child : children) {
    const int n = std::atoi(child.graph_node().c_str() + 1);
    if (n >= 1 && n <= length && child.state() == v1::SUCCEEDED) nodes[n] = &child;
  }
  if (!std::all_of(nodes.begin() + 1, nodes.end(), [](const v1::Run* r) { return r != nullptr; })) {
    return std::nullopt;
  }
  return nodes;
}

}  // namespace

nlohmann::json RunW10Deep(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    const int length = 50;
    StackOptions so = BaseStack(o, absl::StrCat("w10-", rep));
    so.workers = 4;
    so.concurrency = 64;
    Stack stack(so);
    OrDie(stack.Start(), "W10: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W10: serving");
    RunClient client(stack.address(), o.channels);
    const v1::GraphSpec graph = ChainGraph(o, length);
    RunGraph(client, graph, "w10 warm-up", /*include_children=*/true);  // not counted

    // What the idle stack costs: one second with nothing to do.
    const json idle0 = stack.CpuSeconds();
    absl::SleepFor(absl::Seconds(1));
    const json idle1 = stack.CpuSeconds();

    const int64_t chains = Scaled(o, 10);
    Log(absl::StrCat("W10 #", rep, ": ", chains, " chains of ", length, " nodes, one at a time (4 x 64 slots)"));
    ChainFigures figures(length);
    CpuTally cpu;
    std::vector<double> chain_per_node, other_busy;
    int64_t failed = 0;
    std::vector<std::string> errors;
    for (int64_t c = 0; c < chains; ++c) {
      // Alternately watched as `baton run --watch` does (the graph's events) and as a
      // tree (with the node runs' events, whose arrival times the driver keeps).
      const bool tree = c % 2 == 1;
      const json cpu0 = stack.CpuSeconds();
      const double driver0 = DriverCpuSeconds();
      const WatchedGraph g = RunGraph(client, graph, absl::StrCat("w10 chain ", c), tree);
      const double seconds = absl::ToDoubleSeconds(g.record.done - g.record.submit);
      const json cpu1 = stack.CpuSeconds();
      other_busy.push_back(OtherCoresBusy(cpu0, cpu1, DriverCpuSeconds() - driver0, seconds));
      cpu.Add(cpu0, cpu1, length);
      absl::StatusOr<std::vector<v1::Run>> children = NodeRuns(client.stub(), g.record.run_id);
      std::optional<std::vector<const v1::Run*>> nodes;
      if (children.ok()) nodes = ChainNodes(*children, length);
      if (!g.record.ok || g.record.state != v1::SUCCEEDED || !nodes) {
        ++failed;
        if (errors.size() < 5) {
          errors.push_back(absl::StrCat("chain ", g.record.run_id, " ended ", v1::RunState_Name(g.record.state), " ",
                                        g.record.error, children.ok() ? "" : children.status().ToString()));
        }
        continue;
      }
      chain_per_node.push_back(seconds * 1000.0 / length);
      figures.Add(client, g, *nodes, tree);
    }
    // The baseline: the same nodes as plain one-step runs, one after the other, each
    // watched: what a node costs on an idle stack without a graph.
    const v1::AgentSpec link = NodeAgent(o, "bench-link");
    CpuTally plain_cpu;
    std::vector<double> plain_per_run;
    for (int64_t c = 0; c < chains; ++c) {
      const json cpu0 = stack.CpuSeconds();
      const absl::Time t0 = absl::Now();
      const std::vector<RunRecord> r = RunClosedLoop(
          client, [&](int64_t i) { return Request(link, absl::StrCat("w10 plain ", c, " ", i)); }, length, 1, {});
      plain_per_run.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0) / length);
      plain_cpu.Add(cpu0, stack.CpuSeconds(), length);
      for (const RunRecord& p : r) {
        if (!p.ok || p.state != v1::SUCCEEDED) {
          ++failed;
          if (errors.size() < 5) errors.push_back(absl::StrCat("plain run ", p.run_id, ": ", p.error));
        }
      }
    }
    if (failed > 0) KeepLogs(o, so.dir, absl::StrCat("w10-", rep));
    stack.StopWorkers();
    stack.StopOrchestrator();

    json out;
    out["length"] = length;
    out["chains"] = chains;
    out["workers"] = so.workers;
    out["concurrency"] = so.concurrency;
    out["failed"] = failed;
    out["errors"] = errors;
    figures.ToJson(out);
    out["chain_ms_per_node"] = Summary(chain_per_node);
    out["plain_ms_per_run"] = Summary(plain_per_run);
    out["other_processes_cores_busy"] = Median(other_busy);
    // CPU per node of the chains (both watch modes) and per plain run, in ms; CPU
    // seconds of the idle stack in 1 s (cores).
    out["cpu_ms_per_node"] = cpu.PerUnitMs();
    out["cpu_ms_per_plain_run"] = plain_cpu.PerUnitMs();
    out["idle_cores"] = {{"orchestrator", idle1["orchestrator"].get<double>() - idle0["orchestrator"].get<double>()},
                         {"workers", idle1["workers"].get<double>() - idle0["workers"].get<double>()},
                         {"sim", idle1["sim"].get<double>() - idle0["sim"].get<double>()}};
    Log(absl::StrCat("W10 #", rep, ": edge p50 ", out["edge_ms"]["p50"].dump(), " ms, p99 ",
                     out["edge_ms"]["p99"].dump(), " ms (records); client p50 ", out["edge_client_ms"]["p50"].dump(),
                     " ms, p99 ", out["edge_client_ms"]["p99"].dump(), " ms; per node ",
                     out["chain_ms_per_node"]["p50"].dump(), " ms; plain runs one after the other ",
                     out["plain_ms_per_run"]["p50"].dump(), " ms; failed ", failed));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W5-graph: stored bytes of one graph run and its node runs, for three sizes of a
// chain and of a map.

nlohmann::json RunW5Graph(const BenchOptions& o) {
  return Repeat(o.slow_repeats, [&](int rep) {
    struct Shape {
      std::string name;  // "chain" or "map"
      int size;
    };
    const std::vector<Shape> shapes = {{"chain", 10}, {"chain", 50}, {"chain", 200},
                                       {"map", 10},   {"map", 100},  {"map", 1'000}};
    json out;
    std::optional<StoreSize> empty;
    int64_t failed = 0;
    std::vector<std::string> errors;
    for (const Shape& shape : shapes) {
      const std::string name = absl::StrCat(shape.name, "_", shape.size);
      StackOptions so = BaseStack(o, absl::StrCat("w5g-", rep, "-", name));
      so.workers = 4;
      so.concurrency = 64;
      Stack stack(so);
      OrDie(stack.StartSim(), "W5-graph: sim");
      const std::string snapshots = so.dir + "/snapshots";
      fs::create_directories(snapshots);
      if (!empty) {
        // The empty database, as the orchestrator leaves it.
        OrDie(stack.StartOrchestrator(), "W5-graph: orchestrator");
        stack.StopOrchestrator();
        fs::copy(stack.data_dir(), snapshots + "/empty", fs::copy_options::recursive);
        empty = OrDie(CompactAndMeasure(snapshots + "/empty"), "W5-graph: measure empty");
      }
      OrDie(stack.StartOrchestrator(), "W5-graph: orchestrator");
      for (int i = 0; i < so.workers; ++i) stack.StartWorker(i);
      OrDie(stack.WaitServing(absl::Seconds(30)), "W5-graph: serving");
      RunClient client(stack.address(), 1);
      const bool chain = shape.name == "chain";
      const v1::GraphSpec graph = chain ? ChainGraph(o, shape.size) : WideGraph(o, 256);
      const int node_runs = chain ? shape.size : shape.size + 2;
      const int64_t written0 = WrittenBytes(stack.orchestrator()->pid()).value_or(0);
      const json cpu0 = stack.CpuSeconds();
      const WatchedGraph g =
          RunGraph(client, graph, chain ? "w5 chain" : WideInput(shape.size), /*include_children=*/false);
      Settle();
      const int64_t written = WrittenBytes(stack.orchestrator()->pid()).value_or(0) - written0;
      CpuTally cpu;
      cpu.Add(cpu0, stack.CpuSeconds(), node_runs);
      json p;
      p["node_runs"] = node_runs;
      // One graph: coarse (/proc counts 10 ms ticks), for the larger sizes only.
      p["orchestrator_cpu_ms_per_node"] = cpu.PerUnitMs()["orchestrator"];
      p["graph_ms_per_node"] = absl::ToDoubleMilliseconds(g.record.done - g.record.submit) / node_runs;
      // What the orchestrator wrote while the graph ran (WAL appends, flushes,
      // compactions): what each node costs the disk, overwritten records included.
      p["written_bytes"] = written;
      p["written_bytes_per_node"] = static_cast<double>(written) / node_runs;
      if (!g.record.ok || g.record.state != v1::SUCCEEDED) {
        ++failed;
        errors.push_back(absl::StrCat(name, ": graph ", g.record.run_id, " ended ", v1::RunState_Name(g.record.state),
                                      " ", g.record.error));
      }
      // The graph's run record: it holds the whole spec and is rewritten as nodes end.
      if (absl::StatusOr<v1::Run> run = GetRun(client.stub(), g.record.run_id); run.ok()) {
        p["graph_run_record_bytes"] = run->ByteSizeLong();
      }
      stack.StopWorkers();
      stack.StopOrchestrator();
      fs::copy(stack.data_dir(), snapshots + "/" + name, fs::copy_options::recursive);
      const StoreSize size = OrDie(CompactAndMeasure(snapshots + "/" + name), "W5-graph: measure");
      p["sst_bytes"] = size.sst_bytes;
      p["logical_bytes"] = size.logical_bytes;
      p["sst_bytes_per_node"] = static_cast<double>(size.sst_bytes - empty->sst_bytes) / node_runs;
      p["logical_bytes_per_node"] = static_cast<double>(size.logical_bytes - empty->logical_bytes) / node_runs;
      json by_cf;
      for (const auto& [cf, bytes] : size.logical_bytes_by_cf) {
        const auto e = empty->logical_bytes_by_cf.find(cf);
        by_cf[cf] = static_cast<double>(bytes - (e == empty->logical_bytes_by_cf.end() ? 0 : e->second)) / node_runs;
      }
      p["logical_bytes_per_node_by_cf"] = by_cf;
      p["records_by_cf"] = size.records_by_cf;
      out[name] = p;
      Log(absl::StrCat("W5-graph #", rep, ": ", name, ": ", p.dump()));
    }
    // Marginal bytes per node between two sizes of a shape: what one more node adds.
    for (const std::string shape : {"chain", "map"}) {
      std::vector<std::string> names;
      for (const Shape& s : shapes) {
        if (s.name == shape) names.push_back(absl::StrCat(s.name, "_", s.size));
      }
      for (size_t i = 1; i < names.size(); ++i) {
        const json& a = out[names[i - 1]];
        const json& b = out[names[i]];
        const double nodes = b["node_runs"].get<double>() - a["node_runs"].get<double>();
        out[names[i]]["marginal_sst_bytes_per_node"] =
            (b["sst_bytes"].get<double>() - a["sst_bytes"].get<double>()) / nodes;
        out[names[i]]["marginal_logical_bytes_per_node"] =
            (b["logical_bytes"].get<double>() - a["logical_bytes"].get<double>()) / nodes;
      }
    }
    out["empty_db_sst_bytes"] = empty ? empty->sst_bytes : 0;
    out["failed"] = failed;
    out["errors"] = errors;
    return out;
  });
}

}  // namespace baton::bench
