// Multi-agent graphs (docs/design.md, "Graphs") through the real stack: the research
// graph (planner -> map of researchers -> writer <-> reviewer) across orchestrator and
// worker crashes, conditional routing, each map failure policy, cancellation mid-map,
// the graph's limits, human nodes, and the specs CreateRun and PutGraph refuse.
//
// The simulator's default agent drives the nodes. A node's input is its child run's
// first user message, so the [sim ...] directives in a node's input template steer
// that node: `text=` fixes its answer, `steps=`/`tool=` its tool calls, `sleep_ms=`
// how long each model call takes, and `items=N` the length of the arrays it puts in a
// tool input it generates from a schema (the planner's `respond`). An agent with an
// output_schema is offered `respond`, which the default agent calls with an input
// generated from the schema (booleans true, strings "hello"); scripted replies, matched
// on text only that node's requests hold, give other answers.
#include <signal.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

constexpr char kModel[] = "claude-sonnet-4-5";

bool Ended(v1::RunState state) { return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED; }

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------
// Graph specs, written as graph files are (GraphSpec's JSON mapping).

// An inline agent. Five attempts: the crash test kills workers twice, and a run hit
// by both kills must still not run out of attempts.
json Agent(const std::string& name, const std::string& system, const std::vector<std::string>& tools = {}) {
  json agent = {{"name", name}, {"model", kModel}, {"system", system}, {"max_steps", 40}, {"max_attempts", 5}};
  if (!tools.empty()) agent["allowed_tools"] = tools;
  return agent;
}

json AgentNode(const std::string& id, json agent, const std::string& input, json output_schema = nullptr) {
  json node = {{"id", id}, {"agent", {{"agent", std::move(agent)}, {"input", input}}}};
  if (!output_schema.is_null()) node["agent"]["output_schema"] = std::move(output_schema);
  return node;
}

json MapNode(const std::string& id, const std::string& over, json agent, const std::string& input, int max_parallel,
             const std::string& on_failure = "FAIL_FAST", int quorum = 0) {
  json map = {{"over", over},
              {"agent", {{"agent", std::move(agent)}, {"input", input}}},
              {"max_parallel", max_parallel},
              {"on_failure", on_failure}};
  if (quorum > 0) map["quorum"] = quorum;
  return json{{"id", id}, {"map", std::move(map)}};
}

json Edge(const std::string& from, const std::string& to) { return json{{"from", from}, {"to", to}}; }

json When(const std::string& from, const std::string& to, const std::string& pointer, const std::string& op,
          json value) {
  return json{{"from", from}, {"to", to}, {"when", {{"pointer", pointer}, {"op", op}, {"value", std::move(value)}}}};
}

json Default(const std::string& from, const std::string& to) { return json{{"from", from}, {"to", to}, {"default", true}}; }

json ObjectSchema(json properties) {
  json required = json::array();
  for (const auto& [name, schema] : properties.items()) required.push_back(name);
  return json{{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

v1::GraphSpec Graph(const json& spec) {
  v1::GraphSpec graph;
  auto status = google::protobuf::util::JsonStringToMessage(spec.dump(), &graph);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << spec.dump(2);
  return graph;
}

// ---------------------------------------------------------------------------
// Calls.

grpc::Status CreateGraphRun(Cluster& cluster, const v1::GraphSpec& graph, const std::string& input, v1::Run* run) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CreateRunRequest request;
  *request.mutable_graph() = graph;
  request.set_input(input);
  return cluster.runs().CreateRun(&ctx, request, run);
}

v1::Run StartGraph(Cluster& cluster, const json& spec, const std::string& input) {
  v1::Run run;
  grpc::Status s = CreateGraphRun(cluster, Graph(spec), input, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(run.state(), v1::WAITING) << "a graph run waits from its creation to its end";
  return run;
}

grpc::Status PutGraph(Cluster& cluster, const v1::GraphSpec& graph, v1::GraphSpec* stored) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::PutGraphRequest request;
  *request.mutable_graph() = graph;
  v1::PutGraphResponse response;
  grpc::Status s = cluster.graphs().PutGraph(&ctx, request, &response);
  if (stored != nullptr) *stored = response.graph();
  return s;
}

// Waits for every node run of the graph to end; returns them.
std::vector<v1::Run> AwaitChildrenEnded(Cluster& cluster, const std::string& graph_run_id,
                                        absl::Duration timeout = absl::Seconds(15)) {
  std::vector<v1::Run> children;
  const bool ended = WaitUntil(
      [&] {
        children = Children(cluster, graph_run_id);
        return std::all_of(children.begin(), children.end(), [](const v1::Run& c) { return Ended(c.state()); });
      },
      timeout);
  EXPECT_TRUE(ended) << "node runs of " << graph_run_id << " still going";
  return children;
}

// A node run of the graph that `pick` accepts and that a worker holds; empty when none
// shows up within `timeout`.
v1::Run AwaitRunningChild(Cluster& cluster, const std::string& graph_run_id,
                          const std::function<bool(const v1::Run&)>& pick, absl::Duration timeout) {
  v1::Run found;
  WaitUntil(
      [&] {
        for (const v1::Run& child : Children(cluster, graph_run_id)) {
          if (pick(child) && child.state() == v1::RUNNING && !child.worker_id().empty()) {
            found = child;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

void KillWorkerOf(Cluster& cluster, const v1::Run& run) {
  const int index = run.worker_id() == "worker-0" ? 0 : 1;
  cluster.KillWorker(index, SIGKILL);
  cluster.StartWorker(index);
}

// (node, visit, item): one node run.
using NodeKey = std::tuple<std::string, int, int>;

std::string KeyName(const NodeKey& key) {
  return absl::StrCat(std::get<0>(key), " visit ", std::get<1>(key), " item ", std::get<2>(key));
}

NodeKey KeyOf(const v1::Run& child) { return {child.graph_node(), child.graph_visit(), child.map_item()}; }

// The graph's journal, indexed: where each node run started and finished.
struct NodeJournal {
  std::map<NodeKey, v1::JournalEntry> started;
  std::map<NodeKey, v1::JournalEntry> finished;
  std::vector<NodeKey> duplicates;  // a node run started or finished twice
  int max_running_items = 0;        // map items started and not finished, at most

  int64_t started_seq(const NodeKey& key) const {
    auto it = started.find(key);
    return it == started.end() ? -1 : it->second.seq();
  }
  int64_t finished_seq(const NodeKey& key) const {
    auto it = finished.find(key);
    return it == finished.end() ? -1 : it->second.seq();
  }
};

NodeJournal ReadNodeJournal(const v1::Transcript& transcript) {
  NodeJournal journal;
  int running_items = 0;
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_node_started()) {
      const v1::GraphNodeStarted& s = e.node_started();
      NodeKey key{s.node(), s.visit(), s.item()};
      if (!journal.started.emplace(key, e).second) journal.duplicates.push_back(key);
      if (s.item() > 0) journal.max_running_items = std::max(journal.max_running_items, ++running_items);
    }
    if (e.has_node_finished()) {
      const v1::GraphNodeFinished& f = e.node_finished();
      NodeKey key{f.node(), f.visit(), f.item()};
      if (!journal.finished.emplace(key, e).second) journal.duplicates.push_back(key);
      if (f.item() > 0) --running_items;
    }
  }
  return journal;
}

// The run's events are numbered 1, 2, 3... without a gap.
void ExpectGapFree(const std::vector<v1::RunEvent>& events, const std::string& run_id) {
  int64_t expected = 1;
  for (const v1::RunEvent& e : events) {
    if (e.run_id() != run_id) continue;
    EXPECT_EQ(e.seq(), expected) << run_id;
    expected = e.seq() + 1;
  }
  EXPECT_GT(expected, 1) << "no events of " << run_id;
}

// A scripted reply: the model calls `respond` with `answer`, for requests holding `match`.
json RespondReply(const std::string& match, json answer, int repeat = 1) {
  return json{{"match", match},
              {"repeat", repeat},
              {"content", json::array({{{"type", "tool_use"}, {"name", "respond"}, {"input", std::move(answer)}}})}};
}

// A scripted non-retryable refusal (400) for requests holding `match`.
json RefusalReply(const std::string& match, const std::string& message) {
  return json{{"match", match},
              {"status", 400},
              {"error", {{"type", "invalid_request_error"}, {"message", message}}}};
}

// ---------------------------------------------------------------------------
// The research graph

constexpr int kResearchTasks = 20;

// planner -> research (a map over the planner's tasks, 8 at a time; each researcher
// makes one `sleep` call, a tool that is not idempotent, then answers "note on <task>")
// -> writer -> reviewer, back to the writer while the reviewer does not approve (the
// writer runs at most 3 times). Each draft says which feedback it addresses.
json ResearchGraph() {
  json graph;
  graph["name"] = "research";
  json writer = AgentNode("writer", Agent("writer", "You write reports."),
                          "[sim sleep_ms=400] [sim text=draft addressing {{nodes.reviewer.output.feedback}}] "
                          "Notes: {{nodes.research.output}}");
  writer["max_visits"] = 3;
  graph["nodes"] = {
      AgentNode("planner", Agent("planner", "You plan research."), "{{input}}",
                ObjectSchema({{"tasks", {{"type", "array"}, {"items", {{"type", "string"}}}}}})),
      MapNode("research", "nodes.planner.output.tasks", Agent("researcher", "You research one task.", {"sleep"}),
              "[sim sleep_ms=400] [sim text=note on {{item}}] Research <<{{item}}>>", 8),
      writer,
      AgentNode("reviewer", Agent("reviewer", "You review reports."),
                "[sim sleep_ms=400] Review this draft: <<{{nodes.writer.output}}>>",
                ObjectSchema({{"approved", {{"type", "boolean"}}}, {"feedback", {{"type", "string"}}}})),
  };
  graph["edges"] = {Edge("planner", "research"), Edge("research", "writer"), Edge("writer", "reviewer"),
                    When("reviewer", "writer", "/approved", "EQ", false)};
  graph["output"] = "{{nodes.writer.output}}";
  return graph;
}

TEST(GraphsTest, ResearchGraphRunsEachNodeOncePerVisitAcrossCrashes) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // The reviewer rejects the first two drafts (each reply matches one draft only, so a
  // request repeated after a crash gets the same answer) and approves the third (the
  // default agent's answer: approved true).
  cluster.SimScript(json::array({
      RespondReply("<<draft addressing>>", {{"approved", false}, {"feedback", "fb-one"}}, 5),
      RespondReply("<<draft addressing fb-one>>", {{"approved", false}, {"feedback", "fb-two"}}, 5),
  }));
  const v1::Run graph = StartGraph(cluster, ResearchGraph(),
                                   absl::StrCat("[sim items=", kResearchTasks, "] How do solar panels age?"));
  ASSERT_FALSE(graph.run_id().empty());
  const std::string id = graph.run_id();
  const auto researcher = [](const v1::Run& c) { return c.graph_node() == "research"; };

  // 1. The orchestrator dies in the middle of the map...
  ASSERT_TRUE(WaitUntil(
      [&] {
        int done = 0, running = 0;
        for (const v1::Run& c : Children(cluster, id)) {
          if (!researcher(c)) continue;
          done += c.state() == v1::SUCCEEDED;
          running += c.state() == v1::RUNNING;
        }
        return done >= 3 && running >= 2;
      },
      absl::Seconds(30)))
      << "the map never had finished and running items at once";
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();
  // 2. ... then the worker of a researcher in the middle of its run.
  v1::Run victim = AwaitRunningChild(
      cluster, id, [&](const v1::Run& c) { return researcher(c) && c.last_journal_seq() > 0; }, absl::Seconds(20));
  ASSERT_FALSE(victim.run_id().empty()) << "no researcher running after the orchestrator restart";
  KillWorkerOf(cluster, victim);
  // 3. In the review loop: the worker of the second draft...
  v1::Run second_draft = AwaitRunningChild(
      cluster, id, [](const v1::Run& c) { return c.graph_node() == "writer" && c.graph_visit() == 2; },
      absl::Seconds(40));
  ASSERT_FALSE(second_draft.run_id().empty()) << "the second draft never ran";
  KillWorkerOf(cluster, second_draft);
  // 4. ... and the orchestrator as soon as the second review exists.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const v1::Run& c : Children(cluster, id)) {
          if (c.graph_node() == "reviewer" && c.graph_visit() == 2) return true;
        }
        return false;
      },
      absl::Seconds(30)));
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();

  // The graph ends with the third draft, the one the reviewer approved.
  const v1::Run done = cluster.WaitForEnd(id, absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.output(), "draft addressing fb-two");

  // Exactly one child run per node visit and map item.
  std::set<NodeKey> expected{{"planner", 1, 0}};
  for (int i = 1; i <= kResearchTasks; ++i) expected.insert({"research", 1, i});
  for (int visit = 1; visit <= 3; ++visit) {
    expected.insert({"writer", visit, 0});
    expected.insert({"reviewer", visit, 0});
  }
  const std::vector<v1::Run> children = Children(cluster, id);
  std::map<NodeKey, v1::Run> child_of;
  for (const v1::Run& child : children) {
    EXPECT_TRUE(child_of.emplace(KeyOf(child), child).second) << "two child runs for " << KeyName(KeyOf(child));
    EXPECT_EQ(child.state(), v1::SUCCEEDED) << KeyName(KeyOf(child)) << ": " << child.error();
    EXPECT_EQ(child.root_run_id(), id);
  }
  const auto at = [&](const std::string& node, int visit, int item) -> const v1::Run& {
    return child_of[NodeKey{node, visit, item}];
  };
  std::set<NodeKey> got;
  for (const auto& [key, child] : child_of) got.insert(key);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(children.size(), expected.size());
  EXPECT_EQ(done.children(), static_cast<int>(expected.size()));

  // What flowed between the nodes: 20 tasks, a note per task in task order, and the
  // feedback of each review in the next draft.
  ASSERT_TRUE(child_of.count(NodeKey{"planner", 1, 0}));
  const json plan = json::parse(at("planner", 1, 0).output(), nullptr, false);
  ASSERT_TRUE(plan.is_object() && plan["tasks"].is_array()) << at("planner", 1, 0).output();
  ASSERT_EQ(plan["tasks"].size(), static_cast<size_t>(kResearchTasks)) << plan.dump();
  json notes = json::array();
  for (int i = 1; i <= kResearchTasks; ++i) {
    const v1::Run& item = at("research", 1, i);
    EXPECT_EQ(item.input(), absl::StrCat("[sim sleep_ms=400] [sim text=note on ", plan["tasks"][i - 1].get<std::string>(),
                                         "] Research <<", plan["tasks"][i - 1].get<std::string>(), ">>"));
    notes.push_back(absl::StrCat("note on ", plan["tasks"][i - 1].get<std::string>()));
  }
  // Every draft reads the notes (from outside the loop) and the latest review.
  const std::vector<std::string> feedback{"", "fb-one", "fb-two"};
  for (int visit = 1; visit <= 3; ++visit) {
    const std::string& fb = feedback[visit - 1];
    EXPECT_EQ(at("writer", visit, 0).input(),
              absl::StrCat("[sim sleep_ms=400] [sim text=draft addressing ", fb, "] Notes: ", notes.dump()));
    EXPECT_EQ(at("writer", visit, 0).output(), fb.empty() ? "draft addressing" : "draft addressing " + fb);
    EXPECT_EQ(at("reviewer", visit, 0).input(),
              absl::StrCat("[sim sleep_ms=400] Review this draft: <<", at("writer", visit, 0).output(), ">>"));
  }
  EXPECT_EQ(json::parse(at("reviewer", 1, 0).output(), nullptr, false),
            (json{{"approved", false}, {"feedback", "fb-one"}}));
  EXPECT_EQ(json::parse(at("reviewer", 3, 0).output(), nullptr, false).value("approved", false), true)
      << at("reviewer", 3, 0).output();

  // Each researcher made one call of its side-effecting tool, and it ran exactly once,
  // unless its worker died during the call (then it is not run again: an error result).
  const auto executed = ExecutedCalls(cluster);
  for (const auto& [call, count] : executed) {
    EXPECT_EQ(count, 1) << "executed twice: " << call.first << " " << call.second;
    const auto it = std::find_if(children.begin(), children.end(),
                                 [&](const v1::Run& c) { return c.run_id() == call.first; });
    EXPECT_TRUE(it != children.end() && researcher(*it)) << "a tool call of a run that is no researcher: " << call.first;
  }
  int interrupted = 0;
  for (int i = 1; i <= kResearchTasks; ++i) {
    const v1::Run& item = at("research", 1, i);
    int calls = 0, results = 0;
    const v1::Transcript item_journal = cluster.Transcript(item.run_id());
    for (const v1::JournalEntry& e : item_journal.entries()) {
      if (e.has_tool_call()) {
        ++calls;
        EXPECT_EQ(e.tool_call().name(), "sleep");
      }
      if (!e.has_tool_result()) continue;
      ++results;
      const auto it = executed.find({item.run_id(), e.tool_result().tool_use_id()});
      if (e.tool_result().is_error()) {
        ++interrupted;
        EXPECT_TRUE(Contains(e.tool_result().content_json(), "not run again")) << e.tool_result().content_json();
      } else {
        EXPECT_TRUE(it != executed.end() && it->second == 1) << "item " << i << " has a result of a call never run";
      }
    }
    EXPECT_EQ(calls, 1) << "item " << i;
    EXPECT_EQ(results, 1) << "item " << i;
  }
  EXPECT_LE(interrupted, ClusterOptions{}.concurrency) << "more calls cut short than one worker holds";

  // The graph's journal: each node run started and finished once, none before its inputs.
  const v1::Transcript transcript = cluster.Transcript(id);
  const NodeJournal journal = ReadNodeJournal(transcript);
  for (const NodeKey& key : journal.duplicates) ADD_FAILURE() << "journaled twice: " << KeyName(key);
  for (const NodeKey& key : expected) {
    ASSERT_TRUE(journal.started.count(key) && journal.finished.count(key)) << KeyName(key);
    EXPECT_EQ(journal.started.at(key).node_started().child_run_id(), child_of[key].run_id()) << KeyName(key);
    EXPECT_EQ(journal.started.at(key).node_started().input(), child_of[key].input()) << KeyName(key);
    EXPECT_EQ(journal.finished.at(key).node_finished().state(), v1::SUCCEEDED) << KeyName(key);
    EXPECT_EQ(journal.finished.at(key).node_finished().output(), child_of[key].output()) << KeyName(key);
    EXPECT_GT(journal.finished_seq(key), journal.started_seq(key)) << KeyName(key);
  }
  const NodeKey map{"research", 1, 0};
  ASSERT_TRUE(journal.started.count(map) && journal.finished.count(map));
  EXPECT_EQ(journal.started.at(map).node_started().items(), kResearchTasks);
  EXPECT_EQ(json::parse(journal.finished.at(map).node_finished().output(), nullptr, false), notes);
  EXPECT_GT(journal.started_seq(map), journal.finished_seq({"planner", 1, 0}));
  for (int i = 1; i <= kResearchTasks; ++i) {
    EXPECT_GT(journal.started_seq({"research", 1, i}), journal.finished_seq({"planner", 1, 0})) << i;
    EXPECT_GT(journal.started_seq({"writer", 1, 0}), journal.finished_seq({"research", 1, i})) << i;
  }
  EXPECT_EQ(journal.max_running_items, 8) << "max_parallel is 8";
  EXPECT_GT(journal.started_seq({"writer", 1, 0}), journal.finished_seq(map));
  for (int visit = 1; visit <= 3; ++visit) {
    EXPECT_GT(journal.started_seq({"reviewer", visit, 0}), journal.finished_seq({"writer", visit, 0})) << visit;
    if (visit < 3) {
      EXPECT_GT(journal.started_seq({"writer", visit + 1, 0}), journal.finished_seq({"reviewer", visit, 0})) << visit;
    }
  }
  // Transcript.nodes: each node run with its input, output and child.
  std::set<NodeKey> listed;
  for (const v1::GraphNodeRun& node : transcript.nodes()) {
    const NodeKey key{node.node(), node.visit(), node.item()};
    if (node.child_run_id().empty()) continue;  // the map as a whole
    EXPECT_TRUE(listed.insert(key).second) << "listed twice: " << KeyName(key);
    ASSERT_TRUE(child_of.count(key)) << KeyName(key);
    EXPECT_EQ(node.child_run_id(), child_of[key].run_id()) << KeyName(key);
    EXPECT_EQ(node.input(), child_of[key].input()) << KeyName(key);
    EXPECT_EQ(node.output(), child_of[key].output()) << KeyName(key);
    EXPECT_EQ(node.state(), v1::SUCCEEDED) << KeyName(key);
  }
  EXPECT_EQ(listed, expected);

  // The graph's events tell the same story, in journal order, without a gap.
  const std::vector<v1::RunEvent> events = cluster.Events(id);
  ExpectGapFree(events, id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
  std::vector<std::string> from_journal, from_events, edges;
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_node_started()) {
      const auto& s = e.node_started();
      from_journal.push_back(absl::StrCat("started ", s.node(), "/", s.visit(), "/", s.item(), " ", s.child_run_id()));
    }
    if (e.has_node_finished()) {
      const auto& f = e.node_finished();
      from_journal.push_back(absl::StrCat("finished ", f.node(), "/", f.visit(), "/", f.item(), " ",
                                          v1::RunState_Name(f.state())));
    }
  }
  std::vector<v1::MapProgress> progress;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::RunEvent& e = events[i];
    if (e.has_node_started()) {
      const auto& s = e.node_started();
      from_events.push_back(absl::StrCat("started ", s.node(), "/", s.visit(), "/", s.item(), " ", s.child_run_id()));
    }
    if (e.has_node_finished()) {
      const auto& f = e.node_finished();
      from_events.push_back(absl::StrCat("finished ", f.node(), "/", f.visit(), "/", f.item(), " ",
                                         v1::RunState_Name(f.state())));
    }
    if (e.has_map_progress()) {
      EXPECT_EQ(e.map_progress().node(), "research");
      progress.push_back(e.map_progress().progress());
    }
    if (!e.has_edge_taken() || e.edge_taken().dropped() || e.edge_taken().skipped()) continue;
    const std::string from = e.edge_taken().from(), to = e.edge_taken().to();
    edges.push_back(absl::StrCat(from, "->", to));
    // Taken after its source finished, before its target started.
    for (size_t j = i; j-- > 0;) {
      if (events[j].has_node_finished() && events[j].node_finished().item() == 0) {
        EXPECT_EQ(events[j].node_finished().node(), from) << "edge " << from << "->" << to << " at event " << i;
        break;
      }
    }
    bool target_started = false;
    for (size_t j = i + 1; j < events.size() && !target_started; ++j) {
      if (events[j].has_node_started()) {
        EXPECT_EQ(events[j].node_started().node(), to) << "edge " << from << "->" << to << " at event " << i;
        target_started = true;
      }
    }
    EXPECT_TRUE(target_started) << "edge " << from << "->" << to << " started nothing";
  }
  EXPECT_EQ(from_events, from_journal);
  EXPECT_EQ(edges, (std::vector<std::string>{"planner->research", "research->writer", "writer->reviewer",
                                             "reviewer->writer", "writer->reviewer", "reviewer->writer",
                                             "writer->reviewer"}));
  ASSERT_GE(progress.size(), 2u);
  for (size_t i = 0; i < progress.size(); ++i) {
    EXPECT_EQ(progress[i].total(), kResearchTasks);
    EXPECT_LE(progress[i].running(), 8);
    EXPECT_EQ(progress[i].failed(), 0);
    if (i > 0) {
      EXPECT_GE(progress[i].succeeded(), progress[i - 1].succeeded());
    }
  }
  EXPECT_LT(progress.front().succeeded(), kResearchTasks);
  EXPECT_EQ(progress.back().succeeded(), kResearchTasks);
  EXPECT_EQ(progress.back().running(), 0);
}

// ---------------------------------------------------------------------------
// Conditional routing

TEST(GraphsTest, ConditionalEdgesRunOnlyTheChosenSpecialist) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  // A router picks a category; the first conditional edge that holds wins, else the
  // default; all three specialists lead to one reply node.
  json graph;
  graph["name"] = "triage";
  graph["nodes"] = {
      AgentNode("router", Agent("router", "You triage requests."), "{{input}}",
                ObjectSchema({{"category", {{"type", "string"}, {"enum", {"billing", "technical", "other"}}}},
                              {"summary", {{"type", "string"}}}})),
      AgentNode("billing", Agent("billing", "You answer billing questions."), "[sim steps=1 text=billing answer] x"),
      AgentNode("technical", Agent("technical", "You fix problems."), "[sim steps=1 text=technical answer] x"),
      AgentNode("general", Agent("general", "You answer anything."), "[sim steps=1 text=general answer] x"),
      AgentNode("reply", Agent("reply", "You send replies."),
                "[sim steps=1] Send <<{{nodes.billing.output}}{{nodes.technical.output}}{{nodes.general.output}}>>"),
  };
  graph["edges"] = {When("router", "billing", "/category", "EQ", "billing"),
                    When("router", "technical", "/category", "IN", {"technical", "outage"}),
                    Default("router", "general"),
                    Edge("billing", "reply"),
                    Edge("technical", "reply"),
                    Edge("general", "reply")};
  cluster.SimScript(json::array({
      RespondReply("my login is broken", {{"category", "technical"}, {"summary", "login"}}),
      RespondReply("when do you open", {{"category", "other"}, {"summary", "hours"}}),
  }));
  // Unscripted, the router takes the enum's first value: billing.
  const std::map<std::string, std::string> chosen{
      {"my login is broken", "technical"}, {"when do you open", "general"}, {"my invoice is wrong", "billing"}};
  std::map<std::string, v1::Run> runs;
  for (const auto& [input, specialist] : chosen) runs[specialist] = StartGraph(cluster, graph, input);

  for (const auto& [specialist, run] : runs) {
    SCOPED_TRACE(specialist);
    const v1::Run done = cluster.WaitForEnd(run.run_id());
    ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
    EXPECT_EQ(done.output(), absl::StrCat("Done. You said: Send <<", specialist, " answer>>"));
    // Only the router, the chosen specialist and the reply ran, each once.
    std::set<NodeKey> ran;
    for (const v1::Run& child : Children(cluster, run.run_id())) {
      EXPECT_TRUE(ran.insert(KeyOf(child)).second) << KeyName(KeyOf(child));
      EXPECT_EQ(child.state(), v1::SUCCEEDED) << KeyName(KeyOf(child));
    }
    EXPECT_EQ(ran, (std::set<NodeKey>{{"router", 1, 0}, {specialist, 1, 0}, {"reply", 1, 0}}));

    const NodeJournal journal = ReadNodeJournal(cluster.Transcript(run.run_id()));
    EXPECT_TRUE(journal.duplicates.empty());
    ASSERT_TRUE(journal.finished.count({"router", 1, 0}));
    const v1::GraphNodeFinished& router = journal.finished.at({"router", 1, 0}).node_finished();
    EXPECT_EQ(std::vector<std::string>(router.next().begin(), router.next().end()),
              std::vector<std::string>{specialist});
    std::set<std::string> skipped(router.skipped().begin(), router.skipped().end());
    std::set<std::string> others{"billing", "technical", "general"};
    others.erase(specialist);
    EXPECT_EQ(skipped, others) << "the specialists not chosen are skipped when the router finishes";
    for (const std::string& other : others) EXPECT_EQ(journal.started_seq({other, 1, 0}), -1) << other;
    // The join ran after the specialist, without waiting for the skipped ones.
    EXPECT_GT(journal.started_seq({"reply", 1, 0}), journal.finished_seq({specialist, 1, 0}));

    for (const v1::RunEvent& e : cluster.Events(run.run_id())) {
      if (!e.has_edge_taken() || e.edge_taken().skipped() || e.edge_taken().dropped()) continue;
      EXPECT_EQ(others.count(e.edge_taken().to()), 0u) << "edge taken to " << e.edge_taken().to();
      EXPECT_NE(others.count(e.edge_taken().from()), 1u) << "edge taken from " << e.edge_taken().from();
    }
  }
}

// ---------------------------------------------------------------------------
// Map failure policies

// A map over the input's tasks, two at a time. Each task {"name", "steps"} makes
// `steps` model calls of 200 ms (with a sleep call between them) and answers
// "did <name>"; a scripted refusal matched on "<<name>>" fails it.
json PolicyGraph(const std::string& on_failure, int quorum = 0) {
  json graph;
  graph["name"] = absl::StrCat("policy-", on_failure);
  graph["nodes"] = json::array({MapNode("each", "input.tasks", Agent("item", "You do one task.", {"sleep"}),
                            "[sim steps={{item.steps}} tool=sleep sleep_ms=200] [sim text=did {{item.name}}] "
                            "task <<{{item.name}}>>",
                            2, on_failure, quorum)});
  graph["output"] = "{{nodes.each.output}}";
  return graph;
}

std::string Tasks(const std::vector<std::pair<std::string, int>>& tasks) {
  json list = json::array();
  for (const auto& [name, steps] : tasks) list.push_back({{"name", name}, {"steps", steps}});
  return json{{"tasks", list}}.dump();
}

TEST(GraphsTest, MapFailurePolicies) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  cluster.SimScript(json::array({RefusalReply("<<ff-2>>", "bad request for ff-2"),
                                 RefusalReply("<<co-2>>", "bad request for co-2"),
                                 RefusalReply("<<qa-2>>", "bad request for qa-2"),
                                 RefusalReply("<<qb-2>>", "bad request for qb-2"),
                                 RefusalReply("<<qb-3>>", "bad request for qb-3")}));
  // FAIL_FAST: item 2 fails while item 1 (about 6 s) runs; items 3 and 4 never start.
  const v1::Run fail_fast =
      StartGraph(cluster, PolicyGraph("FAIL_FAST"), Tasks({{"ff-1", 30}, {"ff-2", 1}, {"ff-3", 1}, {"ff-4", 1}}));
  // COLLECT: every item runs; the failed one is null in the output.
  const v1::Run collect =
      StartGraph(cluster, PolicyGraph("COLLECT"), Tasks({{"co-1", 2}, {"co-2", 1}, {"co-3", 2}, {"co-4", 1}}));
  // QUORUM 3 of 4 with one failure: met.
  const v1::Run quorum_met =
      StartGraph(cluster, PolicyGraph("QUORUM", 3), Tasks({{"qa-1", 2}, {"qa-2", 1}, {"qa-3", 2}, {"qa-4", 1}}));
  // QUORUM 3 of 4 with two failures: lost as soon as the second fails, item 1 running.
  const v1::Run quorum_lost =
      StartGraph(cluster, PolicyGraph("QUORUM", 3), Tasks({{"qb-1", 30}, {"qb-2", 1}, {"qb-3", 1}, {"qb-4", 1}}));

  {
    SCOPED_TRACE("FAIL_FAST");
    const v1::Run done = cluster.WaitForEnd(fail_fast.run_id());
    ASSERT_EQ(done.state(), v1::FAILED);
    EXPECT_EQ(done.failure_kind(), v1::NODE_FAILED) << done.error();
    EXPECT_TRUE(Contains(done.error(), "each")) << done.error();
    EXPECT_TRUE(Contains(done.error(), "item 2")) << done.error();
    EXPECT_TRUE(Contains(done.error(), "bad request for ff-2")) << done.error();
    EXPECT_LT(done.end_time_ms() - done.create_time_ms(), 4000) << "the graph waited for the running item";
    std::map<int, v1::Run> items;
    for (const v1::Run& child : AwaitChildrenEnded(cluster, fail_fast.run_id())) items[child.map_item()] = child;
    ASSERT_EQ(items.size(), 2u) << "an item started after the first failure";
    EXPECT_EQ(items[1].state(), v1::CANCELLED) << items[1].error();
    EXPECT_EQ(items[2].state(), v1::FAILED);
    EXPECT_EQ(items[2].failure_kind(), v1::MODEL_ERROR) << items[2].error();
    EXPECT_EQ(items[2].attempt(), 1) << "a 400 is not retried";
  }
  {
    SCOPED_TRACE("COLLECT");
    const v1::Run done = cluster.WaitForEnd(collect.run_id());
    ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
    EXPECT_EQ(json::parse(done.output(), nullptr, false), json::parse(R"(["did co-1", null, "did co-3", "did co-4"])"))
        << done.output();
    std::map<int, v1::Run> items;
    for (const v1::Run& child : Children(cluster, collect.run_id())) items[child.map_item()] = child;
    ASSERT_EQ(items.size(), 4u);
    for (int i : {1, 3, 4}) EXPECT_EQ(items[i].state(), v1::SUCCEEDED) << i;
    EXPECT_EQ(items[2].state(), v1::FAILED);
  }
  {
    SCOPED_TRACE("QUORUM met");
    const v1::Run done = cluster.WaitForEnd(quorum_met.run_id());
    ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
    EXPECT_EQ(json::parse(done.output(), nullptr, false), json::parse(R"(["did qa-1", null, "did qa-3", "did qa-4"])"))
        << done.output();
    EXPECT_EQ(Children(cluster, quorum_met.run_id()).size(), 4u);
  }
  {
    SCOPED_TRACE("QUORUM lost");
    const v1::Run done = cluster.WaitForEnd(quorum_lost.run_id());
    ASSERT_EQ(done.state(), v1::FAILED);
    EXPECT_EQ(done.failure_kind(), v1::NODE_FAILED) << done.error();
    EXPECT_TRUE(Contains(done.error(), "each")) << done.error();
    EXPECT_LT(done.end_time_ms() - done.create_time_ms(), 4000) << "the graph waited for the running item";
    std::map<int, v1::Run> items;
    for (const v1::Run& child : AwaitChildrenEnded(cluster, quorum_lost.run_id())) items[child.map_item()] = child;
    ASSERT_EQ(items.size(), 3u) << "item 4 started after the quorum was lost";
    EXPECT_EQ(items[1].state(), v1::CANCELLED) << items[1].error();
    EXPECT_EQ(items[2].state(), v1::FAILED);
    EXPECT_EQ(items[3].state(), v1::FAILED);
  }
}

// ---------------------------------------------------------------------------
// Cancellation

TEST(GraphsTest, CancellingAGraphMidMapEndsEveryItemAndStartsNoMore) {
  ClusterOptions options;
  options.workers = 1;
  options.concurrency = 3;
  Cluster cluster(options);
  cluster.Start();
  // 8 items of about 6 s, 4 at a time on 3 slots: 3 running, 1 queued.
  json graph;
  graph["name"] = "fan";
  graph["nodes"] = json::array({MapNode("each", "input.items", Agent("item", "You do one task.", {"sleep"}),
                            "[sim steps=30 tool=sleep sleep_ms=200] task <<{{item}}>>", 4)});
  const v1::Run run =
      StartGraph(cluster, graph, R"({"items":["c1","c2","c3","c4","c5","c6","c7","c8"]})");
  std::vector<v1::Run> children;
  ASSERT_TRUE(WaitUntil(
      [&] {
        children = Children(cluster, run.run_id());
        int running = 0;
        for (const v1::Run& c : children) running += c.state() == v1::RUNNING && c.last_journal_seq() > 0;
        return running == 3 && children.size() == 4;
      },
      absl::Seconds(20)));

  const int64_t cancelled_at_ms = absl::ToUnixMillis(absl::Now());
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CancelRunRequest request;
  request.set_run_id(run.run_id());
  request.set_reason("wrong question");
  v1::Run reply;
  grpc::Status s = cluster.runs().CancelRun(&ctx, request, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.state(), v1::CANCELLED);
  EXPECT_EQ(reply.failure_kind(), v1::CANCELLED_BY_USER);

  // The running items end through their workers, the queued one at once; none is left
  // queued or waiting, and no other item starts.
  children = AwaitChildrenEnded(cluster, run.run_id(), absl::Seconds(5));
  ASSERT_EQ(children.size(), 4u);
  for (const v1::Run& child : children) {
    EXPECT_EQ(child.state(), v1::CANCELLED) << KeyName(KeyOf(child));
    EXPECT_EQ(child.failure_kind(), v1::PARENT_ENDED) << KeyName(KeyOf(child)) << ": " << child.error();
    EXPECT_LT(child.end_time_ms() - cancelled_at_ms, 3000) << KeyName(KeyOf(child));
  }
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Children(cluster, run.run_id()).size(), 4u);
  for (const json& line : cluster.ToolAudit()) {
    EXPECT_LT(line.value("time_ms", int64_t{0}), cancelled_at_ms + 1500) << "a tool call ran after the cancel";
  }
  v1::ListRunsRequest queued;
  queued.set_state(v1::QUEUED);
  EXPECT_TRUE(ListRuns(cluster, queued).empty());
  v1::ListRunsRequest waiting;
  waiting.set_state(v1::WAITING);
  EXPECT_TRUE(ListRuns(cluster, waiting).empty());
  const v1::Run after = cluster.GetRun(run.run_id());
  EXPECT_EQ(after.state(), v1::CANCELLED);
  EXPECT_EQ(after.failure_kind(), v1::CANCELLED_BY_USER);
  int started_items = 0;
  const v1::Transcript graph_journal = cluster.Transcript(run.run_id());
  for (const v1::JournalEntry& e : graph_journal.entries()) {
    started_items += e.has_node_started() && e.node_started().item() > 0;
  }
  EXPECT_EQ(started_items, 4);
}

// ---------------------------------------------------------------------------
// Limits

TEST(GraphsTest, GraphLimitsEndTheGraphAndItsNodes) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // A loop with no natural end: a -> b -> a, a allowed 1000 visits; 5 node runs.
  json loop;
  loop["name"] = "loop";
  json a = AgentNode("a", Agent("a", "You ping."), "[sim steps=1] ping");
  a["max_visits"] = 1000;
  loop["nodes"] = {a, AgentNode("b", Agent("b", "You pong."), "[sim steps=1] pong")};
  loop["edges"] = {Edge("a", "b"), Edge("b", "a")};
  loop["limits"] = {{"max_node_runs", 5}};
  // Three long items (30 steps each) under a budget they exhaust after a few steps.
  const auto budgeted = [](const std::string& name, const json& limits) {
    json graph;
    graph["name"] = name;
    graph["nodes"] = json::array({MapNode("each", "input.items", Agent("item", "You do one task.", {"sleep"}),
                              "[sim steps=30 tool=sleep sleep_ms=100] task <<{{item}}>>", 3)});
    graph["limits"] = limits;
    return graph;
  };
  constexpr int64_t kMaxTokens = 4000;
  constexpr double kMaxCost = 0.01;
  // One long node under a 2 s timeout.
  json slow;
  slow["name"] = "slow";
  slow["nodes"] = json::array({AgentNode("slow", Agent("slow", "You take your time.", {"sleep"}),
                             "[sim steps=30 tool=sleep sleep_ms=200] slowly")});
  slow["limits"] = {{"timeout_seconds", 2}};

  const v1::Run loop_run = StartGraph(cluster, loop, "go");
  const v1::Run tokens_run = StartGraph(cluster, budgeted("tokens", {{"max_tokens_total", kMaxTokens}}),
                                        R"({"items":["t1","t2","t3"]})");
  const v1::Run cost_run =
      StartGraph(cluster, budgeted("cost", {{"max_cost_usd", kMaxCost}}), R"({"items":["u1","u2","u3"]})");
  const v1::Run slow_run = StartGraph(cluster, slow, "x");

  {
    SCOPED_TRACE("max_node_runs");
    const v1::Run done = cluster.WaitForEnd(loop_run.run_id());
    ASSERT_EQ(done.state(), v1::FAILED);
    EXPECT_EQ(done.failure_kind(), v1::LIMIT_MAX_NODE_RUNS) << done.error();
    EXPECT_TRUE(Contains(done.error(), "max_node_runs")) << done.error();
    std::vector<v1::Run> children = AwaitChildrenEnded(cluster, loop_run.run_id());
    EXPECT_EQ(children.size(), 5u);
    std::map<std::string, int> visits;
    for (const v1::Run& child : children) {
      EXPECT_EQ(child.state(), v1::SUCCEEDED) << KeyName(KeyOf(child));
      visits[child.graph_node()] = std::max(visits[child.graph_node()], child.graph_visit());
    }
    EXPECT_EQ(visits, (std::map<std::string, int>{{"a", 3}, {"b", 2}}));
  }
  const auto total_tokens = [](const v1::Usage& u) {
    return u.input_tokens() + u.output_tokens() + u.cache_creation_input_tokens() + u.cache_read_input_tokens();
  };
  for (const auto& [name, run, kind] : {std::tuple{"max_tokens_total", tokens_run, v1::LIMIT_MAX_TOKENS_TOTAL},
                                        std::tuple{"max_cost_usd", cost_run, v1::LIMIT_MAX_COST}}) {
    SCOPED_TRACE(name);
    const v1::Run done = cluster.WaitForEnd(run.run_id());
    ASSERT_EQ(done.state(), v1::FAILED);
    EXPECT_EQ(done.failure_kind(), kind) << done.error();
    EXPECT_TRUE(Contains(done.error(), name)) << done.error();
    // The nodes are cancelled, long before their 30 steps.
    const std::vector<v1::Run> children = AwaitChildrenEnded(cluster, run.run_id());
    EXPECT_EQ(children.size(), 3u);
    v1::Usage sum;
    for (const v1::Run& child : children) {
      EXPECT_EQ(child.state(), v1::CANCELLED) << KeyName(KeyOf(child));
      EXPECT_LT(child.steps(), 30) << KeyName(KeyOf(child));
      sum.set_input_tokens(sum.input_tokens() + child.usage().input_tokens());
      sum.set_output_tokens(sum.output_tokens() + child.usage().output_tokens());
      sum.set_cache_creation_input_tokens(sum.cache_creation_input_tokens() + child.usage().cache_creation_input_tokens());
      sum.set_cache_read_input_tokens(sum.cache_read_input_tokens() + child.usage().cache_read_input_tokens());
      sum.set_cost_usd(sum.cost_usd() + child.usage().cost_usd());
    }
    // The limit covers the nodes together: their sum reached it, none of them alone.
    // The graph's usage is what they had spent when it ended (turns the nodes finish
    // after that are theirs only); they stop within about a step each.
    const v1::Usage usage = cluster.GetRun(run.run_id()).usage();
    if (kind == v1::LIMIT_MAX_TOKENS_TOTAL) {
      EXPECT_GE(total_tokens(usage), kMaxTokens);
      EXPECT_LE(total_tokens(usage), total_tokens(sum));
      EXPECT_LT(total_tokens(sum), 2 * kMaxTokens) << "the limit stopped the nodes late";
      for (const v1::Run& child : children) EXPECT_LT(total_tokens(child.usage()), kMaxTokens);
    } else {
      EXPECT_GE(usage.cost_usd(), kMaxCost);
      EXPECT_LE(usage.cost_usd(), sum.cost_usd() + 1e-9);
      EXPECT_LT(sum.cost_usd(), 2 * kMaxCost) << "the limit stopped the nodes late";
      for (const v1::Run& child : children) EXPECT_LT(child.usage().cost_usd(), kMaxCost);
    }
  }
  {
    SCOPED_TRACE("timeout_seconds");
    const v1::Run done = cluster.WaitForEnd(slow_run.run_id());
    ASSERT_EQ(done.state(), v1::FAILED);
    EXPECT_EQ(done.failure_kind(), v1::LIMIT_RUN_TIMEOUT) << done.error();
    EXPECT_TRUE(Contains(done.error(), "timeout_seconds")) << done.error();
    EXPECT_GE(done.end_time_ms() - done.create_time_ms(), 2000);
    EXPECT_LT(done.end_time_ms() - done.create_time_ms(), 4000);
    const std::vector<v1::Run> children = AwaitChildrenEnded(cluster, slow_run.run_id());
    ASSERT_EQ(children.size(), 1u);
    EXPECT_EQ(children[0].state(), v1::CANCELLED) << children[0].error();
  }
}

// ---------------------------------------------------------------------------
// Human nodes

TEST(GraphsTest, HumanNodeWaitsForADecisionAcrossAnOrchestratorCrash) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  json graph;
  graph["name"] = "ship";
  graph["nodes"] = {
      {{"id", "ask"}, {"human", {{"prompt", "Ship {{input}}?"}}}},
      AgentNode("act", Agent("act", "You ship orders."),
                "[sim steps=1 text=shipping after {{nodes.ask.output.decision}} by "
                "{{nodes.ask.output.decided_by}}] go"),
  };
  graph["edges"] = json::array({Edge("ask", "act")});
  const v1::Run run = StartGraph(cluster, graph, "order 7");

  std::vector<v1::Approval> pending;
  ASSERT_TRUE(WaitUntil([&] { return (pending = ListApprovals(cluster, run.run_id(), v1::ListApprovalsRequest::PENDING)).size() == 1; },
                        absl::Seconds(10)));
  const v1::Approval approval = pending[0];
  EXPECT_EQ(approval.kind(), v1::Approval::GRAPH_NODE);
  EXPECT_EQ(approval.tool(), "ask");
  EXPECT_EQ(approval.message(), "Ship order 7?");
  EXPECT_EQ(std::set<int>(approval.decisions().begin(), approval.decisions().end()),
            (std::set<int>{v1::APPROVE, v1::DENY, v1::RESPOND}));

  // The orchestrator dies while the question is open; it is still open afterwards.
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();
  pending = ListApprovals(cluster, run.run_id(), v1::ListApprovalsRequest::PENDING);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].approval_id(), approval.approval_id());
  EXPECT_EQ(cluster.GetRun(run.run_id()).state(), v1::WAITING);
  EXPECT_TRUE(Children(cluster, run.run_id()).empty()) << "act started before the decision";

  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::DecideApprovalRequest request;
    request.set_approval_id(approval.approval_id());
    request.set_decision(v1::APPROVE);
    request.set_decided_by("alice@example.com");
    v1::Approval decided;
    grpc::Status s = cluster.runs().DecideApproval(&ctx, request, &decided);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(decided.state(), v1::Approval::DECIDED);
  }
  const v1::Run done = cluster.WaitForEnd(run.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.output(), "shipping after APPROVE by alice@example.com");
  const std::vector<v1::Run> children = Children(cluster, run.run_id());
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0].graph_node(), "act");
  EXPECT_TRUE(ListApprovals(cluster, run.run_id(), v1::ListApprovalsRequest::PENDING).empty());

  const NodeJournal journal = ReadNodeJournal(cluster.Transcript(run.run_id()));
  ASSERT_TRUE(journal.started.count({"ask", 1, 0}) && journal.finished.count({"ask", 1, 0}));
  EXPECT_EQ(journal.started.at({"ask", 1, 0}).node_started().approval_id(), approval.approval_id());
  const json answer = json::parse(journal.finished.at({"ask", 1, 0}).node_finished().output(), nullptr, false);
  EXPECT_EQ(answer.value("decision", ""), "APPROVE") << answer.dump();
  EXPECT_EQ(answer.value("decided_by", ""), "alice@example.com") << answer.dump();
  EXPECT_GT(journal.started_seq({"act", 1, 0}), journal.finished_seq({"ask", 1, 0}));
  int requested = 0, decided = 0;
  for (const v1::RunEvent& e : cluster.Events(run.run_id())) {
    requested += e.has_approval_requested() && e.approval_requested().approval().approval_id() == approval.approval_id();
    decided += e.has_approval_decided() && e.approval_decided().approval_id() == approval.approval_id();
  }
  EXPECT_EQ(requested, 1);
  EXPECT_EQ(decided, 1);
}

// ---------------------------------------------------------------------------
// Specs refused, and stored graphs

// a -> b, b reading a's output: valid.
json SmallGraph(const std::string& name = "small") {
  json graph;
  graph["name"] = name;
  graph["nodes"] = {AgentNode("a", Agent("a", "You start."), "[sim steps=1 text=a done] {{input}}"),
                    AgentNode("b", Agent("b", "You finish."), "[sim steps=1] after <<{{nodes.a.output}}>>")};
  graph["edges"] = json::array({Edge("a", "b")});
  return graph;
}

TEST(GraphsTest, BadSpecsAreRefusedNamingTheNodeOrEdge) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  struct Case {
    std::string what;
    json graph;
    std::vector<std::string> named;  // the message holds each
  };
  std::vector<Case> cases;
  {
    json g = SmallGraph();
    g["edges"].push_back(Edge("b", "ghost"));
    cases.push_back({"an edge to an unknown node", g, {"edge", "ghost"}});
  }
  {
    json g = SmallGraph();
    g["nodes"].push_back(AgentNode("orphan", Agent("orphan", "x"), "{{input}}"));
    cases.push_back({"an unreachable node", g, {"\"orphan\"", "reachable"}});
  }
  {
    json g = SmallGraph();
    g["edges"].push_back(Edge("b", "a"));
    cases.push_back({"a cycle without max_visits", g, {"cycle", "max_visits", "\"a\""}});
  }
  {
    json g = SmallGraph();
    g["edges"] = json::array({When("a", "b", "approved", "EQ", true)});
    cases.push_back({"a bad JSON Pointer", g, {"a -> b", "approved"}});
  }
  {
    json g = SmallGraph();
    g["nodes"][0]["agent"]["input"] = "{{nodes.b.output}}";
    cases.push_back({"a template naming a node downstream", g, {"\"a\"", "\"b\"", "upstream"}});
  }
  {
    json g = SmallGraph();
    g["nodes"].push_back(AgentNode("c", Agent("c", "x"), "{{input}}"));
    g["edges"].push_back(Edge("a", "c"));
    g["nodes"][1]["agent"]["input"] = "{{nodes.c.output}}";  // c and b are siblings
    cases.push_back({"a template naming a sibling", g, {"\"b\"", "\"c\"", "upstream"}});
  }
  {
    json g = SmallGraph();
    g["nodes"][1]["agent"]["output_schema"] = {{"type", "object"}, {"properties", {{"tasks", {{"type", "list"}}}}}};
    cases.push_back({"an output schema that is not a schema", g, {"\"b\"", "output_schema"}});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::Run run;
    grpc::Status created = CreateGraphRun(cluster, Graph(c.graph), "x", &run);
    EXPECT_EQ(created.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << created.error_message();
    grpc::Status put = PutGraph(cluster, Graph(c.graph), nullptr);
    EXPECT_EQ(put.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << put.error_message();
    for (const std::string& part : c.named) {
      EXPECT_TRUE(Contains(created.error_message(), part)) << "CreateRun: " << created.error_message();
      EXPECT_TRUE(Contains(put.error_message(), part)) << "PutGraph: " << put.error_message();
    }
  }
  // Nothing was created or stored.
  EXPECT_TRUE(ListRuns(cluster, v1::ListRunsRequest()).empty());
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ListGraphsResponse graphs;
  ASSERT_TRUE(cluster.graphs().ListGraphs(&ctx, v1::ListGraphsRequest(), &graphs).ok());
  EXPECT_EQ(graphs.graphs_size(), 0);
}

void PutAgent(Cluster& cluster, const std::string& name, const std::string& system) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::PutAgentRequest request;
  request.mutable_agent()->set_name(name);
  request.mutable_agent()->set_model(kModel);
  request.mutable_agent()->set_system(system);
  v1::PutAgentResponse response;
  grpc::Status s = cluster.agents().PutAgent(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

grpc::Status CreateStoredGraphRun(Cluster& cluster, const std::string& name, int version, v1::Run* run) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CreateRunRequest request;
  request.set_graph_name(name);
  request.set_graph_version(version);
  request.set_input("go");
  return cluster.runs().CreateRun(&ctx, request, run);
}

TEST(GraphsTest, StoredGraphsRunByNameAndVersion) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  // The graph is stored twice; b's answer says which version ran.
  json graph = SmallGraph("pipeline");
  for (int v = 1; v <= 2; ++v) {
    graph["nodes"][1]["agent"]["input"] = absl::StrCat("[sim steps=1 text=version ", v, " after {{nodes.a.output}}] x");
    v1::GraphSpec stored;
    grpc::Status s = PutGraph(cluster, Graph(graph), &stored);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(stored.version(), v);
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::GetGraphRequest request;
    request.set_name("pipeline");
    v1::GraphSpec latest;
    ASSERT_TRUE(cluster.graphs().GetGraph(&ctx, request, &latest).ok());
    EXPECT_EQ(latest.version(), 2);
    EXPECT_TRUE(Contains(latest.nodes(1).agent().input(), "version 2"));
  }
  v1::Run latest, first, missing;
  grpc::Status s = CreateStoredGraphRun(cluster, "pipeline", 0, &latest);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = CreateStoredGraphRun(cluster, "pipeline", 1, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = CreateStoredGraphRun(cluster, "no-such-graph", 0, &missing);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "no-such-graph")) << s.error_message();
  EXPECT_EQ(latest.graph().version(), 2);
  EXPECT_EQ(first.graph().version(), 1);

  const v1::Run latest_done = cluster.WaitForEnd(latest.run_id());
  ASSERT_EQ(latest_done.state(), v1::SUCCEEDED) << latest_done.error();
  EXPECT_EQ(latest_done.output(), "version 2 after a done");
  const v1::Run first_done = cluster.WaitForEnd(first.run_id());
  ASSERT_EQ(first_done.state(), v1::SUCCEEDED) << first_done.error();
  EXPECT_EQ(first_done.output(), "version 1 after a done");
}

TEST(GraphsTest, StoredAgentsInAGraphArePinnedWhenTheRunIsCreated) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  // Node a names a stored agent, by name only (its latest version).
  PutAgent(cluster, "starter", "You start.");
  json graph = SmallGraph("pipeline");
  graph["nodes"][0]["agent"] = {{"agent_name", "starter"}, {"input", "[sim steps=1 text=a done] {{input}}"}};
  grpc::Status s = PutGraph(cluster, Graph(graph), nullptr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::Run run;
  s = CreateStoredGraphRun(cluster, "pipeline", 0, &run);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // A new version of the agent after the run was created changes nothing for it.
  PutAgent(cluster, "starter", "You start differently.");
  ASSERT_EQ(run.graph().nodes_size(), 2);
  EXPECT_EQ(run.graph().nodes(0).agent().agent().system(), "You start.");
  EXPECT_EQ(run.graph().nodes(0).agent().agent_version(), 1);
  const v1::Run done = cluster.WaitForEnd(run.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.output(), "Done. You said: after <<a done>>");
  const std::vector<v1::Run> children = Children(cluster, run.run_id());
  ASSERT_EQ(children.size(), 2u);
  for (const v1::Run& child : children) {
    if (child.graph_node() == "a") {
      EXPECT_EQ(child.agent().system(), "You start.");
    }
  }
  // The same graph inline in CreateRun resolves the same way.
  v1::Run inline_run;
  s = CreateGraphRun(cluster, Graph(graph), "go", &inline_run);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inline_run.graph().nodes(0).agent().agent_version(), 2);
  // A graph naming an agent that is not stored is refused when it is stored.
  graph["nodes"][0]["agent"]["agent_name"] = "no-such-agent";
  s = PutGraph(cluster, Graph(graph), nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "no-such-agent")) << s.error_message();
}

}  // namespace
}  // namespace baton::testing
