// What every workload of docs/PERFORMANCE.md shares: logging, aborting on a broken
// setup, the stack and agent they start from, and repeats on fresh stacks.
#ifndef BATON_BENCH_WORKLOAD_COMMON_H_
#define BATON_BENCH_WORKLOAD_COMMON_H_

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "baton/v1/run_service.pb.h"
#include "bench/process.h"
#include "bench/stack.h"
#include "bench/workloads.h"

namespace baton::bench {

void Log(const std::string& line);

// Aborts the benchmark on a broken setup: there is nothing to measure then.
// std::exit skips the stacks' destructors: their processes are killed here.
template <typename T>
T OrDie(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    std::cerr << "[bench] " << what << ": " << v.status() << std::endl;
    KillAllChildren();
    std::exit(1);
  }
  return std::move(*v);
}
void OrDie(const absl::Status& s, const std::string& what);

// `n` times --scale, at least 1.
int64_t Scaled(const BenchOptions& o, int64_t n);

// The driver's clock as Unix milliseconds, to compare with event times.
double UnixMs(absl::Time t);

// A stack under o.work_dir/name (emptied first), with the options' wrappers.
StackOptions BaseStack(const BenchOptions& o, const std::string& name);

// The benchmark's inline agent: claude-sonnet-4-5, max_tokens 256, streaming as
// the options say, `echo` offered when `echo_tool`.
v1::AgentSpec Agent(const BenchOptions& o, bool echo_tool, int max_steps);
v1::CreateRunRequest Request(const v1::AgentSpec& agent, const std::string& input);

// Runs `once` n times (fresh stacks): {"repeats": [...], "median": ..., "range": ...}.
nlohmann::json Repeat(int n, const std::function<nlohmann::json(int)>& once);

// GetRun and GetTranscript with a deadline (10 s and 30 s).
absl::StatusOr<v1::Run> GetRun(v1::RunService::Stub& stub, const std::string& run_id);
absl::StatusOr<v1::Transcript> GetTranscript(v1::RunService::Stub& stub, const std::string& run_id);

// CPU seconds the driver itself has used.
double DriverCpuSeconds();

// CPU per unit of work (a child, a node, a run) of each process kind, summed over
// phases of the same kind: /proc counts whole clock ticks (10 ms), so one phase of
// ~100 ms would be too coarse. Not thread-safe.
class CpuTally {
 public:
  // `before` and `after` are Stack::CpuSeconds() snapshots around `units` of work.
  void Add(const nlohmann::json& before, const nlohmann::json& after, int64_t units);
  // ms per unit: {"orchestrator", "workers", "baton" (the two), "sim", "units"}.
  nlohmann::json PerUnitMs() const;

 private:
  std::map<std::string, double> seconds_;
  int64_t units_ = 0;
};

// Lets the processes finish what the last event started (a worker's poll after its
// CompleteRun) before a CPU snapshot; every phase gets the same pause (20 ms).
void Settle();

// Copies the *.log files of a stack's directory to o.failure_dir/<name>-<time>.
void KeepLogs(const BenchOptions& o, const std::string& dir, const std::string& name);

}  // namespace baton::bench

#endif  // BATON_BENCH_WORKLOAD_COMMON_H_
