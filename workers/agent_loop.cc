#include "workers/agent_loop.h"

#include "workers/run_execution.h"

namespace baton::worker {

bool ToolAllowed(const std::string& name,
                 const google::protobuf::RepeatedPtrField<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == name) {
      return true;
    }
  }
  return false;
}

RunOutcome AgentLoop::Execute(const v1::Run& run, const std::vector<v1::JournalEntry>& journal,
                              RunJournal& out, RunSignals& signals,
                              const google::protobuf::RepeatedPtrField<v1::PriorRun>& history) {
  return RunExecution(model_, tools_, clock_, options_, run, out, signals).Run(journal, history);
}

}  // namespace baton::worker
