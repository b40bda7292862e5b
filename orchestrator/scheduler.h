// The orchestrator's run lifecycle: queue, leases, fencing, retries, cancellation.
//
// The scheduler decides in memory, under one mutex, and makes every decision
// durable as one StoreBatch committed through RunStore::CommitAsync. The batch is
// enqueued while the mutex is held (enqueueing never blocks) so batches reach the
// disk in decision order; callers are answered only after their batch is durable.
// Nothing here knows about gRPC.
//
// Memory holds the runs that are not finished (queued or running), with their
// lease; finished runs live only in the store.
#ifndef BATON_ORCHESTRATOR_SCHEDULER_H_
#define BATON_ORCHESTRATOR_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/run.pb.h"
#include "common/clock.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

struct SchedulerOptions {
  // How long a lease lasts without a heartbeat. Default: 10 s.
  absl::Duration lease_ttl = absl::Seconds(10);
  // Backoff before a failed attempt runs again: base * 2^(attempt-1), capped.
  absl::Duration retry_backoff_base = absl::Seconds(1);  // Default: 1 s
  absl::Duration retry_backoff_max = absl::Seconds(60);  // Default: 60 s
  // Used when the agent does not set max_attempts. Default: 3.
  int default_max_attempts = 3;
  // How often the ticker looks for expired leases and due retries. Default: 100 ms.
  absl::Duration tick_interval = absl::Milliseconds(100);
};

// A run leased to a worker, with what it needs to resume.
struct TaskGrant {
  v1::Run run;
  LeaseRecord lease;
  std::vector<v1::JournalEntry> journal;
};

struct LeaseRef {
  std::string run_id;
  std::string lease_id;
  int64_t epoch = 0;
};

struct LeaseStatus {
  std::string run_id;
  bool valid = false;
  bool cancel_requested = false;
};

struct AppendResult {
  int64_t last_seq = 0;
  bool cancel_requested = false;
};

struct FailRunParams {
  LeaseRef lease;
  std::string error;
  v1::FailureKind failure_kind = v1::FAILURE_KIND_UNSPECIFIED;
  bool retryable = false;
  bool cancelled = false;
  bool released = false;
  v1::Usage usage;
  int32_t steps = 0;
};

// Thread-safe.
class Scheduler {
 public:
  using RunCallback = std::function<void(absl::StatusOr<v1::Run>)>;
  using PollCallback = std::function<void(absl::StatusOr<std::optional<TaskGrant>>)>;
  using EventListener = std::function<void(const std::vector<v1::RunEvent>&)>;

  // `store` and `clock` must outlive the scheduler.
  Scheduler(RunStore& store, const Clock& clock, SchedulerOptions options);
  ~Scheduler();  // calls Shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Loads the queue and the leases from the store. Leases found there get a fresh
  // deadline (now + lease_ttl): their workers may still be alive and heartbeating.
  // REQUIRES: called once, before any other method.
  absl::Status Recover();

  // Starts the ticker thread (lease expiry, due retries, poll deadlines).
  void Start();
  // Answers parked polls with no task and stops the ticker. Idempotent.
  void Shutdown();

  // Called after each durable batch with its events, in commit order. Set before Start.
  void SetEventListener(EventListener listener);

  // `run` carries agent, input, priority, labels, request_id; the scheduler fills
  // the rest. With a request_id seen before, answers with that run instead.
  void CreateRun(v1::Run run, RunCallback done);
  absl::StatusOr<v1::Run> GetRun(const std::string& run_id);
  // The run if it is queued or running (memory only; finished runs: nullopt).
  std::optional<v1::Run> GetActiveRun(const std::string& run_id);
  void CancelRun(const std::string& run_id, const std::string& reason, RunCallback done);

  // Answers with a task as soon as one is leased to `worker_id`, or with nullopt at
  // `deadline`. Returns an id for CancelPoll.
  uint64_t PollTask(const std::string& worker_id, absl::Time deadline, PollCallback done);
  // The poller went away: its callback runs with nullopt unless it already ran.
  void CancelPoll(uint64_t poll_id);

  // Extends the given leases. Memory only: after a restart every lease gets a fresh
  // deadline anyway.
  std::vector<LeaseStatus> Heartbeat(const std::string& worker_id,
                                     const std::vector<LeaseRef>& leases);
  // `first_seq` > 0: the seq the first entry must get. A retry of an append that is
  // already in the journal is answered as applied (once durable) and not written
  // again; another mismatch is FAILED_PRECONDITION.
  void AppendStep(const LeaseRef& lease, std::vector<v1::JournalEntry> entries,
                  std::function<void(absl::StatusOr<AppendResult>)> done, int64_t first_seq = 0);
  void CompleteRun(const LeaseRef& lease, const std::string& output, const v1::Usage& usage,
                   int32_t steps, std::function<void(absl::Status)> done);
  void FailRun(const FailRunParams& params, std::function<void(absl::StatusOr<v1::RunState>)> done);

  // One pass of the ticker's work; public for tests driven by a FakeClock.
  void Tick();

  // Counts for tests and metrics.
  size_t QueuedCount();
  size_t RunningCount();

 private:
  struct ActiveRun {
    v1::Run run;
    std::optional<LeaseRecord> lease;
    int64_t enqueue_time_ms = 0;  // the queue key while QUEUED
  };
  struct QueueKey {
    int32_t priority;
    int64_t enqueue_time_ms;
    std::string run_id;
    bool operator<(const QueueKey& o) const {
      if (priority != o.priority) return priority > o.priority;
      if (enqueue_time_ms != o.enqueue_time_ms) return enqueue_time_ms < o.enqueue_time_ms;
      return run_id < o.run_id;
    }
  };
  struct Poll {
    std::string worker_id;
    absl::Time deadline;
    PollCallback done;
  };
  // Work decided under mu_ that runs after it is released.
  using Deferred = std::vector<std::function<void()>>;

  // Validates a lease against the run; FAILED_PRECONDITION names what is stale.
  absl::StatusOr<ActiveRun*> CheckLeaseLocked(const LeaseRef& lease)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a StateChanged event for `run` to `batch`.
  void AddStateEventLocked(v1::Run& run, const std::string& reason, StoreBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::RunEvent& NewEventLocked(v1::Run& run, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the run in the queue (or the delayed set when not_before is in the future).
  void EnqueueLocked(ActiveRun& active, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DequeueLocked(ActiveRun& active, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the run (terminal state) and forgets it from memory.
  void FinishLocked(const std::string& run_id, v1::RunState state, const std::string& reason,
                    v1::FailureKind kind, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leases queued runs to parked polls while both exist.
  void MatchLocked(Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retry or fail a run whose attempt failed (lease expiry or retryable error).
  void RetryOrFailLocked(ActiveRun& active, const std::string& error, v1::FailureKind kind,
                         StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueues the batch; `after` runs once it is durable, never under mu_: a store
  // that completes inline (the in-memory one) has it added to `deferred` instead.
  void CommitLocked(StoreBatch batch, std::function<void()> after, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewLeaseIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TickerLoop();

  RunStore& store_;
  const Clock& clock_;
  const SchedulerOptions options_;
  EventListener event_listener_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, ActiveRun> active_ ABSL_GUARDED_BY(mu_);
  std::set<QueueKey> queue_ ABSL_GUARDED_BY(mu_);
  // Runs waiting for their retry backoff: (not_before_ms, run_id).
  std::set<std::pair<int64_t, std::string>> delayed_ ABSL_GUARDED_BY(mu_);
  // Lease deadlines: (deadline_ms, run_id); expiry never scans all runs.
  std::set<std::pair<int64_t, std::string>> lease_deadlines_ ABSL_GUARDED_BY(mu_);
  // Parked polls in arrival order.
  std::map<uint64_t, Poll> polls_ ABSL_GUARDED_BY(mu_);
  uint64_t next_poll_id_ ABSL_GUARDED_BY(mu_) = 1;
  // request_id -> run_id for creates not yet visible in the store.
  absl::flat_hash_map<std::string, std::string> pending_request_ids_ ABSL_GUARDED_BY(mu_);
  uint64_t lease_counter_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool ticker_stop_ ABSL_GUARDED_BY(mu_) = false;

  // Joined in Shutdown(), before any member it uses is destroyed.
  std::thread ticker_;
};

bool IsTerminal(v1::RunState state);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_SCHEDULER_H_
