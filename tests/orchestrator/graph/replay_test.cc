// Replay: a graph execution rebuilt from the journal after a restart reaches the state
// an uninterrupted one has, so what it decides next is the same.
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "orchestrator/graph/graph_execution.h"
#include "tests/orchestrator/graph/graph_test_util.h"

namespace baton::orchestrator::graph {
namespace {

using testing::AgentNode;
using testing::GraphDriver;
using ::testing::HasSubstr;
using testing::Spec;

// Something that happens to a graph run from outside: a child run ends or a question
// is decided.
struct Event {
  std::optional<v1::Run> child;
  std::string approval_id;
  v1::ApprovalDecision decision;
};

GraphStep Feed(GraphExecution& execution, const Event& event) {
  return event.child ? execution.OnChildEnded(*event.child) : execution.OnDecision(event.approval_id, event.decision);
}

// Everything a step decides, as text, so two steps compare with a readable diff.
std::string Dump(const GraphStep& step) {
  std::string out;
  for (const v1::JournalEntry& e : step.entries) absl::StrAppend(&out, "entry ", e.ShortDebugString(), "\n");
  for (const ChildToStart& c : step.children) {
    absl::StrAppend(&out, "child ", c.child_run_id, " ", c.node, "#", c.visit, "[", c.item, "] input=", c.input,
                    " agent=", c.agent ? c.agent->ShortDebugString() : "-",
                    " graph=", c.graph ? c.graph->ShortDebugString() : "-", "\n");
  }
  for (const QuestionToAsk& q : step.questions) {
    absl::StrAppend(&out, "question ", q.approval_id, " ", q.node, "#", q.visit, " ", q.prompt, " ",
                    absl::StrJoin(q.decisions, ","), " ", q.timeout_ms, " ", q.on_timeout, "\n");
  }
  if (step.end) {
    absl::StrAppend(&out, "end ", step.end->state, " kind=", step.end->kind, " output=", step.end->output,
                    " error=", step.end->error, "\n");
  }
  return out;
}

std::string Snapshot(const GraphExecution& execution) {
  return absl::StrCat("children=", absl::StrJoin(execution.RunningChildren(), ","),
                      " questions=", absl::StrJoin(execution.OpenQuestions(), ","), " runs=", execution.node_runs(),
                      " ended=", execution.ended());
}

// An uninterrupted run, with what each step decided and the state after it.
struct Recording {
  std::vector<Event> events;           // events[i] caused steps[i + 1]
  std::vector<GraphStep> steps;        // steps[0]: Start()
  std::vector<std::string> snapshots;  // after steps[i]
  std::vector<int> ids_issued;         // run ids issued up to and including steps[i]
};

// Ends a random running node run at each turn: outputs drive every condition the test
// graphs have; `fail_percent` of the child runs fail.
Recording RunToTheEnd(const v1::GraphSpec& spec, uint32_t seed, int fail_percent) {
  std::mt19937 rng(seed);
  auto counter = std::make_shared<int>(0);
  GraphExecution execution("g", spec, "the input", GraphDriver::IdSource(counter));
  Recording r;
  const auto record = [&](GraphStep step) {
    r.steps.push_back(std::move(step));
    r.snapshots.push_back(Snapshot(execution));
    r.ids_issued.push_back(*counter);
  };
  record(execution.Start());
  for (int turn = 0; turn < 500 && !execution.ended(); ++turn) {
    std::vector<std::string> children = execution.RunningChildren();
    std::vector<std::string> questions = execution.OpenQuestions();
    const size_t pick = rng() % (children.size() + questions.size());
    Event event;
    if (pick < children.size()) {
      v1::Run& run = event.child.emplace();
      run.set_run_id(children[pick]);
      if (static_cast<int>(rng() % 100) < fail_percent) {
        run.set_state(rng() % 4 == 0 ? v1::CANCELLED : v1::FAILED);
        run.set_error(absl::StrCat("failure ", turn));
      } else {
        nlohmann::json out;
        out["approved"] = rng() % 3 == 0;
        out["go"] = rng() % 2 ? "a" : "b";
        out["tasks"] = nlohmann::json::array();
        for (uint32_t i = rng() % 5; i > 0; --i) out["tasks"].push_back(absl::StrCat("task ", turn, ".", i));
        out["notes"] = absl::StrCat("turn ", turn);
        run.set_state(v1::SUCCEEDED);
        run.set_output(out.dump());
      }
    } else {
      event.approval_id = questions[pick - children.size()];
      const v1::Decision decisions[] = {v1::APPROVE, v1::DENY, v1::RESPOND};
      event.decision.set_decision(decisions[rng() % 3]);
      event.decision.set_timed_out(rng() % 4 == 0);
      event.decision.set_message(absl::StrCat("answer ", turn));
    }
    r.events.push_back(event);
    record(Feed(execution, event));
  }
  EXPECT_TRUE(execution.ended()) << "seed " << seed;
  return r;
}

// For every point between steps: replay the journal up to there into a new execution,
// then feed it the rest of the events; it must decide exactly what the uninterrupted
// one did.
void ExpectReplayEquivalent(const v1::GraphSpec& spec, uint32_t seed, int fail_percent) {
  const Recording r = RunToTheEnd(spec, seed, fail_percent);
  for (size_t cut = 1; cut <= r.steps.size(); ++cut) {
    auto counter = std::make_shared<int>(r.ids_issued[cut - 1]);
    GraphExecution rebuilt("g", spec, "the input", GraphDriver::IdSource(counter));
    for (size_t s = 0; s < cut; ++s) {
      for (const v1::JournalEntry& entry : r.steps[s].entries) {
        const absl::Status status = rebuilt.Replay(entry);
        ASSERT_TRUE(status.ok()) << status << " seed " << seed << " cut " << cut;
      }
    }
    ASSERT_EQ(Snapshot(rebuilt), r.snapshots[cut - 1]) << "seed " << seed << " cut " << cut;
    for (size_t s = cut; s < r.steps.size(); ++s) {
      ASSERT_EQ(Dump(Feed(rebuilt, r.events[s - 1])), Dump(r.steps[s]))
          << "seed " << seed << " cut " << cut << " step " << s;
      ASSERT_EQ(Snapshot(rebuilt), r.snapshots[s]) << "seed " << seed << " cut " << cut << " step " << s;
    }
  }
}

// plan -> fan (map) -> writer <-> reviewer (loop) -> gate (a person) -> publish, and
// back to the writer when the person denies.
v1::GraphSpec Research(const std::string& policy) {
  return Spec(R"({"nodes": [)" + AgentNode("plan") + R"(,
      {"id": "fan", "map": {"over": "nodes.plan.output.tasks", "max_parallel": 2,
          "agent": {"agent": {"model": "m"}, "input": "{{index}} {{item}}"}, )" +
              policy + R"(}},
      {"id": "writer", "max_visits": 3, "agent": {"agent": {"model": "m"},
          "input": "{{nodes.fan.output}} {{nodes.reviewer.output.notes}} {{nodes.gate.output.message}}"}},
      )" + AgentNode("reviewer", "{{nodes.writer.output}}") +
              R"(,
      {"id": "gate", "human": {"prompt": "ok? {{nodes.writer.output.notes}}"}},
      )" + AgentNode("publish") +
              R"(],
    "edges": [
      {"from": "plan", "to": "fan"}, {"from": "fan", "to": "writer"}, {"from": "writer", "to": "reviewer"},
      {"from": "reviewer", "to": "writer", "when": {"pointer": "/approved", "op": "EQ", "value": false}},
      {"from": "reviewer", "to": "gate", "default": true},
      {"from": "gate", "to": "publish", "when": {"pointer": "/decision", "op": "EQ", "value": "APPROVE"}},
      {"from": "gate", "to": "writer", "when": {"pointer": "/decision", "op": "EQ", "value": "DENY"}}],
    "output": "{{nodes.publish.output.notes}} {{nodes.fan.output}}"})");
}

// Dead paths into a join, and a loop around a diamond.
v1::GraphSpec Routes() {
  return Spec(R"({"nodes": [
      {"id": "router", "max_visits": 3, "agent": {"agent": {"model": "m"}}},
      )" + AgentNode("a") +
              "," + AgentNode("b") + "," + AgentNode("b2") + "," + AgentNode("side") + "," +
              AgentNode("join", "{{nodes.a.output}}|{{nodes.b2.output}}|{{nodes.side.output}}") + R"(],
    "edges": [
      {"from": "router", "to": "a", "when": {"pointer": "/go", "op": "EQ", "value": "a"}},
      {"from": "router", "to": "b", "default": true},
      {"from": "router", "to": "side"},
      {"from": "a", "to": "join"}, {"from": "b", "to": "b2"}, {"from": "b2", "to": "join"},
      {"from": "side", "to": "join"},
      {"from": "join", "to": "router", "when": {"pointer": "/approved", "op": "EQ", "value": false}}]})");
}

TEST(ReplayTest, ResearchGraphWithEachMapPolicy) {
  for (const char* policy :
       {R"("on_failure": "FAIL_FAST")", R"("on_failure": "COLLECT")", R"("on_failure": "QUORUM", "quorum": 1)"}) {
    SCOPED_TRACE(policy);
    for (uint32_t seed = 0; seed < 12; ++seed) ExpectReplayEquivalent(Research(policy), seed, seed % 3 == 0 ? 0 : 10);
  }
}

TEST(ReplayTest, DeadPathsJoinsAndLoops) {
  for (uint32_t seed = 0; seed < 25; ++seed) ExpectReplayEquivalent(Routes(), seed, seed % 4 == 0 ? 15 : 0);
}

TEST(ReplayTest, MaxNodeRunsEndsTheSameWay) {
  v1::GraphSpec spec = Research(R"("on_failure": "COLLECT")");
  spec.mutable_limits()->set_max_node_runs(6);
  for (uint32_t seed = 0; seed < 10; ++seed) ExpectReplayEquivalent(spec, seed, 0);
}

TEST(ReplayTest, EntriesThatDoNotFitTheStateAreRefused) {
  const v1::GraphSpec spec = Routes();
  GraphExecution execution("g", spec, "in", [] { return std::string("r"); });
  v1::JournalEntry finished;
  finished.mutable_node_finished()->set_node("a");
  finished.mutable_node_finished()->set_visit(1);
  finished.mutable_node_finished()->set_state(v1::SUCCEEDED);
  absl::Status s = execution.Replay(finished);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("node \"a\" visit 1 item 0 finished but was not running"));

  v1::JournalEntry started;
  started.mutable_node_started()->set_node("join");
  started.mutable_node_started()->set_visit(1);
  s = execution.Replay(started);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("node \"join\" visit 1 item 0 started, but no such start was due"));

  started.mutable_node_started()->set_node("nobody");
  EXPECT_EQ(execution.Replay(started).code(), absl::StatusCode::kFailedPrecondition);

  // Entries of other kinds are not the graph's business.
  v1::JournalEntry turn;
  turn.mutable_model_turn()->set_model("m");
  EXPECT_TRUE(execution.Replay(turn).ok());
  // The start node's entry fits.
  started.mutable_node_started()->set_node("router");
  started.mutable_node_started()->set_child_run_id("r1");
  EXPECT_TRUE(execution.Replay(started).ok());
  EXPECT_THAT(execution.RunningChildren(), ::testing::ElementsAre("r1"));
}

}  // namespace
}  // namespace baton::orchestrator::graph
