#include "orchestrator/store/memory_run_store.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/namespaces.h"
#include "common/status_macros.h"
#include "orchestrator/store/store_keys.h"

namespace baton::orchestrator {
namespace {

std::string RandomKey() {
  absl::BitGen gen;
  std::string key(32, '\0');
  for (char& c : key) c = static_cast<char>(absl::Uniform<uint8_t>(gen));
  return key;
}

// Erases the keys in [from, to), as RocksDB's DeleteRange.
template <typename V>
void EraseRange(std::map<std::string, V, std::less<>>& map, const std::string& from, const std::string& to) {
  map.erase(map.lower_bound(from), map.lower_bound(to));
}

}  // namespace

InMemoryRunStore::InMemoryRunStore() : page_token_key_(RandomKey()) {}

absl::Status InMemoryRunStore::Commit(const StoreBatch& batch) {
  RETURN_IF_ERROR(store_keys::ValidateBatch(batch));
  absl::MutexLock lock(&mu_);
  // Same order as RocksDbRunStore writes its WriteBatch (see StoreBatch).
  for (const v1::Run& run : batch.put_runs) {
    auto [it, created] = runs_.try_emplace(run.run_id());
    v1::Run& stored = it->second;
    // A run's first put, its creation, stores what it was created with.
    if (created) specs_[run.run_id()] = store_keys::SpecOf(run);
    // The ended index gains a root run when it ends (RocksDbRunStore::IndexRunLocked).
    if (IsTerminal(run.state()) && !IsTerminal(stored.state()) && IsRetentionRoot(run)) {
      ended_[store_keys::EndedKey(run.run_id(), store_keys::EndTimeOf(run))] = run.run_id();
    }
    stored = store_keys::StoredRecord(run);
  }
  for (const WaitWrite& write : batch.wait_writes) {
    std::string key = store_keys::RunSeqKey(write.run_id, store_keys::WaitPart(write.index));
    if (write.wait.has_value()) {
      waits_[std::move(key)] = *write.wait;
    } else {
      waits_.erase(key);
    }
  }
  for (const auto& [run_id, entry] : batch.journal) {
    journal_[store_keys::RunSeqKey(run_id, entry.seq())] = entry;
  }
  for (const v1::RunEvent& event : batch.events) {
    events_[store_keys::RunSeqKey(event.run_id(), event.seq())] = event;
  }
  for (const QueueEntry& entry : batch.queue_deletes) queue_.erase(store_keys::QueueKey(entry));
  for (const QueueEntry& entry : batch.queue_puts) queue_[store_keys::QueueKey(entry)] = entry;
  for (const std::string& run_id : batch.lease_deletes) leases_.erase(run_id);
  for (const LeaseRecord& lease : batch.lease_puts) leases_[lease.run_id] = lease;
  for (const auto& [request_id, run_id] : batch.request_ids) {
    request_ids_[store_keys::ScopedKey(NamespaceOfRunId(run_id), request_id)] = run_id;
  }
  for (const v1::AgentSpec& agent : batch.agents) {
    agents_[store_keys::AgentKey(store_keys::SpecNamespace(agent.namespace_()), agent.name(), agent.version())] = agent;
  }
  for (const v1::GraphSpec& graph : batch.graphs) {
    graphs_[store_keys::AgentKey(store_keys::SpecNamespace(graph.namespace_()), graph.name(), graph.version())] = graph;
  }
  for (const std::string& run_id : batch.waiting_deletes) waiting_.erase(run_id);
  for (const std::string& run_id : batch.waiting_puts) waiting_.insert(run_id);
  for (const v1::Approval& approval : batch.approvals) {
    approvals_[approval.approval_id()] = approval;
  }
  for (const auto& [session_id, run_id] : batch.session_heads) {
    session_heads_[store_keys::ScopedKey(NamespaceOfRunId(run_id), session_id)] = run_id;
  }
  for (const v1::Namespace& settings : batch.namespaces) namespaces_[settings.name()] = settings;
  for (const v1::Run& run : batch.run_deletes) {
    const std::string& id = run.run_id();
    runs_.erase(id);
    specs_.erase(id);
    EraseRange(waits_, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    EraseRange(journal_, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    EraseRange(events_, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    EraseRange(approvals_, store_keys::RunApprovalsPrefix(id), store_keys::RunApprovalsUpperBound(id));
    if (!run.request_id().empty()) request_ids_.erase(store_keys::ScopedKey(NamespaceOfRunId(id), run.request_id()));
  }
  for (const EndedRun& ended : batch.ended_deletes) ended_.erase(store_keys::EndedKey(ended.run_id, ended.end_time_ms));
  return absl::OkStatus();
}

absl::Status InMemoryRunStore::CheckWritable() {
  absl::MutexLock lock(&mu_);
  return writable_;
}

void InMemoryRunStore::SetWritable(absl::Status status) {
  absl::MutexLock lock(&mu_);
  writable_ = std::move(status);
}

void InMemoryRunStore::CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) {
  absl::Status status = Commit(*batch);
  done(std::move(status));
}

absl::StatusOr<std::optional<v1::Run>> InMemoryRunStore::GetRun(std::string_view run_id) {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return std::nullopt;
  return WholeRunLocked(it->second);
}

v1::Run InMemoryRunStore::WholeRunLocked(const v1::Run& record) const {
  v1::Run run = record;
  if (auto spec = specs_.find(run.run_id()); spec != specs_.end()) store_keys::MergeSpec(spec->second, &run);
  const std::string prefix = store_keys::RunSeqPrefix(run.run_id());
  for (auto it = waits_.lower_bound(prefix); it != waits_.end() && it->first.starts_with(prefix); ++it) {
    *run.add_waits() = it->second;
  }
  return run;
}

absl::StatusOr<RunPage> InMemoryRunStore::ListRuns(const RunFilter& filter, int page_size,
                                                   std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  // RocksDbRunStore's index order: newest first by the id's part after "<ns>/".
  std::vector<const v1::Run*> matches;
  absl::MutexLock lock(&mu_);
  const std::string_view before = store_keys::BareRunId(page_token);
  for (const auto& [run_id, run] : runs_) {
    if (!store_keys::MatchesFilter(filter, run)) continue;
    if (!page_token.empty() && store_keys::BareRunId(run_id) >= before) continue;
    matches.push_back(&run);
  }
  std::sort(matches.begin(), matches.end(), [](const v1::Run* a, const v1::Run* b) {
    return store_keys::BareRunId(a->run_id()) > store_keys::BareRunId(b->run_id());
  });
  RunPage page;
  for (const v1::Run* run : matches) {
    if (page.runs.size() == limit) {  // one more match exists: there is a next page
      page.next_page_token = store_keys::EncodeRunPageToken(page.runs.back().run_id());
      break;
    }
    page.runs.push_back(WholeRunLocked(*run));
  }
  return page;
}

absl::StatusOr<RunCounts> InMemoryRunStore::CountRuns(const RunFilter& filter) {
  RunFilter any_state = filter;
  any_state.state = v1::RUN_STATE_UNSPECIFIED;
  any_state.session_id.clear();
  RunCounts counts;
  absl::MutexLock lock(&mu_);
  for (const auto& [run_id, run] : runs_) {
    if (store_keys::MatchesFilter(any_state, run)) ++counts[run.state()];
  }
  return counts;
}

absl::StatusOr<std::optional<std::string>> InMemoryRunStore::LookupRequestId(
    std::string_view ns, std::string_view request_id) {
  absl::MutexLock lock(&mu_);
  auto it = request_ids_.find(store_keys::ScopedKey(ns, request_id));
  if (it == request_ids_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<v1::JournalEntry>> InMemoryRunStore::ReadJournal(
    std::string_view run_id, int64_t after_seq) {
  std::vector<v1::JournalEntry> entries;
  if (!store_keys::IsValidId(run_id)) return entries;
  const std::string prefix = store_keys::RunSeqPrefix(run_id);
  absl::MutexLock lock(&mu_);
  for (auto it = journal_.lower_bound(store_keys::RunSeqKey(run_id, std::max<int64_t>(after_seq, -1) + 1));
       it != journal_.end() && it->first.starts_with(prefix); ++it) {
    entries.push_back(it->second);
  }
  return entries;
}

absl::StatusOr<std::vector<v1::RunEvent>> InMemoryRunStore::ReadEvents(std::string_view run_id,
                                                                      int64_t after_seq,
                                                                      int limit) {
  std::vector<v1::RunEvent> events;
  if (!store_keys::IsValidId(run_id) || after_seq == INT64_MAX) return events;
  const std::string prefix = store_keys::RunSeqPrefix(run_id);
  const int64_t first_seq = after_seq < 0 ? 0 : after_seq + 1;
  absl::MutexLock lock(&mu_);
  for (auto it = events_.lower_bound(store_keys::RunSeqKey(run_id, first_seq));
       it != events_.end() && it->first.starts_with(prefix); ++it) {
    if (limit > 0 && events.size() == static_cast<size_t>(limit)) break;
    events.push_back(it->second);
  }
  return events;
}

absl::Status InMemoryRunStore::ScanQueue(const std::function<void(const QueueEntry&)>& fn) {
  std::vector<QueueEntry> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.reserve(queue_.size());
    for (const auto& [key, entry] : queue_) entries.push_back(entry);
  }
  for (const QueueEntry& entry : entries) fn(entry);
  return absl::OkStatus();
}

absl::Status InMemoryRunStore::ScanLeases(const std::function<void(const LeaseRecord&)>& fn) {
  std::vector<LeaseRecord> leases;
  {
    absl::MutexLock lock(&mu_);
    leases.reserve(leases_.size());
    for (const auto& [run_id, lease] : leases_) leases.push_back(lease);
  }
  for (const LeaseRecord& lease : leases) fn(lease);
  return absl::OkStatus();
}

namespace {

// Agents and graphs: versioned specs keyed by store_keys::AgentKey.
template <typename Spec, typename SpecMap>
absl::StatusOr<std::optional<Spec>> GetSpec(const SpecMap& specs, std::string_view ns, std::string_view name,
                                            int32_t version) {
  if (version > 0) {
    auto it = specs.find(store_keys::AgentKey(ns, name, version));
    if (it == specs.end()) return std::nullopt;
    return it->second;
  }
  // The latest version is the last key before the name's upper bound.
  auto it = specs.lower_bound(store_keys::AgentUpperBound(ns, name));
  if (it == specs.begin()) return std::nullopt;
  --it;
  if (!it->first.starts_with(store_keys::AgentPrefix(ns, name))) return std::nullopt;
  return it->second;
}

template <typename Spec, typename SpecMap>
std::vector<Spec> ListSpecs(const SpecMap& specs, std::string_view ns, int page_size, std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  std::vector<Spec> out;
  const std::string end = store_keys::NamespaceUpperBound(ns);
  auto it = page_token.empty() ? specs.lower_bound(store_keys::NamespacePrefix(ns))
                               : specs.lower_bound(store_keys::AgentUpperBound(ns, page_token));
  while (it != specs.end() && it->first < end && out.size() < limit) {
    // Jump past the name's versions; the one before is the latest.
    auto next = specs.lower_bound(store_keys::AgentUpperBound(ns, store_keys::AgentNameOfKey(it->first)));
    out.push_back(std::prev(next)->second);
    it = next;
  }
  return out;
}

absl::Status CheckVersion(int32_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("version: must be >= 0 (got ", version, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<v1::AgentSpec>> InMemoryRunStore::GetAgent(std::string_view ns, std::string_view name,
                                                                       int32_t version) {
  RETURN_IF_ERROR(CheckVersion(version));
  if (!store_keys::IsValidId(name)) return std::nullopt;
  absl::MutexLock lock(&mu_);
  return GetSpec<v1::AgentSpec>(agents_, ns, name, version);
}

absl::StatusOr<std::vector<v1::AgentSpec>> InMemoryRunStore::ListAgents(
    std::string_view ns, int page_size, std::string_view page_token) {
  absl::MutexLock lock(&mu_);
  return ListSpecs<v1::AgentSpec>(agents_, ns, page_size, page_token);
}

absl::StatusOr<std::optional<v1::GraphSpec>> InMemoryRunStore::GetGraph(std::string_view ns, std::string_view name,
                                                                       int32_t version) {
  RETURN_IF_ERROR(CheckVersion(version));
  if (!store_keys::IsValidId(name)) return std::nullopt;
  absl::MutexLock lock(&mu_);
  return GetSpec<v1::GraphSpec>(graphs_, ns, name, version);
}

absl::StatusOr<std::vector<v1::GraphSpec>> InMemoryRunStore::ListGraphs(
    std::string_view ns, int page_size, std::string_view page_token) {
  absl::MutexLock lock(&mu_);
  return ListSpecs<v1::GraphSpec>(graphs_, ns, page_size, page_token);
}

absl::Status InMemoryRunStore::ScanWaiting(const std::function<void(const std::string&)>& fn) {
  std::vector<std::string> run_ids;
  {
    absl::MutexLock lock(&mu_);
    run_ids.assign(waiting_.begin(), waiting_.end());
  }
  for (const std::string& run_id : run_ids) fn(run_id);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Approval>> InMemoryRunStore::GetApproval(
    std::string_view approval_id) {
  absl::MutexLock lock(&mu_);
  auto it = approvals_.find(approval_id);
  if (it == approvals_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ApprovalPage> InMemoryRunStore::ListApprovals(const ApprovalFilter& filter,
                                                             int page_size,
                                                             std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  ASSIGN_OR_RETURN(const std::string after, store_keys::DecodeApprovalPageToken(page_token));
  ApprovalPage page;
  absl::MutexLock lock(&mu_);
  // From just after the token's approval id (exclusive), in approval id order.
  auto it = after.empty() ? approvals_.begin() : approvals_.upper_bound(after);
  for (; it != approvals_.end(); ++it) {
    if (!store_keys::MatchesFilter(filter, it->second)) continue;
    if (page.approvals.size() == limit) {  // one more match exists: there is a next page
      page.next_page_token =
          store_keys::EncodeApprovalPageToken(page.approvals.back().approval_id());
      break;
    }
    page.approvals.push_back(it->second);
  }
  return page;
}

absl::StatusOr<std::optional<std::string>> InMemoryRunStore::GetSessionHead(
    std::string_view ns, std::string_view session_id) {
  absl::MutexLock lock(&mu_);
  auto it = session_heads_.find(store_keys::ScopedKey(ns, session_id));
  if (it == session_heads_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<v1::Namespace>> InMemoryRunStore::GetNamespace(std::string_view ns) {
  absl::MutexLock lock(&mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<v1::Namespace>> InMemoryRunStore::ListNamespaces() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Namespace> out;
  for (const auto& [name, settings] : namespaces_) out.push_back(settings);
  return out;
}

absl::StatusOr<std::vector<std::string>> InMemoryRunStore::ListEndedNamespaces() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (auto it = ended_.begin(); it != ended_.end();) {
    out.emplace_back(store_keys::NamespaceOfScopedKey(it->first));
    it = ended_.lower_bound(store_keys::NamespaceUpperBound(out.back()));
  }
  return out;
}

absl::StatusOr<std::vector<EndedRun>> InMemoryRunStore::ListEnded(std::string_view ns, int64_t ended_before_ms,
                                                                  size_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<EndedRun> out;
  const std::string end = store_keys::EndedBound(ns, ended_before_ms);
  for (auto it = ended_.lower_bound(store_keys::NamespacePrefix(ns)); it != ended_.end() && it->first < end && out.size() < limit;
       ++it) {
    out.push_back(EndedRun{store_keys::EndTimeOfEndedKey(ns, it->first).value_or(0), it->second});
  }
  return out;
}

}  // namespace baton::orchestrator
