// Test helpers for graph runs: specs written as the JSON users write, and a driver that
// plays the scheduler's part (journals every entry, ends child runs, decides questions).
#ifndef BATON_TESTS_ORCHESTRATOR_GRAPH_GRAPH_TEST_UTIL_H_
#define BATON_TESTS_ORCHESTRATOR_GRAPH_GRAPH_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "orchestrator/graph/graph_execution.h"

namespace baton::orchestrator::graph::testing {

// A GraphSpec from its protobuf JSON mapping (the form of graph files).
inline v1::GraphSpec Spec(const std::string& json) {
  v1::GraphSpec spec;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &spec);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return spec;
}

// An inline agent node's JSON: {"id": ID, "agent": {"agent": {...}, "input": INPUT}}.
inline std::string AgentNode(const std::string& id, const std::string& input = "", const std::string& extra = "") {
  std::string node = absl::StrCat(R"({"id": ")", id, R"(", "agent": {"agent": {"model": "m"})");
  if (!input.empty()) absl::StrAppend(&node, R"(, "input": ")", input, R"(")");
  absl::StrAppend(&node, "}", extra, "}");
  return node;
}

inline std::vector<std::string> List(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

// "start a", "start a#2", "start m[3]"; "done a", "failed a", "cancelled m#2[1]".
inline std::string Describe(const v1::JournalEntry& entry) {
  const auto key = [](const std::string& node, int32_t visit, int32_t item) {
    std::string k = node;
    if (visit > 1) absl::StrAppend(&k, "#", visit);
    if (item > 0) absl::StrAppend(&k, "[", item, "]");
    return k;
  };
  if (entry.has_node_started()) {
    const v1::GraphNodeStarted& s = entry.node_started();
    return absl::StrCat("start ", key(s.node(), s.visit(), s.item()));
  }
  if (entry.has_node_finished()) {
    const v1::GraphNodeFinished& f = entry.node_finished();
    const char* verb = f.state() == v1::SUCCEEDED ? "done " : f.state() == v1::FAILED ? "failed " : "cancelled ";
    return absl::StrCat(verb, key(f.node(), f.visit(), f.item()));
  }
  return "other";
}

inline std::vector<std::string> Describe(const std::vector<v1::JournalEntry>& entries) {
  std::vector<std::string> out;
  for (const v1::JournalEntry& e : entries) out.push_back(Describe(e));
  return out;
}

// Plays the scheduler: keeps the graph run's journal and every step, and ends the node
// runs a test names.
class GraphDriver {
 public:
  explicit GraphDriver(v1::GraphSpec spec, std::string input = "the input", std::string run_id = "g1")
      : spec_(std::move(spec)),
        counter_(std::make_shared<int>(0)),
        execution_(std::make_unique<GraphExecution>(run_id, spec_, std::move(input), IdSource(counter_))) {}

  static std::function<std::string()> IdSource(std::shared_ptr<int> counter) {
    return [counter] { return absl::StrCat("run-", ++*counter); };
  }

  GraphStep Start() { return Record(execution_->Start()); }

  // Ends the running child of `node` (and `item`; the latest visit).
  GraphStep Succeed(const std::string& node, const std::string& output, int32_t item = 0) {
    return End(node, item, v1::SUCCEEDED, output, "");
  }
  GraphStep Fail(const std::string& node, const std::string& error, int32_t item = 0) {
    return End(node, item, v1::FAILED, "", error);
  }
  GraphStep End(const std::string& node, int32_t item, v1::RunState state, const std::string& output,
                const std::string& error) {
    const std::string child = RunningChild(node, item);
    EXPECT_FALSE(child.empty()) << node << "[" << item << "] is not running";
    return EndChild(child, state, output, error);
  }
  GraphStep EndChild(const std::string& child_run_id, v1::RunState state, const std::string& output,
                     const std::string& error = "") {
    v1::Run run;
    run.set_run_id(child_run_id);
    run.set_state(state);
    run.set_output(output);
    run.set_error(error);
    return Record(execution_->OnChildEnded(run));
  }
  GraphStep Decide(const std::string& node, v1::Decision decision, const std::string& message = "",
                   bool timed_out = false) {
    v1::ApprovalDecision d;
    d.set_decision(decision);
    d.set_message(message);
    d.set_decided_by("alice");
    d.set_timed_out(timed_out);
    return Record(execution_->OnDecision(OpenQuestion(node), d));
  }

  // The child run id of `node`'s latest started run of `item` that has not finished.
  std::string RunningChild(const std::string& node, int32_t item = 0) const {
    std::string id;
    for (const v1::JournalEntry& e : journal_) {
      if (e.has_node_started() && e.node_started().node() == node && e.node_started().item() == item) {
        id = e.node_started().child_run_id();
      }
      if (e.has_node_finished() && e.node_finished().child_run_id() == id) id.clear();
    }
    return id;
  }
  std::string OpenQuestion(const std::string& node) const {
    std::string id;
    for (const v1::JournalEntry& e : journal_) {
      if (e.has_node_started() && e.node_started().node() == node) id = e.node_started().approval_id();
    }
    return id;
  }
  // The latest finished entry of `node` (item 0).
  v1::GraphNodeFinished Finished(const std::string& node, int32_t item = 0) const {
    v1::GraphNodeFinished last;
    for (const v1::JournalEntry& e : journal_) {
      if (e.has_node_finished() && e.node_finished().node() == node && e.node_finished().item() == item) {
        last = e.node_finished();
      }
    }
    return last;
  }
  v1::GraphNodeStarted Started(const std::string& node, int32_t item = 0) const {
    v1::GraphNodeStarted last;
    for (const v1::JournalEntry& e : journal_) {
      if (e.has_node_started() && e.node_started().node() == node && e.node_started().item() == item) {
        last = e.node_started();
      }
    }
    return last;
  }

  GraphExecution& execution() { return *execution_; }
  const std::vector<v1::JournalEntry>& journal() const { return journal_; }
  std::vector<std::string> described() const { return Describe(journal_); }
  const std::vector<GraphStep>& steps() const { return steps_; }
  // The step that ended the graph, if one did.
  std::optional<GraphStep::End> end() const { return end_; }
  int ids_issued() const { return *counter_; }

 private:
  GraphStep Record(GraphStep step) {
    for (const v1::JournalEntry& e : step.entries) journal_.push_back(e);
    if (step.end) {
      EXPECT_FALSE(end_.has_value()) << "the graph ended twice";
      end_ = step.end;
    }
    steps_.push_back(step);
    return step;
  }

  v1::GraphSpec spec_;
  std::shared_ptr<int> counter_;
  std::unique_ptr<GraphExecution> execution_;
  std::vector<v1::JournalEntry> journal_;
  std::vector<GraphStep> steps_;
  std::optional<GraphStep::End> end_;
};

}  // namespace baton::orchestrator::graph::testing

#endif  // BATON_TESTS_ORCHESTRATOR_GRAPH_GRAPH_TEST_UTIL_H_
