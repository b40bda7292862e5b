// NodeRuns (declared in graph_execution.h): a graph run's node runs, read from its
// journal for GetTranscript.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "orchestrator/graph/graph_execution.h"

namespace baton::orchestrator::graph {

std::vector<v1::GraphNodeRun> NodeRuns(const std::vector<v1::JournalEntry>& journal) {
  std::vector<v1::GraphNodeRun> runs;
  std::map<std::tuple<std::string, int32_t, int32_t>, size_t> index;  // node, visit, item -> runs[i]
  for (const v1::JournalEntry& entry : journal) {
    if (entry.has_node_started()) {
      const v1::GraphNodeStarted& s = entry.node_started();
      index[{s.node(), s.visit(), s.item()}] = runs.size();
      v1::GraphNodeRun& run = runs.emplace_back();
      run.set_node(s.node());
      run.set_visit(s.visit());
      run.set_item(s.item());
      run.set_child_run_id(s.child_run_id());
      run.set_approval_id(s.approval_id());
      run.set_input(s.input());
      run.set_state(v1::RUNNING);
    } else if (entry.has_node_finished()) {
      const v1::GraphNodeFinished& f = entry.node_finished();
      auto it = index.find({f.node(), f.visit(), f.item()});
      if (it == index.end()) continue;  // a finish without its start: nothing to attach it to
      v1::GraphNodeRun& run = runs[it->second];
      run.set_state(f.state());
      run.set_output(f.output());
      run.set_error(f.error());
    }
  }
  return runs;
}

}  // namespace baton::orchestrator::graph
