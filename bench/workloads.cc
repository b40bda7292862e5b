#include "bench/workloads.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bench/process.h"
#include "bench/run_client.h"
#include "bench/otlp_sink.h"
#include "bench/stack.h"
#include "bench/stats.h"
#include "bench/store_size.h"
#include "bench/workload_common.h"

namespace baton::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

SubmitOptions NoWatch() {
  SubmitOptions o;
  o.watch = false;
  return o;
}

// Figures of one load phase.
json LoadFigures(const std::vector<RunRecord>& records) {
  std::vector<double> start_ms, to_created_ms, created_to_start_ms, create_ms, e2e_ms;
  absl::Time first = absl::InfiniteFuture(), last = absl::InfinitePast();
  int64_t succeeded = 0, failed = 0, steps = 0;
  for (const RunRecord& r : records) {
    first = std::min(first, r.submit);
    if (!r.ok || r.state != v1::SUCCEEDED) {
      ++failed;
      continue;
    }
    ++succeeded;
    steps += r.model_calls;
    last = std::max(last, r.done);
    // Event times are whole milliseconds (truncated): +0.5 centres the error.
    if (r.first_start_ms > 0) start_ms.push_back(r.first_start_ms + 0.5 - UnixMs(r.submit));
    // The same in two parts: to the run's creation in the orchestrator (the call's way
    // in and its handling), and from there to its lease (waiting for a worker's poll).
    if (r.create_time_ms > 0) {
      to_created_ms.push_back(r.create_time_ms + 0.5 - UnixMs(r.submit));
      if (r.first_start_ms > 0) created_to_start_ms.push_back(static_cast<double>(r.first_start_ms - r.create_time_ms));
    }
    create_ms.push_back(absl::ToDoubleMilliseconds(r.created - r.submit));
    e2e_ms.push_back(absl::ToDoubleMilliseconds(r.done - r.submit));
  }
  const double seconds = succeeded > 0 ? absl::ToDoubleSeconds(last - first) : 0;
  json out;
  out["runs"] = records.size();
  out["succeeded"] = succeeded;
  out["failed"] = failed;
  out["seconds"] = seconds;
  out["runs_per_s"] = seconds > 0 ? succeeded / seconds : 0;
  out["steps"] = steps;
  out["steps_per_s"] = seconds > 0 ? steps / seconds : 0;
  out["submit_to_start_ms"] = Summary(start_ms);
  out["submit_to_created_ms"] = Summary(to_created_ms);
  out["created_to_start_ms"] = Summary(created_to_start_ms);
  out["create_rpc_ms"] = Summary(create_ms);
  out["submit_to_done_ms"] = Summary(e2e_ms);
  return out;
}

// CPU seconds per process kind between two Stack::CpuSeconds() snapshots, with
// the driver's own, and as cores busy over `seconds`.
json CpuUsed(const json& before, const json& after, double driver_seconds, double seconds) {
  json out;
  double total = 0;
  for (const char* k : {"orchestrator", "workers", "sim"}) {
    const double used = after[k].get<double>() - before[k].get<double>();
    out[k] = used;
    total += used;
  }
  out["driver"] = driver_seconds;
  total += driver_seconds;
  out["total"] = total;
  out["cores_busy"] = seconds > 0 ? total / seconds : 0;
  // What the rest of the machine (other users' builds and tests) took meanwhile.
  const double host = after["host"].get<double>() - before["host"].get<double>();
  out["other_processes_cores_busy"] = seconds > 0 ? std::max(0.0, host - total) / seconds : 0;
  return out;
}

// AppendStep round trips the workers wrote to their stats files, in ms.
std::vector<double> AppendLatencies(const Stack& stack, int workers) {
  std::vector<double> out;
  for (int i = 0; i < workers; ++i) {
    json stats = json::parse(ReadFileOrEmpty(stack.stats_file(i)), nullptr, false);
    if (stats.is_discarded() || !stats.contains("append_step_us")) continue;
    for (const json& us : stats["append_step_us"]) out.push_back(us.get<double>() / 1000.0);
  }
  return out;
}

// Steps per AppendSteps call over the workers' stats files (0 without calls).
double StepsPerAppendCall(const Stack& stack, int workers) {
  double calls = 0, steps = 0;
  for (int i = 0; i < workers; ++i) {
    json stats = json::parse(ReadFileOrEmpty(stack.stats_file(i)), nullptr, false);
    if (stats.is_discarded()) continue;
    calls += stats.value("append_calls", 0.0);
    steps += stats.value("append_steps", 0.0);
  }
  return calls > 0 ? steps / calls : 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// W1 dispatch: one-step runs on 4 workers x 64 slots.

namespace {

// ms of CPU per unit of work (a run, a step) of each process kind, from CpuUsed's
// figures.
json CpuMsPer(const json& cpu_s, double units) {
  auto per = [&](double seconds) { return units > 0 ? seconds * 1000.0 / units : 0.0; };
  const double orchestrator = cpu_s["orchestrator"].get<double>(), workers = cpu_s["workers"].get<double>();
  const double sim = cpu_s["sim"].get<double>();
  return json{{"orchestrator", per(orchestrator)},
              {"workers", per(workers)},
              {"baton", per(orchestrator + workers)},
              {"driver", per(cpu_s["driver"].get<double>())},
              {"sim", per(sim)},
              // The simulator's code and work per unit are the same in every run: Baton's
              // CPU divided by its CPU moves less with the box's speed than milliseconds,
              // which move by 20-30% between tables an hour apart.
              {"baton_over_sim", sim > 0 ? (orchestrator + workers) / sim : 0.0}};
}

// One W1 stack in o.work_dir/`dir`: warm-up, full load and, with `half_load`, half
// load on the same stack. `label` prefixes the log lines.
json W1Stack(const BenchOptions& o, const std::string& label, const std::string& dir, const Protections& protections,
            bool half_load) {
  StackOptions so = BaseStack(o, dir);
  so.workers = o.workers;
  so.concurrency = 64;
  so.protections = protections;
  const int slots = so.workers * so.concurrency;
  Stack stack(so);
  OrDie(stack.Start(), label + ": start");
  OrDie(stack.WaitServing(absl::Seconds(30)), label + ": serving");
  RunClient client(stack.address(), o.channels, stack.client_options(), o.batched_watch);
  const v1::AgentSpec agent = Agent(o, /*echo_tool=*/false, 4);
  auto make = [&](int64_t i) { return Request(agent, absl::StrCat("w1 run ", i)); };
  SubmitOptions watch;
  // Warm-up (connections, allocator, RocksDB memtables): not counted.
  RunClosedLoop(client, make, std::min<int64_t>(Scaled(o, 20'000), 1'000), slots, watch);

  const int64_t total = Scaled(o, 20'000);
  Log(absl::StrCat(label, ": ", total, " runs, full load (", 2 * slots, " outstanding)"));
  json cpu0 = stack.CpuSeconds();
  double driver0 = DriverCpuSeconds();
  json full = LoadFigures(RunClosedLoop(client, make, total, 2 * slots, watch));
  full["cpu_s"] = CpuUsed(cpu0, stack.CpuSeconds(), DriverCpuSeconds() - driver0, full["seconds"].get<double>());
  full["cpu_ms_per_run"] = CpuMsPer(full["cpu_s"], full["succeeded"].get<double>());
  json out = {{"workers", so.workers}, {"concurrency", so.concurrency}, {"full", full}};
  Log(absl::StrCat(label, ": ", full["runs_per_s"].get<double>(), " runs/s"));
  if (half_load) {
    const double rate = full["runs_per_s"].get<double>() / 2;
    const int64_t half_total = std::clamp<int64_t>(static_cast<int64_t>(rate * 10), 200, total);
    Log(absl::StrCat(label, ": half load: ", half_total, " runs at ", rate, "/s"));
    cpu0 = stack.CpuSeconds();
    driver0 = DriverCpuSeconds();
    json half = LoadFigures(RunOpenLoop(client, make, half_total, rate, watch));
    half["cpu_s"] = CpuUsed(cpu0, stack.CpuSeconds(), DriverCpuSeconds() - driver0, half["seconds"].get<double>());
    half["offered_runs_per_s"] = rate;
    out["half"] = half;
  }
  stack.StopWorkers();
  stack.StopOrchestrator();
  return out;
}

// One W2 stack in o.work_dir/`dir`. `label` prefixes the log lines.
// `configure` changes the stack's options (protections, observability) before it starts,
// `change_agent` (may be empty) the runs' agent.
json W2Stack(const BenchOptions& o, const std::string& label, const std::string& dir,
             const std::function<void(StackOptions&)>& configure, const std::function<void(Stack&, json&)>& after = {},
             const std::function<void(v1::AgentSpec&)>& change_agent = {}) {
  StackOptions so = BaseStack(o, dir);
  so.workers = o.w2_workers;
  so.concurrency = o.w2_slots;
  configure(so);
  const int slots = so.workers * so.concurrency;
  Stack stack(so);
  OrDie(stack.Start(), label + ": start");
  OrDie(stack.WaitServing(absl::Seconds(30)), label + ": serving");
  RunClient client(stack.address(), o.channels, stack.client_options(), o.batched_watch);
  v1::AgentSpec agent = Agent(o, /*echo_tool=*/true, 20);
  if (change_agent) change_agent(agent);
  auto make = [&](int64_t i) { return Request(agent, absl::StrCat("[sim steps=10 tool=echo text=w2 done] w2 run ", i)); };
  SubmitOptions watch;
  RunClosedLoop(client, make, std::min<int64_t>(Scaled(o, 1'000), 100), slots, watch);  // warm-up
  // The warm-up's AppendStep samples are dropped with the workers' first stats:
  // the stats files are written at drain, so count only the measured phase by
  // restarting the workers.
  stack.StopWorkers();
  for (int i = 0; i < so.workers; ++i) {
    fs::remove(stack.stats_file(i));
    stack.StartWorker(i);
  }
  const int64_t total = Scaled(o, 1'000);
  Log(absl::StrCat(label, ": ", total, " runs x 10 steps"));
  const json cpu0 = stack.CpuSeconds();
  const double driver0 = DriverCpuSeconds();
  std::vector<RunRecord> records = RunClosedLoop(client, make, total, 2 * slots, watch);
  json figures = LoadFigures(records);
  figures["cpu_s"] =
      CpuUsed(cpu0, stack.CpuSeconds(), DriverCpuSeconds() - driver0, figures["seconds"].get<double>());
  figures["cpu_ms_per_step"] = CpuMsPer(figures["cpu_s"], figures["steps"].get<double>());
  stack.StopWorkers();
  std::vector<double> acks = AppendLatencies(stack, so.workers);
  figures["steps_per_append_call"] = StepsPerAppendCall(stack, so.workers);
  figures["workers"] = so.workers;
  if (after) after(stack, figures);
  stack.StopOrchestrator();
  figures["append_step_ack_ms"] = Summary(acks);
  figures["appends_per_s"] =
      figures["seconds"].get<double>() > 0 ? acks.size() / figures["seconds"].get<double>() : 0;
  Log(absl::StrCat(label, ": ", figures["steps_per_s"].get<double>(), " steps/s, ack p99 ",
                   figures["append_step_ack_ms"]["p99"].get<double>(), " ms"));
  return figures;
}

// Repeat `rep` of a paired workload: `once(false)` on a plain stack and `once(true)`
// on one with something turned on (called `kind`), back to back, the order
// alternating between repeats, so the machine's drift (other users' builds) hits both
// alike. {"plain", kind, "order", "ratio"}, the ratio being kind ÷ plain of the figure
// at `throughput` (a JSON pointer).
json Pair(int rep, const std::string& kind, const std::string& throughput, const std::function<json(bool on)>& once) {
  const bool on_first = rep % 2 == 1;
  json out;
  for (const bool on : {on_first, !on_first}) out[on ? kind : "plain"] = once(on);
  out["order"] = absl::StrCat(on_first ? kind : "plain", " first");
  const json::json_pointer at(throughput);
  const double plain = out["plain"].value(at, 0.0), changed = out[kind].value(at, 0.0);
  out["ratio"] = plain > 0 ? changed / plain : 0.0;
  Log(absl::StrCat(kind, " ÷ plain: ", out["ratio"].get<double>()));
  return out;
}

// A pair of a plain stack and one with o.secured; "secured" names what it turns on.
json SecurePair(const BenchOptions& o, int rep, const std::string& throughput,
                const std::function<json(const std::string& kind, const Protections&)>& once) {
  json out = Pair(rep, "secure", throughput, [&](bool secure) {
    return once(secure ? "secure" : "plain", secure ? o.secured : Protections{});
  });
  out["secured"] = o.secured.Describe();
  return out;
}

}  // namespace

nlohmann::json RunW1Dispatch(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return W1Stack(o, absl::StrCat("W1 #", rep), absl::StrCat("w1-", rep), Protections{}, /*half_load=*/true);
  });
}

nlohmann::json RunW1Secure(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return SecurePair(o, rep, "/full/runs_per_s", [&](const std::string& kind, const Protections& protections) {
      // The full load only: the target is on its throughput.
      return W1Stack(o, absl::StrCat("W1-secure #", rep, " ", kind), absl::StrCat("w1-secure-", rep, "-", kind),
                     protections, /*half_load=*/false);
    });
  });
}

// ---------------------------------------------------------------------------
// W2 steps: runs of 10 steps (9 echo calls, then the answer).

nlohmann::json RunW2Steps(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return W2Stack(o, absl::StrCat("W2 #", rep), absl::StrCat("w2-", rep), [](StackOptions&) {});
  });
}

// W2 with AgentSpec.defer_safe_tool_results (echo is read-only: one write per step
// instead of two), paired with plain W2 on the same shape.
nlohmann::json RunW2Deferred(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return Pair(rep, "deferred", "/steps_per_s", [&](bool deferred) {
      const std::string kind = deferred ? "deferred" : "plain";
      return W2Stack(
          o, absl::StrCat("W2-deferred #", rep, " ", kind), absl::StrCat("w2-deferred-", rep, "-", kind),
          [](StackOptions&) {}, {}, [&](v1::AgentSpec& agent) { agent.set_defer_safe_tool_results(deferred); });
    });
  });
}

nlohmann::json RunW2Secure(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return SecurePair(o, rep, "/steps_per_s", [&](const std::string& kind, const Protections& protections) {
      return W2Stack(o, absl::StrCat("W2-secure #", rep, " ", kind), absl::StrCat("w2-secure-", rep, "-", kind),
                     [&](StackOptions& so) {
                       // As when its target was set: 4 × 64 (--workers).
                       so.workers = o.workers;
                       so.protections = protections;
                     });
    });
  });
}

nlohmann::json RunW2Observed(const BenchOptions& o) {
  return Repeat(o.repeats, [&](int rep) {
    return Pair(rep, "observed", "/steps_per_s", [&](bool observed) {
      const std::string kind = observed ? "observed" : "plain";
      // Spans go to a receiver in the driver that only counts them, as to a collector
      // on the same host.
      OtlpSink sink;
      Observability observability;
      if (observed) {
        observability.metrics = observability.tracing = true;
        observability.otlp_endpoint = OrDie(sink.Start(), "W2-obs: OTLP sink");
      }
      return W2Stack(
          o, absl::StrCat("W2-obs #", rep, " ", kind), absl::StrCat("w2-obs-", rep, "-", kind),
          [&](StackOptions& so) {
            // As when its target was set: 4 × 64 (--workers).
            so.workers = o.workers;
            so.observability = observability;
          },
          [&](Stack& stack, json& figures) {
            if (!observed) return;
            // What shows that both were on: the spans that came (the workers have
            // flushed theirs at drain) and a scrape of the orchestrator.
            absl::StatusOr<std::string> scraped = stack.ScrapeMetrics("orchestrator");
            figures["metrics_scrape_bytes"] = scraped.ok() ? static_cast<int64_t>(scraped->size()) : -1;
            figures["spans_exported"] = sink.spans();  // the warm-up's included
            figures["otlp_requests"] = sink.requests();
          });
    });
  });
}

// ---------------------------------------------------------------------------
// W3 recovery: SIGKILL one of 4 workers with 200 runs in flight.

namespace {

struct AuditLine {
  std::string worker;
  std::string key;  // <run_id>:<step>:<tool_use_id>
  int64_t time_ms = 0;  // when the call ran (worker clock, this host)
};

std::vector<AuditLine> ReadAudit(const Stack& stack, int workers) {
  std::vector<AuditLine> lines;
  for (int i = 0; i < workers; ++i) {
    for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(stack.audit_log(i)), '\n', absl::SkipEmpty())) {
      json j = json::parse(line, nullptr, false);  // a SIGKILL may cut the last line
      if (j.is_discarded() || !j.contains("idempotency_key")) continue;
      lines.push_back({stack.worker_id(i), j["idempotency_key"].get<std::string>(), j.value("time_ms", int64_t{0})});
    }
  }
  return lines;
}

}  // namespace

nlohmann::json RunW3Recovery(const BenchOptions& o) {
  return Repeat(o.slow_repeats, [&](int rep) {
    StackOptions so = BaseStack(o, absl::StrCat("w3-", rep));
    so.workers = 4;
    // Room on the three survivors for every run of the victim.
    so.concurrency = 100;
    so.lease_ttl_ms = o.w3_lease_ttl_ms;
    Stack stack(so);
    OrDie(stack.Start(), "W3: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W3: serving");
    RunClient client(stack.address(), o.channels);
    // Runs long enough to be running before the kill and well after the recovery,
    // at a moderate load (200 runs x 2 steps/s): this workload is about recovery.
    const int sleep_ms = 500;
    const int steps = static_cast<int>(std::ceil((o.w3_lease_ttl_ms + 10'000.0) / sleep_ms));
    const v1::AgentSpec agent = Agent(o, /*echo_tool=*/true, steps + 5);
    auto make = [&](int64_t i) {
      return Request(agent, absl::StrCat("[sim steps=", steps, " tool=echo sleep_ms=", sleep_ms, " text=w3 done] w3 run ", i));
    };
    struct Started {
      absl::Mutex mu;
      std::map<std::string, std::string> runs ABSL_GUARDED_BY(mu);  // run -> worker holding it
    } started;
    SubmitOptions watch;
    watch.keep_events = true;
    watch.on_event = [&started](const v1::RunEvent& e) {
      if (e.has_state_changed() && e.state_changed().state() == v1::RUNNING) {
        absl::MutexLock lock(&started.mu);
        started.runs[e.run_id()] = e.state_changed().worker_id();
      }
    };
    const int64_t total = 200;
    std::vector<RunRecord> records;
    std::thread load([&] { records = RunClosedLoop(client, make, total, total, watch); });
    {
      absl::MutexLock lock(&started.mu);
      auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(started.mu) {
        return static_cast<int64_t>(started.runs.size()) >= total;
      };
      started.mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(60));
    }
    absl::SleepFor(absl::Seconds(2));  // every run has recorded tool calls by now
    // The victim is the worker holding the most runs (polls decide who gets what).
    int victim = 0;
    {
      absl::MutexLock lock(&started.mu);
      std::map<std::string, int> held;
      for (const auto& [run, worker] : started.runs) ++held[worker];
      for (int i = 1; i < so.workers; ++i) {
        if (held[stack.worker_id(i)] > held[stack.worker_id(victim)]) victim = i;
      }
    }
    const std::string victim_id = stack.worker_id(victim);
    const absl::Time kill_time = absl::Now();
    stack.SignalWorker(victim, SIGKILL);
    Log(absl::StrCat("W3 #", rep, ": killed ", victim_id, "; lease TTL ", so.lease_ttl_ms, " ms, ", steps,
                     "-step runs"));
    load.join();
    const double kill_ms = UnixMs(kill_time);

    // The victim's runs, and when each was leased again (event times, whole ms).
    std::vector<double> rerun_s;
    int64_t succeeded = 0, victim_runs = 0, not_rerun = 0;
    std::vector<std::string> victim_run_ids;
    for (const RunRecord& r : records) {
      succeeded += r.ok && r.state == v1::SUCCEEDED;
      std::vector<const v1::RunEvent*> leases;
      for (const v1::RunEvent& e : r.events) {
        if (e.has_state_changed() && e.state_changed().state() == v1::RUNNING) leases.push_back(&e);
      }
      for (size_t k = 0; k < leases.size(); ++k) {
        const bool held_at_kill =
            leases[k]->time_ms() <= kill_ms && (k + 1 == leases.size() || leases[k + 1]->time_ms() > kill_ms);
        if (!held_at_kill || leases[k]->state_changed().worker_id() != victim_id) continue;
        ++victim_runs;
        victim_run_ids.push_back(r.run_id);
        if (k + 1 < leases.size()) {
          rerun_s.push_back((leases[k + 1]->time_ms() + 0.5 - kill_ms) / 1000.0);
        } else {
          ++not_rerun;
        }
      }
    }

    // Tool calls executed again although their result was recorded: executions
    // (tool audit log) that ran after the call's recorded result was written (the
    // result's journal time is taken by the worker right after the call returns).
    // A call that may have run but whose result was not recorded (its worker was
    // killed or lost its lease) may legitimately run again: echo is read-only.
    std::map<std::string, std::vector<const AuditLine*>> executions;  // key -> runs of it
    const std::vector<AuditLine> audit = ReadAudit(stack, so.workers);
    for (const AuditLine& line : audit) executions[line.key].push_back(&line);
    int64_t recorded = 0, recorded_rerun = 0, unrecorded_rerun = 0, duplicate_results = 0;
    std::vector<std::string> examples;
    for (const RunRecord& r : records) {
      absl::StatusOr<v1::Transcript> t = GetTranscript(client.stub(), r.run_id);
      if (!t.ok()) continue;
      std::map<std::string, int64_t> result_time;  // key -> first recorded result's time
      for (const v1::JournalEntry& e : t->entries()) {
        if (!e.has_tool_result()) continue;
        const std::string key = absl::StrCat(r.run_id, ":", e.step(), ":", e.tool_result().tool_use_id());
        if (result_time.count(key)) {
          ++duplicate_results;
          continue;
        }
        ++recorded;
        result_time[key] = e.time_ms();
      }
      for (const auto& [key, at] : result_time) {
        const std::vector<const AuditLine*>& runs = executions[key];
        int64_t after = 0;
        for (const AuditLine* line : runs) after += line->time_ms > at;
        recorded_rerun += after;
        unrecorded_rerun += std::max<int64_t>(0, static_cast<int64_t>(runs.size()) - 1 - after);
        if (after > 0 && examples.size() < 5) examples.push_back(key);
      }
    }
    stack.StopWorkers();
    stack.StopOrchestrator();
    json out;
    out["lease_ttl_s"] = so.lease_ttl_ms / 1000.0;
    out["retry_backoff_s"] = so.retry_backoff_ms / 1000.0;
    out["runs"] = total;
    out["succeeded"] = succeeded;
    out["victim"] = victim_id;
    out["victim_runs"] = victim_runs;
    out["victim_runs_not_rerun"] = not_rerun;
    // Undefined (null: "n/a" in the table) unless every run of the victim ran again.
    if (rerun_s.empty() || not_rerun > 0) {
      out["kill_to_all_rerun_s"] = nullptr;
      out["kill_to_rerun_p50_s"] = nullptr;
    } else {
      out["kill_to_all_rerun_s"] = *std::max_element(rerun_s.begin(), rerun_s.end());
      out["kill_to_rerun_p50_s"] = Percentile(rerun_s, 50);
    }
    out["tool_results_recorded"] = recorded;
    out["recorded_tool_calls_executed_again"] = recorded_rerun;
    out["duplicate_recorded_results"] = duplicate_results;
    out["unrecorded_tool_calls_executed_again"] = unrecorded_rerun;
    out["tool_executions"] = audit.size();
    out["examples_executed_again"] = examples;
    int64_t lost_leases = 0;
    for (int i = 0; i < so.workers; ++i) {
      if (i == victim) continue;
      for (absl::string_view line :
           absl::StrSplit(ReadFileOrEmpty(absl::StrCat(so.dir, "/worker-", i, ".log")), '\n')) {
        lost_leases += absl::StrContains(line, "lost; dropping the run");
      }
    }
    out["survivor_leases_lost"] = lost_leases;
    Log(absl::StrCat("W3 #", rep, ": all of the victim's ", victim_runs, " runs leased again after ",
                     out["kill_to_all_rerun_s"].dump(), " s; recorded calls executed again: ", recorded_rerun));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W4 restart: SIGKILL the orchestrator with 10,000 runs queued and 200 running.

nlohmann::json RunW4Restart(const BenchOptions& o) {
  return Repeat(o.slow_repeats, [&](int rep) {
    StackOptions so = BaseStack(o, absl::StrCat("w4-", rep));
    so.workers = 4;
    so.concurrency = 50;
    so.orchestrator_log_level = "info";  // for its "recovered N queued" line
    const int running = so.workers * so.concurrency;
    Stack stack(so);
    OrDie(stack.Start(), "W4: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W4: serving");
    RunClient client(stack.address(), o.channels);
    // 200 runs that outlast the test, then runs that must wait in the queue.
    const v1::AgentSpec long_agent = Agent(o, /*echo_tool=*/true, 1'000);
    std::vector<RunRecord> long_runs = RunClosedLoop(
        client, [&](int64_t i) { return Request(long_agent, absl::StrCat("[sim steps=900 tool=echo sleep_ms=1000 text=w4 done] w4 long ", i)); },
        running, running, NoWatch());
    const absl::Time until = absl::Now() + absl::Seconds(60);
    int64_t now_running = 0;
    while (absl::Now() < until) {
      now_running = 0;
      for (const RunRecord& r : long_runs) {
        absl::StatusOr<v1::Run> run = GetRun(client.stub(), r.run_id);
        now_running += run.ok() && run->state() == v1::RUNNING;
      }
      if (now_running == running) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    const int64_t queued_total = Scaled(o, 10'000);
    const v1::AgentSpec short_agent = Agent(o, /*echo_tool=*/false, 4);
    std::vector<RunRecord> queued = RunClosedLoop(
        client, [&](int64_t i) { return Request(short_agent, absl::StrCat("w4 queued ", i)); }, queued_total, 512,
        NoWatch());
    std::map<std::string, int64_t> journal_before;
    for (const RunRecord& r : long_runs) {
      absl::StatusOr<v1::Run> run = GetRun(client.stub(), r.run_id);
      if (run.ok()) journal_before[r.run_id] = run->last_journal_seq();
    }
    Log(absl::StrCat("W4 #", rep, ": ", now_running, " running, ", queued.size(), " queued; SIGKILL orchestrator"));

    const absl::Time kill_time = absl::Now();
    stack.SignalOrchestrator(SIGKILL);
    stack.WaitOrchestrator(absl::Seconds(10));
    OrDie(stack.StartOrchestrator(/*wait_for_port=*/false), "W4: restart");
    const absl::Time spawned = stack.orchestrator()->start_time();
    const absl::Time serving = OrDie(stack.WaitServing(absl::Seconds(60)), "W4: serving again");

    // The running ones go on under their recovered leases: time until every one of
    // them has journaled a step since the kill, on its first attempt. Measured before
    // the check of every acknowledged run below, whose 10,000 reads would add to it.
    int64_t progressed = 0;
    absl::Time all_progressed = absl::InfiniteFuture();
    for (const absl::Time until = absl::Now() + absl::Seconds(30); absl::Now() < until;) {
      progressed = 0;
      for (const RunRecord& r : long_runs) {
        absl::StatusOr<v1::Run> run = GetRun(client.stub(), r.run_id);
        progressed += run.ok() && run->state() == v1::RUNNING && run->attempt() == 1 &&
                      run->last_journal_seq() > journal_before[r.run_id];
      }
      if (progressed == running) {
        all_progressed = absl::Now();
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    // Every acknowledged run is there, in the state it had.
    int64_t acknowledged = 0, lost = 0, still_queued = 0, still_running = 0, other = 0;
    auto check = [&](const std::vector<RunRecord>& records, v1::RunState expected) {
      for (const RunRecord& r : records) {
        if (!r.ok) continue;  // never acknowledged
        ++acknowledged;
        absl::StatusOr<v1::Run> run = GetRun(client.stub(), r.run_id);
        if (!run.ok()) {
          ++lost;
          continue;
        }
        if (run->state() == v1::QUEUED) ++still_queued;
        else if (run->state() == v1::RUNNING) ++still_running;
        else ++other;
        (void)expected;
      }
    };
    check(long_runs, v1::RUNNING);
    check(queued, v1::QUEUED);
    // Which workers hold the runs that did not go on, with the logs kept.
    std::map<std::string, int> stuck_by_worker;
    if (progressed != running) {
      for (const RunRecord& r : long_runs) {
        absl::StatusOr<v1::Run> run = GetRun(client.stub(), r.run_id);
        if (run.ok() && !(run->state() == v1::RUNNING && run->attempt() == 1 &&
                          run->last_journal_seq() > journal_before[r.run_id])) {
          ++stuck_by_worker[run->worker_id()];
        }
      }
      KeepLogs(o, so.dir, absl::StrCat("w4-", rep));
    }
    std::string recovered_line;
    for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(stack.orchestrator_log()), '\n')) {
      if (absl::StrContains(line, "recovered ")) recovered_line = std::string(line.substr(line.find("recovered ")));
    }
    json out;
    out["queued_before"] = queued_total;
    out["running_before"] = now_running;
    out["restart_to_serving_s"] = absl::ToDoubleSeconds(serving - spawned);
    out["kill_to_serving_s"] = absl::ToDoubleSeconds(serving - kill_time);
    out["acknowledged"] = acknowledged;
    out["runs_lost"] = lost;
    out["queued_after"] = still_queued;
    out["running_after"] = still_running;
    out["other_state_after"] = other;
    out["running_runs_progressing_on_same_lease"] = progressed;
    out["stuck_running_runs_by_worker"] = stuck_by_worker;
    out["serving_to_all_running_progressed_s"] =
        all_progressed == absl::InfiniteFuture() ? -1.0 : absl::ToDoubleSeconds(all_progressed - serving);
    out["orchestrator_log"] = recovered_line;
    Log(absl::StrCat("W4 #", rep, ": serving ", out["restart_to_serving_s"].get<double>(),
                     " s after restart; lost ", lost, "; ", recovered_line));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W5 storage: one 200-step conversation, the database measured at 50, 100, 200.

nlohmann::json RunW5Storage(const BenchOptions& o) {
  return Repeat(o.slow_repeats, [&](int rep) {
    const int kSteps = 200;
    const std::vector<int> kAt = {50, 100};
    const v1::AgentSpec agent = Agent(o, /*echo_tool=*/true, kSteps + 10);
    const std::string input = absl::StrCat("[sim steps=", kSteps, " tool=echo text=w5 done] w5 conversation");

    // A first run of the same conversation gives the tool_use ids (the simulator
    // derives them from the first message and the position), so the measured run
    // can be held, inside the model call of the step after 50 and 100, by a
    // scripted delay: nothing is in flight at the orchestrator then.
    std::map<int, std::string> tool_use_id_of_step;
    {
      StackOptions so = BaseStack(o, absl::StrCat("w5-dry-", rep));
      so.workers = 1;
      so.concurrency = 1;
      Stack stack(so);
      OrDie(stack.Start(), "W5: start");
      OrDie(stack.WaitServing(absl::Seconds(30)), "W5: serving");
      RunClient client(stack.address(), 1);
      std::vector<RunRecord> r = RunClosedLoop(client, [&](int64_t) { return Request(agent, input); }, 1, 1, {});
      v1::Transcript t = OrDie(GetTranscript(client.stub(), r.at(0).run_id), "W5: transcript");
      for (const v1::JournalEntry& e : t.entries()) {
        if (e.has_tool_call()) tool_use_id_of_step[e.step()] = e.tool_call().tool_use_id();
      }
      stack.StopWorkers();
      stack.StopOrchestrator();
    }

    StackOptions so = BaseStack(o, absl::StrCat("w5-", rep));
    so.workers = 1;
    so.concurrency = 1;
    Stack stack(so);
    OrDie(stack.StartSim(), "W5: sim");
    // The empty database, as the orchestrator leaves it.
    OrDie(stack.StartOrchestrator(), "W5: orchestrator");
    stack.StopOrchestrator();
    const std::string snapshots = so.dir + "/snapshots";
    fs::create_directories(snapshots);
    fs::copy(stack.data_dir(), snapshots + "/0", fs::copy_options::recursive);
    OrDie(stack.StartOrchestrator(), "W5: orchestrator");
    stack.StartWorker(0);
    const int kHoldMs = 6'000;
    json replies = json::array();
    for (int at : kAt) replies.push_back({{"match", tool_use_id_of_step.at(at - 1)}, {"delay_ms", kHoldMs}});
    OrDie(stack.SimPost("/_sim/script", json{{"replies", replies}}.dump()), "W5: script");

    // Not watched: the watch would end at the first restart. Polled instead.
    RunClient client(stack.address(), 1);
    const RunRecord created =
        RunClosedLoop(client, [&](int64_t) { return Request(agent, input); }, 1, 1, NoWatch()).at(0);
    if (!created.ok) OrDie(absl::UnavailableError(created.error), "W5: create");
    const std::string run_id = created.run_id;
    std::map<int, int> steps_at_snapshot;  // snapshot -> steps the run had
    auto snapshot = [&](int name) {
      stack.StopOrchestrator();
      fs::copy(stack.data_dir(), absl::StrCat(snapshots, "/", name), fs::copy_options::recursive);
    };
    for (int at : kAt) {
      const absl::Time until = absl::Now() + absl::Seconds(60);
      int steps = 0;
      while (absl::Now() < until) {
        absl::StatusOr<v1::Run> run = GetRun(client.stub(), run_id);
        if (run.ok()) steps = run->steps();
        if (steps >= at) break;
        absl::SleepFor(absl::Milliseconds(10));
      }
      absl::SleepFor(absl::Milliseconds(100));  // the tool result of step `at` lands
      absl::StatusOr<v1::Run> run = GetRun(client.stub(), run_id);
      steps_at_snapshot[at] = run.ok() ? run->steps() : steps;
      snapshot(at);
      OrDie(stack.StartOrchestrator(), "W5: orchestrator restart");
    }
    absl::StatusOr<v1::Run> final_run;
    for (const absl::Time until = absl::Now() + absl::Seconds(120); absl::Now() < until;) {
      final_run = GetRun(client.stub(), run_id);
      if (final_run.ok() && (final_run->state() == v1::SUCCEEDED || final_run->state() == v1::FAILED)) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    steps_at_snapshot[kSteps] = final_run.ok() ? final_run->steps() : 0;
    stack.StopWorkers();
    snapshot(kSteps);

    json out;
    out["run_state"] = final_run.ok() ? v1::RunState_Name(final_run->state()) : "unknown";
    out["run_error"] = final_run.ok() ? final_run->error() : std::string(final_run.status().message());
    StoreSize empty = OrDie(CompactAndMeasure(snapshots + "/0"), "W5: measure empty");
    out["empty_db_sst_bytes"] = empty.sst_bytes;
    json points = json::array();
    int64_t prev_sst = empty.sst_bytes, prev_logical = empty.logical_bytes, prev_steps = 0;
    for (int at : {50, 100, kSteps}) {
      StoreSize size = OrDie(CompactAndMeasure(absl::StrCat(snapshots, "/", at)), "W5: measure");
      const int64_t steps = steps_at_snapshot[at];
      json p;
      p["steps"] = steps;
      p["sst_bytes"] = size.sst_bytes;
      p["wal_bytes"] = size.wal_bytes;
      p["logical_bytes"] = size.logical_bytes;
      p["sst_bytes_per_step"] = steps > 0 ? static_cast<double>(size.sst_bytes - empty.sst_bytes) / steps : 0;
      p["logical_bytes_per_step"] = steps > 0 ? static_cast<double>(size.logical_bytes - empty.logical_bytes) / steps : 0;
      p["marginal_sst_bytes_per_step"] =
          steps > prev_steps ? static_cast<double>(size.sst_bytes - prev_sst) / (steps - prev_steps) : 0;
      p["marginal_logical_bytes_per_step"] =
          steps > prev_steps ? static_cast<double>(size.logical_bytes - prev_logical) / (steps - prev_steps) : 0;
      p["logical_bytes_by_cf"] = size.logical_bytes_by_cf;
      p["records_by_cf"] = size.records_by_cf;
      p["sst_bytes_by_cf"] = size.sst_bytes_by_cf;
      points.push_back(p);
      out[absl::StrCat("at_", at)] = p;
      prev_sst = size.sst_bytes;
      prev_logical = size.logical_bytes;
      prev_steps = steps;
    }
    Log(absl::StrCat("W5 #", rep, ": ", points.dump()));
    return out;
  });
}

// ---------------------------------------------------------------------------
// W6 memory: orchestrator RSS with 100,000 queued runs and no workers.

nlohmann::json RunW6Memory(const BenchOptions& o) {
  return Repeat(o.slow_repeats, [&](int rep) {
    StackOptions so = BaseStack(o, absl::StrCat("w6-", rep));
    so.workers = 0;
    so.start_sim = false;
    Stack stack(so);
    OrDie(stack.Start(), "W6: start");
    OrDie(stack.WaitServing(absl::Seconds(30)), "W6: serving");
    const pid_t pid = stack.orchestrator()->pid();
    const int64_t baseline = OrDie(ResidentBytes(pid), "W6: RSS");
    RunClient client(stack.address(), o.channels);
    const v1::AgentSpec agent = Agent(o, /*echo_tool=*/false, 4);
    const int64_t total = Scaled(o, 100'000);
    Log(absl::StrCat("W6 #", rep, ": creating ", total, " queued runs"));
    const absl::Time start = absl::Now();
    std::vector<RunRecord> records = RunClosedLoop(
        client, [&](int64_t i) { return Request(agent, absl::StrCat("w6 queued run ", i)); }, total, 1'024,
        NoWatch());
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    int64_t created = 0;
    std::vector<double> create_ms;
    for (const RunRecord& r : records) {
      created += r.ok;
      create_ms.push_back(absl::ToDoubleMilliseconds(r.created - r.submit));
    }
    // What holding the runs costs, not what creating them left behind: the allocator
    // hands freed pages back within its decay time (10 s for jemalloc), so RSS is read
    // once it has not moved by 1 MB for 3 s (at most 30 s after the last create).
    absl::SleepFor(absl::Seconds(1));
    const int64_t after_1s = OrDie(ResidentBytes(pid), "W6: RSS");
    const absl::Time settle_start = absl::Now();
    int64_t rss = after_1s;
    absl::Time steady_since = settle_start;
    while (absl::Now() - steady_since < absl::Seconds(3) && absl::Now() - settle_start < absl::Seconds(30)) {
      absl::SleepFor(absl::Milliseconds(500));
      const int64_t now_rss = OrDie(ResidentBytes(pid), "W6: RSS");
      if (std::abs(now_rss - rss) >= (int64_t{1} << 20)) {
        rss = now_rss;
        steady_since = absl::Now();
      }
    }
    const double settle_s = absl::ToDoubleSeconds(steady_since - settle_start);
    const int64_t peak = OrDie(PeakResidentBytes(pid), "W6: peak RSS");
    stack.StopOrchestrator();
    json out;
    out["queued_runs"] = created;
    out["rss_mb"] = rss / 1e6;
    out["peak_rss_mb"] = peak / 1e6;
    out["rss_after_1s_mb"] = after_1s / 1e6;
    out["settle_s"] = settle_s;
    out["baseline_rss_mb"] = baseline / 1e6;
    out["bytes_per_queued_run"] = created > 0 ? static_cast<double>(rss - baseline) / created : 0;
    out["creates_per_s"] = seconds > 0 ? created / seconds : 0;
    out["create_rpc_ms"] = Summary(create_ms);
    Log(absl::StrCat("W6 #", rep, ": RSS ", out["rss_mb"].get<double>(), " MB with ", created, " queued"));
    return out;
  });
}

}  // namespace baton::bench
