// The orchestrator's run lifecycle: queue, leases, fencing, retries, cancellation.
//
// The scheduler decides in memory, under one mutex, and makes every decision
// durable as one StoreBatch committed through RunStore::CommitAsync. The batch is
// enqueued while the mutex is held (enqueueing never blocks, and the store encodes it
// later on its own thread) so batches reach the disk in decision order; callers are
// answered only after their batch is durable.
// Nothing here knows about gRPC.
//
// While the store's disk is full (RunStore::CheckWritable), every call that would
// write is refused with its RESOURCE_EXHAUSTED before anything is decided, and no run
// is leased; heartbeats (memory only) and reads go on.
//
// Memory holds the runs that are not finished (queued, running or waiting), with their
// lease, and the approvals not yet decided; finished runs live only in the store.
//
// Runs that wait (docs/design.md, "Runs that wait"): child runs are created in the
// same batch as the parent's journal entry that asks for them; a child's end, an
// approval's decision or expiry, and the end of a session's previous run each mark a
// wait of the waiting run done, and the last one journals the results and queues the
// run, in one batch. Scheduler methods for waits live in scheduler_waits.cc.
//
// Graph runs (docs/design.md, "Graphs") are WAITING from creation to end and never
// leased: a graph::GraphExecution per run decides, when a node's child run ends (or a
// human node's question is decided), which nodes start next; its journal entries, the
// new child runs and the end of the graph go in the batch of the child's end.
// Scheduler methods for graphs live in scheduler_graphs.cc.
#ifndef BATON_ORCHESTRATOR_SCHEDULER_H_
#define BATON_ORCHESTRATOR_SCHEDULER_H_

#include <atomic>
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
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/namespace.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/worker_service.pb.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "orchestrator/graph/graph_execution.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

struct SchedulerOptions {
  // How long a lease lasts without a heartbeat. Default: 10 s.
  absl::Duration lease_ttl = absl::Seconds(10);
  // Take-up window: a lease whose worker has not confirmed it (a Heartbeat or an
  // AppendStep carrying it) this long after the grant went out is withdrawn and the
  // run queued again at once, so a frozen or cut-off worker's parked poll holds a run
  // for this long, not a TTL. Zero: no window (an unconfirmed lease lasts the TTL).
  // Longer than lease_ttl acts as lease_ttl. Default: 2 s.
  absl::Duration lease_take_up = absl::Seconds(2);
  // Leases a run may lose (expired, or withdrawn for want of take-up) before it fails
  // with LEASE_EXPIRED. Lost leases are the workers' fault, not the run's: they do not
  // spend max_attempts, and are queued again without the retry backoff (the TTL or
  // the window already was the wait). The budget stops a run whose input crashes every
  // worker that takes it. Default: 10.
  int max_lease_losses = 10;
  // Backoff before a failed attempt runs again: base * 2^(attempt-1), capped.
  absl::Duration retry_backoff_base = absl::Seconds(1);  // Default: 1 s
  absl::Duration retry_backoff_max = absl::Seconds(60);  // Default: 60 s
  // Used when the agent does not set max_attempts. Default: 3.
  int default_max_attempts = 3;
  // How often the ticker looks for expired leases and due retries. Default: 100 ms.
  absl::Duration tick_interval = absl::Milliseconds(100);
  // Subagent tree depth when the root's agent sets none. Default: 4.
  int default_max_subagent_depth = 4;
  // Past this many bytes of writes waiting for the store, CreateRun, ForkRun and
  // AppendStep are refused (RESOURCE_EXHAUSTED with a retry delay) instead of
  // growing the commit queue. 0: no bound. Default: 64 MiB.
  size_t max_commit_backlog_bytes = size_t{64} << 20;
};

// A run leased to a worker, with what it needs to resume.
struct TaskGrant {
  v1::Run run;
  LeaseRecord lease;
  std::vector<v1::JournalEntry> journal;
  // Sessions and continuations: the runs whose conversation this one continues.
  std::vector<v1::PriorRun> history;
};

// A decision on an approval (DecideApproval), checked by the caller against the
// approval's schema.
struct DecisionParams {
  std::string approval_id;
  v1::Decision decision = v1::DECISION_UNSPECIFIED;
  std::string input_json;
  std::string message;
  std::string decided_by;
};

// A new run from a prefix of another's journal (ForkRun), prepared by the caller.
struct ForkParams {
  v1::Run run;  // agent, input, labels, request_id, forked_from, ... (the rest is filled)
  std::vector<v1::JournalEntry> journal;  // the prefix, seqs assigned here
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
  bool completed = false;  // the append's completion was applied: the run SUCCEEDED
};

// A run's success as its worker reports it (CompleteRun, or with the last append).
struct RunCompletion {
  std::string output;
  v1::Usage usage;
  int32_t steps = 0;
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
  // Empty: the deadline passed (or the poll was cancelled) with nothing to do.
  using PollBatchCallback = std::function<void(absl::StatusOr<std::vector<TaskGrant>>)>;
  using EventListener = std::function<void(const std::vector<v1::RunEvent>&)>;

  // `store` and `clock` must outlive the scheduler.
  Scheduler(RunStore& store, const Clock& clock, SchedulerOptions options);
  // The clock every time in the orchestrator comes from (deadlines, event times).
  const Clock& clock() const { return clock_; }
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

  // `run` carries namespace (empty: "default"), agent, input, priority, labels,
  // request_id, session_id, continue_from; the scheduler fills the rest. With a
  // request_id seen before in the namespace, answers with that run instead. A run of a
  // session whose previous run is still going starts WAITING for it. Over a quota of
  // the namespace (max_queued_runs, max_creates_per_second): RESOURCE_EXHAUSTED with a
  // retry delay (common/grpc_status.h).
  void CreateRun(v1::Run run, RunCallback done);
  // ForkRun: a run whose journal starts with `params.journal`.
  void ForkRun(ForkParams params, RunCallback done);
  absl::StatusOr<v1::Run> GetRun(const std::string& run_id);
  // The run if it is queued or running (memory only; finished runs: nullopt).
  std::optional<v1::Run> GetActiveRun(const std::string& run_id);
  // `by`: who asked (the caller's principal with --auth; "" without), kept with the
  // reason in the run's error and events.
  void CancelRun(const std::string& run_id, const std::string& reason, RunCallback done, const std::string& by = "");

  // Answers with a task as soon as one is leased to `worker_id`, or with nullopt at
  // `deadline`. `namespaces`: lease only runs of these (empty: any). A namespace at
  // its max_concurrent_runs leases nothing until one of its runs stops running.
  // Returns an id for CancelPoll.
  uint64_t PollTask(const std::string& worker_id, absl::Time deadline, PollCallback done,
                    std::vector<std::string> namespaces = {});
  // PollTask for up to `max_tasks` runs at once: answered as soon as one is ready, with
  // every other ready run (up to max_tasks) leased in the same batch. Runs that resume
  // a journal or continue a history go alone (their tasks carry that journal).
  uint64_t PollTasks(const std::string& worker_id, absl::Time deadline, int max_tasks,
                     PollBatchCallback done, std::vector<std::string> namespaces = {});
  // The poller went away: its callback runs with nullopt unless it already ran.
  void CancelPoll(uint64_t poll_id);

  // Extends the given leases (now + lease_ttl) and takes up new ones: a worker
  // confirms a lease it got with its first heartbeat (or AppendStep) within the
  // take-up window. Memory only: after a restart every lease gets a fresh deadline
  // anyway.
  std::vector<LeaseStatus> Heartbeat(const std::string& worker_id,
                                     const std::vector<LeaseRef>& leases);
  // Whether each of `leases` is its run's current lease, without extending any (live
  // events: a worker whose lease was lost, paused or cut off, must not speak for the
  // run). Not a fencing refusal when not: a run's last live events often come just
  // after its end released the lease.
  std::vector<bool> CurrentLeases(const std::vector<LeaseRef>& leases);
  // A valid lease is extended as by Heartbeat.
  // `first_seq` > 0: the seq the first entry must get. A retry of an append that is
  // already in the journal is answered as applied (once durable) and not written
  // again; another mismatch is FAILED_PRECONDITION.
  // `children`: one per subagent ToolCall entry in `entries` (same tool_use_id); each
  // becomes a child run in the same batch. ApprovalRequest entries become approvals.
  // `event_texts`: each entry's EventTextOf (validation.h), from the caller's parse
  // (empty: parsed here, before the mutex is taken).
  // `complete`: the run's last append; it SUCCEEDS in the same batch, as by
  // CompleteRun (AppendResult.completed), unless the append ended it otherwise (a
  // tree budget).
  void AppendStep(const LeaseRef& lease, std::vector<v1::JournalEntry> entries,
                  std::function<void(absl::StatusOr<AppendResult>)> done, int64_t first_seq = 0,
                  std::vector<v1::ChildRunSpec> children = {}, std::vector<std::string> event_texts = {},
                  std::optional<RunCompletion> complete = std::nullopt);
  // The worker gives the run's slot back: WAITING until every wait is over, or QUEUED
  // at once when they all are. Answers the state the run is in.
  void SuspendRun(const LeaseRef& lease, const v1::Usage& usage, int32_t steps,
                  std::function<void(absl::StatusOr<v1::RunState>)> done);

  // Approvals. GetApproval answers from memory (pending and just-decided ones) or the
  // store.
  absl::StatusOr<v1::Approval> GetApproval(const std::string& approval_id);
  // FAILED_PRECONDITION when the approval is not pending (expired, abandoned, decided
  // otherwise) or the decision is not allowed; the same decision again is answered
  // with the approval as it is.
  void DecideApproval(const DecisionParams& params, std::function<void(absl::StatusOr<v1::Approval>)> done);
  // MCP elicitation: an input request of a RUNNING run. Idempotent per
  // (run, step, tool_use_id, sequence).
  void RequestInput(const v1::RequestInputRequest& request,
                    std::function<void(absl::StatusOr<std::string>)> done);
  // Answers with the decision once the request is decided (or expires, or its run
  // ends: CANCEL), or with nullopt at `deadline`.
  using InputCallback = std::function<void(absl::StatusOr<std::optional<v1::ApprovalDecision>>)>;
  uint64_t AwaitInput(const std::string& approval_id, absl::Time deadline, InputCallback done);
  void CancelAwaitInput(uint64_t await_id);
  void CompleteRun(const LeaseRef& lease, const RunCompletion& completion, std::function<void(absl::Status)> done);
  void FailRun(const FailRunParams& params, std::function<void(absl::StatusOr<v1::RunState>)> done);

  // One pass of the ticker's work; public for tests driven by a FakeClock.
  void Tick();

  // Namespace settings: the quotas apply from now on (and after a restart, once
  // Recover loaded them).
  void PutNamespace(v1::Namespace settings, std::function<void(absl::StatusOr<v1::Namespace>)> done);

  // Prometheus metrics (docs/operations.md, "Metrics"): leases, fencing, submit to
  // start, ended runs, and (computed when scraped) runs by state and the queues.
  // REQUIRES: called before Start; `registry` outlives the scheduler's scrapes.
  void RegisterMetrics(metrics::Registry& registry);
  // What the scrape reads, per namespace: runs by state, and when the oldest QUEUED
  // run was queued (0: none). One pass over the active runs under the mutex.
  struct NamespaceCounts {
    size_t queued = 0;
    size_t running = 0;
    size_t waiting = 0;
    int64_t oldest_queued_ms = 0;
  };
  std::map<std::string, NamespaceCounts> CountRuns();

  // Counts for tests and metrics.
  size_t QueuedCount();
  size_t RunningCount();
  size_t WaitingCount();
  size_t GraphCount();

 private:
  struct ActiveRun {
    v1::Run run;
    std::optional<LeaseRecord> lease;
    // The worker confirmed `lease` (a Heartbeat or AppendStep carrying it); until then
    // its deadline is the take-up window's.
    bool lease_taken_up = false;
    // Plain appends since the run record was last put by one (AppendStep): bounds what
    // a restart reads to catch the record up.
    int32_t plain_appends = 0;
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
    PollBatchCallback done;
    std::vector<std::string> namespaces;  // empty: any
    int max_tasks = 1;
  };
  // What the scheduler keeps per namespace: its queue and its quotas' counts.
  struct NamespaceState {
    v1::NamespaceQuotas quotas;
    std::set<QueueKey> queue;  // QUEUED runs whose backoff is over, in lease order
    size_t queued = 0;         // QUEUED runs, with those in delayed_
    size_t running = 0;        // leased runs
    // max_creates_per_second's token bucket (one second of tokens).
    bool bucket_started = false;
    double create_tokens = 0;
    int64_t tokens_time_ms = 0;
  };
  // Work decided under mu_ that runs after it is released.
  using Deferred = std::vector<std::function<void()>>;
  struct InputWaiter {
    std::string approval_id;
    absl::Time deadline;
    InputCallback done;
  };

  // CreateRun and ForkRun: a new run (unless its request_id is known), starting with
  // `journal` (a fork's prefix; empty for a new run).
  void Create(v1::Run run, std::vector<v1::JournalEntry> journal, RunCallback done);
  // RESOURCE_EXHAUSTED with a retry delay when the store's commit queue is past
  // options_.max_commit_backlog_bytes.
  absl::Status CheckCommitBacklog() const;
  struct CreateReads;
  // The store reads of a create with a request or session id; without the mutex.
  absl::StatusOr<CreateReads> ReadForCreate(const v1::Run& run);
  // Creates the run in memory and in `batch` (QUEUED, or WAITING for its session's
  // previous run). REQUIRES: run_id, agent, input set.
  ActiveRun& AddRunLocked(v1::Run run, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Journals `entry` for `run` (seq, epoch, time) with the events it implies and its
  // usage, into `batch`. `event_text`: EventTextOf(entry) when the caller has it
  // (null: parsed here, under the mutex).
  void JournalLocked(v1::Run& run, v1::JournalEntry entry, StoreBatch& batch,
                     const std::string* event_text = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What journaling `entry` (its seq set) adds to the run's own counters: its last
  // seq, steps, usage and tree usage. JournalLocked's, and Recover's for the entries a
  // plain append journaled without rewriting the run record (AppendStep).
  static void CountJournaled(const v1::JournalEntry& entry, v1::Run& run);
  // After a restart: brings a RUNNING run's record up to its journal and events, which
  // plain appends wrote without it. The number of entries it counted in. Reads the
  // store (Recover only).
  absl::StatusOr<size_t> CatchUpRecordLocked(v1::Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A subagent ToolCall entry: creates the child run; sets child_run_id and the wait.
  void CreateChildLocked(ActiveRun& parent, v1::JournalEntry& entry, const v1::ChildRunSpec& spec,
                         StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An ApprovalRequest entry: creates the approval and the wait.
  void CreateApprovalLocked(ActiveRun& active, v1::JournalEntry& entry, StoreBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the wait answering `tool_use_id` done with `results`; resumes the run when
  // it is WAITING and nothing else is left.
  void CompleteWaitLocked(ActiveRun& active, const std::string& tool_use_id,
                          std::vector<v1::JournalEntry> results, const std::string& fail_run,
                          StoreBatch& batch, Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every wait is over: journals their results and queues the run (or fails it when
  // an approval's timeout says so).
  void ResumeLocked(ActiveRun& active, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What ending `run` does to the others: its children end, its parent's wait is
  // done, its session's next run goes on, its approvals are abandoned.
  void OnRunEndedLocked(const v1::Run& run, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a model turn's usage to the ancestors of `run`; fails an ancestor whose tree
  // passed its max_cost_usd or max_tokens_total.
  void AddTreeUsageLocked(const v1::Run& run, const v1::Usage& usage, StoreBatch& batch,
                          Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the decision to a pending approval (persisted in `batch`).
  void DecideLocked(v1::Approval& approval, v1::ApprovalDecision decision, StoreBatch& batch,
                    Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireApprovalLocked(v1::Approval& approval, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps an approval in memory (approvals_ and its run's index).
  void RememberApprovalLocked(v1::Approval approval) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetApprovalLocked(const std::string& approval_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers the AwaitInput callers of a decided elicitation (after `batch` is durable).
  void WakeInputWaitersLocked(const v1::Approval& approval, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Graph runs (scheduler_graphs.cc).
  // A graph run just added by AddRunLocked (WAITING): starts its start node.
  void StartGraphLocked(ActiveRun& active, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes what the graph decided: its journal entries (and their events), the node
  // runs and questions it starts, its end.
  void ApplyGraphStepLocked(const std::string& graph_run_id, graph::GraphStep step, StoreBatch& batch,
                            Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a restart: the graph's state from its journal. Reads the store (Recover only).
  absl::Status RecoverGraphLocked(const v1::Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<graph::GraphExecution> NewGraphExecutionLocked(const v1::Run& run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Graph runs whose timeout passed end FAILED (LIMIT_RUN_TIMEOUT).
  void ExpireGraphsLocked(int64_t now_ms, Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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
  // The run's lease: granted (memory, deadlines, counts) and given back (and deleted
  // in `batch`). `taken_up`: the worker is known to hold it (a recovered lease).
  void GrantLeaseLocked(ActiveRun& active, LeaseRecord lease, bool taken_up) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLeaseLocked(ActiveRun& active, StoreBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The worker showed it holds the lease (Heartbeat, AppendStep): taken up, and its
  // deadline is now + lease_ttl.
  void ExtendLeaseLocked(ActiveRun& active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The grant of `lease` is on its way to the worker: unless it was taken up already,
  // its deadline becomes the take-up window's, counted from now.
  void StartTakeUpWindow(const LeaseRecord& lease) ABSL_LOCKS_EXCLUDED(mu_);
  // The worker holding the run's lease is gone (the lease expired, or was withdrawn):
  // queued again at once, no attempt spent, or FAILED (LEASE_EXPIRED) once
  // max_lease_losses leases are lost.
  void LoseLeaseLocked(ActiveRun& active, const std::string& why, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  NamespaceState& NamespaceOfLocked(const v1::Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK when the namespace's quotas admit a new run (and takes its create token);
  // RESOURCE_EXHAUSTED with a retry delay otherwise.
  absl::Status AdmitCreateLocked(const std::string& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The queued run `poll` should lease next, or nullopt: the head of the best queue
  // among the namespaces the poll takes that are under max_concurrent_runs.
  std::optional<QueueKey> NextForLocked(const Poll& poll) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the run (terminal state) and forgets it from memory; ends its children and
  // completes its parent's wait (OnRunEndedLocked). `deferred` gets work for after
  // the lock (answers to AwaitInput callers).
  void FinishLocked(const std::string& run_id, v1::RunState state, const std::string& reason,
                    v1::FailureKind kind, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the run SUCCEEDED with what its worker reported.
  void SucceedLocked(ActiveRun& active, const RunCompletion& completion, StoreBatch& batch, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leases queued runs to parked polls while both exist.
  void MatchLocked(Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CommitLocked(decided, after), then MatchLocked, in one write: the first parked
  // poll that gets runs (those `decided` made ready among them) has its leases added
  // to `decided`, and is answered after `after` has run. So a run created or made
  // ready for a parked poll is stored once, RUNNING, with one group of events, rather
  // than QUEUED and then leased by a second write.
  void CommitAndMatchLocked(StoreBatch decided, std::function<void()> after, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retry (after the backoff) or fail a run whose attempt failed with a retryable error.
  void RetryOrFailLocked(ActiveRun& active, const std::string& error, v1::FailureKind kind,
                         StoreBatch& batch, Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueues the batch; `after` runs once it is durable, never under mu_: a store
  // that completes inline (the in-memory one) has it added to `deferred` instead.
  void CommitLocked(StoreBatch batch, std::function<void()> after, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewLeaseIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs work decided under mu_, after it is released.
  static void RunAll(Deferred& deferred);
  // The state `batch` leaves the run in.
  static v1::RunState StateIn(const StoreBatch& batch, const std::string& run_id);
  // A run is stored in parts (StoreBatch). Puts `run`'s record in `batch` without
  // them, so a rewrite copies a record of bounded size whatever its agent's prompt and
  // tools, its input, or the N children it waits for or graph nodes it runs. `run` is
  // as it was when this returns.
  static void PutRunRecord(v1::Run& run, StoreBatch& batch);
  // Writes run.waits(index) as it now is.
  static void PutWait(const v1::Run& run, int index, StoreBatch& batch);
  // Deletes every stored wait of `run`; then the caller clears them in memory.
  static void DeleteWaits(const v1::Run& run, StoreBatch& batch);
  void TickerLoop();

  RunStore& store_;
  const Clock& clock_;
  const SchedulerOptions options_;
  EventListener event_listener_;
  // Set by RegisterMetrics before Start, then only read (empty handles: off).
  struct Metrics {
    metrics::Counter leases_granted;
    metrics::Counter leases_expired;
    metrics::Counter fencing_refusals;
    metrics::Histogram submit_to_start;
    metrics::CounterFamily runs_ended;  // {namespace, state}
  };
  Metrics metrics_;

  absl::Mutex mu_;
  // Node-based: references to a run stay valid while children are added.
  absl::node_hash_map<std::string, ActiveRun> active_ ABSL_GUARDED_BY(mu_);
  // Active children of each run with any.
  absl::flat_hash_map<std::string, std::set<std::string>> children_of_ ABSL_GUARDED_BY(mu_);
  // Approvals pending, and decided ones until the decision is durable.
  absl::flat_hash_map<std::string, v1::Approval> approvals_ ABSL_GUARDED_BY(mu_);
  // The ids in approvals_ of each run, so a run's end does not scan them all.
  absl::flat_hash_map<std::string, std::set<std::string>> approvals_of_run_ ABSL_GUARDED_BY(mu_);
  // Expiry of pending approvals: (expire_time_ms, approval_id); expiry never scans.
  std::set<std::pair<int64_t, std::string>> approval_deadlines_ ABSL_GUARDED_BY(mu_);
  // AwaitInput callers.
  std::map<uint64_t, InputWaiter> input_waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_await_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Sessions: previous run id -> the run WAITING for it.
  absl::flat_hash_map<std::string, std::string> session_waiters_ ABSL_GUARDED_BY(mu_);
  // Creates not yet visible in the store:
  // ScopedKey(namespace, session_id) -> (latest run id, its session_seq).
  absl::flat_hash_map<std::string, std::pair<std::string, int32_t>> pending_session_heads_ ABSL_GUARDED_BY(mu_);
  // The state of each active graph run.
  absl::flat_hash_map<std::string, std::unique_ptr<graph::GraphExecution>> graphs_ ABSL_GUARDED_BY(mu_);
  // Graph runs with a timeout: (deadline_ms, run_id).
  std::set<std::pair<int64_t, std::string>> graph_deadlines_ ABSL_GUARDED_BY(mu_);
  // Queues and quotas, per namespace (entries are made on first use, never dropped).
  absl::flat_hash_map<std::string, NamespaceState> namespaces_ ABSL_GUARDED_BY(mu_);
  // Runs waiting for their retry backoff: (not_before_ms, run_id).
  std::set<std::pair<int64_t, std::string>> delayed_ ABSL_GUARDED_BY(mu_);
  // Lease deadlines: (deadline_ms, run_id); expiry never scans all runs.
  std::set<std::pair<int64_t, std::string>> lease_deadlines_ ABSL_GUARDED_BY(mu_);
  // Parked polls in arrival order.
  std::map<uint64_t, Poll> polls_ ABSL_GUARDED_BY(mu_);
  uint64_t next_poll_id_ ABSL_GUARDED_BY(mu_) = 1;
  // ScopedKey(namespace, request_id) -> run_id for creates not yet visible in the store.
  absl::flat_hash_map<std::string, std::string> pending_request_ids_ ABSL_GUARDED_BY(mu_);
  // Creates with a request or session id whose commit was answered (and left
  // pending_*): Create reads the store without the mutex and checks this after.
  std::atomic<uint64_t> keyed_commits_{0};
  uint64_t lease_counter_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool ticker_stop_ ABSL_GUARDED_BY(mu_) = false;

  // Joined in Shutdown(), before any member it uses is destroyed.
  std::thread ticker_;
};


// Sessions and continuations: the runs whose conversation `run` continues
// (continue_from, then theirs...), oldest first, with their inputs and journals. Runs
// that did not succeed are left out (their turns never finished).
absl::StatusOr<std::vector<v1::PriorRun>> ReadHistory(RunStore& store, const v1::Run& run);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_SCHEDULER_H_
