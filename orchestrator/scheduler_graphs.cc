// The scheduler's graph runs. What a graph does next is decided by its
// graph::GraphExecution (pure logic); here its decisions become durable: every entry,
// node run, question and the graph's end go into the batch of the event that caused
// them (a node's child run ending, a question decided), so a crash between two batches
// loses nothing and repeats nothing (docs/design.md, "Graphs").
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/namespaces.h"
#include "orchestrator/run_trace.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/run_id.h"

namespace baton::orchestrator {
namespace {

// 0: the graph has no timeout.
int64_t GraphDeadlineMs(const v1::Run& run) {
  const int64_t timeout_s = run.graph().limits().timeout_seconds();
  return timeout_s > 0 ? run.create_time_ms() + timeout_s * 1000 : 0;
}

}  // namespace

std::unique_ptr<graph::GraphExecution> Scheduler::NewGraphExecutionLocked(const v1::Run& run) {
  if (const int64_t deadline = GraphDeadlineMs(run); deadline > 0) {
    graph_deadlines_.insert({deadline, run.run_id()});
  }
  // Called under mu_ while the graph decides, so child ids come in decision order.
  return std::make_unique<graph::GraphExecution>(run.run_id(), run.graph(), run.input(),
                                                 [this, ns = std::string(NamespaceOfRunId(run.run_id()))] {
                                                   return NewRunId(clock_, ns);
                                                 });
}

void Scheduler::StartGraphLocked(ActiveRun& active, StoreBatch& batch, Deferred& deferred) {
  const std::string run_id = active.run.run_id();
  std::unique_ptr<graph::GraphExecution>& execution = graphs_[run_id];
  execution = NewGraphExecutionLocked(active.run);
  ApplyGraphStepLocked(run_id, execution->Start(), batch, deferred);
}

absl::Status Scheduler::RecoverGraphLocked(const v1::Run& run) {
  absl::StatusOr<std::vector<v1::JournalEntry>> journal = store_.ReadJournal(run.run_id());
  if (!journal.ok()) return journal.status();
  std::unique_ptr<graph::GraphExecution> execution = NewGraphExecutionLocked(run);
  for (const v1::JournalEntry& entry : *journal) {
    if (absl::Status s = execution->Replay(entry); !s.ok()) {
      return absl::DataLossError(absl::StrCat("graph run ", run.run_id(), ": journal entry ", entry.seq(), ": ",
                                              s.message()));
    }
  }
  graphs_[run.run_id()] = std::move(execution);
  return absl::OkStatus();
}

void Scheduler::ApplyGraphStepLocked(const std::string& graph_run_id, graph::GraphStep step, StoreBatch& batch,
                                     Deferred& deferred) {
  auto it = active_.find(graph_run_id);
  if (it == active_.end()) return;
  v1::Run& run = it->second.run;
  for (v1::JournalEntry& entry : step.entries) JournalLocked(run, std::move(entry), batch);

  std::vector<std::string> subgraphs;
  for (graph::ChildToStart& spec : step.children) {
    v1::Run child;
    child.set_run_id(spec.child_run_id);
    if (spec.agent.has_value()) {
      *child.mutable_agent() = std::move(*spec.agent);
    } else {
      *child.mutable_graph() = std::move(*spec.graph);
      subgraphs.push_back(spec.child_run_id);
    }
    child.set_input(std::move(spec.input));
    child.set_priority(run.priority());
    child.set_parent_run_id(graph_run_id);
    child.set_root_run_id(run.root_run_id());
    child.set_depth(run.depth() + 1);
    child.set_max_depth(run.max_depth());
    child.set_graph_node(spec.node);
    child.set_graph_visit(spec.visit);
    child.set_map_item(spec.item);
    // A node nests under its graph run's span (exported when the graph run ends).
    *child.mutable_trace() = NodeRunTrace(run);
    AddRunLocked(std::move(child), batch);
    children_of_[graph_run_id].insert(spec.child_run_id);
    run.set_children(run.children() + 1);
  }

  const int64_t now_ms = clock_.NowMillis();
  for (graph::QuestionToAsk& question : step.questions) {
    v1::Approval approval;
    approval.set_approval_id(question.approval_id);
    approval.set_run_id(graph_run_id);
    approval.set_agent_name(run.graph().name());
    approval.set_step(question.visit);
    approval.set_kind(v1::Approval::GRAPH_NODE);
    approval.set_tool(question.node);
    approval.set_message(question.prompt);
    for (v1::Decision decision : question.decisions) approval.add_decisions(decision);
    approval.set_create_time_ms(now_ms);
    approval.set_expire_time_ms(now_ms + question.timeout_ms);
    approval.set_on_timeout(question.on_timeout);
    approval.set_state(v1::Approval::PENDING);
    approval_deadlines_.insert({approval.expire_time_ms(), approval.approval_id()});
    batch.approvals.push_back(approval);
    v1::RunEvent& event = NewEventLocked(run, batch);
    *event.mutable_approval_requested()->mutable_approval() = approval;
    RememberApprovalLocked(std::move(approval));
  }

  if (step.end.has_value()) {
    const graph::GraphStep::End& end = *step.end;
    // A graph's usage is its tree's: it spends nothing itself.
    *run.mutable_usage() = run.tree_usage();
    if (end.state == v1::SUCCEEDED) run.set_output(end.output);
    {
      ScopedLogContext about(RunLogContext(run));
      BATON_LOG(INFO) << "graph run " << graph_run_id << " ended " << v1::RunState_Name(end.state)
                      << (end.error.empty() ? "" : ": ") << end.error;
    }
    FinishLocked(graph_run_id, end.state, end.state == v1::SUCCEEDED ? "graph finished" : end.error, end.kind,
                 batch, deferred);
    return;
  }
  PutRunRecord(run, batch);
  // Subgraphs start once this graph's own writes are in the batch (a subgraph's start
  // cannot end this graph: it always starts a node).
  for (const std::string& child_id : subgraphs) {
    if (auto child = active_.find(child_id); child != active_.end()) StartGraphLocked(child->second, batch, deferred);
  }
}

void Scheduler::ExpireGraphsLocked(int64_t now_ms, Deferred& deferred) {
  while (!graph_deadlines_.empty() && graph_deadlines_.begin()->first <= now_ms) {
    const std::string run_id = graph_deadlines_.begin()->second;
    graph_deadlines_.erase(graph_deadlines_.begin());
    auto it = active_.find(run_id);
    if (it == active_.end() || !it->second.run.has_graph()) continue;
    StoreBatch batch;
    *it->second.run.mutable_usage() = it->second.run.tree_usage();
    FinishLocked(run_id, v1::FAILED,
                 absl::StrCat("limit reached: timeout_seconds ", it->second.run.graph().limits().timeout_seconds(),
                              " (the graph ran out of time)"),
                 v1::LIMIT_RUN_TIMEOUT, batch, deferred);
    CommitLocked(std::move(batch), nullptr, deferred);
  }
}

size_t Scheduler::GraphCount() {
  absl::MutexLock lock(&mu_);
  return graphs_.size();
}

}  // namespace baton::orchestrator
