// The workloads of docs/PERFORMANCE.md (W1-W10, W5-graph, W1-secure, W2-secure). Each starts its own stack on
// loopback, measures, stops it, and returns its figures as JSON: one object per
// repeat plus their median and range.
#ifndef BATON_BENCH_WORKLOADS_H_
#define BATON_BENCH_WORKLOADS_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/stack.h"

namespace baton::bench {

struct BenchOptions {
  std::string bin_dir;   // the three binaries. Required.
  std::string work_dir;  // stacks' directories go under it. Required.
  // Multiplies the run counts of W1, W2 (and their secured pairs), W4 and W6, W7's fan-outs, W8's approvals,
  // W9's graphs and W10's chains (W3's 200 runs, W5's 200 steps, W7's children per
  // fan-out, W9's 1,000 items, W10's 50 nodes and W5-graph's sizes are not).
  // Default: 1, the sizes of the issue.
  double scale = 1.0;
  int repeats = 3;       // fresh stacks for W1, W2, W7-W10; pairs for W1-secure, W2-secure. Default: 3
  int slow_repeats = 1;  // for W3-W6 and W5-graph. Default: 1
  // Agents stream from the simulator (its SSE deltas are 8-10 bytes). Default: false.
  bool streaming = false;
  int w3_lease_ttl_ms = 10'000;  // Default: the orchestrator's default
  int channels = 8;              // client connections. Default: 8
  int workers = 4;               // W1, W1-secure, W2-secure, W2-obs (profiling uses 1). Default: 4
  // W2: the count that does most steps on 2 cores (fewer threads competing for them;
  // 4 workers did fewer steps/s at a higher ack p99). Default: 1
  int w2_workers = 1;
  int w2_slots = 64;  // each W2 worker's --concurrency
  // Bytes of the agents' system prompt (0: the one-line default). A real agent's prompt
  // and tool definitions are often tens of KB; the run carries them.
  int system_bytes = 0;
  // W1 and W2 watch with WatchRunBatched (--watch=batched) or WatchRun (--watch=each).
  bool batched_watch = true;
  int w7_children = 100;         // subagents a W7 parent calls in one turn. Default: 100
  // What the secured stacks of W1-secure and W2-secure turn on. Default: all three.
  Protections secured = {.tls = true, .auth = true, .encryption = true};
  // Where a workload copies its processes' logs when it sees something wrong.
  // Default: none (not copied).
  std::string failure_dir;
  // Prepended to the orchestrator's command line (valgrind ...). Default: none.
  std::vector<std::string> orchestrator_wrapper;
  // Prepended to worker 0's command line (valgrind ...). Default: none.
  std::vector<std::string> worker_wrapper;
};

nlohmann::json RunW1Dispatch(const BenchOptions& options);
nlohmann::json RunW2Steps(const BenchOptions& options);
nlohmann::json RunW2Deferred(const BenchOptions& options);
// W1 and W2 with TLS (mTLS for workers), --auth and encryption at rest (`secured`),
// each repeat a pair of stacks, plain and secured: their throughputs and the ratio.
nlohmann::json RunW1Secure(const BenchOptions& options);
nlohmann::json RunW2Secure(const BenchOptions& options);
// W2 with Prometheus metrics on every process and traces exported over OTLP/HTTP (to
// a receiver in the driver that counts them), paired with a plain stack as W2-secure.
nlohmann::json RunW2Observed(const BenchOptions& o);
// W2's steps in long conversations: the CPU per step at steps 1-20 and 190-210
// (bench/long_conversation.cc).
nlohmann::json RunW2Long(const BenchOptions& options);
nlohmann::json RunW3Recovery(const BenchOptions& options);
nlohmann::json RunW4Restart(const BenchOptions& options);
nlohmann::json RunW5Storage(const BenchOptions& options);
nlohmann::json RunW6Memory(const BenchOptions& options);
// Runs that wait (bench/wait_workloads.cc).
nlohmann::json RunW7FanOut(const BenchOptions& options);
nlohmann::json RunW8Approval(const BenchOptions& options);
// Graph runs (bench/graph_workloads.cc).
nlohmann::json RunW9Wide(const BenchOptions& options);
nlohmann::json RunW10Deep(const BenchOptions& options);
nlohmann::json RunW5Graph(const BenchOptions& options);

}  // namespace baton::bench

#endif  // BATON_BENCH_WORKLOADS_H_
