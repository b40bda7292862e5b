// A worker process: leases runs from the orchestrator, runs each through the agent
// loop on its own thread, heartbeats every lease, and drains on request.
//
// Leases (docs/design.md, "Run lifecycle"): a new lease is confirmed at once with a
// heartbeat carrying only the new leases (the orchestrator withdraws a lease not
// taken up within its take-up window). Each lease also has a bound by the worker's
// own clock: the send time of the last call the orchestrator answered "valid" plus
// the TTL (every such call extends the lease from its arrival). Past that bound (the
// process was frozen, or cut off) no tool call starts until the lease is confirmed
// again.
#ifndef BATON_WORKERS_WORKER_H_
#define BATON_WORKERS_WORKER_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "workers/agent_loop.h"
#include "workers/delta_buffer.h"

namespace grpc {
class Channel;
}

namespace baton::worker {

class AppendBatcher;

struct WorkerOptions {
  std::string orchestrator_address;  // host:port. Required.
  ClientTlsOptions tls;              // TLS to it. Default: none (plaintext)
  std::string worker_id;             // Required; unique per process.
  // --namespaces: lease only runs of these. Default: every one the credential allows.
  std::vector<std::string> namespaces;
  int concurrency = 4;               // runs at once. Default: 4
  // Heartbeat period; 0: a third of the lease TTL the orchestrator announces.
  absl::Duration heartbeat_interval = absl::ZeroDuration();
  // How long PollTask may wait at the orchestrator. Default: 10 s.
  absl::Duration poll_wait = absl::Seconds(10);
  // Drain: runs get this long to finish their current step, then are abandoned
  // (journaled work stays) and given back. Default: 20 s.
  absl::Duration drain_timeout = absl::Seconds(20);
  // How long journal writes are retried while the orchestrator is unreachable.
  // Default: 60 s.
  absl::Duration journal_retry_for = absl::Seconds(60);
  // When not empty, Drain() ends by writing what this worker measured (AppendStep
  // acknowledgement latencies) to this file as JSON, for bench/. Default: the
  // environment variable BATON_WORKER_STATS_FILE, else none.
  std::string stats_file = StatsFileFromEnvironment();

  static std::string StatsFileFromEnvironment();
};

// Thread-safe. Owns its threads; Stop() (or the destructor) joins them.
class Worker {
 public:
  Worker(WorkerOptions options, AgentLoop& loop);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  // Stops taking runs, lets running ones finish their step (up to drain_timeout),
  // gives their leases back, and joins every thread.
  void Drain();
  // Number of runs in flight.
  int ActiveRuns();
  // Prometheus gauges of the slots (--concurrency) and the busy ones, read when
  // scraped. `registry` outlives the scrapes; the worker outlives its metrics server.
  void RegisterMetrics(metrics::Registry& registry);

 private:
  struct ActiveTask;
  class LatencySamples;
  struct Stubs;
  void SlotLoop(int slot);
  // One PollTask for up to idle_slots_ runs (the calling slot's and the idle others').
  // Returns the runs leased, registered in active_; empty when there were none or the
  // call failed (after a backoff). REQUIRES: the caller set polling_.
  std::vector<std::shared_ptr<ActiveTask>> PollForSlots();
  // A slot may stop waiting: a run is ready for it, nobody is polling, or we stop.
  bool SlotMayGo() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HeartbeatLoop();
  void RunTask(const std::shared_ptr<ActiveTask>& task);
  absl::Duration HeartbeatInterval();
  // Writes options_.stats_file, if set.
  void WriteStats();
  // Sends the live text deltas the runs buffer, until Drain() closes the buffer.
  void DeltaSenderLoop();

  const WorkerOptions options_;
  AgentLoop& loop_;
  std::shared_ptr<grpc::Channel> channel_;
  // One stub for every thread (a stub is thread-safe; making one registers each
  // method with the channel again).
  std::unique_ptr<Stubs> stubs_;
  // The runs' AppendStep calls, sent together while others are in flight.
  std::unique_ptr<AppendBatcher> appends_;
  // Successful AppendStep round trips, for stats_file. Thread-safe.
  const std::unique_ptr<LatencySamples> append_latencies_;

  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> lease_ttl_ms_{10'000};

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ActiveTask>> active_ ABSL_GUARDED_BY(mu_);
  // Slots take turns polling (leader and followers): the one slot in PollTask asks for
  // a run for every idle slot, keeps one and leaves the rest in ready_ for the others.
  // One call stands for all idle slots instead of one parked call per slot.
  bool polling_ ABSL_GUARDED_BY(mu_) = false;
  int idle_slots_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::shared_ptr<ActiveTask>> ready_ ABSL_GUARDED_BY(mu_);
  // The in-flight PollTask's context (a grpc::ClientContext), cancelled on drain.
  void* poll_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The wait after a failed PollTask, doubling to 2 s. Only the polling slot uses it,
  // so it grows across failures whichever slot polls.
  absl::Duration poll_backoff_ = absl::Milliseconds(100);
  bool heartbeat_stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set when a task arrives: confirm its lease now (a heartbeat of the new leases).
  bool heartbeat_wake_ ABSL_GUARDED_BY(mu_) = false;
  // When every lease is heartbeated next; a task announcing a shorter lease TTL makes
  // it now, with the new period.
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  // Live text on its way to the orchestrator (bounded; drops when full).
  DeltaBuffer deltas_;

  // Joined in Drain() before the members above are destroyed.
  std::vector<std::thread> slots_;
  std::thread heartbeat_;
  std::thread delta_sender_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_WORKER_H_
