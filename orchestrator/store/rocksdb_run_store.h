// The orchestrator's durable RunStore: one RocksDB database, a column family per kind
// of record, every commit fsynced through a group-commit thread.
#ifndef BATON_ORCHESTRATOR_STORE_ROCKSDB_RUN_STORE_H_
#define BATON_ORCHESTRATOR_STORE_ROCKSDB_RUN_STORE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "orchestrator/store/disk_health.h"
#include "orchestrator/store/run_store.h"
#include "orchestrator/store/value_cipher.h"

// Forward declarations keep RocksDB's headers out of every file that wires a store.
namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Slice;
class WriteBatch;
}  // namespace rocksdb

namespace baton::orchestrator {

class NoSpaceGuard;

struct RocksDbStoreOptions {
  // Directory of the database. Required.
  std::string path;
  // Create the directory (and its parents) and the database when missing.
  // Default: true
  bool create_if_missing = true;
  // fsync the WAL before a commit is acknowledged. With false, a process crash still
  // loses nothing (the WAL is in the OS page cache) but a machine crash may lose the
  // latest commits; only for tests and benchmarks.
  // Default: true
  bool sync = true;
  // LRU block cache shared by every column family; 0 disables block caching.
  // Default: 64 MiB
  size_t block_cache_bytes = size_t{64} << 20;
  // Memtable size of each column family.
  // Default: 16 MiB
  size_t write_buffer_bytes = size_t{16} << 20;
  // The memtables of every column family together: past this the family with the
  // oldest memtable is flushed.
  // Without it 19 families could hold 19 write_buffer_bytes (W6's 100,000 queued runs
  // held 49 MB). 0: no bound but each family's.
  // Default: 32 MiB
  size_t total_write_buffer_bytes = size_t{32} << 20;
  // Flushes and compactions that may run at once.
  // Default: 2
  int max_background_jobs = 2;
  // When the WALs grow past this, the column families that pin the oldest WAL are
  // flushed so it can be deleted (rarely written kinds such as agents would otherwise
  // keep every WAL alive).
  // Default: 256 MiB
  uint64_t max_total_wal_bytes = uint64_t{256} << 20;
  // Encryption at rest (value_cipher.h): the file of key-encryption keys. Empty: records
  // are stored in the clear. Records written before it was set stay readable.
  // Default: empty
  std::string encryption_key_file;
  // Writes stop while the data directory's filesystem has less than this free (callers
  // get RESOURCE_EXHAUSTED naming the disk, reads go on), and resume by themselves
  // once this plus write_buffer_bytes is free (docs/design.md, "When the disk
  // fills"). 0: only when a write fails for want of space.
  // Default: 64 MiB
  uint64_t min_free_disk_bytes = uint64_t{64} << 20;
  // The longest the committer waits for holds (RunStore::HoldCommits) to be given
  // back before it writes what is queued.
  // Default: 2 ms
  absl::Duration max_commit_hold = absl::Milliseconds(2);
  // Prometheus metrics (docs/operations.md, "Metrics"): group commits, and RocksDB's
  // sizes read when scraped. Not owned; outlives the store's scrapes. Default: none.
  metrics::Registry* metrics = nullptr;
};

// Thread-safe. Reads go straight to RocksDB on the caller's thread. Writes go through
// one committer thread: Commit and CommitAsync queue their batch; the committer takes
// everything queued, encodes it (in arrival order, so each run's index keys follow
// its previous write, and no caller encodes under its own lock), merges it into one
// rocksdb::WriteBatch, writes it once with WriteOptions.sync = options.sync, then
// completes every waiter of that group with the write's status.
// So N concurrent commits cost one fsync, not N. CommitAsync's `done` runs on the
// completion thread, in commit order, while the committer writes the next group. Key
// and value encodings: store_keys.h.
//
// A full disk (docs/design.md, "When the disk fills"): when the data directory has
// less than options.min_free_disk_bytes free, or a write fails for want of space, the
// committer holds the group it was writing (its callers are not answered) and every
// batch queued behind it, CheckWritable and Commit answer RESOURCE_EXHAUSTED naming the
// disk, and reads go on. Once there is room again the committer resumes RocksDB and
// writes what it held, in order. Nothing it held is lost or answered as failed,
// unless RocksDB cannot resume in place (then they fail with kUnavailable, and only a
// restart writes again) or the store is destroyed while the disk is full.
class RocksDbRunStore final : public RunStore {
 public:
  // Opens (or creates) the database at options.path.
  static absl::StatusOr<std::unique_ptr<RocksDbRunStore>> Open(
      const RocksDbStoreOptions& options);

  // Stops accepting commits (later ones fail with kUnavailable), writes everything
  // already queued and runs its callbacks, then closes the database.
  ~RocksDbRunStore() override;
  RocksDbRunStore(const RocksDbRunStore&) = delete;
  RocksDbRunStore& operator=(const RocksDbRunStore&) = delete;

  // RESOURCE_EXHAUSTED (CheckWritable) while the disk is full, without queueing.
  absl::Status Commit(const StoreBatch& batch) override;
  // Queued even while the disk is full: written once there is room.
  using RunStore::CommitAsync;
  void CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) override;
  size_t CommitBacklogBytes() const override { return backlog_bytes_.load(std::memory_order_relaxed); }
  uint64_t HoldCommits() override;
  void ReleaseCommits(uint64_t hold) override;
  absl::Status CheckWritable() override;

  absl::StatusOr<std::optional<v1::Run>> GetRun(std::string_view run_id) override;
  absl::StatusOr<RunPage> ListRuns(const RunFilter& filter, int page_size,
                                   std::string_view page_token) override;
  absl::StatusOr<RunCounts> CountRuns(const RunFilter& filter) override;
  absl::StatusOr<std::optional<std::string>> LookupRequestId(
      std::string_view ns, std::string_view request_id) override;

  using RunStore::ReadJournal;
  absl::StatusOr<std::vector<v1::JournalEntry>> ReadJournal(std::string_view run_id, int64_t after_seq) override;
  absl::StatusOr<std::vector<v1::RunEvent>> ReadEvents(std::string_view run_id,
                                                       int64_t after_seq, int limit) override;

  absl::Status ScanQueue(const std::function<void(const QueueEntry&)>& fn) override;
  absl::Status ScanLeases(const std::function<void(const LeaseRecord&)>& fn) override;

  absl::StatusOr<std::optional<v1::AgentSpec>> GetAgent(std::string_view ns, std::string_view name,
                                                        int32_t version) override;
  absl::StatusOr<std::vector<v1::AgentSpec>> ListAgents(std::string_view ns, int page_size,
                                                        std::string_view page_token) override;
  absl::StatusOr<std::optional<v1::GraphSpec>> GetGraph(std::string_view ns, std::string_view name,
                                                        int32_t version) override;
  absl::StatusOr<std::vector<v1::GraphSpec>> ListGraphs(std::string_view ns, int page_size,
                                                        std::string_view page_token) override;

  absl::Status ScanWaiting(const std::function<void(const std::string&)>& fn) override;

  absl::StatusOr<std::optional<v1::Approval>> GetApproval(std::string_view approval_id) override;
  absl::StatusOr<ApprovalPage> ListApprovals(const ApprovalFilter& filter, int page_size,
                                             std::string_view page_token) override;

  absl::StatusOr<std::optional<std::string>> GetSessionHead(std::string_view ns,
                                                            std::string_view session_id) override;
  absl::StatusOr<std::optional<v1::Namespace>> GetNamespace(std::string_view ns) override;
  absl::StatusOr<std::vector<v1::Namespace>> ListNamespaces() override;
  absl::StatusOr<std::vector<std::string>> ListEndedNamespaces() override;
  absl::StatusOr<std::vector<EndedRun>> ListEnded(std::string_view ns, int64_t ended_before_ms,
                                                  size_t limit) override;
  // CompactRange over the runs, run parts, journal, events and approvals keys of the
  // range (not exclusive, so automatic compactions go on meanwhile): the range
  // tombstones of run_deletes meet the records they cover and both are dropped.
  absl::Status ReclaimSpace(std::string_view first_run_id, std::string_view last_run_id) override;
  // BackupEngine (store/rocksdb_backup.h): incremental, checksummed, WAL included.
  absl::StatusOr<BackupInfo> Backup(const std::string& dir, uint32_t keep_latest = 0) override;
  // Bytes of the live SST files of every column family (tests of ReclaimSpace).
  uint64_t LiveSstBytes() const;
  // Kept in the meta family ("page_token_key"), made at the first Open.
  const std::string& PageTokenKey() const override { return page_token_key_; }

  const std::string& path() const { return options_.path; }

 private:
  // Column families, in the order they are opened. Append only: a database written by
  // an older version lacks the later ones, and Open creates them.
  enum Cf : uint8_t {
    kDefaultCf = 0,
    kRunsCf,
    kJournalCf,
    kEventsCf,
    kQueueCf,
    kLeasesCf,
    kAgentsCf,
    kRequestIdsCf,
    kWaitingCf,
    kApprovalsCf,
    kSessionsCf,
    kGraphsCf,
    kDataKeysCf,  // encryption at rest: wrapped data keys (value_cipher.h)
    kRunIndexCf,  // ListRuns' secondary indexes (store_keys.h)
    kNamespacesCf,
    kMetaCf,  // the layout's format version
    kEndedCf,  // retention: root runs that ended, by namespace and end time (store_keys.h)
    kRunPartsCf,  // what a run was created with and its waits, apart from its record (StoreBatch)
    kPendingApprovalsCf,  // the ids of the approvals still PENDING (ListApprovals)
    kNumCfs,
  };
  static const char* const kCfNames[kNumCfs];

  // Calls `fn` with the part after `prefix` of each run_index key that starts with it,
  // and the entry's value (a run id), in key order.
  absl::Status WalkRunIndex(std::string_view prefix,
                            const std::function<void(std::string_view tail, std::string_view run_id)>& fn);

  // Agents and graphs (`kind` names them in errors).
  template <typename Spec>
  absl::StatusOr<std::optional<Spec>> GetSpec(Cf family, std::string_view kind, std::string_view ns,
                                              std::string_view name, int32_t version);
  template <typename Spec>
  absl::StatusOr<std::vector<Spec>> ListSpecs(Cf family, std::string_view kind, std::string_view ns,
                                              int page_size, std::string_view page_token);
  // A database of format 1 (before namespaces) moves to format 2: specs, request ids
  // and sessions under "default", every run in run_index. Idempotent; synced.
  absl::Status MigrateToNamespaces();
  // Format 2 moves to 3: every root run that ended gains its ended index entry.
  // Idempotent; synced.
  absl::Status MigrateToEndedIndex();
  // Format 3 moves to 4: each run's agent, input, graph and waits move out of its
  // record into run_parts (StoreBatch). Idempotent; synced.
  absl::Status MigrateToRunParts();
  // Format 4 moves to 5: every PENDING approval gains its pending_approvals entry.
  // Idempotent; synced.
  absl::Status MigrateToPendingIndex();
  // Format 5 moves to 6: events are written in groups (store_keys::EventGroup); the
  // one-event records before are read as they are. Idempotent; synced.
  absl::Status MigrateToEventGroups();
  // Writes a migration's `batch` with the format it moves to, synced (`what` names it
  // in errors).
  absl::Status CommitMigration(rocksdb::WriteBatch& batch, int format, std::string_view what);
  // The layout's version in the meta family: 0 when none is written (a new database,
  // or format 1).
  absl::StatusOr<int> FormatVersion();
  // Calls `fn` with every stored run record, in key order (the migrations).
  absl::Status ForEachRunRecord(const std::function<absl::Status(const v1::Run&)>& fn);
  // The run's record alone, without its parts (its state, index keys and labels).
  absl::StatusOr<std::optional<v1::Run>> GetRunRecord(std::string_view run_id);
  // Reads page_token_key_, or makes and writes it (synced) when the database has none.
  absl::Status LoadPageTokenKey();
  // The data key of `ns`, made and written (synced) the first time a namespace is
  // written to. REQUIRES: cipher_.
  absl::Status EnsureDataKey(std::string_view ns);

  // One encoded write of a batch. A range delete (is_range) deletes [key, value).
  struct Op {
    Cf cf;
    bool is_delete;
    std::string key;
    std::string value;
    bool is_range = false;
  };
  // A batch waiting for the committer. A batch that failed to encode waits too (with
  // `status` set, and no ops), so its `done` still runs in commit order.
  struct PendingCommit {
    // Queued: the batch, encoded into `ops` by the committer (then released).
    std::shared_ptr<const StoreBatch> batch;
    std::vector<Op> ops;
    size_t bytes = 0;
    absl::Status status;
    std::function<void(absl::Status)> done;
    // Commit's: refused (RESOURCE_EXHAUSTED) rather than held when the committer finds
    // the disk full before writing it; its caller blocks a thread and decided nothing.
    bool refuse_when_full = false;
  };
  // The state `run_id` was last stored with (none: a new run), from run_states_, else
  // the store (a store read is the previous write: Encode runs in commit order per run).
  absl::StatusOr<std::optional<v1::RunState>> LastStateLocked(const std::string& run_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(index_mu_);
  // The run_index ops of putting `run`, last stored in state `last`: every key for a new
  // run, the 's' key's move when its state changed; and its ended key when a root run
  // ends.
  void IndexRunLocked(const v1::Run& run, std::optional<v1::RunState> last, std::vector<Op>& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(index_mu_);

  RocksDbRunStore(const RocksDbStoreOptions& options, std::unique_ptr<rocksdb::DB> db,
                  const std::vector<rocksdb::ColumnFamilyHandle*>& handles, std::unique_ptr<DiskHealth> health,
                  std::unique_ptr<NoSpaceGuard> no_space);

  // Validates and serializes `batch` into ops, in StoreBatch's documented order,
  // encrypting payload records when the store has a cipher.
  absl::Status Encode(const StoreBatch& batch, PendingCommit* commit);
  // Payload records (runs and their parts, journal, events, approvals) are encrypted
  // at rest.
  static bool IsEncryptedCf(Cf c) {
    return c == kRunsCf || c == kJournalCf || c == kEventsCf || c == kApprovalsCf || c == kRunPartsCf;
  }
  // An encrypted record is bound to its column family and key.
  static std::string Aad(Cf c, std::string_view key);
  // The plaintext of a stored record of `c`: `value` itself, or decrypted into *buffer.
  // nullopt (logged) when it is encrypted and cannot be decrypted.
  std::optional<std::string_view> PlainStored(Cf c, std::string_view key, const rocksdb::Slice& value,
                                              std::string* buffer) const;
  // Parses a stored record of `c`, decrypting it when it is encrypted.
  template <typename Message>
  bool ParseStored(Cf c, std::string_view key, const rocksdb::Slice& value, Message* message) const;
  // Loads (and rotates) the data keys; REQUIRES: options_.encryption_key_file set.
  absl::Status OpenCipher();
  // Queues `commit` for the committer, or fails it at once when closing.
  void Enqueue(PendingCommit commit);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EarlierHoldsGoneOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWrittenOrStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CommitterLoop();
  // Runs the `done` callbacks of written groups, in commit order, so the committer
  // writes the next group meanwhile (gRPC answers, event fan-out and journal reads
  // are not on the write path).
  void CompletionLoop();
  // Writes one group; returns the status every member gets. RESOURCE_EXHAUSTED: the
  // disk is full, nothing was written (WriteWhenRoom).
  absl::Status WriteGroup(std::vector<PendingCommit>& group);
  // WriteGroup once the disk has room: while it is full, waits (polling for room)
  // until there is, or until the store is closing (kUnavailable).
  absl::Status WriteWhenRoom(std::vector<PendingCommit>& group);

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[c]; }
  // Registers the group-commit histograms and RocksDB's size gauges.
  void RegisterMetrics(metrics::Registry& registry);

  const RocksDbStoreOptions options_;

  // Destruction order: ~RocksDbRunStore stops and joins committer_ first (it writes
  // through db_ and the handles), then destroys handles_ through db_, then closes
  // db_. Members are also declared so that the implicit order is safe: db_ first (so
  // destroyed last), the thread last (so destroyed first).
  std::unique_ptr<rocksdb::DB> db_;
  // Owned; released with db_->DestroyColumnFamilyHandle in the destructor.
  std::array<rocksdb::ColumnFamilyHandle*, kNumCfs> handles_{};
  // The disk under options_.path, and what keeps writes within its room (used by the
  // committer only). Both outlive the committer.
  const std::unique_ptr<DiskHealth> health_;
  const std::unique_ptr<NoSpaceGuard> no_space_;

  // Set at Open when options_.encryption_key_file is.
  std::unique_ptr<ValueCipher> cipher_;
  absl::Mutex data_key_mu_;  // one writer of new data keys
  // Set at Open, then immutable.
  std::string page_token_key_;

  // The state last encoded for each run not yet finished, for the run_index 's' keys.
  absl::Mutex index_mu_;
  absl::flat_hash_map<std::string, v1::RunState> run_states_ ABSL_GUARDED_BY(index_mu_);

  // One Backup at a time (BackupEngine is not safe for concurrent backups to a dir).
  absl::Mutex backup_mu_;

  absl::Mutex mu_;
  std::vector<PendingCommit> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Holds (HoldCommits) are numbered from 1 as they are taken. When the committer finds
  // holds out it waits, up to options_.max_commit_hold, for those numbered below
  // hold_barrier_ (next_hold_ then) to be given back: holds taken while it waits
  // hold the next write, not this one, so holds that keep overlapping cannot keep
  // every write waiting its bound.
  uint64_t next_hold_ ABSL_GUARDED_BY(mu_) = 1;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;  // out now
  uint64_t hold_barrier_ ABSL_GUARDED_BY(mu_) = 0;
  int holds_before_barrier_ ABSL_GUARDED_BY(mu_) = 0;  // out now, numbered below hold_barrier_
  // Written groups (each member's status set) whose callbacks have not run yet.
  std::vector<PendingCommit> written_ ABSL_GUARDED_BY(mu_);
  bool committer_done_ ABSL_GUARDED_BY(mu_) = false;
  // Of the group being encoded and written. Batches queued behind it count once the
  // committer takes them (at most one group later).
  std::atomic<size_t> backlog_bytes_{0};
  // Set in the constructor, before the committer starts (empty handles: off).
  metrics::Histogram commit_group_size_;
  metrics::Histogram commit_write_seconds_;

  // Started last in the constructor, joined first in the destructor.
  std::thread committer_;
  std::thread completer_;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_ROCKSDB_RUN_STORE_H_
