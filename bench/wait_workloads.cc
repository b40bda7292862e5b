// W7 and W8 of docs/PERFORMANCE.md: runs that wait (docs/design.md, "Runs that
// wait"). W7: a parent run fanning out to 100 subagents; W8: approvals decided one at
// a time on an idle stack.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bench/run_client.h"
#include "bench/stack.h"
#include "bench/stats.h"
#include "bench/workload_common.h"
#include "bench/workloads.h"

namespace baton::bench {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// W7: one fan-out, from the events of the parent (and, watched as a tree, of its
// children). Event times are the orchestrator's clock in whole ms, except
// StepStarted's: the worker's clock when the step's model call started.

struct FanOut {
  bool ok = false;
  std::string error;
  int64_t turn_ms = 0;                // StepFinished of step 0: the tool_use turn's append
  int64_t last_child_finished_ms = 0;  // the parent's last ChildFinished
  int64_t resumed_ms = 0;             // the parent's StateChanged QUEUED "resumed: ..."
  int64_t running_ms = 0;             // its first StateChanged RUNNING after that
  int64_t next_step_ms = 0;           // StepStarted of step 1 (worker clock)
  int64_t first_child_running_ms = 0;  // children's own events (tree watched only)
  int children_started = 0;
  int children_succeeded = 0;
  bool waited = false;  // the parent was WAITING (else its children ended before SuspendRun)
  int gaps = 0;         // Gap events: the watch fell behind and read the store again
  // Events received again (a run's seq seen before): a watch must send each once.
  int duplicate_events = 0;
  int64_t first_duplicate_seq = 0;
  std::string first_duplicate_run;
  // The child that ended last (tree watched only): its state changes, as
  // "STATE@ms-after-the-turn reason", to tell queueing, retries and work apart.
  std::string slowest_child;
  std::vector<std::string> slowest_child_states;
};

FanOut ReadFanOut(const RunRecord& r, int children) {
  FanOut f;
  if (!r.ok || r.state != v1::SUCCEEDED) {
    f.error = absl::StrCat("parent ", r.run_id, " ended ", v1::RunState_Name(r.state), " ", r.error);
    return f;
  }
  std::map<std::string, std::vector<const v1::RunEvent*>> child_states;
  int64_t last_child_end_ms = 0;
  std::set<std::pair<std::string, int64_t>> seen;  // (run, seq) of durable events
  std::set<std::string> child_ids;
  for (const v1::RunEvent& e : r.events) {
    f.gaps += e.has_gap();
    if (e.seq() > 0 && !seen.insert({e.run_id(), e.seq()}).second) {
      if (f.duplicate_events++ == 0) {
        f.first_duplicate_seq = e.seq();
        f.first_duplicate_run = e.run_id();
      }
      continue;
    }
    if (e.has_child_started()) child_ids.insert(e.child_started().child_run_id());
    if (e.run_id() != r.run_id) {
      if (!e.has_state_changed()) continue;
      child_states[e.run_id()].push_back(&e);
      if (e.state_changed().state() == v1::RUNNING &&
          (f.first_child_running_ms == 0 || e.time_ms() < f.first_child_running_ms)) {
        f.first_child_running_ms = e.time_ms();
      }
      if (e.state_changed().state() == v1::SUCCEEDED && e.time_ms() >= last_child_end_ms) {
        last_child_end_ms = e.time_ms();
        f.slowest_child = e.run_id();
      }
      continue;
    }
    if (e.has_step_finished() && e.step_finished().step() == 0) f.turn_ms = e.time_ms();
    if (e.has_child_started()) ++f.children_started;
    if (e.has_child_finished()) {
      f.children_succeeded += e.child_finished().state() == v1::SUCCEEDED;
      f.last_child_finished_ms = std::max(f.last_child_finished_ms, e.time_ms());
    }
    if (e.has_state_changed()) {
      const v1::RunEvent::StateChanged& sc = e.state_changed();
      if (sc.state() == v1::WAITING) f.waited = true;
      if (sc.state() == v1::QUEUED && absl::StartsWith(sc.reason(), "resumed") && f.resumed_ms == 0) {
        f.resumed_ms = e.time_ms();
      }
      if (sc.state() == v1::RUNNING && f.resumed_ms > 0 && f.running_ms == 0) f.running_ms = e.time_ms();
    }
    if (e.has_step_started() && e.step_started().step() == 1) f.next_step_ms = e.time_ms();
  }
  if (!f.slowest_child.empty()) {
    for (const v1::RunEvent* e : child_states[f.slowest_child]) {
      f.slowest_child_states.push_back(absl::StrCat(v1::RunState_Name(e->state_changed().state()), "@",
                                                    e->time_ms() - f.turn_ms, " ", e->state_changed().reason()));
    }
  }
  if (f.duplicate_events > 0) {
    f.error = absl::StrCat("parent ", r.run_id, ": ", f.duplicate_events, " events received twice (first: ",
                           f.first_duplicate_run, " seq ", f.first_duplicate_seq, ", ", f.gaps, " gaps)");
  } else if (f.children_started != children || f.children_succeeded != children ||
             static_cast<int>(child_ids.size()) != children) {
    f.error = absl::StrCat("parent ", r.run_id, ": ", f.children_started, " children started (",
                           child_ids.size(), " distinct), ", f.children_succeeded, " succeeded (want ", children,
                           ")");
  } else if (f.turn_ms == 0 || f.resumed_ms == 0 || f.running_ms == 0 || f.next_step_ms == 0) {
    f.error = absl::StrCat("parent ", r.run_id, ": an event is missing (turn ", f.turn_ms, ", resumed ",
                           f.resumed_ms, ", running ", f.running_ms, ", step 1 ", f.next_step_ms, ")");
  } else {
    f.ok = true;
  }
  return f;
}

}  // namespace

nlohmann::json RunW7FanOut(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    const int fan_out = o.w7_children;  // children per parent, all called in one turn
    StackOptions so = BaseStack(o, absl::StrCat("w7-", rep));
    so.workers = 4;
    so.concurrency = 8;
    Stack stack(so);
    OrDie(stack.Start(), "W7: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W7: serving");
    RunClient client(stack.address(), o.channels);

    // The child answers at once: no tools, and its input ("hello", the prompt the
    // simulator fills in from the default schema) has no directives.
    v1::AgentSpec child = Agent(o, /*echo_tool=*/false, 4);
    child.set_name("bench-child");
    v1::AgentSpec parent = Agent(o, /*echo_tool=*/false, 4);
    parent.set_name("bench-fanout");
    parent.set_max_children(fan_out);
    // A turn with 100 tool_use blocks is ~800 output tokens.
    parent.set_max_tokens(std::max(4096, 10 * fan_out));
    v1::Subagent* sub = parent.add_subagents();
    sub->set_name("helper");
    sub->set_description("Answers a prompt.");
    *sub->mutable_agent() = child;
    int64_t fanout_index = 0;
    auto parent_request = [&](int64_t) {
      return Request(parent, absl::StrCat("[sim steps=", fan_out + 1, " parallel=", fan_out,
                                          " tool=helper text=w7 done] w7 fan-out ", fanout_index++));
    };
    // The baseline: the same child agent and input as a plain run.
    auto plain_request = [&](int64_t) { return Request(child, "hello"); };

    SubmitOptions tree;
    tree.keep_events = true;
    tree.include_children = true;
    SubmitOptions parent_only;
    parent_only.keep_events = true;
    SubmitOptions plain;

    // Warm-up (connections, allocator, memtables, the simulator's cache): not counted.
    RunClosedLoop(client, parent_request, 1, 1, tree);
    RunClosedLoop(client, plain_request, fan_out, fan_out, plain);

    const int64_t fanouts = Scaled(o, 10);
    Log(absl::StrCat("W7 #", rep, ": ", fanouts, " fan-outs of ", fan_out, " children (4 x 8 slots)"));
    CpuTally tree_cpu, parent_cpu, plain_cpu;
    std::vector<double> turn_to_running, turn_to_step, turn_to_last_child, last_child_to_resumed,
        resumed_to_running, turn_to_first_child_running, parent_watched_turn_to_running;
    std::vector<double> plain_e2e;
    int64_t waited = 0, failed = 0, tree_watched_gaps = 0, parent_watched_gaps = 0;
    int64_t tree_duplicates = 0, parent_duplicates = 0;
    json slowest;  // the slowest fan-out, for a look at where its time went
    double slowest_ms = 0;
    std::vector<std::string> errors;
    auto measure = [&](const std::vector<RunRecord>& records, bool with_children) {
      const FanOut f = ReadFanOut(records.at(0), fan_out);
      (with_children ? tree_duplicates : parent_duplicates) += f.duplicate_events;
      if (!f.ok) {
        ++failed;
        if (errors.size() < 5) {
          errors.push_back(absl::StrCat(with_children ? "tree watched: " : "parent watched: ", f.error));
        }
        return;
      }
      // Whole ms on both ends: the differences need no centring.
      const double running = static_cast<double>(f.running_ms - f.turn_ms);
      if (!with_children) {
        parent_watched_turn_to_running.push_back(running);
        parent_watched_gaps += f.gaps;
        return;
      }
      tree_watched_gaps += f.gaps;
      waited += f.waited;
      if (slowest.empty() || running > slowest_ms) {
        slowest_ms = running;
        slowest = json{{"parent", records.at(0).run_id},
                       {"turn_to_parent_running_ms", running},
                       {"last_child", f.slowest_child},
                       {"last_child_states", f.slowest_child_states}};
      }
      turn_to_running.push_back(running);
      turn_to_step.push_back(static_cast<double>(f.next_step_ms - f.turn_ms));
      turn_to_last_child.push_back(static_cast<double>(f.last_child_finished_ms - f.turn_ms));
      last_child_to_resumed.push_back(static_cast<double>(f.resumed_ms - f.last_child_finished_ms));
      resumed_to_running.push_back(static_cast<double>(f.running_ms - f.resumed_ms));
      turn_to_first_child_running.push_back(static_cast<double>(f.first_child_running_ms - f.turn_ms));
    };
    for (int64_t k = 0; k < fanouts; ++k) {
      // Interleaved, so drift of the shared machine hits the three alike.
      json cpu0 = stack.CpuSeconds();
      std::vector<RunRecord> r = RunClosedLoop(client, parent_request, 1, 1, tree);
      Settle();
      tree_cpu.Add(cpu0, stack.CpuSeconds(), fan_out);
      measure(r, /*with_children=*/true);

      cpu0 = stack.CpuSeconds();
      r = RunClosedLoop(client, parent_request, 1, 1, parent_only);
      Settle();
      parent_cpu.Add(cpu0, stack.CpuSeconds(), fan_out);
      measure(r, /*with_children=*/false);

      cpu0 = stack.CpuSeconds();
      r = RunClosedLoop(client, plain_request, fan_out, fan_out, plain);
      Settle();
      plain_cpu.Add(cpu0, stack.CpuSeconds(), fan_out);
      for (const RunRecord& p : r) {
        if (!p.ok || p.state != v1::SUCCEEDED) {
          ++failed;
          if (errors.size() < 5) errors.push_back(absl::StrCat("plain run ", p.run_id, ": ", p.error));
        } else {
          plain_e2e.push_back(absl::ToDoubleMilliseconds(p.done - p.submit));
        }
      }
    }
    if (failed > 0) KeepLogs(o, so.dir, absl::StrCat("w7-", rep));
    stack.StopWorkers();
    stack.StopOrchestrator();

    json out;
    out["children"] = fan_out;
    out["workers"] = so.workers;
    out["concurrency"] = so.concurrency;
    out["fanouts"] = fanouts;
    out["failed"] = failed;
    out["errors"] = errors;
    out["parent_waited"] = waited;
    // Gap events on the watch streams (fell behind: events read again from the store).
    out["watch_gaps_tree"] = tree_watched_gaps;
    out["watch_gaps_parent_only"] = parent_watched_gaps;
    // Events a watch stream sent twice (same run and seq); must be 0.
    out["watch_duplicate_events_tree"] = tree_duplicates;
    out["watch_duplicate_events_parent_only"] = parent_duplicates;
    out["slowest_fanout"] = slowest;
    out["turn_to_parent_running_ms"] = Summary(turn_to_running);
    out["turn_to_next_step_ms"] = Summary(turn_to_step);
    out["turn_to_first_child_running_ms"] = Summary(turn_to_first_child_running);
    out["turn_to_last_child_finished_ms"] = Summary(turn_to_last_child);
    out["last_child_finished_to_resumed_ms"] = Summary(last_child_to_resumed);
    out["resumed_to_running_ms"] = Summary(resumed_to_running);
    out["parent_watched_turn_to_parent_running_ms"] = Summary(parent_watched_turn_to_running);
    out["plain_submit_to_done_ms"] = Summary(plain_e2e);
    const json per_child = tree_cpu.PerUnitMs();
    const json per_child_parent_watched = parent_cpu.PerUnitMs();
    const json per_plain = plain_cpu.PerUnitMs();
    out["cpu_ms_per_child"] = per_child;
    out["cpu_ms_per_child_parent_watched"] = per_child_parent_watched;
    out["cpu_ms_per_plain_run"] = per_plain;
    const double plain_ms = per_plain["baton"].get<double>();
    out["cpu_ratio"] = plain_ms > 0 ? per_child["baton"].get<double>() / plain_ms : 0;
    out["cpu_ratio_parent_watched"] = plain_ms > 0 ? per_child_parent_watched["baton"].get<double>() / plain_ms : 0;
    Log(absl::StrCat("W7 #", rep, ": turn -> parent running p50 ", out["turn_to_parent_running_ms"]["p50"].dump(),
                     " ms; Baton CPU per child ", per_child["baton"].dump(), " ms, per plain run ",
                     per_plain["baton"].dump(), " ms (ratio ", out["cpu_ratio"].dump(), "); failed ", failed));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W8: approvals decided one at a time.

namespace {

// What the driver saw of one gated run, from its events.
struct GatedRun {
  std::string run_id;
  std::string approval_id;  // from its ApprovalRequested event
  bool waiting = false;     // StateChanged WAITING seen
  int64_t resumed_ms = 0;   // StateChanged QUEUED "resumed: ..."
  int64_t running_ms = 0;   // the first RUNNING after it: the lease
  int64_t tool_started_ms = 0;   // ToolCallStarted: the marker's append reached the orchestrator
  int64_t tool_finished_ms = 0;  // ToolCallFinished: the result's append
  bool done = false;
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  std::string error;
};

// The gated runs of W8, filled in from their watch streams. Thread-safe.
class GatedRuns {
 public:
  explicit GatedRuns(size_t n) : runs_(n) {}

  void OnEvent(size_t i, const v1::RunEvent& e) {
    absl::MutexLock lock(&mu_);
    GatedRun& g = runs_[i];
    g.run_id = e.run_id();
    if (e.has_approval_requested()) g.approval_id = e.approval_requested().approval().approval_id();
    if (e.has_state_changed()) {
      const v1::RunEvent::StateChanged& sc = e.state_changed();
      if (sc.state() == v1::WAITING) g.waiting = true;
      if (sc.state() == v1::QUEUED && absl::StartsWith(sc.reason(), "resumed") && g.resumed_ms == 0) {
        g.resumed_ms = e.time_ms();
      }
      if (sc.state() == v1::RUNNING && g.resumed_ms > 0 && g.running_ms == 0) g.running_ms = e.time_ms();
    }
    if (e.has_tool_call_started() && g.tool_started_ms == 0) g.tool_started_ms = e.time_ms();
    if (e.has_tool_call_finished() && g.tool_finished_ms == 0) g.tool_finished_ms = e.time_ms();
  }

  void OnDone(size_t i, const RunRecord& r) {
    absl::MutexLock lock(&mu_);
    GatedRun& g = runs_[i];
    if (g.run_id.empty()) g.run_id = r.run_id;
    g.done = true;
    g.state = r.state;
    g.error = r.error;
  }

  // Until every run waits for its decision (or has ended: a failure to report).
  bool AwaitAllWaiting(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::all_of(runs_.begin(), runs_.end(),
                         [](const GatedRun& g) { return g.done || (g.waiting && !g.approval_id.empty()); });
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }

  bool AwaitDone(size_t i, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this, i]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return runs_[i].done; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  GatedRun Get(size_t i) {
    absl::MutexLock lock(&mu_);
    return runs_[i];
  }

 private:
  absl::Mutex mu_;
  std::vector<GatedRun> runs_ ABSL_GUARDED_BY(mu_);
};

// idempotency key -> the times (worker clock, Unix ms) the tool ran, from the
// workers' --tool-audit-log files.
std::map<std::string, std::vector<int64_t>> ToolRuns(const Stack& stack, int workers) {
  std::map<std::string, std::vector<int64_t>> out;
  for (int i = 0; i < workers; ++i) {
    for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(stack.audit_log(i)), '\n', absl::SkipEmpty())) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("idempotency_key")) continue;
      out[j["idempotency_key"].get<std::string>()].push_back(j.value("time_ms", int64_t{0}));
    }
  }
  return out;
}

}  // namespace

nlohmann::json RunW8Approval(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    StackOptions so = BaseStack(o, absl::StrCat("w8-", rep));
    so.workers = 4;
    so.concurrency = 8;
    Stack stack(so);
    OrDie(stack.Start(), "W8: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W8: serving");
    RunClient client(stack.address(), o.channels);
    v1::AgentSpec agent = Agent(o, /*echo_tool=*/true, 4);
    agent.set_name("bench-approval");
    agent.add_approvals()->add_tools("echo");

    const int64_t warmup = 10;
    const int64_t total = warmup + Scaled(o, 200);
    Log(absl::StrCat("W8 #", rep, ": ", total - warmup, " approvals (+", warmup, " warm-up), one at a time"));
    // Every run first asks and waits (holding no worker); then the stack is idle and
    // the approvals are decided one at a time, each after the previous run ended.
    GatedRuns runs(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) {
      SubmitOptions watch;
      const size_t index = static_cast<size_t>(i);
      watch.on_event = [&runs, index](const v1::RunEvent& e) { runs.OnEvent(index, e); };
      client.Submit(Request(agent, "[sim tool=echo steps=2] x"), watch,
                    [&runs, index](RunRecord r) { runs.OnDone(index, r); });
    }
    if (!runs.AwaitAllWaiting(absl::Seconds(120))) {
      KeepLogs(o, so.dir, absl::StrCat("w8-", rep));
      OrDie(absl::DeadlineExceededError("not every run asked for its approval in 120 s"), "W8");
    }

    std::vector<absl::Time> sent(static_cast<size_t>(total));
    std::vector<double> rpc_ms;
    int64_t failed = 0;
    std::vector<std::string> errors;
    for (int64_t i = 0; i < total; ++i) {
      const size_t index = static_cast<size_t>(i);
      const GatedRun g = runs.Get(index);
      if (g.done || g.approval_id.empty()) {
        ++failed;
        if (errors.size() < 5) errors.push_back(absl::StrCat(g.run_id, " ended before its decision: ", g.error));
        continue;
      }
      v1::DecideApprovalRequest request;
      request.set_approval_id(g.approval_id);
      request.set_decision(v1::APPROVE);
      request.set_decided_by("baton-bench");
      v1::Approval approval;
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      sent[index] = absl::Now();
      grpc::Status s = client.stub(index).DecideApproval(&ctx, request, &approval);
      const absl::Time answered = absl::Now();
      if (!s.ok()) {
        ++failed;
        if (errors.size() < 5) {
          errors.push_back(absl::StrCat("DecideApproval ", g.approval_id, ": ", s.error_message()));
        }
        continue;
      }
      if (i >= warmup) rpc_ms.push_back(absl::ToDoubleMilliseconds(answered - sent[index]));
      if (!runs.AwaitDone(index, absl::Seconds(30))) {
        ++failed;
        if (errors.size() < 5) errors.push_back(absl::StrCat(g.run_id, " did not end 30 s after its decision"));
      }
    }
    stack.StopWorkers();  // the audit log is flushed line by line; stopping settles it
    const std::map<std::string, std::vector<int64_t>> tool_runs = ToolRuns(stack, so.workers);
    stack.StopOrchestrator();

    std::vector<double> to_tool, to_resumed, to_running, to_tool_started, to_tool_finished;
    int64_t not_run = 0, run_more_than_once = 0, ran_before_decision = 0;
    for (int64_t i = warmup; i < total; ++i) {
      const size_t index = static_cast<size_t>(i);
      const GatedRun g = runs.Get(index);
      if (sent[index] == absl::Time() || g.state != v1::SUCCEEDED) {
        if (g.state != v1::SUCCEEDED) {
          ++failed;
          if (errors.size() < 5) errors.push_back(absl::StrCat(g.run_id, " ended ", v1::RunState_Name(g.state)));
        }
        continue;
      }
      // The approval id is the call's idempotency key.
      auto it = tool_runs.find(g.approval_id);
      if (it == tool_runs.end() || it->second.empty()) {
        ++not_run;
        continue;
      }
      run_more_than_once += it->second.size() > 1;
      const double sent_ms = UnixMs(sent[index]);
      const int64_t ran_ms = *std::min_element(it->second.begin(), it->second.end());
      ran_before_decision += ran_ms + 1 <= sent_ms;
      // Event and audit times are whole ms (truncated): +0.5 centres the error.
      to_tool.push_back(ran_ms + 0.5 - sent_ms);
      to_resumed.push_back(g.resumed_ms + 0.5 - sent_ms);
      to_running.push_back(g.running_ms + 0.5 - sent_ms);
      to_tool_started.push_back(g.tool_started_ms + 0.5 - sent_ms);
      to_tool_finished.push_back(g.tool_finished_ms + 0.5 - sent_ms);
    }
    if (failed > 0 || not_run > 0 || run_more_than_once > 0 || ran_before_decision > 0) {
      KeepLogs(o, so.dir, absl::StrCat("w8-", rep));
    }
    json out;
    out["workers"] = so.workers;
    out["concurrency"] = so.concurrency;
    out["approvals"] = total - warmup;
    out["failed"] = failed;
    out["errors"] = errors;
    out["tool_not_run"] = not_run;
    out["tool_run_more_than_once"] = run_more_than_once;
    out["tool_ran_before_decision"] = ran_before_decision;
    out["decide_to_tool_ms"] = Summary(to_tool);
    out["decide_rpc_ms"] = Summary(rpc_ms);
    out["decide_to_resumed_event_ms"] = Summary(to_resumed);
    out["decide_to_running_event_ms"] = Summary(to_running);
    out["decide_to_tool_started_event_ms"] = Summary(to_tool_started);
    out["decide_to_tool_finished_event_ms"] = Summary(to_tool_finished);
    Log(absl::StrCat("W8 #", rep, ": DecideApproval -> tool ran p50 ", out["decide_to_tool_ms"]["p50"].dump(),
                     " ms, p99 ", out["decide_to_tool_ms"]["p99"].dump(), " ms; failed ", failed));
    return out;
  });
}

}  // namespace baton::bench
