// W2-long: the CPU a step costs as the conversation grows (docs/PERFORMANCE.md).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bench/run_client.h"
#include "bench/stack.h"
#include "bench/workload_common.h"
#include "bench/workloads.h"

namespace baton::bench {
namespace {

using json = nlohmann::json;

// Steps of each conversation: the windows below end before the last ones, where
// runs finish and the others no longer keep the worker's slots full.
constexpr int kSteps = 240;
// [from, to) in steps: the early and the late window the target compares, then a
// window every 40 steps for the curve.
constexpr int kEarly[2] = {1, 21};
constexpr int kLate[2] = {190, 210};
constexpr absl::Duration kSampleEvery = absl::Milliseconds(20);

struct Sample {
  absl::Time at;
  int64_t model_calls = 0;  // answered by the simulator so far, all runs
  json cpu_s;               // Stack::CpuSeconds()
  // Of the processes run under callgrind ("workers": worker 0, "orchestrator"), the
  // instructions so far; read at the windows' edges only.
  std::map<std::string, int64_t> instructions;
};

// The instructions a process run under callgrind (--worker-wrapper,
// --orchestrator-wrapper) has executed so far, summed over its threads
// (`callgrind_control -e`). Unlike CPU time they do not move with what else the box
// runs, so they show what grows in the process's own work.
std::optional<int64_t> CallgrindInstructions(pid_t pid) {
  FILE* pipe = popen(absl::StrCat("callgrind_control -e ", pid, " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
  pclose(pipe);
  // "   Th 1  301,855" and "   Th12  25,737,925" per thread, after a "Totals:  Ir" header.
  int64_t total = 0;
  bool any = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 2 || !absl::StartsWith(fields[0], "Th")) continue;
    int64_t n = 0;
    if (!absl::SimpleAtoi(absl::StrReplaceAll(fields.back(), {{",", ""}}), &n)) continue;
    total += n;
    any = true;
  }
  return any ? std::optional<int64_t>(total) : std::nullopt;
}

// The simulator's count of /v1/messages requests.
int64_t ModelCalls(Stack& stack) {
  absl::StatusOr<std::string> stats = stack.SimGet("/_sim/stats");
  if (!stats.ok()) return -1;
  json parsed = json::parse(*stats, nullptr, false);
  return parsed.is_object() ? parsed.value("requests", int64_t{-1}) : -1;
}

// CPU ms per step of each process kind while the runs' mean step went from `from`
// to `to`: between the first samples at or past from × runs and to × runs calls.
json Window(const std::vector<Sample>& samples, int runs, int from, int to) {
  auto first_at = [&](int64_t calls) {
    return std::find_if(samples.begin(), samples.end(), [&](const Sample& s) { return s.model_calls >= calls; });
  };
  auto a = first_at(int64_t{from} * runs), b = first_at(int64_t{to} * runs);
  json out = {{"from_step", from}, {"to_step", to}};
  if (a == samples.end() || b == samples.end() || b->model_calls <= a->model_calls) return out;
  const double steps = static_cast<double>(b->model_calls - a->model_calls);
  for (const char* kind : {"workers", "sim", "orchestrator"}) {
    out[absl::StrCat(kind, "_cpu_ms_per_step")] =
        (b->cpu_s[kind].get<double>() - a->cpu_s[kind].get<double>()) * 1000.0 / steps;
  }
  out["steps"] = steps;
  // Fewer steps a second means fewer steps to each AppendSteps call and group commit.
  out["steps_per_s"] = steps / std::max(1e-9, absl::ToDoubleSeconds(b->at - a->at));
  for (const auto& [kind, count] : b->instructions) {
    auto before = a->instructions.find(kind);
    if (before == a->instructions.end()) continue;
    out[absl::StrCat(kind, "_instructions_per_step")] = static_cast<double>(count - before->second) / steps;
  }
  return out;
}

}  // namespace

nlohmann::json RunW2Long(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    const std::string label = absl::StrCat("W2-long #", rep);
    StackOptions so = BaseStack(o, absl::StrCat("w2-long-", rep));
    so.workers = 1;
    so.concurrency = 64;
    const int runs = so.concurrency;  // one conversation per slot, started together
    Stack stack(so);
    OrDie(stack.Start(), label + ": start");
    OrDie(stack.WaitServing(absl::Seconds(30)), label + ": serving");
    RunClient client(stack.address(), o.channels, stack.client_options());
    const v1::AgentSpec agent = Agent(o, /*echo_tool=*/true, kSteps + 10);
    // Warm-up: connections, allocator; its calls are counted before the first sample.
    RunClosedLoop(
        client, [&](int64_t i) { return Request(agent, absl::StrCat("[sim steps=3 tool=echo text=w] warm ", i)); },
        runs, runs, {});

    Log(absl::StrCat(label, ": ", runs, " conversations x ", kSteps, " steps on 1 worker"));
    const int64_t calls0 = ModelCalls(stack);
    SubmitOptions no_watch;
    no_watch.watch = false;
    RunClosedLoop(
        client,
        [&](int64_t i) {
          return Request(agent, absl::StrCat("[sim steps=", kSteps, " tool=echo text=w2-long done] conversation ", i));
        },
        runs, runs, no_watch);
    std::vector<Sample> samples;
    const int64_t total = int64_t{runs} * kSteps;
    auto under_callgrind = [](const std::vector<std::string>& wrapper) {
      return absl::StrContains(absl::StrJoin(wrapper, " "), "callgrind");
    };
    std::vector<std::pair<std::string, Process*>> counted;
    if (under_callgrind(o.worker_wrapper)) counted.emplace_back("workers", stack.worker(0));
    if (under_callgrind(o.orchestrator_wrapper)) counted.emplace_back("orchestrator", stack.orchestrator());
    std::vector<int64_t> edges;  // model calls where a window starts or ends
    for (int step : {kEarly[0], kEarly[1], kLate[0], kLate[1]}) edges.push_back(int64_t{step} * runs);
    const absl::Time start = absl::Now();
    for (const absl::Time until = start + absl::Minutes(10); absl::Now() < until;) {
      Sample s;
      s.at = absl::Now();
      s.model_calls = ModelCalls(stack) - calls0;
      s.cpu_s = stack.CpuSeconds();
      if (!counted.empty() && !edges.empty() && s.model_calls >= edges.front()) {
        // Reading takes a while: the calls are read again after it, and the window
        // edge is where they were on average.
        for (const auto& [kind, process] : counted) {
          if (std::optional<int64_t> n = CallgrindInstructions(process->pid())) s.instructions[kind] = *n;
        }
        s.model_calls = (s.model_calls + ModelCalls(stack) - calls0) / 2;
        s.at += (absl::Now() - s.at) / 2;
        while (!edges.empty() && s.model_calls >= edges.front()) edges.erase(edges.begin());
      }
      samples.push_back(s);
      if (s.model_calls >= total) break;
      absl::SleepFor(kSampleEvery);
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    stack.StopWorkers();
    stack.StopOrchestrator();

    json out;
    out["runs"] = runs;
    out["steps_per_run"] = kSteps;
    out["model_calls"] = samples.empty() ? 0 : samples.back().model_calls;
    out["seconds"] = seconds;
    out["early"] = Window(samples, runs, kEarly[0], kEarly[1]);
    out["late"] = Window(samples, runs, kLate[0], kLate[1]);
    const double early = out["early"].value("workers_cpu_ms_per_step", 0.0);
    const double late = out["late"].value("workers_cpu_ms_per_step", 0.0);
    out["workers_late_over_early"] = early > 0 ? late / early : 0.0;
    // The orchestrator's work per step does not grow with the conversation (an append of
    // the same size): its ratio is what changes between the windows for every process
    // (the box's drift, a lower step rate late and so smaller batches), a control.
    const double orch_early = out["early"].value("orchestrator_cpu_ms_per_step", 0.0);
    const double orch_ratio =
        orch_early > 0 ? out["late"].value("orchestrator_cpu_ms_per_step", 0.0) / orch_early : 0.0;
    out["orchestrator_late_over_early"] = orch_ratio;
    out["workers_late_over_early_over_orchestrator"] =
        orch_ratio > 0 ? out["workers_late_over_early"].get<double>() / orch_ratio : 0.0;
    const double sim_early = out["early"].value("sim_cpu_ms_per_step", 0.0);
    out["sim_late_over_early"] = sim_early > 0 ? out["late"].value("sim_cpu_ms_per_step", 0.0) / sim_early : 0.0;
    json curve = json::array();
    for (int from = 0; from + 40 <= kSteps - 20; from += 40) curve.push_back(Window(samples, runs, from, from + 40));
    out["windows"] = curve;
    Log(absl::StrCat(label, ": worker CPU per step ", early, " ms at steps ", kEarly[0], "-", kEarly[1], ", ", late,
                     " ms at ", kLate[0], "-", kLate[1], " (x", out["workers_late_over_early"].get<double>(),
                     "); simulator x", out["sim_late_over_early"].get<double>()));
    for (const auto& [kind, process] : counted) {
      const std::string key = absl::StrCat(kind, "_instructions_per_step");
      if (!out["early"].contains(key) || !out["late"].contains(key)) continue;
      const double early_i = out["early"][key], late_i = out["late"][key];
      out[absl::StrCat(kind, "_instructions_late_over_early")] = late_i / early_i;
      Log(absl::StrCat(label, ": ", kind, " instructions per step ", early_i, " at steps ", kEarly[0], "-", kEarly[1],
                       ", ", late_i, " at ", kLate[0], "-", kLate[1], " (x", late_i / early_i, ")"));
    }
    return out;
  });
}

}  // namespace baton::bench
