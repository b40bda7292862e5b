// Durable state of the orchestrator: runs, their journals and events, the queue and
// waiting indexes, leases, agents, idempotency keys, approvals and session heads. The
// scheduler decides in memory; the store makes each decision durable as one atomic
// batch.
#ifndef BATON_ORCHESTRATOR_STORE_RUN_STORE_H_
#define BATON_ORCHESTRATOR_STORE_RUN_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/graph.pb.h"
#include "baton/v1/namespace.pb.h"
#include "baton/v1/run.pb.h"

namespace baton::orchestrator {

// A run waiting in the queue. Ordered by priority (higher first), then by
// enqueue time (older first), then by run id.
struct QueueEntry {
  int32_t priority = 0;
  int64_t enqueue_time_ms = 0;
  std::string run_id;
};

// The lease a worker holds on a run.
struct LeaseRecord {
  std::string run_id;
  std::string lease_id;
  int64_t epoch = 0;
  int64_t deadline_ms = 0;
  std::string worker_id;
};

// A root run in the ended index (retention): its end time and id.
struct EndedRun {
  int64_t end_time_ms = 0;
  std::string run_id;
};

// What a backup holds (RunStore::Backup, store/rocksdb_backup.h).
struct BackupInfo {
  uint32_t backup_id = 0;
  int64_t time_ms = 0;      // Unix epoch milliseconds
  uint64_t size_bytes = 0;  // of every file it needs, shared ones included
  uint32_t num_files = 0;
  // A backup just taken: the older ones deleted to keep the latest (oldest first), and
  // how many its directory holds now.
  std::vector<uint32_t> deleted_backup_ids;
  uint32_t backups = 0;
};

// One change to a run's stored waits (StoreBatch::wait_writes): Run.waits[index] is
// now `wait`, or, without one, gone.
struct WaitWrite {
  std::string run_id;
  int32_t index = 0;
  std::optional<v1::Wait> wait;
};

// Everything one state transition writes. Applied atomically and durably, in this
// order: runs, wait writes, journal, events, queue deletes, queue puts, lease deletes,
// lease puts, request ids, agents, graphs, waiting deletes, waiting puts, approvals,
// session heads, namespaces, run deletes, ended deletes (so a
// delete and a put of the same key leave the put; within one vector the last write of
// a key wins). Run ids (wherever a batch names one) and agent and graph names must be
// non-empty without NUL bytes; request, approval and session ids non-empty; seqs >= 0; agent
// and graph versions >= 1. Otherwise Commit fails with kInvalidArgument and writes nothing.
//
// A run is stored in parts, so that the record rewritten at nearly every decision about
// it stays small whatever the run holds: its agent (system prompt, tools, subagents),
// its input, a graph run's whole GraphSpec, a parent's N waits with their children's
// results would otherwise be written again with every step (and a parent's, with every
// step of every child: O(N²) per fan-out or graph). So a run's first put (its
// creation) also stores, apart, what it was created with (agent, input, graph), which
// never changes; every put writes the record without them (agent cut to name, version,
// model and namespace, graph to name and version, no input: store_keys::StoredRecord)
// and without `waits`, which wait_writes alone change. GetRun, ListRuns and
// run_deletes treat the parts as the run's.
struct StoreBatch {
  std::vector<v1::Run> put_runs;  // upsert by run_id
  // Run ids of put_runs that this batch creates: the store looks up no earlier state
  // for them (a run not named here may still be new; then the store finds no record).
  std::vector<std::string> created_runs;
  // Applied in order, after put_runs.
  std::vector<WaitWrite> wait_writes;
  std::vector<std::pair<std::string, v1::JournalEntry>> journal;  // (run_id, entry with seq)
  // Keyed by (run_id, seq), appended: each run's seqs above those of its stored events
  // (the store may keep a run's events of one batch as one record).
  std::vector<v1::RunEvent> events;
  std::vector<QueueEntry> queue_puts;
  std::vector<QueueEntry> queue_deletes;
  std::vector<LeaseRecord> lease_puts;  // upsert by run_id
  std::vector<std::string> lease_deletes;  // run ids
  // request_id -> run_id, in the run's namespace.
  std::vector<std::pair<std::string, std::string>> request_ids;
  std::vector<v1::AgentSpec> agents;  // keyed by (namespace, name, version)
  std::vector<v1::GraphSpec> graphs;  // keyed by (namespace, name, version)
  // Index of WAITING runs (run ids), read back at start-up by ScanWaiting.
  std::vector<std::string> waiting_puts;
  std::vector<std::string> waiting_deletes;  // applied before waiting_puts
  std::vector<v1::Approval> approvals;  // upsert by approval_id
  // session_id -> latest run_id, in the run's namespace.
  std::vector<std::pair<std::string, std::string>> session_heads;
  std::vector<v1::Namespace> namespaces;  // settings, upsert by name
  // Retention: every record of these runs goes (each as last stored; its keys come
  // from it): the run, its journal, events and approvals, its run_index entries and
  // its request id. Not its ended index entry (ended_deletes) nor its session's head
  // (a later run of the session may have taken it since it was read).
  std::vector<v1::Run> run_deletes;
  std::vector<EndedRun> ended_deletes;  // ended index entries

  bool empty() const {
    return put_runs.empty() && wait_writes.empty() && journal.empty() && events.empty() && queue_puts.empty() &&
           queue_deletes.empty() && lease_puts.empty() && lease_deletes.empty() &&
           request_ids.empty() && agents.empty() && graphs.empty() && waiting_puts.empty() &&
           waiting_deletes.empty() && approvals.empty() && session_heads.empty() && namespaces.empty() &&
           run_deletes.empty() && ended_deletes.empty();
  }
};

// SUCCEEDED, FAILED or CANCELLED: the run is over and never changes state again.
inline bool IsTerminal(v1::RunState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

// A run in the ended index once it ends: a root (no parent). Children and graph nodes
// end no later than their root (a run's end ends its children) and are deleted with it.
inline bool IsRetentionRoot(const v1::Run& run) { return run.parent_run_id().empty(); }

// ListRuns' filter: every set field must match.
struct RunFilter {
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;  // unspecified: any
  std::string agent_name;                          // empty: any
  std::string parent_run_id;                       // empty: any
  std::string session_id;                          // empty: any
  std::string ns;                                  // the namespace; empty: "default"
  // Labels the run must carry, each with this value. Empty: any.
  std::map<std::string, std::string> labels;
};

// CountRuns' answer: how many runs are in each state; states without runs are absent.
using RunCounts = std::map<v1::RunState, int64_t>;

// ListApprovals' filter: every set field must match.
struct ApprovalFilter {
  std::string run_id;      // empty: any
  std::string agent_name;  // empty: any
  enum class States { kPending, kDecided, kAll };
  // kDecided: DECIDED, EXPIRED or ABANDONED.
  States states = States::kPending;
  std::string ns;  // empty: any namespace
};

struct ApprovalPage {
  std::vector<v1::Approval> approvals;
  std::string next_page_token;  // empty at the end
};

struct RunPage {
  std::vector<v1::Run> runs;
  std::string next_page_token;  // empty at the end
};

// Thread-safe. Run ids sort by creation time ("run_" + 12 hex digits of Unix
// milliseconds + random hex), so the runs keyspace is in creation order.
class RunStore {
 public:
  virtual ~RunStore() = default;

  // Applies `batch` atomically; returns once it is durable (WAL synced). Concurrent
  // commits are grouped into one synced write.
  virtual absl::Status Commit(const StoreBatch& batch) = 0;
  // As Commit, without blocking the caller: `done` runs once, on another thread
  // (or inline for stores without disk), after the batch is durable or failed.
  // Batches are applied in call order. `done` must not block or call Commit. The
  // store reads `batch` until it has encoded it, on its own writing thread, so a
  // caller deciding under a lock does not encode under it; the caller may read the
  // batch meanwhile (and in `done`) but must not change it.
  virtual void CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) = 0;
  void CommitAsync(StoreBatch batch, std::function<void(absl::Status)> done) {
    CommitAsync(std::make_shared<const StoreBatch>(std::move(batch)), std::move(done));
  }
  // Bytes of batches accepted by Commit/CommitAsync and not yet written: callers
  // refuse new work past a bound rather than let the queue grow memory.
  virtual size_t CommitBacklogBytes() const { return 0; }
  // A caller about to commit several batches one after another (the steps of one
  // AppendSteps call) holds the store's writer meanwhile, so they go in one synced
  // write instead of the first alone and the rest in the next: when the writer finds
  // holds out, it waits for those to be given back before it takes what is queued.
  // Holds taken while it waits do not lengthen that wait (they hold the next write),
  // and it waits at most a bound (RocksDbStoreOptions::max_commit_hold). Holds nest
  // and come from any thread; HoldCommits returns what ReleaseCommits takes back. Use
  // CommitHold. Default: no effect.
  virtual uint64_t HoldCommits() { return 0; }
  virtual void ReleaseCommits(uint64_t hold) { static_cast<void>(hold); }
  // OK while the store accepts writes. RESOURCE_EXHAUSTED naming the disk, with a
  // retry delay, while its disk is full: a caller about to decide a change checks
  // first and refuses its own caller (reads go on). Cheap: one atomic load when OK.
  virtual absl::Status CheckWritable() { return absl::OkStatus(); }

  virtual absl::StatusOr<std::optional<v1::Run>> GetRun(std::string_view run_id) = 0;
  // The runs of filter.ns, newest first, from a secondary index (store_keys.h,
  // RunIndexKey): the parent's, else the agent's, else the state's, else the
  // namespace's, with the other fields of the filter checked on each run read.
  // `page_token` is opaque (empty: from the newest run); page_size <= 0 means 50,
  // larger than 1000 means 1000.
  virtual absl::StatusOr<RunPage> ListRuns(const RunFilter& filter, int page_size,
                                           std::string_view page_token) = 0;
  // How many runs of filter.ns match the rest of `filter` (its state and session_id
  // ignored), by state. Counts index entries: without labels it reads no run record
  // (the state index alone, or joined with the agent's or parent's index); with labels
  // it reads each candidate run of the narrowest index, as ListRuns does.
  virtual absl::StatusOr<RunCounts> CountRuns(const RunFilter& filter) = 0;
  virtual absl::StatusOr<std::optional<std::string>> LookupRequestId(
      std::string_view ns, std::string_view request_id) = 0;

  // The run's journal in seq order.
  absl::StatusOr<std::vector<v1::JournalEntry>> ReadJournal(std::string_view run_id) {
    return ReadJournal(run_id, -1);
  }
  // Its entries with seq > after_seq, in seq order (-1 or less: all).
  virtual absl::StatusOr<std::vector<v1::JournalEntry>> ReadJournal(std::string_view run_id, int64_t after_seq) = 0;
  // Events with seq > after_seq, in seq order, at most `limit` (0: all).
  virtual absl::StatusOr<std::vector<v1::RunEvent>> ReadEvents(std::string_view run_id,
                                                               int64_t after_seq, int limit) = 0;

  // Start-up recovery: every queue entry in queue order, every lease.
  virtual absl::Status ScanQueue(const std::function<void(const QueueEntry&)>& fn) = 0;
  virtual absl::Status ScanLeases(const std::function<void(const LeaseRecord&)>& fn) = 0;

  // version 0: the latest version of `name` in namespace `ns`.
  virtual absl::StatusOr<std::optional<v1::AgentSpec>> GetAgent(std::string_view ns, std::string_view name,
                                                                int32_t version) = 0;
  // The latest version of each agent of `ns`, by name; page_token is the last name
  // returned (empty: from the first name). page_size as in ListRuns.
  virtual absl::StatusOr<std::vector<v1::AgentSpec>> ListAgents(std::string_view ns, int page_size,
                                                                std::string_view page_token) = 0;

  // Graphs, as agents.
  virtual absl::StatusOr<std::optional<v1::GraphSpec>> GetGraph(std::string_view ns, std::string_view name,
                                                                int32_t version) = 0;
  virtual absl::StatusOr<std::vector<v1::GraphSpec>> ListGraphs(std::string_view ns, int page_size,
                                                                std::string_view page_token) = 0;

  // Start-up recovery: the ids of every WAITING run (waiting_puts not deleted since),
  // in run id order (so oldest first).
  virtual absl::Status ScanWaiting(const std::function<void(const std::string&)>& fn) = 0;

  // nullopt when no batch put `approval_id` (or it is empty).
  virtual absl::StatusOr<std::optional<v1::Approval>> GetApproval(
      std::string_view approval_id) = 0;
  // In approval_id order (approval ids start with their run's id, so oldest run
  // first). Like ListRuns, walks candidates from the token and drops those that do
  // not match: one run's approvals when the filter names a run, else the pending ones
  // (kPending) through an index of them, else every approval. `page_token` is opaque
  // (empty: from the start) and stays valid across restarts; one that ListApprovals
  // did not return fails with kInvalidArgument. page_size as in ListRuns. A full page has a next_page_token only
  // when another match follows.
  virtual absl::StatusOr<ApprovalPage> ListApprovals(const ApprovalFilter& filter, int page_size,
                                                     std::string_view page_token) = 0;

  // The latest run of a session (the last session_heads write), or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> GetSessionHead(
      std::string_view ns, std::string_view session_id) = 0;

  // Namespace settings (NamespaceService): nullopt when none were put.
  virtual absl::StatusOr<std::optional<v1::Namespace>> GetNamespace(std::string_view ns) = 0;
  // Every namespace with settings, by name.
  virtual absl::StatusOr<std::vector<v1::Namespace>> ListNamespaces() = 0;

  // Retention. The ended index holds every root run (IsRetentionRoot) that ended, keyed
  // by namespace and end time, written in the batch that ends the run. The namespaces
  // with entries, by name (one seek per namespace, not a scan of the entries).
  virtual absl::StatusOr<std::vector<std::string>> ListEndedNamespaces() = 0;
  // The entries of `ns` that ended before `ended_before_ms`, oldest first, at most
  // `limit`: only those are read, never a live run.
  virtual absl::StatusOr<std::vector<EndedRun>> ListEnded(std::string_view ns, int64_t ended_before_ms,
                                                          size_t limit) = 0;
  // After run_deletes of runs with ids in [first_run_id, last_run_id] (one namespace):
  // gives their space back to the filesystem rather than waiting for compactions to
  // reach them. Slow (rewrites files); call off every hot path. Default: nothing to do.
  virtual absl::Status ReclaimSpace(std::string_view first_run_id, std::string_view last_run_id) {
    return absl::OkStatus();
  }
  // A consistent backup of everything committed so far, into `dir` on this machine,
  // while commits go on; then, with keep_latest > 0, the oldest backups in `dir` are
  // deleted until that many remain. Default: UNIMPLEMENTED (a store without files).
  virtual absl::StatusOr<BackupInfo> Backup(const std::string& dir, uint32_t keep_latest = 0) {
    return absl::UnimplementedError("this store keeps nothing on disk to back up");
  }

  // The secret that signs page tokens (orchestrator/page_tokens.h): 32 random bytes,
  // made once and kept, so a token outlives a restart. Never logged.
  virtual const std::string& PageTokenKey() const = 0;
};

// Holds `store`'s writer (RunStore::HoldCommits) while in scope.
class CommitHold {
 public:
  explicit CommitHold(RunStore& store) : store_(store), hold_(store_.HoldCommits()) {}
  ~CommitHold() { store_.ReleaseCommits(hold_); }
  CommitHold(const CommitHold&) = delete;
  CommitHold& operator=(const CommitHold&) = delete;

 private:
  RunStore& store_;
  const uint64_t hold_;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_RUN_STORE_H_
