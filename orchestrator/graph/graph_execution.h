// A graph run's state and its decisions, as pure logic: no gRPC, no RocksDB, no clock,
// no locks. The scheduler owns one GraphExecution per active graph run, feeds it what
// happens to the run's nodes, and writes what it decides (the journal entries, the
// child runs, the questions) in the batch of the event that caused it.
//
// Scheduling is dataflow (docs/design.md, "Graphs"):
//   - Edges are forward or back edges, from a depth-first walk from the start node in
//     declaration order; a back edge closes a cycle. A node's inputs are the distinct
//     sources of its forward edges.
//   - When a node succeeds, its static edges are taken, then the first of its
//     conditional edges that holds, else its default edges; every other forward edge
//     out of it is not taken.
//   - Each input of a node reports taken or not taken once per activation. When all
//     have reported: if any was taken, the node starts (a new visit); if none was, it
//     is skipped, and its own forward edges all report not taken.
//   - A taken back edge starts a new visit of its target at once.
//   - A node that has run max_visits times does not start again: the edge is dropped.
//   - A failed node (or a map that fails under its policy) fails the graph; so does
//     passing max_node_runs. The graph succeeds when nothing runs or waits any more.
// The same entries drive a live run and a replay after a restart, so both reach the
// same state.
//
// Details (orchestrator/graph/graph_execution.cc):
//   - A node on a cycle keeps the last report of each input from outside that cycle:
//     it stands for the node's later activations, so a loop's second visit does not
//     wait for a node before the loop (which will not report again). Other inputs
//     report afresh for every activation.
//   - A node dropped at max_visits through a forward edge reports not taken
//     downstream, as a skipped one does, so joins after it are not held up.
//   - A child run that ends CANCELLED counts as failed.
//   - Map nodes: GraphNodeStarted item 0 (items = N, input = the `over` array as
//     JSON), then items 1..N, at most max_parallel (default 16) running; each item is
//     a node run. Item input defaults to "{{item}}". The node's GraphNodeFinished
//     (item 0) comes when every item has ended, or at once when the policy fails it
//     (FAIL_FAST: the first failed item; QUORUM: when more than N - quorum have
//     failed, or at the start when N < quorum). An empty array succeeds at once with
//     "[]"; an `over` that names no array fails the node, naming the path and what it
//     found.
//   - Human nodes ask approval `<graph_run_id>:<node>:<visit>`; defaults: APPROVE,
//     DENY and RESPOND, 24 hours. Their output is {"decision": "APPROVE", "message":
//     "...", "decided_by": "...", "timed_out": false}; a timeout under TIMEOUT_FAIL
//     fails the node.
//   - The graph's output: its `output` template, else the output of the last node
//     (not map item) that finished. Errors: `node "x" failed: <child error>`,
//     `node "m" item 3 failed: <child error>`, `node "x" not started: the graph
//     reached max_node_runs (N)`.
#ifndef BATON_ORCHESTRATOR_GRAPH_GRAPH_EXECUTION_H_
#define BATON_ORCHESTRATOR_GRAPH_GRAPH_EXECUTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::orchestrator::graph {

// A node run to create as a child run of the graph run.
struct ChildToStart {
  std::string child_run_id;  // already in the GraphNodeStarted entry
  std::string node;
  int32_t visit = 0;
  int32_t item = 0;  // map items: 1-based
  std::string input;
  // Exactly one: an agent (with the node's output_schema applied) or a subgraph.
  std::optional<v1::AgentSpec> agent;
  std::optional<v1::GraphSpec> graph;
};

// A human node's question, to become an Approval of kind GRAPH_NODE.
struct QuestionToAsk {
  std::string approval_id;  // already in the GraphNodeStarted entry
  std::string node;
  int32_t visit = 0;
  std::string prompt;                   // rendered
  std::vector<v1::Decision> decisions;  // allowed; never empty
  int64_t timeout_ms = 0;               // never 0
  v1::ApprovalRule::OnTimeout on_timeout = v1::ApprovalRule::TIMEOUT_DENY;
};

// What one event decides. The scheduler journals `entries` on the graph run in this
// order, creates `children` and `questions`, and ends the run when `end` is set; all
// in one batch. A GraphNodeFinished entry carries, besides the outcome: `next`, the
// targets of the node's taken edges (started, or signalled while they wait for other
// inputs) except the dropped ones; `dropped`, the nodes this finish would have started
// but that have run max_visits times; `skipped`, the nodes this finish made skip (every
// input not taken), downstream ones included; and for a map item, `progress`.
struct GraphStep {
  std::vector<v1::JournalEntry> entries;  // node_started / node_finished; seq, epoch and
                                          // time are the scheduler's to set
  std::vector<ChildToStart> children;
  std::vector<QuestionToAsk> questions;
  struct End {
    v1::RunState state = v1::SUCCEEDED;  // SUCCEEDED or FAILED
    std::string output;                  // SUCCEEDED
    std::string error;                   // FAILED: names the node and why
    v1::FailureKind kind = v1::FAILURE_KIND_UNSPECIFIED;  // NODE_FAILED, LIMIT_MAX_NODE_RUNS
  };
  std::optional<End> end;
};

// Not thread-safe: the scheduler calls it under its own lock. Owns the spec it was
// given; `new_run_id` is called only while deciding (never in Replay).
class GraphExecution {
 public:
  // `spec` is validated (ValidateGraph) and resolved: every agent node and map has an
  // inline agent, every subgraph node an inline graph. `new_run_id` names child runs.
  GraphExecution(std::string graph_run_id, v1::GraphSpec spec, std::string input,
                 std::function<std::string()> new_run_id);
  ~GraphExecution();
  GraphExecution(const GraphExecution&) = delete;
  GraphExecution& operator=(const GraphExecution&) = delete;

  // A new graph run: starts the start node. Not after Replay (a rebuilt run has
  // started already); a second call decides nothing.
  GraphStep Start();
  // After a restart: applies one journal entry of the run (in seq order) to the state,
  // deciding nothing. Entries of other kinds are ignored. FAILED_PRECONDITION when the
  // entry does not fit the state (a node that never started finishing).
  // REQUIRES: whole steps: the entries of one GraphStep all, or none of them.
  absl::Status Replay(const v1::JournalEntry& entry);

  // A node run (agent or graph node, or map item) ended. `output` is the child run's
  // output (SUCCEEDED), `error` its error otherwise. A child the state no longer
  // waits for (its node already ended) decides nothing, as does a run not in a final
  // state. Once the graph has ended every event decides nothing and changes nothing.
  GraphStep OnChildEnded(const v1::Run& child);
  // A human node's question was decided (or expired: decision.timed_out()).
  GraphStep OnDecision(const std::string& approval_id, const v1::ApprovalDecision& decision);

  // Node runs started and not ended: child run ids and approval ids. After the graph
  // has ended, the ones still running then: the scheduler cancels (abandons) them.
  std::vector<std::string> RunningChildren() const;
  std::vector<std::string> OpenQuestions() const;
  // Node runs so far (agent, graph and human node visits, map items).
  int32_t node_runs() const;
  bool ended() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// INVALID_ARGUMENT naming the node or edge: unknown nodes in edges, nodes the start
// cannot reach, a cycle with no node bounded by max_visits, a bad JSON Pointer or
// condition, a template naming a node that is not upstream of its node (or a map's
// `over` that is not), an output schema that is not a schema, a node without a kind,
// duplicate ids, more than one default edge out of a node, bad limits or map settings.
// Agent specs are checked by the caller; subgraphs given inline are checked here too.
absl::Status ValidateGraph(const v1::GraphSpec& spec);

// GetTranscript of a graph run: its node runs from its journal, in start order.
std::vector<v1::GraphNodeRun> NodeRuns(const std::vector<v1::JournalEntry>& journal);

}  // namespace baton::orchestrator::graph

#endif  // BATON_ORCHESTRATOR_GRAPH_GRAPH_EXECUTION_H_
