// The scheduler's runs that wait: child runs (subagents), approvals, MCP input
// requests, sessions. The rules for each crash point are in docs/design.md,
// "Runs that wait"; what makes them hold is that every change below is part of the
// batch of the transition that causes it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/namespaces.h"
#include "common/transcript.h"
#include "orchestrator/run_trace.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/run_id.h"

namespace baton::orchestrator {
namespace {

using json = nlohmann::json;

constexpr int64_t kDefaultApprovalTimeoutMs = 86'400'000;
constexpr int64_t kDefaultInputTimeoutMs = 60'000;

std::vector<v1::Decision> AllowedDecisions(const v1::Approval& approval) {
  if (approval.decisions_size() > 0) {
    std::vector<v1::Decision> decisions;
    for (int d : approval.decisions()) decisions.push_back(static_cast<v1::Decision>(d));
    return decisions;
  }
  if (approval.kind() == v1::Approval::ELICITATION) return {v1::ACCEPT, v1::DECLINE, v1::CANCEL};
  return {v1::APPROVE, v1::EDIT, v1::DENY, v1::RESPOND};
}

// The same decision, as a retry of it would send (who decided may be spelled
// differently; what was decided may not).
bool SameDecision(const v1::ApprovalDecision& a, const DecisionParams& b) {
  if (a.decision() != b.decision || a.message() != b.message) return false;
  // Only EDIT and ACCEPT carry an input of their own (APPROVE records the model's).
  if (b.decision != v1::EDIT && b.decision != v1::ACCEPT) return true;
  return json::parse(a.input_json(), nullptr, false) == json::parse(b.input_json, nullptr, false);
}

v1::JournalEntry ToolResultEntry(int32_t step, const std::string& tool_use_id, const std::string& name,
                                 const std::string& text, bool is_error) {
  v1::JournalEntry entry;
  entry.set_step(step);
  v1::ToolResult* result = entry.mutable_tool_result();
  result->set_tool_use_id(tool_use_id);
  result->set_name(name);
  result->set_content_json(json(text).dump());
  result->set_is_error(is_error);
  return entry;
}

std::string Preview(const std::string& text) {
  return text.size() > 200 ? text.substr(0, 200) + "…" : text;
}

int64_t TotalTokens(const v1::Usage& u) {
  return u.input_tokens() + u.output_tokens() + u.cache_creation_input_tokens() + u.cache_read_input_tokens();
}

}  // namespace

Scheduler::ActiveRun& Scheduler::AddRunLocked(v1::Run run, StoreBatch& batch) {
  run.set_namespace_(std::string(NamespaceOfRunId(run.run_id())));
  run.set_state(v1::QUEUED);
  run.set_attempt(1);
  run.set_epoch(0);
  run.set_create_time_ms(clock_.NowMillis());
  if (run.has_agent() && run.agent().max_attempts() <= 0) {
    run.mutable_agent()->set_max_attempts(options_.default_max_attempts);
  }
  if (run.root_run_id().empty()) run.set_root_run_id(run.run_id());
  if (run.trace().trace_id().empty()) *run.mutable_trace() = NewRunTrace();
  if (run.max_depth() <= 0) {
    run.set_max_depth(run.agent().max_subagent_depth() > 0 ? run.agent().max_subagent_depth()
                                                           : options_.default_max_subagent_depth);
  }
  const std::string run_id = run.run_id();
  ActiveRun& active = active_[run_id];
  active.run = std::move(run);
  // A session's next run waits while the previous one is still going.
  const std::string& previous = active.run.continue_from();
  if (active.run.has_graph()) {
    // Never leased: it waits for its nodes from the start (StartGraphLocked).
    active.run.set_state(v1::WAITING);
    batch.waiting_puts.push_back(run_id);
    AddStateEventLocked(active.run, "created", batch);
  } else if (!active.run.session_id().empty() && !previous.empty() && active_.contains(previous)) {
    active.run.set_state(v1::WAITING);
    v1::Wait* wait = active.run.add_waits();
    wait->set_previous_run_id(previous);
    PutWait(active.run, active.run.waits_size() - 1, batch);
    session_waiters_[previous] = run_id;
    batch.waiting_puts.push_back(run_id);
    AddStateEventLocked(active.run, absl::StrCat("created; waits for the session's previous run ", previous),
                        batch);
    v1::RunEvent& event = NewEventLocked(active.run, batch);
    event.mutable_waiting()->set_previous_run_id(previous);
  } else {
    EnqueueLocked(active, batch);
    AddStateEventLocked(active.run, "created", batch);
  }
  // Whole: the first put of a run stores what it was created with (StoreBatch).
  batch.put_runs.push_back(active.run);
  batch.created_runs.push_back(run_id);
  return active;
}

void Scheduler::CreateChildLocked(ActiveRun& parent, v1::JournalEntry& entry, const v1::ChildRunSpec& spec,
                                  StoreBatch& batch) {
  const v1::Run& p = parent.run;
  v1::Run child;
  // A child lives in its parent's namespace.
  child.set_run_id(NewRunId(clock_, NamespaceOfRunId(p.run_id())));
  *child.mutable_agent() = spec.agent();
  child.set_input(spec.input());
  child.set_priority(p.priority());
  // Exactly once: the journal entry carrying the child is written once (AppendStep is
  // idempotent), and the key makes the child findable by the call that made it.
  child.set_request_id(entry.tool_call().idempotency_key());
  child.set_parent_run_id(p.run_id());
  child.set_root_run_id(p.root_run_id().empty() ? p.run_id() : p.root_run_id());
  child.set_depth(p.depth() + 1);
  // The tree's limit, or the child agent's own when it is lower.
  const int32_t own = spec.agent().max_subagent_depth();
  child.set_max_depth(own > 0 ? std::min(own, p.max_depth()) : p.max_depth());
  child.set_parent_tool_use_id(entry.tool_call().tool_use_id());
  *child.mutable_trace() = ChildRunTrace(p, spec.traceparent());
  ActiveRun& created = AddRunLocked(std::move(child), batch);
  const std::string child_id = created.run.run_id();
  if (!created.run.request_id().empty()) batch.request_ids.push_back({created.run.request_id(), child_id});
  children_of_[parent.run.run_id()].insert(child_id);

  v1::Run& run = parent.run;
  run.set_children(run.children() + 1);
  entry.mutable_tool_call()->set_child_run_id(child_id);
  v1::Wait* wait = run.add_waits();
  wait->set_tool_use_id(entry.tool_call().tool_use_id());
  wait->set_step(entry.step());
  wait->set_child_run_id(child_id);
  wait->set_name(spec.subagent());
  PutWait(run, run.waits_size() - 1, batch);
  v1::RunEvent& event = NewEventLocked(run, batch);
  auto* started = event.mutable_child_started();
  started->set_step(entry.step());
  started->set_tool_use_id(entry.tool_call().tool_use_id());
  started->set_name(spec.subagent());
  started->set_child_run_id(child_id);
}

void Scheduler::CreateApprovalLocked(ActiveRun& active, v1::JournalEntry& entry, StoreBatch& batch) {
  v1::Run& run = active.run;
  v1::ApprovalRequest* request = entry.mutable_approval_request();
  const int64_t now_ms = clock_.NowMillis();
  const int64_t timeout_ms = request->timeout_ms() > 0 ? request->timeout_ms() : kDefaultApprovalTimeoutMs;
  request->set_expire_time_ms(now_ms + timeout_ms);
  if (request->approval_id().empty()) {
    request->set_approval_id(absl::StrCat(run.run_id(), ":", entry.step(), ":", request->tool_use_id()));
  }
  v1::Approval approval;
  approval.set_approval_id(request->approval_id());
  approval.set_run_id(run.run_id());
  approval.set_agent_name(run.agent().name());
  approval.set_step(entry.step());
  approval.set_tool_use_id(request->tool_use_id());
  approval.set_kind(v1::Approval::TOOL_CALL);
  approval.set_tool(request->name());
  approval.set_input_json(request->input_json());
  approval.set_input_schema_json(request->input_schema_json());
  *approval.mutable_decisions() = request->decisions();
  approval.set_create_time_ms(now_ms);
  approval.set_expire_time_ms(request->expire_time_ms());
  approval.set_on_timeout(request->on_timeout());
  approval.set_state(v1::Approval::PENDING);
  approval_deadlines_.insert({approval.expire_time_ms(), approval.approval_id()});
  batch.approvals.push_back(approval);

  v1::Wait* wait = run.add_waits();
  wait->set_tool_use_id(request->tool_use_id());
  wait->set_step(entry.step());
  wait->set_approval_id(approval.approval_id());
  wait->set_expire_time_ms(approval.expire_time_ms());
  wait->set_name(request->name());
  PutWait(run, run.waits_size() - 1, batch);
  v1::RunEvent& event = NewEventLocked(run, batch);
  *event.mutable_approval_requested()->mutable_approval() = approval;
  RememberApprovalLocked(std::move(approval));
}

void Scheduler::RememberApprovalLocked(v1::Approval approval) {
  approvals_of_run_[approval.run_id()].insert(approval.approval_id());
  const std::string id = approval.approval_id();
  approvals_[id] = std::move(approval);
}

void Scheduler::ForgetApprovalLocked(const std::string& approval_id) {
  auto it = approvals_.find(approval_id);
  if (it == approvals_.end()) return;
  if (auto of_run = approvals_of_run_.find(it->second.run_id()); of_run != approvals_of_run_.end()) {
    of_run->second.erase(approval_id);
    if (of_run->second.empty()) approvals_of_run_.erase(of_run);
  }
  approvals_.erase(it);
}

void Scheduler::CompleteWaitLocked(ActiveRun& active, const std::string& tool_use_id,
                                   std::vector<v1::JournalEntry> results, const std::string& fail_run,
                                   StoreBatch& batch, Deferred& deferred) {
  v1::Run& run = active.run;
  bool all_done = true;
  for (int i = 0; i < run.waits_size(); ++i) {
    v1::Wait& wait = *run.mutable_waits(i);
    if (!wait.done() && wait.tool_use_id() == tool_use_id) {
      wait.set_done(true);
      for (v1::JournalEntry& result : results) *wait.add_results() = std::move(result);
      wait.set_fail_run(fail_run);
      results.clear();
      PutWait(run, i, batch);
    }
    all_done = all_done && wait.done();
  }
  if (run.state() == v1::WAITING && all_done) {
    ResumeLocked(active, batch, deferred);
    return;
  }
  PutRunRecord(run, batch);
}

void Scheduler::ResumeLocked(ActiveRun& active, StoreBatch& batch, Deferred& deferred) {
  v1::Run& run = active.run;
  const std::string run_id = run.run_id();
  std::string fail;
  std::vector<std::string> over;
  for (v1::Wait& wait : *run.mutable_waits()) {
    for (v1::JournalEntry& result : *wait.mutable_results()) JournalLocked(run, std::move(result), batch);
    if (!wait.fail_run().empty() && fail.empty()) fail = wait.fail_run();
    switch (wait.what_case()) {
      case v1::Wait::kChildRunId: over.push_back(absl::StrCat("child ", wait.child_run_id())); break;
      case v1::Wait::kApprovalId: over.push_back(absl::StrCat("approval ", wait.approval_id())); break;
      case v1::Wait::kPreviousRunId: over.push_back(absl::StrCat("previous run ", wait.previous_run_id())); break;
      case v1::Wait::WHAT_NOT_SET: break;
    }
  }
  DeleteWaits(run, batch);
  run.clear_waits();
  const bool was_waiting = run.state() == v1::WAITING;
  if (was_waiting) batch.waiting_deletes.push_back(run_id);
  if (!fail.empty()) {
    FinishLocked(run_id, v1::FAILED, fail, v1::APPROVAL_TIMEOUT, batch, deferred);
    return;
  }
  if (run.cancel_requested()) {
    FinishLocked(run_id, v1::CANCELLED, run.cancel_reason().empty() ? "cancelled" : run.cancel_reason(),
                 v1::CANCELLED_BY_USER, batch, deferred);
    return;
  }
  run.set_not_before_ms(0);
  EnqueueLocked(active, batch);
  AddStateEventLocked(run, over.empty() ? "resumed" : absl::StrCat("resumed: ", absl::StrJoin(over, ", "), " over"),
                      batch);
  PutRunRecord(run, batch);
}

void Scheduler::OnRunEndedLocked(const v1::Run& ended, StoreBatch& batch, Deferred& deferred) {
  const std::string& run_id = ended.run_id();
  // Its requests for a person can no longer be answered.
  std::vector<std::string> abandoned;
  if (auto of_run = approvals_of_run_.find(run_id); of_run != approvals_of_run_.end()) {
    for (const std::string& id : of_run->second) {
      if (approvals_.at(id).state() == v1::Approval::PENDING) abandoned.push_back(id);
    }
  }
  for (const std::string& id : abandoned) {
    v1::Approval& approval = approvals_.at(id);
    approval_deadlines_.erase({approval.expire_time_ms(), id});
    approval.set_state(v1::Approval::ABANDONED);
    approval.mutable_decision()->set_decision(v1::CANCEL);
    approval.mutable_decision()->set_message(absl::StrCat("the run ended ", v1::RunState_Name(ended.state())));
    approval.mutable_decision()->set_decide_time_ms(clock_.NowMillis());
    batch.approvals.push_back(approval);
    WakeInputWaitersLocked(approval, deferred);
  }
  // Its children end with it.
  if (auto it = children_of_.find(run_id); it != children_of_.end()) {
    std::set<std::string> children = std::move(it->second);
    children_of_.erase(it);
    for (const std::string& child_id : children) {
      auto child = active_.find(child_id);
      if (child == active_.end()) continue;
      if (child->second.run.state() == v1::RUNNING) {
        // Its worker learns it from the next heartbeat or append and reports CANCELLED.
        child->second.run.set_cancel_requested(true);
        AddStateEventLocked(child->second.run, "cancel requested: the parent run ended", batch);
        PutRunRecord(child->second.run, batch);
      } else {
        child->second.run.set_cancel_requested(true);
        FinishLocked(child_id, v1::CANCELLED, "cancelled: the parent run ended", v1::PARENT_ENDED, batch,
                     deferred);
      }
    }
  }
  // Its parent's call has its answer.
  if (!ended.parent_run_id().empty()) {
    if (auto it = children_of_.find(ended.parent_run_id()); it != children_of_.end()) {
      it->second.erase(run_id);
      if (it->second.empty()) children_of_.erase(it);
    }
    auto parent = active_.find(ended.parent_run_id());
    if (auto graph = graphs_.find(ended.parent_run_id()); graph != graphs_.end()) {
      // A graph's node run: the graph decides what comes next.
      ApplyGraphStepLocked(ended.parent_run_id(), graph->second->OnChildEnded(ended), batch, deferred);
    } else if (parent != active_.end()) {
      v1::Run& p = parent->second.run;
      int32_t step = 0;
      std::string name = ended.agent().name();
      for (const v1::Wait& wait : p.waits()) {
        if (wait.child_run_id() == run_id) {
          step = wait.step();
          if (!wait.name().empty()) name = wait.name();
        }
      }
      const bool ok = ended.state() == v1::SUCCEEDED;
      const std::string text =
          ok ? ended.output()
             : absl::StrCat("subagent \"", name, "\" (run ", run_id, ") ended ", v1::RunState_Name(ended.state()),
                            ended.error().empty() ? "" : ": ", ended.error());
      v1::RunEvent& event = NewEventLocked(p, batch);
      auto* finished = event.mutable_child_finished();
      finished->set_step(step);
      finished->set_tool_use_id(ended.parent_tool_use_id());
      finished->set_child_run_id(run_id);
      finished->set_state(ended.state());
      finished->set_output_preview(Preview(text));
      std::vector<v1::JournalEntry> results;
      results.push_back(ToolResultEntry(step, ended.parent_tool_use_id(), name, text, !ok));
      // The call lasted as long as the child did.
      results.back().mutable_tool_result()->set_duration_ms(
          std::max<int64_t>(0, ended.end_time_ms() - ended.create_time_ms()));
      CompleteWaitLocked(parent->second, ended.parent_tool_use_id(), std::move(results), "", batch, deferred);
    }
  }
  // The session's next run goes on.
  if (auto it = session_waiters_.find(run_id); it != session_waiters_.end()) {
    const std::string next_id = it->second;
    session_waiters_.erase(it);
    auto next = active_.find(next_id);
    if (next != active_.end()) {
      v1::Run& waiter = next->second.run;
      for (int i = 0; i < waiter.waits_size(); ++i) {
        if (waiter.waits(i).previous_run_id() != run_id) continue;
        waiter.mutable_waits(i)->set_done(true);
        PutWait(waiter, i, batch);
      }
      ResumeLocked(next->second, batch, deferred);
    }
  }
}

void Scheduler::AddTreeUsageLocked(const v1::Run& run, const v1::Usage& usage, StoreBatch& batch,
                                   Deferred& deferred) {
  std::string ancestor_id = run.parent_run_id();
  while (!ancestor_id.empty()) {
    auto it = active_.find(ancestor_id);
    if (it == active_.end()) return;
    v1::Run& ancestor = it->second.run;
    AddUsage(usage, ancestor.mutable_tree_usage());
    // A graph's limits cover every run below it, as an agent's cover its subagents.
    const bool is_graph = ancestor.has_graph();
    const double max_cost = is_graph ? ancestor.graph().limits().max_cost_usd() : ancestor.agent().max_cost_usd();
    const int64_t max_tokens =
        is_graph ? ancestor.graph().limits().max_tokens_total() : ancestor.agent().max_tokens_total();
    const char* by = is_graph ? "the graph's runs" : "the run and its subagents";
    std::string limit;
    v1::FailureKind kind = v1::FAILURE_KIND_UNSPECIFIED;
    if (max_cost > 0 && ancestor.tree_usage().cost_usd() >= max_cost) {
      limit = absl::StrCat("limit reached: max_cost_usd ", max_cost, " (",
                           absl::StrFormat("%.6f", ancestor.tree_usage().cost_usd()), " USD spent by ", by, ")");
      kind = v1::LIMIT_MAX_COST;
    } else if (max_tokens > 0 && TotalTokens(ancestor.tree_usage()) >= max_tokens) {
      limit = absl::StrCat("limit reached: max_tokens_total ", max_tokens, " (", TotalTokens(ancestor.tree_usage()),
                           " tokens used by ", by, ")");
      kind = v1::LIMIT_MAX_TOKENS_TOTAL;
    }
    const std::string next = ancestor.parent_run_id();
    if (!limit.empty()) {
      {
        ScopedLogContext about(RunLogContext(ancestor));
        BATON_LOG(INFO) << ancestor_id << ": " << limit;
      }
      if (is_graph) *ancestor.mutable_usage() = ancestor.tree_usage();
      FinishLocked(ancestor_id, v1::FAILED, limit, kind, batch, deferred);
      return;
    }
    PutRunRecord(ancestor, batch);
    ancestor_id = next;
  }
}

void Scheduler::DecideLocked(v1::Approval& approval, v1::ApprovalDecision decision, StoreBatch& batch,
                             Deferred& deferred) {
  approval_deadlines_.erase({approval.expire_time_ms(), approval.approval_id()});
  decision.set_approval_id(approval.approval_id());
  decision.set_tool_use_id(approval.tool_use_id());
  if (decision.decide_time_ms() == 0) decision.set_decide_time_ms(clock_.NowMillis());
  approval.set_state(decision.timed_out() ? v1::Approval::EXPIRED : v1::Approval::DECIDED);
  *approval.mutable_decision() = decision;
  batch.approvals.push_back(approval);
  auto it = active_.find(approval.run_id());
  if (it == active_.end()) return;
  v1::Run& run = it->second.run;
  v1::RunEvent& event = NewEventLocked(run, batch);
  auto* decided = event.mutable_approval_decided();
  decided->set_approval_id(approval.approval_id());
  decided->set_tool_use_id(approval.tool_use_id());
  *decided->mutable_decision() = decision;
  if (approval.kind() == v1::Approval::GRAPH_NODE) {
    // A human node: the graph decides what comes next.
    if (auto graph = graphs_.find(approval.run_id()); graph != graphs_.end()) {
      ApplyGraphStepLocked(approval.run_id(), graph->second->OnDecision(approval.approval_id(), decision), batch,
                           deferred);
    } else {
      PutRunRecord(run, batch);
    }
    return;
  }
  if (approval.kind() == v1::Approval::ELICITATION) {
    // The tool call is open on a worker; the run does not wait for it.
    WakeInputWaitersLocked(approval, deferred);
    PutRunRecord(run, batch);
    return;
  }
  std::vector<v1::JournalEntry> results;
  v1::JournalEntry& decision_entry = results.emplace_back();
  decision_entry.set_step(approval.step());
  *decision_entry.mutable_approval_decision() = decision;
  std::string fail_run;
  const std::string who = decision.decided_by().empty() ? "" : absl::StrCat(" by ", decision.decided_by());
  switch (decision.decision()) {
    case v1::DENY: {
      std::string text =
          decision.timed_out()
              ? absl::StrCat("The call to ", approval.tool(), " was not run: no one approved it in time")
              : absl::StrCat("The call to ", approval.tool(), " was denied", who);
      if (!decision.message().empty()) absl::StrAppend(&text, ": ", decision.message());
      results.push_back(ToolResultEntry(approval.step(), approval.tool_use_id(), approval.tool(), text, true));
      break;
    }
    case v1::RESPOND:
      results.push_back(
          ToolResultEntry(approval.step(), approval.tool_use_id(), approval.tool(), decision.message(), false));
      break;
    default:
      break;
  }
  if (decision.timed_out() && approval.on_timeout() == v1::ApprovalRule::TIMEOUT_FAIL) {
    fail_run = absl::StrCat("approval ", approval.approval_id(), " of tool ", approval.tool(),
                            " expired (on_timeout TIMEOUT_FAIL)");
  }
  CompleteWaitLocked(it->second, approval.tool_use_id(), std::move(results), fail_run, batch, deferred);
}

void Scheduler::ExpireApprovalLocked(v1::Approval& approval, StoreBatch& batch, Deferred& deferred) {
  v1::ApprovalDecision decision;
  decision.set_timed_out(true);
  decision.set_decided_by("timeout");
  if (approval.kind() == v1::Approval::ELICITATION) {
    decision.set_decision(v1::CANCEL);
  } else {
    switch (approval.on_timeout()) {
      case v1::ApprovalRule::TIMEOUT_APPROVE:
        decision.set_decision(v1::APPROVE);
        break;
      default:
        decision.set_decision(v1::DENY);
        break;
    }
  }
  BATON_LOG(INFO) << "approval " << approval.approval_id() << " expired: "
                  << v1::Decision_Name(decision.decision());
  DecideLocked(approval, std::move(decision), batch, deferred);
}

void Scheduler::WakeInputWaitersLocked(const v1::Approval& approval, Deferred& deferred) {
  for (auto it = input_waiters_.begin(); it != input_waiters_.end();) {
    if (it->second.approval_id != approval.approval_id()) {
      ++it;
      continue;
    }
    InputCallback done = std::move(it->second.done);
    v1::ApprovalDecision decision = approval.decision();
    deferred.push_back([done = std::move(done), decision = std::move(decision)] {
      done(std::optional<v1::ApprovalDecision>(decision));
    });
    it = input_waiters_.erase(it);
  }
}

void Scheduler::SuspendRun(const LeaseRef& lease, const v1::Usage& usage, int32_t steps,
                           std::function<void(absl::StatusOr<v1::RunState>)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveRun*> checked = CheckLeaseLocked(lease);
    if (!checked.ok()) {
      error = checked.status();
    } else {
      ActiveRun& active = **checked;
      v1::Run& run = active.run;
      const std::string run_id = run.run_id();
      run.set_steps(std::max(run.steps(), steps));
      StoreBatch batch;
      ReleaseLeaseLocked(active, batch);
      run.clear_worker_id();
      std::vector<std::string> children, approvals;
      for (const v1::Wait& wait : run.waits()) {
        if (wait.done()) continue;
        if (wait.what_case() == v1::Wait::kChildRunId) children.push_back(wait.child_run_id());
        if (wait.what_case() == v1::Wait::kApprovalId) approvals.push_back(wait.approval_id());
      }
      if (children.empty() && approvals.empty()) {
        // Everything it handed off is over already: on with it.
        ResumeLocked(active, batch, deferred);
      } else {
        run.set_state(v1::WAITING);
        batch.waiting_puts.push_back(run_id);
        std::vector<std::string> what;
        if (!children.empty()) what.push_back(absl::StrCat(children.size(), " child run(s)"));
        if (!approvals.empty()) what.push_back(absl::StrCat(approvals.size(), " approval(s)"));
        AddStateEventLocked(run, absl::StrCat("waiting for ", absl::StrJoin(what, " and ")), batch);
        v1::RunEvent& event = NewEventLocked(run, batch);
        for (const std::string& id : children) event.mutable_waiting()->add_child_run_ids(id);
        for (const std::string& id : approvals) event.mutable_waiting()->add_approval_ids(id);
        PutRunRecord(run, batch);
      }
      const v1::RunState state = StateIn(batch, run_id);
      CommitAndMatchLocked(std::move(batch), [state, done]() { done(state); }, deferred);
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunAll(deferred);
}

absl::StatusOr<v1::Approval> Scheduler::GetApproval(const std::string& approval_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = approvals_.find(approval_id); it != approvals_.end()) return it->second;
  }
  absl::StatusOr<std::optional<v1::Approval>> stored = store_.GetApproval(approval_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return absl::NotFoundError(absl::StrCat("approval_id: approval \"", approval_id, "\" not found"));
  }
  return std::move(**stored);
}

void Scheduler::DecideApproval(const DecisionParams& params,
                               std::function<void(absl::StatusOr<v1::Approval>)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  absl::Status error;
  bool look_in_store = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = approvals_.find(params.approval_id);
    if (it == approvals_.end()) {
      look_in_store = true;
    } else {
      v1::Approval& approval = it->second;
      const std::vector<v1::Decision> allowed = AllowedDecisions(approval);
      if (approval.state() != v1::Approval::PENDING) {
        if (approval.state() == v1::Approval::DECIDED && SameDecision(approval.decision(), params)) {
          // A retry: answered once the decision is durable (an empty batch commits after it).
          v1::Approval copy = approval;
          CommitLocked(StoreBatch{}, [copy, done]() { done(copy); }, deferred);
        } else {
          look_in_store = true;  // explained below, from the record
        }
      } else if (clock_.NowMillis() >= approval.expire_time_ms()) {
        // Expired while no tick ran yet (after a restart, say): expire it now.
        StoreBatch batch;
        ExpireApprovalLocked(approval, batch, deferred);
        CommitAndMatchLocked(std::move(batch), nullptr, deferred);
        error = absl::FailedPreconditionError(
            absl::StrCat("approval \"", params.approval_id, "\" expired at ",
                         absl::FormatTime(absl::FromUnixMillis(approval.expire_time_ms()), absl::UTCTimeZone())));
      } else if (std::find(allowed.begin(), allowed.end(), params.decision) == allowed.end()) {
        std::vector<std::string> names;
        for (v1::Decision d : allowed) names.push_back(v1::Decision_Name(d));
        error = absl::InvalidArgumentError(absl::StrCat("decision: ", v1::Decision_Name(params.decision),
                                                        " is not allowed for approval \"", params.approval_id,
                                                        "\" (allowed: ", absl::StrJoin(names, ", "), ")"));
      } else {
        v1::ApprovalDecision decision;
        decision.set_decision(params.decision);
        decision.set_input_json(params.decision == v1::APPROVE ? approval.input_json() : params.input_json);
        decision.set_message(params.message);
        decision.set_decided_by(params.decided_by);
        StoreBatch batch;
        DecideLocked(approval, std::move(decision), batch, deferred);
        v1::Approval copy = approval;
        CommitAndMatchLocked(std::move(batch), [copy, done]() { done(copy); }, deferred);
      }
    }
  }
  if (look_in_store) {
    absl::StatusOr<v1::Approval> stored = GetApproval(params.approval_id);
    if (!stored.ok()) {
      done(stored.status());
      return;
    }
    switch (stored->state()) {
      case v1::Approval::DECIDED:
        if (SameDecision(stored->decision(), params)) {
          done(*stored);
        } else {
          done(absl::FailedPreconditionError(absl::StrCat(
              "approval \"", params.approval_id, "\" was already decided: ",
              v1::Decision_Name(stored->decision().decision()),
              stored->decision().decided_by().empty() ? "" : absl::StrCat(" by ", stored->decision().decided_by()))));
        }
        return;
      case v1::Approval::EXPIRED:
        done(absl::FailedPreconditionError(absl::StrCat(
            "approval \"", params.approval_id, "\" expired at ",
            absl::FormatTime(absl::FromUnixMillis(stored->expire_time_ms()), absl::UTCTimeZone()), " (",
            v1::Decision_Name(stored->decision().decision()), " applied)")));
        return;
      case v1::Approval::ABANDONED:
        done(absl::FailedPreconditionError(
            absl::StrCat("approval \"", params.approval_id, "\" can no longer be decided: its run ended")));
        return;
      default:
        done(absl::UnavailableError(
            absl::StrCat("approval \"", params.approval_id, "\" is being loaded; try again")));
        return;
    }
  }
  if (!error.ok()) {
    RunAll(deferred);
    done(error);
    return;
  }
  RunAll(deferred);
}

void Scheduler::RequestInput(const v1::RequestInputRequest& request,
                             std::function<void(absl::StatusOr<std::string>)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  absl::Status error;
  const std::string id = absl::StrCat(request.run_id(), ":", request.step(), ":", request.tool_use_id(),
                                      ":input:", request.sequence());
  {
    absl::MutexLock lock(&mu_);
    auto run = active_.find(request.run_id());
    if (run == active_.end() || run->second.run.state() != v1::RUNNING) {
      error = absl::FailedPreconditionError(absl::StrCat("run \"", request.run_id(), "\" is not running"));
    } else if (approvals_.contains(id)) {
      // A retry: the request exists.
      CommitLocked(StoreBatch{}, [id, done]() { done(id); }, deferred);
    } else {
      const int64_t now_ms = clock_.NowMillis();
      v1::Approval approval;
      approval.set_approval_id(id);
      approval.set_run_id(request.run_id());
      approval.set_agent_name(run->second.run.agent().name());
      approval.set_step(request.step());
      approval.set_tool_use_id(request.tool_use_id());
      approval.set_kind(v1::Approval::ELICITATION);
      approval.set_tool(request.tool());
      approval.set_message(request.message());
      approval.set_input_schema_json(request.requested_schema_json());
      for (v1::Decision d : {v1::ACCEPT, v1::DECLINE, v1::CANCEL}) approval.add_decisions(d);
      approval.set_create_time_ms(now_ms);
      approval.set_expire_time_ms(now_ms + (request.timeout_ms() > 0 ? request.timeout_ms() : kDefaultInputTimeoutMs));
      approval.set_state(v1::Approval::PENDING);
      StoreBatch batch;
      batch.approvals.push_back(approval);
      v1::RunEvent& event = NewEventLocked(run->second.run, batch);
      *event.mutable_approval_requested()->mutable_approval() = approval;
      PutRunRecord(run->second.run, batch);
      approval_deadlines_.insert({approval.expire_time_ms(), id});
      RememberApprovalLocked(std::move(approval));
      CommitLocked(std::move(batch), [id, done]() { done(id); }, deferred);
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunAll(deferred);
}

uint64_t Scheduler::AwaitInput(const std::string& approval_id, absl::Time deadline, InputCallback done) {
  uint64_t id = 0;
  bool look_in_store = false;
  std::optional<v1::ApprovalDecision> decided;
  {
    absl::MutexLock lock(&mu_);
    auto it = approvals_.find(approval_id);
    if (it == approvals_.end()) {
      look_in_store = true;
    } else if (it->second.state() != v1::Approval::PENDING) {
      decided = it->second.decision();
    } else {
      id = next_await_id_++;
      input_waiters_.emplace(id, InputWaiter{approval_id, deadline, std::move(done)});
      return id;
    }
  }
  if (decided.has_value()) {
    done(std::move(decided));
    return 0;
  }
  if (look_in_store) {
    absl::StatusOr<v1::Approval> stored = GetApproval(approval_id);
    if (!stored.ok()) {
      done(stored.status());
    } else if (stored->state() == v1::Approval::PENDING) {
      done(absl::UnavailableError(absl::StrCat("approval \"", approval_id, "\" is being loaded; try again")));
    } else {
      done(std::optional<v1::ApprovalDecision>(stored->decision()));
    }
  }
  return 0;
}

void Scheduler::CancelAwaitInput(uint64_t await_id) {
  InputCallback done;
  {
    absl::MutexLock lock(&mu_);
    auto it = input_waiters_.find(await_id);
    if (it == input_waiters_.end()) return;
    done = std::move(it->second.done);
    input_waiters_.erase(it);
  }
  done(std::optional<v1::ApprovalDecision>());
}

absl::StatusOr<std::vector<v1::PriorRun>> ReadHistory(RunStore& store, const v1::Run& run) {
  std::vector<v1::PriorRun> history;
  std::string id = run.continue_from();
  // Each link was created after the one it points to, so the chain ends; the bound
  // only guards against a corrupted store.
  for (int links = 0; !id.empty() && links < 100'000; ++links) {
    absl::StatusOr<std::optional<v1::Run>> previous = store.GetRun(id);
    if (!previous.ok()) return previous.status();
    // Retention deleted it (docs/operations.md): the conversation starts after it.
    if (!previous->has_value()) break;
    const v1::Run& prior = **previous;
    if (prior.state() == v1::SUCCEEDED) {
      absl::StatusOr<std::vector<v1::JournalEntry>> journal = store.ReadJournal(id);
      if (!journal.ok()) return journal.status();
      v1::PriorRun& entry = history.emplace_back();
      entry.set_run_id(id);
      entry.set_input(prior.input());
      for (v1::JournalEntry& e : *journal) *entry.add_journal() = std::move(e);
    }
    id = prior.continue_from();
  }
  std::reverse(history.begin(), history.end());
  return history;
}

}  // namespace baton::orchestrator
