// The benchmark's clients: many submitters and watchers over a few gRPC channels,
// on gRPC's callback API so thousands of runs can be in flight from one process.
#ifndef BATON_BENCH_RUN_CLIENT_H_
#define BATON_BENCH_RUN_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "common/grpc_channel.h"

namespace baton::bench {

// What the driver saw of one run.
struct RunRecord {
  std::string run_id;
  absl::Time submit;   // CreateRun sent (driver clock)
  absl::Time created;  // CreateRun answered
  absl::Time done;     // terminal event received (watched runs only)
  // From the run and its events (orchestrator clock, Unix ms; same host, same clock).
  int64_t create_time_ms = 0;  // the run's creation, as CreateRun answered it
  int64_t first_start_ms = 0;  // first RUNNING state change: the first lease
  int64_t end_ms = 0;          // terminal state change
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  int32_t model_calls = 0;  // from the final output's usage
  bool ok = false;          // CreateRun (and WatchRun, if watched) succeeded
  std::string error;
  std::vector<v1::RunEvent> events;  // only when kept
};

struct SubmitOptions {
  // Watch the run with WatchRun until its terminal event. Default: true.
  bool watch = true;
  // Keep every event in RunRecord::events. Default: false.
  bool keep_events = false;
  // Called on a gRPC thread for each event as it arrives (watched runs). Default: none.
  std::function<void(const v1::RunEvent&)> on_event;
  // Watch the run's subagents too (WatchRunRequest.include_children): their events
  // go to `on_event` and `events`; the record's state and times stay the run's own.
  // Default: false.
  bool include_children = false;
};

// Thread-safe. Spreads calls over `channels` connections round robin.
class RunClient {
 public:
  // `channel`: how to reach the orchestrator (TLS, API key: Stack::client_options()).
  // Each of the `channels` has a connection of its own. REQUIRES: complete TLS options.
  // `batched_watch`: watch with WatchRunBatched (a message per batch of events) instead
  // of WatchRun (a message per event).
  RunClient(const std::string& address, int channels, const ChannelOptions& channel = {},
            bool batched_watch = true);

  // Creates the run and (optionally) watches it to its end. `done` runs once, on a
  // gRPC thread; it must not block.
  void Submit(const v1::CreateRunRequest& request, const SubmitOptions& options,
              std::function<void(RunRecord)> done);

  v1::RunService::Stub& stub(size_t i = 0) { return *stubs_[i % stubs_.size()]; }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::RunService::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
  const bool batched_watch_;
};

// Builds the i-th request of a workload.
using RequestFactory = std::function<v1::CreateRunRequest(int64_t i)>;

// Submits `total` runs keeping at most `max_outstanding` unfinished (a run is
// finished when `done` would run: terminal event, or CreateRun's answer when not
// watched); returns every record, in submission order.
std::vector<RunRecord> RunClosedLoop(RunClient& client, const RequestFactory& make, int64_t total,
                                     int max_outstanding, const SubmitOptions& options);

// Submits `total` runs at `rate_per_s` with exponential gaps (Poisson arrivals,
// fixed seed), whatever the system does; waits for all to finish.
std::vector<RunRecord> RunOpenLoop(RunClient& client, const RequestFactory& make, int64_t total,
                                   double rate_per_s, const SubmitOptions& options);

// Counts runs not finished; waits for zero. Thread-safe.
class Outstanding {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++n_;
  }
  void Done() {
    absl::MutexLock lock(&mu_);
    --n_;
  }
  void WaitBelow(int64_t limit) {
    absl::MutexLock lock(&mu_);
    auto below = [this, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return n_ < limit; };
    mu_.Await(absl::Condition(&below));
  }

 private:
  absl::Mutex mu_;
  int64_t n_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace baton::bench

#endif  // BATON_BENCH_RUN_CLIENT_H_
