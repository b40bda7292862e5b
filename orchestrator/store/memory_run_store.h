// A RunStore in memory, for unit tests of the scheduler and services.
#ifndef BATON_ORCHESTRATOR_STORE_MEMORY_RUN_STORE_H_
#define BATON_ORCHESTRATOR_STORE_MEMORY_RUN_STORE_H_

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

// Same semantics as RocksDbRunStore (same validation, same key order, since both use
// store_keys), nothing durable. CommitAsync applies the batch and runs `done` inline
// on the caller's thread. Thread-safe: one mutex guards all maps; callbacks
// (CommitAsync's `done`, Scan* functions) run without it held.
class InMemoryRunStore final : public RunStore {
 public:
  InMemoryRunStore();
  InMemoryRunStore(const InMemoryRunStore&) = delete;
  InMemoryRunStore& operator=(const InMemoryRunStore&) = delete;

  absl::Status Commit(const StoreBatch& batch) override;
  using RunStore::CommitAsync;
  void CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) override;
  // No disk, so nothing waits to be written; tests set what it reports, as a disk
  // that falls behind would.
  size_t CommitBacklogBytes() const override { return backlog_bytes_.load(); }
  void set_commit_backlog_bytes(size_t bytes) { backlog_bytes_ = bytes; }
  absl::Status CheckWritable() override;
  // What CheckWritable answers from now on (a full disk, for tests of its callers).
  // Commits still apply. Default: OK.
  void SetWritable(absl::Status status);

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
  // Random per store: tokens do not outlive it, as nothing else does.
  const std::string& PageTokenKey() const override { return page_token_key_; }

 private:
  std::atomic<size_t> backlog_bytes_{0};
  // Keyed by the store_keys encodings, so iteration order matches RocksDB's.
  template <typename V>
  using Map = std::map<std::string, V, std::less<>>;

  const std::string page_token_key_;
  mutable absl::Mutex mu_;
  absl::Status writable_ ABSL_GUARDED_BY(mu_);
  // The run with its parts, as GetRun returns it.
  v1::Run WholeRunLocked(const v1::Run& record) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // What put_runs stores (StoreBatch), and the parts kept apart as RocksDbRunStore
  // keeps them: what each run was created with (store_keys::SpecOf) by run id, waits
  // by store_keys::RunSeqKey(run, WaitPart).
  Map<v1::Run> runs_ ABSL_GUARDED_BY(mu_);
  Map<v1::Run> specs_ ABSL_GUARDED_BY(mu_);
  Map<v1::Wait> waits_ ABSL_GUARDED_BY(mu_);
  Map<v1::JournalEntry> journal_ ABSL_GUARDED_BY(mu_);
  Map<v1::RunEvent> events_ ABSL_GUARDED_BY(mu_);
  Map<QueueEntry> queue_ ABSL_GUARDED_BY(mu_);
  Map<LeaseRecord> leases_ ABSL_GUARDED_BY(mu_);
  Map<v1::AgentSpec> agents_ ABSL_GUARDED_BY(mu_);
  Map<v1::GraphSpec> graphs_ ABSL_GUARDED_BY(mu_);
  Map<std::string> request_ids_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> waiting_ ABSL_GUARDED_BY(mu_);
  Map<v1::Approval> approvals_ ABSL_GUARDED_BY(mu_);
  Map<std::string> session_heads_ ABSL_GUARDED_BY(mu_);
  Map<v1::Namespace> namespaces_ ABSL_GUARDED_BY(mu_);
  Map<std::string> ended_ ABSL_GUARDED_BY(mu_);  // store_keys::EndedKey -> run id
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_MEMORY_RUN_STORE_H_
