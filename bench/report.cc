#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace baton::bench {
namespace {

using json = nlohmann::json;

// The value at `path` ("full.submit_to_start_ms.p99") of `j`, or null.
const json* At(const json& j, const std::string& path) {
  const json* cur = &j;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

std::string Num(double v) {
  if (std::fabs(v) >= 100) return absl::StrFormat("%.0f", v);
  if (std::fabs(v) >= 10) return absl::StrFormat("%.1f", v);
  return absl::StrFormat("%.2f", v);
}

struct Row {
  std::string workload;
  std::string metric;
  std::string path;    // under the workload's "median" / "range"
  std::string target;  // text
  // Met when value compares to `bound` as `op` says ("<=", ">=", "=="); "" for no target.
  std::string op;
  double bound = 0;
  // Which of the row's figures the target is on. Default (-1): the last.
  int target_figure = -1;
};

// The workload's key in the results: "W1", "W10", "W5-graph" (the row's first word).
std::string KeyOf(const std::string& workload) { return workload.substr(0, workload.find(' ')); }

// The results' workloads in the order of the page: W1, W2, W2-long and the secured pairs
// (W1-secure, W2-secure), W3-W8, then the graphs' (W9, W10, W5-graph), then any other.
std::vector<std::string> OrderedKeys(const json& workloads) {
  static const std::vector<std::string> kOrder = {"W1", "W2", "W2-deferred", "W2-long", "W1-secure", "W2-secure", "W2-obs", "W3", "W4", "W5",
                                                  "W6", "W7", "W8", "W9", "W10", "W5-graph"};
  std::vector<std::string> keys;
  for (const std::string& k : kOrder) {
    if (workloads.contains(k)) keys.push_back(k);
  }
  for (auto it = workloads.begin(); it != workloads.end(); ++it) {
    if (std::find(kOrder.begin(), kOrder.end(), it.key()) == kOrder.end()) keys.push_back(it.key());
  }
  return keys;
}

// Which run measured workload `w`: its own "run", else the results file's meta.
json RunOf(const json& w, const json& meta) {
  if (w.contains("run")) return w["run"];
  json run = {{"date", meta.value("date", "")}, {"git", meta.value("git", "")}, {"scale", meta.value("scale", 1.0)}};
  if (meta.contains("build_type")) run["build_type"] = meta["build_type"];
  return run;
}

// "W1-W6" for a group of consecutive numbers, "W7" for one, else the names listed:
// "W9, W10, W5-graph".
std::string Span(const std::vector<std::string>& names) {
  if (names.size() == 1) return names[0];
  // W<number>, nothing after it; -1 otherwise.
  auto number = [](const std::string& name) {
    int n = -1;
    return name.size() > 1 && name[0] == 'W' && absl::SimpleAtoi(name.substr(1), &n) ? n : -1;
  };
  bool consecutive = number(names.front()) >= 0;
  for (size_t i = 1; i < names.size() && consecutive; ++i) {
    consecutive = number(names[i]) == number(names.front()) + static_cast<int>(i);
  }
  if (consecutive) return absl::StrCat(names.front(), "-", names.back());
  return absl::StrJoin(names, ", ");
}

// "W1-W6: measured <date> at <git>, scale 1.00, 3 repeats of W1-W2 and 1 of W3-W6 on
// fresh stacks." for each run whose results the table shows, in workload order.
std::string RunsSentence(const json& workloads, const json& meta) {
  struct Group {
    std::string label;
    std::vector<std::string> names;
    std::vector<std::pair<std::vector<std::string>, size_t>> repeats;  // consecutive workloads, count
  };
  std::vector<Group> groups;
  for (const std::string& key : OrderedKeys(workloads)) {
    const json& w = workloads[key];
    const json run = RunOf(w, meta);
    const std::string build = run.value("build_type", "");
    const std::string label = absl::StrCat(run.value("date", ""), " at ", run.value("git", ""),
                                           build.empty() ? "" : absl::StrCat(" (", build, " build)"), ", scale ",
                                           Num(run.value("scale", 1.0)));
    if (groups.empty() || groups.back().label != label) groups.push_back({label, {}, {}});
    Group& g = groups.back();
    g.names.push_back(key);
    const size_t n = w.contains("repeats") && w["repeats"].is_array() ? w["repeats"].size() : 0;
    if (g.repeats.empty() || g.repeats.back().second != n) g.repeats.push_back({{}, n});
    g.repeats.back().first.push_back(key);
  }
  std::string out;
  for (const Group& g : groups) {
    absl::StrAppend(&out, out.empty() ? "" : " ", Span(g.names), ": measured ", g.label, ", ");
    for (size_t i = 0; i < g.repeats.size(); ++i) {
      const auto& [names, n] = g.repeats[i];
      absl::StrAppend(&out, i == 0 ? "" : (i + 1 == g.repeats.size() ? " and " : ", "), n,
                      i == 0 ? (n == 1 ? " repeat" : " repeats") : "",
                      g.repeats.size() > 1 ? absl::StrCat(" of ", Span(names)) : "");
    }
    absl::StrAppend(&out, " on fresh stacks.");
  }
  return out;
}

}  // namespace

std::string MarkdownTable(const json& results) {
  const json& workloads = results["workloads"];
  const json& meta = results["meta"];
  double ttl_s = 10;
  if (const json* v = At(workloads, "W3.median.lease_ttl_s")) ttl_s = v->get<double>();
  std::vector<Row> rows = {
      {"W1 dispatch", "completed runs/s (full load)", "full.runs_per_s", "≥ 2,000", ">=", 2000},
      {"W1 dispatch", "submit→start p50 / p99, ms (full load)", "full.submit_to_start_ms.p50|full.submit_to_start_ms.p99", "—", "", 0},
      {"W1 dispatch", "submit→start p50 / p99, ms (half load)", "half.submit_to_start_ms.p50|half.submit_to_start_ms.p99", "p99 ≤ 10", "<=", 10},
      {"W1 dispatch", "CreateRun round trip p50 / p99, ms (half load)", "half.create_rpc_ms.p50|half.create_rpc_ms.p99", "—", "", 0},
      {"W1 dispatch", "Baton CPU (orchestrator + workers) per one-step run, ms (full load)", "full.cpu_ms_per_run.baton", "≤ 0.4", "<=", 0.4},
      {"W1 dispatch", "Baton CPU per run ÷ the simulator's (full load; moves less with the box than ms do)", "full.cpu_ms_per_run.baton_over_sim", "—", "", 0},
      {"W2 steps", "durable steps/s", "steps_per_s", "≥ 2,500", ">=", 2500},
      {"W2 steps", "AppendStep ack p50 / p99, ms", "append_step_ack_ms.p50|append_step_ack_ms.p99", "p99 ≤ 20", "<=", 20},
      {"W2 steps", "Baton CPU (orchestrator + workers) per durable step, ms", "cpu_ms_per_step.baton", "≤ 0.3", "<=", 0.3},
      {"W2 steps", "Baton CPU per step ÷ the simulator's (moves less with the box than ms do)", "cpu_ms_per_step.baton_over_sim", "—", "", 0},
      {"W2 steps", "CPU per step: orchestrator / workers / simulator / driver, ms", "cpu_ms_per_step.orchestrator|cpu_ms_per_step.workers|cpu_ms_per_step.sim|cpu_ms_per_step.driver", "—", "", 0},
      {"W2 steps", "steps per AppendSteps call", "steps_per_append_call", "—", "", 0},
      // 64 conversations of 240 steps on one worker, started together.
      {"W2-deferred steps", "durable steps/s with defer_safe_tool_results / plain (paired stacks)", "deferred.steps_per_s|plain.steps_per_s", "—", "", 0},
      {"W2-deferred steps", "durable steps/s with defer_safe_tool_results", "deferred.steps_per_s", "≥ 2,500", ">=", 2500},
      {"W2-deferred steps", "AppendStep ack p50 / p99 with defer_safe_tool_results, ms", "deferred.append_step_ack_ms.p50|deferred.append_step_ack_ms.p99", "p99 ≤ 20", "<=", 20},
      {"W2-deferred steps", "Baton CPU per durable step with defer_safe_tool_results / plain, ms", "deferred.cpu_ms_per_step.baton|plain.cpu_ms_per_step.baton", "≤ 0.3", "<=", 0.3, 0},
      {"W2-deferred steps", "CPU per step with defer_safe_tool_results: orchestrator / workers / simulator / driver, ms", "deferred.cpu_ms_per_step.orchestrator|deferred.cpu_ms_per_step.workers|deferred.cpu_ms_per_step.sim|deferred.cpu_ms_per_step.driver", "—", "", 0},
      {"W2-long steps", "worker CPU per step at steps 1–20 / 190–210, ms", "early.workers_cpu_ms_per_step|late.workers_cpu_ms_per_step", "—", "", 0},
      {"W2-long steps", "worker CPU per step, steps 190–210 ÷ steps 1–20", "workers_late_over_early", "≤ 1.2", "<=", 1.2},
      {"W2-long steps", "simulator CPU per step at steps 1–20 / 190–210, ms (test rig)", "early.sim_cpu_ms_per_step|late.sim_cpu_ms_per_step", "—", "", 0},
      // The orchestrator does the same work at every step: its ratio is the box's drift.
      {"W2-long steps", "orchestrator CPU per step, steps 190–210 ÷ steps 1–20 (a control: its work per step is the same)", "orchestrator_late_over_early", "—", "", 0},
      {"W2-long steps", "the worker's ratio ÷ the orchestrator's", "workers_late_over_early_over_orchestrator", "—", "", 0},
      // The secured pairs: each repeat a plain and a secured stack back to back; the
      // target is on the median of the pairs' ratios.
      {"W1-secure dispatch", "completed runs/s (full load) with {secured} / plain (paired stacks)", "secure.full.runs_per_s|plain.full.runs_per_s", "—", "", 0},
      {"W1-secure dispatch", "runs/s secured ÷ plain", "ratio", "≥ 0.85", ">=", 0.85},
      {"W1-secure dispatch", "Baton CPU (orchestrator + workers) per run, secured / plain, ms", "secure.full.cpu_ms_per_run.baton|plain.full.cpu_ms_per_run.baton", "—", "", 0},
      {"W2-secure steps", "durable steps/s with {secured} / plain (paired stacks)", "secure.steps_per_s|plain.steps_per_s", "—", "", 0},
      {"W2-secure steps", "steps/s secured ÷ plain", "ratio", "≥ 0.85", ">=", 0.85},
      {"W2-secure steps", "AppendStep ack p99, secured / plain, ms", "secure.append_step_ack_ms.p99|plain.append_step_ack_ms.p99", "—", "", 0},
      {"W2-secure steps", "Baton CPU (orchestrator + workers) per step, secured / plain, ms", "secure.cpu_ms_per_step.baton|plain.cpu_ms_per_step.baton", "—", "", 0},
      // Metrics and traces on, paired as above: the bound on what they cost.
      {"W2-obs steps", "durable steps/s with metrics and tracing / plain (paired stacks)", "observed.steps_per_s|plain.steps_per_s", "—", "", 0},
      {"W2-obs steps", "steps/s observed ÷ plain", "ratio", "≥ 0.95", ">=", 0.95},
      {"W2-obs steps", "Baton CPU (orchestrator + workers) per step, observed / plain, ms", "observed.cpu_ms_per_step.baton|plain.cpu_ms_per_step.baton", "—", "", 0},
      {"W2-obs steps", "spans exported (warm-up included) / OTLP requests", "observed.spans_exported|observed.otlp_requests", "—", "", 0},
      // The design's bound (docs/design.md, "Run lifecycle"): no backoff after a lost lease.
      {"W3 recovery", "kill → all its runs leased again, s", "kill_to_all_rerun_s", absl::StrCat("≤ TTL + 0.2 = ", Num(ttl_s + 0.2)), "<=", ttl_s + 0.2},
      {"W3 recovery", "recorded tool calls executed again", "recorded_tool_calls_executed_again", "0", "==", 0},
      {"W4 restart", "restart → serving, s", "restart_to_serving_s", "≤ 2", "<=", 2},
      {"W4 restart", "runs lost", "runs_lost", "0", "==", 0},
      {"W4 restart", "serving → all 200 running runs journaled a step on their recovered lease, s", "serving_to_all_running_progressed_s", "—", "", 0},
      {"W5 storage", "SST bytes/step at 50 / 100 / 200 steps (compacted)", "at_50.sst_bytes_per_step|at_100.sst_bytes_per_step|at_200.sst_bytes_per_step", "—", "", 0},
      {"W5 storage", "marginal SST bytes/step, steps 50→100 / 100→200", "at_100.marginal_sst_bytes_per_step|at_200.marginal_sst_bytes_per_step", "linear", "", 0},
      {"W5 storage", "marginal logical bytes/step, steps 50→100 / 100→200", "at_100.marginal_logical_bytes_per_step|at_200.marginal_logical_bytes_per_step", "linear", "", 0},
      {"W6 memory", "orchestrator RSS, MB (100,000 queued, settled)", "rss_mb", "≤ 300", "<=", 300},
      {"W6 memory", "RSS bytes per queued run", "bytes_per_queued_run", "—", "", 0},
      {"W6 memory", "RSS 1 s after the last create / peak, MB", "rss_after_1s_mb|peak_rss_mb", "—", "", 0},
      {"W7 fan-out", "tool_use turn journaled → parent RUNNING again, ms ({children} children; p50 / max of the fan-outs)", "turn_to_parent_running_ms.p50|turn_to_parent_running_ms.max", "—", "", 0},
      {"W7 fan-out", "of which turn → last child ended / → parent queued again / → RUNNING, ms (p50)", "turn_to_last_child_finished_ms.p50|last_child_finished_to_resumed_ms.p50|resumed_to_running_ms.p50", "—", "", 0},
      {"W7 fan-out", "Baton CPU (orchestrator + workers) per child / per plain one-step run, ms", "cpu_ms_per_child.baton|cpu_ms_per_plain_run.baton", "—", "", 0},
      {"W7 fan-out", "CPU per child ÷ per plain run (tree watched)", "cpu_ratio", "≤ 1.3", "<=", 1.3},
      {"W7 fan-out", "CPU per child ÷ per plain run (only the parent watched)", "cpu_ratio_parent_watched", "—", "", 0},
      {"W8 approval", "DecideApproval sent → tool ran (audit log) p50 / p99, ms", "decide_to_tool_ms.p50|decide_to_tool_ms.p99", "p99 ≤ 50", "<=", 50},
      {"W8 approval", "DecideApproval round trip p50 / p99, ms", "decide_rpc_ms.p50|decide_rpc_ms.p99", "—", "", 0},
      {"W8 approval", "sent → run queued again / RUNNING / ToolCallStarted event, ms (p50)", "decide_to_resumed_event_ms.p50|decide_to_running_event_ms.p50|decide_to_tool_started_event_ms.p50", "—", "", 0},
      {"W9 wide", "map items completed/s (1,000 one-step nodes, max_parallel 256, 4 × 64 slots)", "map_nodes_per_s", "≥ 1,750", ">=", 1750},
      {"W9 wide", "planner / map / join, ms", "plan_ms|map_ms|join_ms", "—", "", 0},
      {"W9 wide", "orchestrator CPU per node / per plain one-step run (W1's way), ms", "cpu_ms_per_node.orchestrator|cpu_ms_per_plain_run.orchestrator", "—", "", 0},
      {"W9 wide", "orchestrator CPU per node ÷ per plain run", "cpu_ratio_orchestrator", "≤ 1.3", "<=", 1.3},
      {"W9 wide", "Baton CPU (orchestrator + workers) per node ÷ per plain run", "cpu_ratio_baton", "—", "", 0},
      {"W10 deep", "edge: a node run's end → the next one leased, p50 / p99, ms (run records, whole ms)", "edge_ms.p50|edge_ms.p99", "p50 ≤ 5", "<=", 5, 0},
      {"W10 deep", "the same at the driver: arrival of the end → of the next RUNNING, p50 / p99, ms", "edge_client_ms.p50|edge_client_ms.p99", "—", "", 0},
      {"W10 deep", "a node run's end → the next one's model call started (worker clock), p50 / p99, ms", "edge_to_model_call_ms.p50|edge_to_model_call_ms.p99", "—", "", 0},
      {"W10 deep", "per node: lease → next node's lease, p50 / p99, ms", "lease_to_next_lease_ms.p50|lease_to_next_lease_ms.p99", "—", "", 0},
      {"W5-graph storage", "SST bytes per node, chains of 10 / 50 / 200 (compacted)", "chain_10.sst_bytes_per_node|chain_50.sst_bytes_per_node|chain_200.sst_bytes_per_node", "—", "", 0},
      {"W5-graph storage", "marginal logical bytes per node, chains 10→50 / 50→200", "chain_50.marginal_logical_bytes_per_node|chain_200.marginal_logical_bytes_per_node", "linear", "", 0},
      {"W5-graph storage", "bytes the orchestrator wrote per node while it ran (wchar), chains of 10 / 50 / 200", "chain_10.written_bytes_per_node|chain_50.written_bytes_per_node|chain_200.written_bytes_per_node", "—", "", 0},
      {"W5-graph storage", "SST bytes per node, maps of 10 / 100 / 1,000 (+ planner and join)", "map_10.sst_bytes_per_node|map_100.sst_bytes_per_node|map_1000.sst_bytes_per_node", "—", "", 0},
      {"W5-graph storage", "marginal logical bytes per node, maps 10→100 / 100→1,000", "map_100.marginal_logical_bytes_per_node|map_1000.marginal_logical_bytes_per_node", "linear", "", 0},
      {"W5-graph storage", "bytes the orchestrator wrote per node while it ran (wchar), maps of 10 / 100 / 1,000", "map_10.written_bytes_per_node|map_100.written_bytes_per_node|map_1000.written_bytes_per_node", "—", "", 0},
  };
  std::string out;
  absl::StrAppend(&out, "Measured on ", meta.value("machine", ""), ". ", RunsSentence(workloads, meta),
                  " Medians; the range is min-max over the repeats.\n\n");
  absl::StrAppend(&out, "| workload | metric | target | median | range | met |\n");
  absl::StrAppend(&out, "|---|---|---|---|---|---|\n");
  std::string linear_note;
  for (const Row& row : rows) {
    const std::string key = KeyOf(row.workload);
    if (!workloads.contains(key)) continue;
    const json& w = workloads[key];
    std::vector<std::string> values, ranges;
    std::vector<double> numbers;
    size_t start = 0;
    while (true) {
      size_t bar = row.path.find('|', start);
      std::string path = row.path.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
      const json* v = At(w["median"], path);
      const json* r = At(w["range"], path);
      values.push_back(v && v->is_number() ? Num(v->get<double>()) : "n/a");
      if (v && v->is_number()) numbers.push_back(v->get<double>());
      ranges.push_back(r && r->is_array() && r->size() == 2
                           ? absl::StrCat(Num((*r)[0].get<double>()), "–", Num((*r)[1].get<double>()))
                           : "n/a");
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    std::string met = "";
    if (!row.op.empty() && !numbers.empty()) {
      const double v = row.target_figure >= 0 && row.target_figure < static_cast<int>(numbers.size())
                           ? numbers[row.target_figure]
                           : numbers.back();
      const bool ok = row.op == ">=" ? v >= row.bound : row.op == "<=" ? v <= row.bound : v == row.bound;
      met = ok ? "yes" : "**no**";
    }
    if (row.target == "linear" && numbers.size() >= 2) {
      const double lo = *std::min_element(numbers.begin(), numbers.end());
      const double hi = *std::max_element(numbers.begin(), numbers.end());
      met = lo > 0 && hi <= lo * 1.2 ? "yes" : "**no**";
    }
    std::string joined, joined_ranges;
    for (size_t i = 0; i < values.size(); ++i) {
      absl::StrAppend(&joined, i ? " / " : "", values[i]);
      absl::StrAppend(&joined_ranges, i ? " / " : "", ranges[i]);
    }
    std::string metric = row.metric;
    if (const size_t at = metric.find("{children}"); at != std::string::npos) {
      const json* children = At(w["median"], "children");
      metric.replace(at, 10, children && children->is_number() ? Num(children->get<double>()) : "?");
    }
    // What the secured stacks had on (--secure-parts), as the workload recorded it.
    if (const size_t at = metric.find("{secured}"); at != std::string::npos) {
      const json* secured = At(w["median"], "secured");
      metric.replace(at, 9, secured && secured->is_string() ? secured->get<std::string>() : "?");
    }
    absl::StrAppend(&out, "| ", row.workload, " | ", metric, " | ", row.target, " | ", joined, " | ",
                    joined_ranges, " | ", met, " |\n");
  }
  if (workloads.contains("W5")) {
    absl::StrAppend(&out,
                    "\nW5 `linear`: the bytes a step adds do not grow with the transcript: the marginal bytes per "
                    "step of the two windows are within 20% of each other.\n");
  }
  if (workloads.contains("W5-graph")) {
    absl::StrAppend(&out,
                    "\nW5-graph `linear`: the bytes a node adds do not grow with the graph: the marginal bytes per "
                    "node between the sizes are within 20% of each other.\n");
  }
  return out;
}

json MergeWithPrevious(const json& results, const json& previous) {
  json merged = results;
  if (previous.is_discarded() || !previous.is_object() || !previous.contains("workloads")) return merged;
  const json& meta = previous.contains("meta") ? previous["meta"] : json::object();
  for (auto it = previous["workloads"].begin(); it != previous["workloads"].end(); ++it) {
    if (merged["workloads"].contains(it.key())) continue;
    json w = it.value();
    if (!w.contains("run")) w["run"] = RunOf(w, meta);
    merged["workloads"][it.key()] = std::move(w);
  }
  return merged;
}

absl::Status UpdateDoc(const std::string& path, const std::string& section) {
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string block = absl::StrCat(kBeginMarker, "\n\n", section, "\n", kEndMarker);
  const size_t begin = text.find("<!-- bench:begin");
  const size_t end = text.find(kEndMarker);
  if (begin != std::string::npos && end != std::string::npos && end > begin) {
    text.replace(begin, end + std::string(kEndMarker).size() - begin, block);
  } else {
    if (text.empty()) text = "# Performance\n";
    absl::StrAppend(&text, "\n## Results\n\n", block, "\n");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.good()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return absl::UnavailableError(absl::StrCat("cannot rename to ", path));
  return absl::OkStatus();
}

}  // namespace baton::bench
