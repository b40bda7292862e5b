// Runs that wait (docs/design.md, "Runs that wait") through the real stack: subagents
// across orchestrator and worker crashes, a waiting parent that holds no worker slot,
// approvals and their timeouts, cancel cascades, the depth limit, forks and sessions.
//
// The simulator's default agent drives the runs: it fills tool inputs from the input
// schema (an enum's first value), and a child reads the [sim ...] directives of its
// first user message, which is the subagent call's input. So a subagent whose schema
// offers one enum value makes a child that behaves as that value says.
#include <signal.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

constexpr char kModel[] = "claude-sonnet-4-5";

bool Ended(const v1::Run& run) {
  return run.state() == v1::SUCCEEDED || run.state() == v1::FAILED || run.state() == v1::CANCELLED;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A subagent `name` whose child runs get `prompt` (with its directives) as input.
v1::Subagent ScriptedSubagent(const std::string& name, const std::string& prompt) {
  v1::Subagent subagent;
  subagent.set_name(name);
  subagent.set_description(absl::StrCat("Does part ", name, " of the work."));
  v1::AgentSpec* agent = subagent.mutable_agent();
  agent->set_name(absl::StrCat("part-", name));
  agent->set_model(kModel);
  agent->add_allowed_tools("sleep");
  agent->add_allowed_tools("echo");
  agent->set_max_steps(20);
  subagent.set_input_schema_json(
      json{{"type", "object"},
           {"properties", {{"prompt", {{"type", "string"}, {"enum", json::array({prompt})}}}}},
           {"required", json::array({"prompt"})}}
          .dump());
  return subagent;
}

// A parent offered the subagents a, b and c (and nothing else): with "[sim parallel=3]"
// its first turn calls all three, and its answer lists what each child answered.
v1::AgentSpec ParentAgent(const std::string& child_directives) {
  v1::AgentSpec agent;
  agent.set_name("parent");
  agent.set_model(kModel);
  agent.set_max_steps(10);
  for (const auto& [name, answer] : std::vector<std::pair<std::string, std::string>>{
           {"a", "alpha finished"}, {"b", "beta finished"}, {"c", "gamma finished"}}) {
    *agent.add_subagents() =
        ScriptedSubagent(name, absl::StrCat(child_directives, " [sim text=", answer, "] work on ", name));
  }
  return agent;
}
constexpr char kParentInput[] = "[sim parallel=3] split the work";

v1::Run Create(Cluster& cluster, v1::CreateRunRequest request) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run run;
  grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

v1::Run Create(Cluster& cluster, const v1::AgentSpec& agent, const std::string& input) {
  v1::CreateRunRequest request;
  *request.mutable_agent() = agent;
  request.set_input(input);
  return Create(cluster, std::move(request));
}


int ExecutedCallsOf(const Cluster& cluster, const std::string& run_id) {
  int n = 0;
  for (const auto& [key, count] : ExecutedCalls(cluster)) n += key.first == run_id ? count : 0;
  return n;
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

// ---------------------------------------------------------------------------
// Subagents

TEST(WaitsTest, SubagentsRunExactlyOnceAcrossOrchestratorAndWorkerCrashes) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // Each child: 5 model calls of 400 ms with a (side-effecting) sleep call between them.
  v1::Run parent = Create(cluster, ParentAgent("[sim steps=5 tool=sleep sleep_ms=400]"), kParentInput);
  ASSERT_FALSE(parent.run_id().empty());

  std::vector<v1::Run> children;
  ASSERT_TRUE(WaitUntil([&] { return (children = Children(cluster, parent.run_id())).size() == 3; },
                        absl::Seconds(30)));
  for (const v1::Run& child : children) ASSERT_FALSE(Ended(child)) << child.run_id();
  // The orchestrator dies with the parent waiting and its children queued or running.
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();

  // Then the worker of a child in the middle of its run.
  v1::Run victim;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const v1::Run& child : Children(cluster, parent.run_id())) {
          if (child.state() == v1::RUNNING && child.last_journal_seq() > 0 && !child.worker_id().empty()) {
            victim = child;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(30)));
  const int index = victim.worker_id() == "worker-0" ? 0 : 1;
  cluster.KillWorker(index, SIGKILL);
  cluster.StartWorker(index);

  v1::Run done = cluster.WaitForEnd(parent.run_id(), absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_TRUE(Contains(done.output(), "a returned alpha finished")) << done.output();
  EXPECT_TRUE(Contains(done.output(), "b returned beta finished")) << done.output();
  EXPECT_TRUE(Contains(done.output(), "c returned gamma finished")) << done.output();
  EXPECT_EQ(done.children(), 3);

  // Exactly three children, each done once, the victim on a second attempt.
  children = Children(cluster, parent.run_id());
  ASSERT_EQ(children.size(), 3u);
  std::set<std::string> subagents;
  for (const v1::Run& child : children) {
    EXPECT_EQ(child.state(), v1::SUCCEEDED) << child.run_id() << ": " << child.error();
    EXPECT_EQ(child.root_run_id(), parent.run_id());
    EXPECT_EQ(child.depth(), 1);
    subagents.insert(child.agent().name());
    if (child.run_id() == victim.run_id()) {
      // Its worker's death cost a lease, not an attempt.
      EXPECT_GE(child.lease_losses(), 1);
      EXPECT_EQ(child.attempt(), 1);
    }
  }
  EXPECT_EQ(subagents, (std::set<std::string>{"part-a", "part-b", "part-c"}));
  // The parent's tree usage is its own and its children's, each model turn counted once.
  v1::Usage tree = done.usage();
  for (const v1::Run& child : children) {
    tree.set_model_calls(tree.model_calls() + child.usage().model_calls());
    tree.set_input_tokens(tree.input_tokens() + child.usage().input_tokens());
    tree.set_output_tokens(tree.output_tokens() + child.usage().output_tokens());
  }
  EXPECT_EQ(done.tree_usage().model_calls(), tree.model_calls());
  EXPECT_EQ(done.tree_usage().model_calls(), 2 + 3 * 5);
  EXPECT_EQ(done.tree_usage().input_tokens(), tree.input_tokens());
  EXPECT_EQ(done.tree_usage().output_tokens(), tree.output_tokens());

  // No sleep call ran twice, and every one whose result a child recorded ran exactly once.
  const auto executed = ExecutedCalls(cluster);
  for (const auto& [call, count] : executed) EXPECT_EQ(count, 1) << call.first << " " << call.second;
  for (const v1::Run& child : children) {
    int results = 0;
    const v1::Transcript transcript = cluster.Transcript(child.run_id());
    for (const v1::JournalEntry& e : transcript.entries()) {
      if (!e.has_tool_result()) continue;
      ++results;
      if (e.tool_result().is_error()) continue;  // the victim's call in flight, if it was one
      auto it = executed.find({child.run_id(), e.tool_result().tool_use_id()});
      EXPECT_TRUE(it != executed.end() && it->second == 1) << child.run_id() << " " << e.tool_result().tool_use_id();
    }
    EXPECT_EQ(results, 4) << child.run_id();
  }

  // The parent's history across the crash: gap-free, three children started and finished.
  std::vector<v1::RunEvent> events = cluster.Events(parent.run_id());
  ExpectGapFree(events, parent.run_id());
  int started = 0, finished = 0, waiting = 0;
  for (const v1::RunEvent& e : events) {
    started += e.has_child_started();
    finished += e.has_child_finished() && e.child_finished().state() == v1::SUCCEEDED;
    waiting += e.has_waiting() && e.waiting().child_run_ids_size() == 3;
  }
  EXPECT_EQ(started, 3);
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(waiting, 1);
}

TEST(WaitsTest, WaitingParentHoldsNoWorkerSlot) {
  ClusterOptions options;
  options.workers = 1;
  options.concurrency = 1;
  Cluster cluster(options);
  cluster.Start();
  v1::Run parent = Create(cluster, ParentAgent("[sim steps=2 tool=echo]"), kParentInput);
  // With one slot, the children can only run if the parent gave its slot back.
  v1::Run done = cluster.WaitForEnd(parent.run_id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_TRUE(Contains(done.output(), "alpha finished")) << done.output();
  EXPECT_TRUE(Contains(done.output(), "beta finished")) << done.output();
  EXPECT_TRUE(Contains(done.output(), "gamma finished")) << done.output();
  std::vector<v1::Run> children = Children(cluster, parent.run_id());
  ASSERT_EQ(children.size(), 3u);
  // The children ran while the parent was WAITING (holding no lease).
  int64_t waiting_since = 0, queued_again = 0;
  for (const v1::RunEvent& e : cluster.Events(parent.run_id())) {
    if (!e.has_state_changed()) continue;
    if (e.state_changed().state() == v1::WAITING) waiting_since = e.time_ms();
    if (e.state_changed().state() == v1::QUEUED && waiting_since > 0) queued_again = e.time_ms();
  }
  ASSERT_GT(waiting_since, 0);
  ASSERT_GT(queued_again, 0);
  for (const v1::Run& child : children) {
    EXPECT_EQ(child.state(), v1::SUCCEEDED) << child.error();
    EXPECT_GE(child.start_time_ms(), waiting_since);
    EXPECT_LE(child.end_time_ms(), queued_again);
  }
  EXPECT_EQ(done.attempt(), 1);  // suspending is not a failed attempt
}

TEST(WaitsTest, WatchRunWithChildrenFollowsTheTree) {
  ClusterOptions options;
  options.workers = 1;
  options.concurrency = 1;
  Cluster cluster(options);
  cluster.Start();
  v1::Run parent = Create(cluster, ParentAgent("[sim steps=2 tool=echo]"), kParentInput);
  ASSERT_FALSE(parent.run_id().empty());

  auto check = [&](const std::vector<v1::RunEvent>& events, const std::string& how) {
    SCOPED_TRACE(how);
    ASSERT_FALSE(events.empty());
    // The stream ends with the parent's terminal event.
    EXPECT_EQ(events.back().run_id(), parent.run_id());
    EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
    std::set<std::string> children_ended;
    for (const v1::RunEvent& e : events) {
      if (e.run_id() == parent.run_id()) continue;
      EXPECT_EQ(e.root_run_id(), parent.run_id());
      if (e.has_state_changed() && e.state_changed().state() == v1::SUCCEEDED) children_ended.insert(e.run_id());
    }
    EXPECT_EQ(children_ended.size(), 3u);
    // Every run's events arrive in order and without a gap.
    std::set<std::string> runs;
    for (const v1::RunEvent& e : events) runs.insert(e.run_id());
    EXPECT_EQ(runs.size(), 4u);
    for (const std::string& id : runs) ExpectGapFree(events, id);
  };
  // Live, from the start...
  std::vector<v1::RunEvent> live;
  std::thread watcher([&] { live = cluster.Events(parent.run_id(), {.include_children = true, .timeout = absl::Seconds(60)}); });
  v1::Run done = cluster.WaitForEnd(parent.run_id(), absl::Seconds(60));
  watcher.join();
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  check(live, "live");
  // ... and replayed after the end.
  check(cluster.Events(parent.run_id(), {.include_children = true, .timeout = absl::Seconds(60)}), "replayed");
}

// A parent whose one turn calls `children` subagents at once. With a slow model every
// call answers after 300 ms; otherwise only the parent's do, and its children answer
// at once. Either way a watch started with the run is live before that turn.
struct FanOut {
  Cluster cluster;
  v1::Run run;

  static ClusterOptions Options(bool slow_model) {
    ClusterOptions options;
    if (slow_model) options.sim_args = {"--latency-ms=300"};
    return options;
  }

  explicit FanOut(int children, bool slow_model = true) : cluster(Options(slow_model)) {
    cluster.Start();
    v1::AgentSpec parent;
    parent.set_name("fan-out");
    parent.set_model(kModel);
    parent.set_max_children(children);
    parent.set_max_tokens(std::max(4096, 10 * children));
    v1::Subagent* helper = parent.add_subagents();
    helper->set_name("helper");
    helper->set_description("Answers a prompt.");
    helper->mutable_agent()->set_name("helper");
    helper->mutable_agent()->set_model(kModel);
    run = Create(cluster, parent,
                 absl::StrCat("[sim steps=", children + 1, " parallel=", children, " tool=helper text=done",
                              slow_model ? "" : " sleep_ms=300", "] go"));
  }

  // The run's events (with include_children its children's too) through WatchRunBatched,
  // as the client packages watch, from its start to its end.
  std::vector<v1::RunEvent> Watch(bool include_children) {
    std::vector<v1::RunEvent> events;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(90));
    v1::WatchRunRequest request;
    request.set_run_id(run.run_id());
    request.set_include_children(include_children);
    auto reader = cluster.runs().WatchRunBatched(&ctx, request);
    v1::RunEventBatch batch;
    while (reader->Read(&batch)) events.insert(events.end(), batch.events().begin(), batch.events().end());
    EXPECT_TRUE(reader->Finish().ok());
    return events;
  }
};

// A turn that calls 100 subagents brings the tree watch 300 events in one delivery
// (each child's start, its tool call and its QUEUED): the watch queues them whole and
// keeps up, instead of falling behind and reading every run again from the store.
// WatchRunBatched, as the client packages watch (WatchRun, one write per event, fell
// behind the children's next events here until each followed run had room of its own:
// docs/PERFORMANCE.md, W7).
TEST(WaitsTest, ATreeWatchTakesAFanOutOf100ChildrenWithoutAGap) {
  FanOut fan_out(100);
  ASSERT_FALSE(fan_out.run.run_id().empty());
  std::vector<v1::RunEvent> events = fan_out.Watch(/*include_children=*/true);
  ASSERT_EQ(fan_out.cluster.WaitForEnd(fan_out.run.run_id()).state(), v1::SUCCEEDED);
  std::set<std::string> children_ended;
  for (const v1::RunEvent& e : events) {
    EXPECT_FALSE(e.has_gap()) << "the watch fell behind at seq " << e.seq();
    if (e.run_id() != fan_out.run.run_id() && e.has_state_changed() && e.state_changed().state() == v1::SUCCEEDED) {
      children_ended.insert(e.run_id());
    }
  }
  EXPECT_EQ(children_ended.size(), 100u);
  ExpectGapFree(events, fan_out.run.run_id());
}

// A fan-out of 400 brings 1,200 events in one delivery, and its children's next events
// (or, to a watch of the parent alone, their ChildFinished) come while those are still
// being written: each run the watch follows, or child its runs started, has room for a
// few more (docs/design.md, "Events"), where a watch with 256 waiting used to take none.
TEST(WaitsTest, WatchesOfAFanOutOf400ChildrenKeepUp) {
  FanOut fan_out(400, /*slow_model=*/false);
  ASSERT_FALSE(fan_out.run.run_id().empty());
  std::vector<v1::RunEvent> parent_only;
  std::thread parent_watch([&] { parent_only = fan_out.Watch(/*include_children=*/false); });
  std::vector<v1::RunEvent> tree = fan_out.Watch(/*include_children=*/true);
  parent_watch.join();
  ASSERT_EQ(fan_out.cluster.WaitForEnd(fan_out.run.run_id(), absl::Seconds(90)).state(), v1::SUCCEEDED);
  std::set<std::string> children_ended;
  for (const v1::RunEvent& e : tree) {
    EXPECT_FALSE(e.has_gap()) << "the tree watch fell behind at seq " << e.seq() << " of " << e.run_id();
    if (e.run_id() != fan_out.run.run_id() && e.has_state_changed() && e.state_changed().state() == v1::SUCCEEDED) {
      children_ended.insert(e.run_id());
    }
  }
  EXPECT_EQ(children_ended.size(), 400u);
  int finished = 0;
  for (const v1::RunEvent& e : parent_only) {
    EXPECT_FALSE(e.has_gap()) << "the parent's watch fell behind at seq " << e.seq();
    finished += e.has_child_finished();
  }
  EXPECT_EQ(finished, 400);
  ExpectGapFree(parent_only, fan_out.run.run_id());
}

// The same through `baton watch --children`, which watches with WatchRunBatched too:
// every child's end, and no gap.
TEST(WaitsTest, TheCliWatchesAFanOutOf100ChildrenWithoutAGap) {
  FanOut fan_out(100);
  ASSERT_FALSE(fan_out.run.run_id().empty());
  std::string out;
  ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "watch", fan_out.run.run_id(), "--children", "--json", "--addr",
                        fan_out.cluster.address()},
                       {}, &out),
            0)
      << out;
  std::set<std::string> children_ended;
  int gaps = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    const json event = json::parse(line, nullptr, false);
    ASSERT_FALSE(event.is_discarded()) << line;
    gaps += event.contains("gap");
    const std::string run_id = event.value("runId", "");
    if (!run_id.empty() && run_id != fan_out.run.run_id() && event.contains("stateChanged") &&
        event["stateChanged"].value("state", "") == "SUCCEEDED") {
      children_ended.insert(run_id);
    }
  }
  EXPECT_EQ(gaps, 0) << "the watch fell behind";
  EXPECT_EQ(children_ended.size(), 100u);
}

TEST(WaitsTest, CancellingAParentCancelsItsChildren) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // Children that would take about 9 s.
  v1::Run parent = Create(cluster, ParentAgent("[sim steps=30 tool=sleep sleep_ms=300]"), kParentInput);
  std::vector<v1::Run> children;
  ASSERT_TRUE(WaitUntil(
      [&] {
        children = Children(cluster, parent.run_id());
        int running = 0;
        for (const v1::Run& child : children) running += child.state() == v1::RUNNING && child.last_journal_seq() > 0;
        return running == 3;
      },
      absl::Seconds(30)));
  ASSERT_EQ(cluster.GetRun(parent.run_id()).state(), v1::WAITING);

  const absl::Time cancelled_at = absl::Now();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CancelRunRequest request;
  request.set_run_id(parent.run_id());
  request.set_reason("changed my mind");
  v1::Run reply;
  ASSERT_TRUE(cluster.runs().CancelRun(&ctx, request, &reply).ok());
  EXPECT_EQ(reply.state(), v1::CANCELLED);  // a waiting run ends at once
  EXPECT_EQ(reply.failure_kind(), v1::CANCELLED_BY_USER);

  for (const v1::Run& child : children) {
    v1::Run ended = cluster.WaitForEnd(child.run_id(), absl::Seconds(15));
    EXPECT_EQ(ended.state(), v1::CANCELLED) << child.run_id();
    EXPECT_EQ(ended.failure_kind(), v1::PARENT_ENDED) << child.run_id() << ": " << ended.error();
  }
  // Within a heartbeat or two, far below the 9 s the children would have taken.
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
  v1::Run parent_now = cluster.GetRun(parent.run_id());
  EXPECT_EQ(parent_now.state(), v1::CANCELLED);
  EXPECT_EQ(parent_now.failure_kind(), v1::CANCELLED_BY_USER);
}

TEST(WaitsTest, DepthLimitStopsASelfCallingAgent) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  // A stored agent whose subagent is itself; each level calls it once, then answers.
  v1::AgentSpec agent;
  agent.set_name("recursive");
  agent.set_model(kModel);
  agent.set_max_steps(5);
  agent.set_max_subagent_depth(2);
  v1::Subagent* self = agent.add_subagents();
  self->set_name("deeper");
  self->set_agent_name("recursive");
  self->set_input_schema_json(
      json{{"type", "object"},
           {"properties",
            {{"prompt", {{"type", "string"}, {"enum", json::array({"[sim steps=2 tool=deeper] go deeper"})}}}}},
           {"required", json::array({"prompt"})}}
          .dump());
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::PutAgentRequest request;
    *request.mutable_agent() = agent;
    v1::PutAgentResponse response;
    grpc::Status s = cluster.agents().PutAgent(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::CreateRunRequest request;
  request.set_agent_name("recursive");
  request.set_input("[sim steps=2 tool=deeper] start");
  v1::Run root = Create(cluster, request);
  v1::Run done = cluster.WaitForEnd(root.run_id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.max_depth(), 2);

  // root (depth 0) -> child (1) -> grandchild (2); the grandchild's call is refused.
  std::vector<v1::Run> tree{done};
  for (size_t i = 0; i < tree.size(); ++i) {
    for (const v1::Run& child : Children(cluster, tree[i].run_id())) tree.push_back(child);
  }
  ASSERT_EQ(tree.size(), 3u);
  for (int depth = 0; depth < 3; ++depth) {
    EXPECT_EQ(tree[depth].depth(), depth);
    EXPECT_EQ(tree[depth].state(), v1::SUCCEEDED) << tree[depth].error();
    EXPECT_EQ(tree[depth].root_run_id(), root.run_id());
  }
  bool refused = false;
  const v1::Transcript deepest = cluster.Transcript(tree[2].run_id());
  for (const v1::JournalEntry& e : deepest.entries()) {
    refused |= e.has_tool_result() && e.tool_result().is_error() &&
               Contains(e.tool_result().content_json(), "depth limit 2");
    EXPECT_TRUE(e.tool_call().child_run_id().empty()) << "the deepest run started a child";
  }
  EXPECT_TRUE(refused) << "no is_error result naming the depth limit in the deepest run";
  EXPECT_EQ(tree[2].children(), 0);
}

TEST(WaitsTest, UnknownStoredSubagentIsNotFound) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  v1::AgentSpec agent = Cluster::Agent();
  v1::Subagent* sub = agent.add_subagents();
  sub->set_name("helper");
  sub->set_agent_name("no-such-agent");
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CreateRunRequest request;
    *request.mutable_agent() = agent;
    request.set_input("hi");
    v1::Run run;
    grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_TRUE(Contains(s.error_message(), "agent.subagents[0].agent_name")) << s.error_message();
    EXPECT_TRUE(Contains(s.error_message(), "no-such-agent")) << s.error_message();
  }
  // A stored agent naming one that does not exist is refused when it is stored; one
  // nested in an inline subagent is refused when the run is created.
  agent.set_name("delegator");
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::PutAgentRequest request;
    *request.mutable_agent() = agent;
    v1::PutAgentResponse response;
    grpc::Status s = cluster.agents().PutAgent(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_TRUE(Contains(s.error_message(), "agent.subagents[0].agent_name")) << s.error_message();
  }
  {
    v1::AgentSpec outer = Cluster::Agent();
    v1::Subagent* inline_sub = outer.add_subagents();
    inline_sub->set_name("middle");
    *inline_sub->mutable_agent() = agent;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CreateRunRequest request;
    *request.mutable_agent() = outer;
    request.set_input("hi");
    v1::Run run;
    grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_TRUE(Contains(s.error_message(), "agent.subagents[0].agent.subagents[0].agent_name")) << s.error_message();
  }
  EXPECT_TRUE(ListRuns(cluster, v1::ListRunsRequest()).empty());
}

// ---------------------------------------------------------------------------
// Approvals

// The tester agent with its echo calls gated by `rule` (tools: echo). With the input
// kApprovalInput the model calls echo {"text":"hello"} once, then answers.
v1::AgentSpec GatedAgent(v1::ApprovalRule rule = {}) {
  v1::AgentSpec agent = Cluster::Agent();
  rule.clear_tools();
  rule.add_tools("echo");
  *agent.add_approvals() = std::move(rule);
  return agent;
}
constexpr char kApprovalInput[] = "[sim tool=echo steps=2] say hello";

v1::ApprovalRule Timeout(int64_t seconds, v1::ApprovalRule::OnTimeout on_timeout) {
  v1::ApprovalRule rule;
  rule.set_timeout_seconds(seconds);
  rule.set_on_timeout(on_timeout);
  return rule;
}

// The run's one pending approval, once the run waits for it.
v1::Approval AwaitApproval(Cluster& cluster, const std::string& run_id) {
  std::vector<v1::Approval> pending;
  EXPECT_TRUE(WaitUntil(
      [&] {
        pending = ListApprovals(cluster, run_id, v1::ListApprovalsRequest::PENDING);
        return pending.size() == 1 && cluster.GetRun(run_id).state() == v1::WAITING;
      },
      absl::Seconds(20)))
      << run_id << " has " << pending.size() << " pending approvals";
  return pending.empty() ? v1::Approval() : pending.front();
}

v1::Approval GetApproval(Cluster& cluster, const std::string& approval_id) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::GetApprovalRequest request;
  request.set_approval_id(approval_id);
  v1::Approval approval;
  grpc::Status s = cluster.runs().GetApproval(&ctx, request, &approval);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return approval;
}

grpc::Status Decide(Cluster& cluster, const std::string& approval_id, v1::Decision decision,
                    const std::string& input_json = "", const std::string& message = "",
                    v1::Approval* out = nullptr) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::DecideApprovalRequest request;
  request.set_approval_id(approval_id);
  request.set_decision(decision);
  request.set_input_json(input_json);
  request.set_message(message);
  request.set_decided_by("alice@example.com");
  v1::Approval approval;
  grpc::Status s = cluster.runs().DecideApproval(&ctx, request, &approval);
  if (out != nullptr) *out = approval;
  return s;
}

// WatchRun lets gRPC hold a write while more events are queued behind it
// (set_buffer_hint): the last events before a run goes quiet must still leave at once.
// A live watcher of a run that stops to wait for a person gets everything up to the
// WAITING state while nothing else happens.
TEST(WaitsTest, ALiveWatcherGetsTheEventsUpToAWaitWhileTheRunIsQuiet) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  const v1::Run run = Create(cluster, GatedAgent(), kApprovalInput);
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(15));
  v1::WatchRunRequest request;
  request.set_run_id(run.run_id());
  auto reader = cluster.runs().WatchRun(&ctx, request);
  v1::RunEvent event;
  int64_t last_seq = 0;
  bool requested = false, waiting = false;
  while (!waiting && reader->Read(&event)) {
    EXPECT_EQ(event.seq(), last_seq + 1);
    last_seq = event.seq();
    requested = requested || event.has_approval_requested();
    waiting = event.has_state_changed() && event.state_changed().state() == v1::WAITING;
  }
  EXPECT_TRUE(requested);
  EXPECT_TRUE(waiting) << "the events before the wait were held (last seq " << last_seq << ")";
  // Nothing followed: the run still waits for its approval.
  EXPECT_EQ(cluster.GetRun(run.run_id()).state(), v1::WAITING);
  ctx.TryCancel();
  reader->Finish();
}

TEST(WaitsTest, ApprovalDecisionsReachTheModel) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::map<std::string, v1::Run> runs;
  for (const char* name : {"approve", "edit", "deny", "respond"}) {
    runs[name] = Create(cluster, GatedAgent(), kApprovalInput);
  }
  std::map<std::string, v1::Approval> approvals;
  for (const auto& [name, run] : runs) {
    v1::Approval approval = AwaitApproval(cluster, run.run_id());
    ASSERT_FALSE(approval.approval_id().empty()) << name;
    EXPECT_EQ(approval.run_id(), run.run_id());
    EXPECT_EQ(approval.kind(), v1::Approval::TOOL_CALL);
    EXPECT_EQ(approval.tool(), "echo");
    EXPECT_EQ(json::parse(approval.input_json(), nullptr, false), (json{{"text", "hello"}}));
    EXPECT_EQ(approval.state(), v1::Approval::PENDING);
    EXPECT_GT(approval.expire_time_ms(), approval.create_time_ms());
    // The run's events announce it.
    bool announced = false;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::WatchRunRequest request;
    request.set_run_id(run.run_id());
    auto reader = cluster.runs().WatchRun(&ctx, request);
    v1::RunEvent event;
    while (!announced && reader->Read(&event)) {
      announced = event.has_approval_requested() &&
                  event.approval_requested().approval().approval_id() == approval.approval_id();
    }
    ctx.TryCancel();
    reader->Finish();
    EXPECT_TRUE(announced) << name;
    approvals[name] = approval;
  }
  // Nothing ran while waiting for a person.
  EXPECT_TRUE(cluster.ToolAudit().empty());

  // EDIT with an input the tool's schema refuses: INVALID_ARGUMENT, still pending.
  grpc::Status s = Decide(cluster, approvals["edit"].approval_id(), v1::EDIT, R"({"text":5})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "input_json")) << s.error_message();
  EXPECT_EQ(GetApproval(cluster, approvals["edit"].approval_id()).state(), v1::Approval::PENDING);

  v1::Approval decided;
  s = Decide(cluster, approvals["approve"].approval_id(), v1::APPROVE, "", "", &decided);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(decided.state(), v1::Approval::DECIDED);
  EXPECT_EQ(decided.decision().decision(), v1::APPROVE);
  EXPECT_EQ(decided.decision().decided_by(), "alice@example.com");
  // A retry of the same decision is acknowledged; a different one is refused.
  EXPECT_TRUE(Decide(cluster, approvals["approve"].approval_id(), v1::APPROVE).ok());
  s = Decide(cluster, approvals["approve"].approval_id(), v1::DENY, "", "no");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  ASSERT_TRUE(Decide(cluster, approvals["edit"].approval_id(), v1::EDIT, R"({"text":"edited"})").ok());
  ASSERT_TRUE(Decide(cluster, approvals["deny"].approval_id(), v1::DENY, "", "not on a Friday").ok());
  ASSERT_TRUE(Decide(cluster, approvals["respond"].approval_id(), v1::RESPOND, "", "pretend result").ok());
  s = Decide(cluster, "run_00000000000000000000:0:toolu_unknown", v1::APPROVE);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();

  std::map<std::string, v1::Run> done;
  for (const auto& [name, run] : runs) {
    done[name] = cluster.WaitForEnd(run.run_id());
    ASSERT_EQ(done[name].state(), v1::SUCCEEDED) << name << ": " << done[name].error();
  }
  EXPECT_TRUE(Contains(done["approve"].output(), "echo returned hello")) << done["approve"].output();
  EXPECT_EQ(ExecutedCallsOf(cluster, runs["approve"].run_id()), 1);
  EXPECT_TRUE(Contains(done["edit"].output(), "echo returned edited")) << done["edit"].output();
  EXPECT_EQ(ExecutedCallsOf(cluster, runs["edit"].run_id()), 1);
  EXPECT_TRUE(Contains(done["deny"].output(), "echo failed")) << done["deny"].output();
  EXPECT_TRUE(Contains(done["deny"].output(), "not on a Friday")) << done["deny"].output();
  EXPECT_EQ(ExecutedCallsOf(cluster, runs["deny"].run_id()), 0);
  EXPECT_TRUE(Contains(done["respond"].output(), "echo returned pretend result")) << done["respond"].output();
  EXPECT_EQ(ExecutedCallsOf(cluster, runs["respond"].run_id()), 0);

  // The edited call is journaled with the input it ran with.
  bool edited = false;
  const v1::Transcript edit_journal = cluster.Transcript(runs["edit"].run_id());
  for (const v1::JournalEntry& e : edit_journal.entries()) {
    edited |= e.has_tool_call() && json::parse(e.tool_call().edited_input_json(), nullptr, false) ==
                                       json{{"text", "edited"}};
  }
  EXPECT_TRUE(edited);
  // Decided, with the events to show it; the decision stands after the run ended.
  for (const auto& [name, run] : runs) {
    EXPECT_EQ(GetApproval(cluster, approvals[name].approval_id()).state(), v1::Approval::DECIDED) << name;
    EXPECT_TRUE(ListApprovals(cluster, run.run_id(), v1::ListApprovalsRequest::PENDING).empty()) << name;
    bool decided_event = false;
    for (const v1::RunEvent& e : cluster.Events(run.run_id())) decided_event |= e.has_approval_decided();
    EXPECT_TRUE(decided_event) << name;
  }
  EXPECT_TRUE(Decide(cluster, approvals["approve"].approval_id(), v1::APPROVE).ok());
  s = Decide(cluster, approvals["approve"].approval_id(), v1::RESPOND, "", "late");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST(WaitsTest, RacingDecisionsOneWinsTheOtherIsRefused) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::vector<v1::Run> runs;
  for (int i = 0; i < 3; ++i) runs.push_back(Create(cluster, GatedAgent(), kApprovalInput));
  for (const v1::Run& run : runs) {
    const v1::Approval approval = AwaitApproval(cluster, run.run_id());
    // Two reviewers decide at the same moment: one decision is taken, the other is
    // refused as a decision on a decided approval (not "try again").
    grpc::Status approve, deny;
    std::thread approver([&] { approve = Decide(cluster, approval.approval_id(), v1::APPROVE); });
    std::thread denier([&] { deny = Decide(cluster, approval.approval_id(), v1::DENY, "", "no"); });
    approver.join();
    denier.join();
    EXPECT_NE(approve.ok(), deny.ok()) << approve.error_message() << " / " << deny.error_message();
    const grpc::Status& refused = approve.ok() ? deny : approve;
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
    v1::Run done = cluster.WaitForEnd(run.run_id());
    ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
    EXPECT_EQ(ExecutedCallsOf(cluster, run.run_id()), approve.ok() ? 1 : 0);
    EXPECT_EQ(GetApproval(cluster, approval.approval_id()).decision().decision(),
              approve.ok() ? v1::APPROVE : v1::DENY);
  }
}

TEST(WaitsTest, ApprovalTimeoutsDenyOrFail) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run deny = Create(cluster, GatedAgent(Timeout(1, v1::ApprovalRule::TIMEOUT_DENY)), kApprovalInput);
  v1::Run fail = Create(cluster, GatedAgent(Timeout(1, v1::ApprovalRule::TIMEOUT_FAIL)), kApprovalInput);

  v1::Run denied = cluster.WaitForEnd(deny.run_id(), absl::Seconds(20));
  ASSERT_EQ(denied.state(), v1::SUCCEEDED) << denied.error();
  EXPECT_TRUE(Contains(denied.output(), "no one approved it in time")) << denied.output();
  std::vector<v1::Approval> approvals = ListApprovals(cluster, deny.run_id(), v1::ListApprovalsRequest::ALL);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].state(), v1::Approval::EXPIRED);
  EXPECT_TRUE(approvals[0].decision().timed_out());
  // Past its deadline no one can decide any more.
  grpc::Status s = Decide(cluster, approvals[0].approval_id(), v1::APPROVE);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  v1::Run failed = cluster.WaitForEnd(fail.run_id(), absl::Seconds(20));
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.failure_kind(), v1::APPROVAL_TIMEOUT) << failed.error();
  EXPECT_EQ(ExecutedCallsOf(cluster, deny.run_id()), 0);
  EXPECT_EQ(ExecutedCallsOf(cluster, fail.run_id()), 0);
}

TEST(WaitsTest, ApprovalsSurviveOrchestratorCrashes) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run decided_run = Create(cluster, GatedAgent(), kApprovalInput);
  v1::Approval decided = AwaitApproval(cluster, decided_run.run_id());
  v1::Run expiring_run = Create(cluster, GatedAgent(Timeout(2, v1::ApprovalRule::TIMEOUT_DENY)), kApprovalInput);
  v1::Approval expiring = AwaitApproval(cluster, expiring_run.run_id());

  // A decision acknowledged just before the crash stands.
  ASSERT_TRUE(Decide(cluster, decided.approval_id(), v1::APPROVE).ok());
  cluster.KillOrchestrator(SIGKILL);
  // The other request was pending then, and expires while the orchestrator is down.
  ASSERT_LT(absl::Now(), absl::FromUnixMillis(expiring.expire_time_ms()));
  absl::SleepFor(absl::FromUnixMillis(expiring.expire_time_ms()) + absl::Seconds(1) - absl::Now());
  cluster.StartOrchestrator();
  grpc::Status s = Decide(cluster, expiring.approval_id(), v1::APPROVE);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  v1::Run approved = cluster.WaitForEnd(decided_run.run_id());
  ASSERT_EQ(approved.state(), v1::SUCCEEDED) << approved.error();
  EXPECT_TRUE(Contains(approved.output(), "echo returned hello")) << approved.output();
  EXPECT_EQ(ExecutedCallsOf(cluster, decided_run.run_id()), 1);
  v1::Run expired = cluster.WaitForEnd(expiring_run.run_id());
  ASSERT_EQ(expired.state(), v1::SUCCEEDED) << expired.error();
  EXPECT_TRUE(Contains(expired.output(), "no one approved it in time")) << expired.output();
  EXPECT_EQ(ExecutedCallsOf(cluster, expiring_run.run_id()), 0);
  EXPECT_EQ(GetApproval(cluster, expiring.approval_id()).state(), v1::Approval::EXPIRED);
  EXPECT_EQ(GetApproval(cluster, decided.approval_id()).decision().decision(), v1::APPROVE);
}

// ---------------------------------------------------------------------------
// Forks

TEST(WaitsTest, ForkResumesFromAJournalPrefix) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  v1::Run source = Create(cluster, Cluster::Agent(), "[sim steps=3 tool=echo] x");
  ASSERT_EQ(cluster.WaitForEnd(source.run_id()).state(), v1::SUCCEEDED);
  v1::Transcript journal = cluster.Transcript(source.run_id());
  // The first tool result: the fork point.
  const v1::JournalEntry* first_result = nullptr;
  for (const v1::JournalEntry& e : journal.entries()) {
    if (e.has_tool_result()) {
      first_result = &e;
      break;
    }
  }
  ASSERT_NE(first_result, nullptr);
  const int64_t at = first_result->seq();
  const std::string first_call = first_result->tool_result().tool_use_id();

  auto fork = [&](int64_t at_seq, const v1::ToolResultReplacement* replacement, v1::Run* run) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ForkRunRequest request;
    request.set_run_id(source.run_id());
    request.set_at_journal_seq(at_seq);
    if (replacement != nullptr) *request.mutable_tool_result() = *replacement;
    return cluster.runs().ForkRun(&ctx, request, run);
  };
  v1::Run forked;
  grpc::Status s = fork(at, nullptr, &forked);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(forked.forked_from(), source.run_id());
  EXPECT_EQ(forked.forked_at_seq(), at);
  v1::Run done = cluster.WaitForEnd(forked.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.steps(), 3);

  // Its journal starts with the source's prefix...
  v1::Transcript fork_journal = cluster.Transcript(forked.run_id());
  ASSERT_GT(fork_journal.entries_size(), at);
  for (int i = 0; i < at; ++i) {
    v1::JournalEntry mine = fork_journal.entries(i), theirs = journal.entries(i);
    EXPECT_EQ(mine.seq(), theirs.seq());
    for (v1::JournalEntry* e : {&mine, &theirs}) {
      e->clear_epoch();
      e->clear_time_ms();
    }
    EXPECT_EQ(mine.SerializeAsString(), theirs.SerializeAsString()) << i;
  }
  // ... and the call before the fork point did not run again: one echo, the second one.
  std::vector<std::string> fork_calls;
  for (const auto& [call, count] : ExecutedCalls(cluster)) {
    if (call.first == forked.run_id()) fork_calls.push_back(call.second);
  }
  ASSERT_EQ(fork_calls.size(), 1u);
  EXPECT_NE(fork_calls[0], first_call);

  // Past the journal's end: refused, naming the field.
  v1::Run refused;
  s = fork(journal.entries_size() + 5, nullptr, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "at_journal_seq")) << s.error_message();

  // With the first result replaced, the fork's model sees the replacement.
  v1::ToolResultReplacement replacement;
  replacement.set_tool_use_id(first_call);
  replacement.set_content_json(json("a different result").dump());
  v1::Run replaced;
  s = fork(at, &replacement, &replaced);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::Run replaced_done = cluster.WaitForEnd(replaced.run_id());
  ASSERT_EQ(replaced_done.state(), v1::SUCCEEDED) << replaced_done.error();
  EXPECT_TRUE(Contains(replaced_done.output(), "echo returned a different result")) << replaced_done.output();
  v1::Transcript replaced_journal = cluster.Transcript(replaced.run_id());
  EXPECT_TRUE(Contains(replaced_journal.messages_json(), "a different result"));
  EXPECT_EQ(replaced_journal.entries(at - 1).tool_result().content_json(), json("a different result").dump());
}

// ---------------------------------------------------------------------------
// Sessions

TEST(WaitsTest, SessionRunsContinueOneConversation) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  auto create = [&](const std::string& input) {
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input(input);
    request.set_session_id("chat-42");
    return Create(cluster, request);
  };
  // Every model call of the session takes a second (the directives of its first input).
  v1::Run first = create("[sim steps=1 sleep_ms=1000] alpha question");
  v1::Run second = create("beta question");
  EXPECT_EQ(first.session_seq(), 1);
  EXPECT_EQ(second.session_seq(), 2);
  EXPECT_EQ(second.continue_from(), first.run_id());
  EXPECT_EQ(second.state(), v1::WAITING);  // the first is still going
  // Only a run that has ended can be continued.
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("too early");
    request.set_continue_from(second.run_id());
    v1::Run run;
    grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_TRUE(Contains(s.error_message(), "continue_from")) << s.error_message();
  }
  v1::Run first_done = cluster.WaitForEnd(first.run_id());
  v1::Run second_done = cluster.WaitForEnd(second.run_id());
  ASSERT_EQ(first_done.state(), v1::SUCCEEDED) << first_done.error();
  ASSERT_EQ(second_done.state(), v1::SUCCEEDED) << second_done.error();
  EXPECT_GE(second_done.start_time_ms(), first_done.end_time_ms());

  // Between turns the orchestrator crashes; the session goes on from the store.
  cluster.KillOrchestrator(SIGKILL);
  cluster.StartOrchestrator();
  v1::Run third = create("gamma question");
  EXPECT_EQ(third.session_seq(), 3);
  EXPECT_EQ(third.continue_from(), second.run_id());
  v1::Run third_done = cluster.WaitForEnd(third.run_id());
  ASSERT_EQ(third_done.state(), v1::SUCCEEDED) << third_done.error();

  // The third run's model saw the whole conversation, in order.
  json request;
  for (const json& r : cluster.SimRequests()) {
    if (Contains(r["body"].dump(), "gamma question")) request = r["body"];
  }
  ASSERT_TRUE(request.is_object());
  const json& messages = request["messages"];
  ASSERT_EQ(messages.size(), 5u) << messages.dump();
  const std::vector<std::pair<std::string, std::string>> expected{
      {"user", "alpha question"},
      {"assistant", first_done.output()},
      {"user", "beta question"},
      {"assistant", second_done.output()},
      {"user", "gamma question"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(messages[i]["role"], expected[i].first) << i;
    EXPECT_TRUE(Contains(messages[i]["content"].dump(), expected[i].second)) << i << ": " << messages[i].dump();
  }
  EXPECT_TRUE(Contains(first_done.output(), "alpha question")) << first_done.output();
  EXPECT_TRUE(Contains(second_done.output(), "beta question")) << second_done.output();

  const v1::Transcript transcript = cluster.Transcript(third.run_id());
  EXPECT_EQ(std::vector<std::string>(transcript.history_run_ids().begin(), transcript.history_run_ids().end()),
            (std::vector<std::string>{first.run_id(), second.run_id()}));

  v1::ListRunsRequest list;
  list.set_session_id("chat-42");
  std::vector<v1::Run> session = ListRuns(cluster, list);
  ASSERT_EQ(session.size(), 3u);
  std::map<int, std::string> by_seq;
  for (const v1::Run& run : session) by_seq[run.session_seq()] = run.run_id();
  EXPECT_EQ(by_seq, (std::map<int, std::string>{{1, first.run_id()}, {2, second.run_id()}, {3, third.run_id()}}));
}

}  // namespace
}  // namespace baton::testing
