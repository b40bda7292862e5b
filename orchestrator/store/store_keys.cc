#include "orchestrator/store/store_keys.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/namespaces.h"
#include "common/status_macros.h"

namespace baton::orchestrator::store_keys {
namespace {

// The byte after kSeparator: "<id> kSeparatorEnd" bounds "<id> kSeparator ..." above.
constexpr char kSeparatorEnd = kSeparator + 1;
constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr uint8_t kLeaseFormatV1 = 1;
constexpr uint8_t kApprovalTokenFormatV1 = 1;
constexpr size_t kTokenChecksumBytes = 4;
constexpr size_t kQueuePrefixBytes = 4 + 8;

void PutBigEndian(std::string* out, uint64_t v, size_t bytes) {
  for (size_t i = bytes; i-- > 0;) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian(std::string_view in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void PutVarint32(std::string* out, uint32_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint32(std::string_view* in, uint32_t* v) {
  uint32_t result = 0;
  for (int shift = 0; shift <= 28 && !in->empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetLengthPrefixed(std::string_view* in, std::string* out) {
  uint32_t len = 0;
  if (!GetVarint32(in, &len) || in->size() < len) return false;
  out->assign(in->data(), len);
  in->remove_prefix(len);
  return true;
}

bool GetFixed64(std::string_view* in, int64_t* v) {
  if (in->size() < 8) return false;
  *v = static_cast<int64_t>(GetBigEndian(*in, 8));
  in->remove_prefix(8);
  return true;
}

std::string WithSuffix(std::string_view id, char suffix) {
  std::string out;
  out.reserve(id.size() + 1);
  out.append(id);
  out.push_back(suffix);
  return out;
}

// Debian's Abseil has its own string_view type, which StrCat needs.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// FNV-1a: a page token's checksum only has to catch accidents, not attacks.
uint32_t Fnv1a32(std::string_view data) {
  uint32_t hash = 2166136261u;
  for (char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash;
}

}  // namespace

bool IsValidId(std::string_view id) {
  return !id.empty() && id.find(kSeparator) == std::string_view::npos;
}

std::string RunSeqKey(std::string_view run_id, int64_t seq) {
  std::string key;
  key.reserve(run_id.size() + 1 + kSeqBytes);
  key.append(run_id);
  key.push_back(kSeparator);
  PutBigEndian(&key, static_cast<uint64_t>(seq), kSeqBytes);
  return key;
}

v1::Run SpecOf(const v1::Run& run) {
  v1::Run spec;
  if (run.has_agent()) *spec.mutable_agent() = run.agent();
  spec.set_input(run.input());
  if (run.has_graph()) *spec.mutable_graph() = run.graph();
  return spec;
}

v1::Run StoredRecord(const v1::Run& run) {
  // A copy less the parts, so a field added to Run is stored without a change here.
  // Whole only for the puts that carry the parts (a run's creation and end, the
  // store's migration): the scheduler's rewrites put records without them.
  v1::Run record = run;
  record.clear_waits();
  record.clear_input();
  record.clear_agent();
  record.clear_graph();
  if (run.has_agent()) *record.mutable_agent() = AgentSummary(run.agent());
  if (run.has_graph()) *record.mutable_graph() = GraphSummary(run.graph());
  return record;
}

bool IsStoredRecord(const v1::Run& run) {
  // A summary holds a subset of the fields it is cut from, with their values: equal
  // sizes mean nothing else is set. Cheap next to copying the run.
  return run.waits_size() == 0 && run.input().empty() &&
         (!run.has_agent() || run.agent().ByteSizeLong() == AgentSummary(run.agent()).ByteSizeLong()) &&
         (!run.has_graph() || run.graph().ByteSizeLong() == GraphSummary(run.graph()).ByteSizeLong());
}

v1::AgentSpec AgentSummary(const v1::AgentSpec& agent) {
  v1::AgentSpec cut;
  cut.set_name(agent.name());
  cut.set_version(agent.version());
  cut.set_model(agent.model());
  cut.set_namespace_(agent.namespace_());
  return cut;
}

v1::GraphSpec GraphSummary(const v1::GraphSpec& graph) {
  v1::GraphSpec cut;
  cut.set_name(graph.name());
  cut.set_version(graph.version());
  return cut;
}

void MergeSpec(v1::Run spec, v1::Run* run) {
  if (spec.has_agent()) run->mutable_agent()->Swap(spec.mutable_agent());
  if (!spec.input().empty()) run->mutable_input()->swap(*spec.mutable_input());
  if (spec.has_graph()) run->mutable_graph()->Swap(spec.mutable_graph());
}

std::string RunSeqPrefix(std::string_view run_id) {
  return WithSuffix(run_id, kSeparator);
}

std::string RunSeqUpperBound(std::string_view run_id) {
  return WithSuffix(run_id, kSeparatorEnd);
}

std::optional<int64_t> SeqOfRunSeqKey(std::string_view key) {
  if (key.size() < kSeqBytes + 2 || key[key.size() - kSeqBytes - 1] != kSeparator) {
    return std::nullopt;
  }
  return static_cast<int64_t>(GetBigEndian(key.substr(key.size() - kSeqBytes), kSeqBytes));
}

std::string QueueKey(const QueueEntry& entry) {
  std::string key;
  key.reserve(kQueuePrefixBytes + entry.run_id.size());
  // 0x7fffffff - priority lies in [0, 2^32 - 1] for every int32, and is smaller for
  // higher priorities.
  PutBigEndian(&key, static_cast<uint64_t>(int64_t{0x7fffffff} - entry.priority), 4);
  PutBigEndian(&key, static_cast<uint64_t>(entry.enqueue_time_ms) ^ kSignBit, 8);
  key.append(entry.run_id);
  return key;
}

std::optional<QueueEntry> ParseQueueKey(std::string_view key) {
  if (key.size() <= kQueuePrefixBytes) return std::nullopt;
  QueueEntry entry;
  entry.priority = static_cast<int32_t>(int64_t{0x7fffffff} -
                                        static_cast<int64_t>(GetBigEndian(key, 4)));
  entry.enqueue_time_ms = static_cast<int64_t>(GetBigEndian(key.substr(4), 8) ^ kSignBit);
  entry.run_id.assign(key.substr(kQueuePrefixBytes));
  return entry;
}

bool QueueOrderLess(const QueueEntry& a, const QueueEntry& b) {
  return std::forward_as_tuple(b.priority, a.enqueue_time_ms, a.run_id) <
         std::forward_as_tuple(a.priority, b.enqueue_time_ms, b.run_id);
}

std::string ScopedKey(std::string_view ns, std::string_view id) {
  std::string key = WithSuffix(ns, kSeparator);
  key.append(id);
  return key;
}

std::string NamespacePrefix(std::string_view ns) { return WithSuffix(ns, kSeparator); }

std::string NamespaceUpperBound(std::string_view ns) { return WithSuffix(ns, kSeparatorEnd); }

std::string AgentKey(std::string_view ns, std::string_view name, int32_t version) {
  std::string key = AgentPrefix(ns, name);
  PutBigEndian(&key, static_cast<uint32_t>(version), kVersionBytes);
  return key;
}

std::string AgentPrefix(std::string_view ns, std::string_view name) {
  return WithSuffix(ScopedKey(ns, name), kSeparator);
}

std::string AgentUpperBound(std::string_view ns, std::string_view name) {
  return WithSuffix(ScopedKey(ns, name), kSeparatorEnd);
}

std::string_view AgentNameOfKey(std::string_view key) {
  const size_t ns_end = key.find(kSeparator);
  if (ns_end == std::string_view::npos || key.size() < ns_end + kVersionBytes + 3 ||
      key[key.size() - kVersionBytes - 1] != kSeparator) {
    return {};
  }
  return key.substr(ns_end + 1, key.size() - kVersionBytes - 2 - ns_end);
}

std::string_view SpecNamespace(std::string_view namespace_field) {
  return namespace_field.empty() ? std::string_view(kDefaultNamespace) : namespace_field;
}

std::string_view BareRunId(std::string_view run_id) {
  const size_t slash = run_id.find('/');
  return slash == std::string_view::npos ? run_id : run_id.substr(slash + 1);
}

namespace {

std::string RunIndexStart(std::string_view ns, RunIndex kind) {
  std::string key = NamespacePrefix(ns.empty() ? std::string_view(kDefaultNamespace) : ns);
  key.push_back(static_cast<char>(kind));
  return key;
}

std::string FieldIndexPrefix(std::string_view ns, RunIndex kind, std::string_view field) {
  std::string key = RunIndexStart(ns, kind);
  key.append(field);
  key.push_back(kSeparator);
  return key;
}

}  // namespace

std::string RunStateIndexPrefix(std::string_view ns, v1::RunState state) {
  std::string key = RunIndexStart(ns, RunIndex::kState);
  key.push_back(static_cast<char>(state));
  return key;
}

std::string RunIndexPrefix(const RunFilter& filter) {
  if (!filter.parent_run_id.empty()) return FieldIndexPrefix(filter.ns, RunIndex::kParent, filter.parent_run_id);
  if (!filter.agent_name.empty()) return FieldIndexPrefix(filter.ns, RunIndex::kAgent, filter.agent_name);
  if (filter.state != v1::RUN_STATE_UNSPECIFIED) return RunStateIndexPrefix(filter.ns, filter.state);
  return RunIndexStart(filter.ns, RunIndex::kAll);
}

std::vector<std::string> RunIndexKeys(const v1::Run& run) {
  const std::string_view ns = NamespaceOfRunId(run.run_id());
  const std::string_view bare = BareRunId(run.run_id());
  std::vector<std::string> keys;
  keys.push_back(absl::StrCat(Sv(RunIndexStart(ns, RunIndex::kAll)), Sv(bare)));
  keys.push_back(absl::StrCat(Sv(RunStateIndexPrefix(ns, run.state())), Sv(bare)));
  if (!run.agent().name().empty()) {
    keys.push_back(absl::StrCat(Sv(FieldIndexPrefix(ns, RunIndex::kAgent, run.agent().name())), Sv(bare)));
  }
  if (!run.parent_run_id().empty()) {
    keys.push_back(absl::StrCat(Sv(FieldIndexPrefix(ns, RunIndex::kParent, run.parent_run_id())), Sv(bare)));
  }
  return keys;
}

std::string RunStateIndexKey(std::string_view run_id, v1::RunState state) {
  return absl::StrCat(Sv(RunStateIndexPrefix(NamespaceOfRunId(run_id), state)), Sv(BareRunId(run_id)));
}

std::string EndedKey(std::string_view run_id, int64_t end_time_ms) {
  std::string key = EndedBound(NamespaceOfRunId(run_id), end_time_ms);
  key.append(BareRunId(run_id));
  return key;
}

std::string EndedBound(std::string_view ns, int64_t ended_before_ms) {
  std::string key = NamespacePrefix(ns);
  PutBigEndian(&key, static_cast<uint64_t>(ended_before_ms) ^ kSignBit, 8);
  return key;
}

std::optional<int64_t> EndTimeOfEndedKey(std::string_view ns, std::string_view key) {
  if (key.size() <= ns.size() + 1 + 8 || !key.starts_with(ns) || key[ns.size()] != kSeparator) return std::nullopt;
  return static_cast<int64_t>(GetBigEndian(key.substr(ns.size() + 1), 8) ^ kSignBit);
}

std::string_view NamespaceOfScopedKey(std::string_view key) {
  const size_t end = key.find(kSeparator);
  return end == std::string_view::npos ? std::string_view() : key.substr(0, end);
}

int64_t EndTimeOf(const v1::Run& run) { return run.end_time_ms() != 0 ? run.end_time_ms() : run.create_time_ms(); }

std::string RunApprovalsPrefix(std::string_view run_id) { return WithSuffix(run_id, ':'); }

std::string RunApprovalsUpperBound(std::string_view run_id) { return WithSuffix(run_id, ':' + 1); }

namespace {

absl::Status CheckId(std::string_view id, std::string_view field, size_t index,
                     std::string_view member) {
  if (id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), "[", index, "].", Sv(member), ": empty"));
  }
  if (id.find(kSeparator) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), "[", index, "].", Sv(member), ": contains a NUL byte"));
  }
  return absl::OkStatus();
}

absl::Status CheckSeq(int64_t seq, std::string_view field, size_t index) {
  if (seq < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), "[", index, "].seq: must be >= 0 (got ", seq, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBatch(const StoreBatch& batch) {
  for (size_t i = 0; i < batch.put_runs.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.put_runs[i].run_id(), "put_runs", i, "run_id"));
  }
  for (size_t i = 0; i < batch.journal.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.journal[i].first, "journal", i, "run_id"));
    RETURN_IF_ERROR(CheckSeq(batch.journal[i].second.seq(), "journal", i));
  }
  for (size_t i = 0; i < batch.events.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.events[i].run_id(), "events", i, "run_id"));
    RETURN_IF_ERROR(CheckSeq(batch.events[i].seq(), "events", i));
  }
  for (size_t i = 0; i < batch.queue_puts.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.queue_puts[i].run_id, "queue_puts", i, "run_id"));
  }
  for (size_t i = 0; i < batch.queue_deletes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.queue_deletes[i].run_id, "queue_deletes", i, "run_id"));
  }
  for (size_t i = 0; i < batch.lease_puts.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.lease_puts[i].run_id, "lease_puts", i, "run_id"));
  }
  for (size_t i = 0; i < batch.lease_deletes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.lease_deletes[i], "lease_deletes", i, "run_id"));
  }
  for (size_t i = 0; i < batch.request_ids.size(); ++i) {
    // A request id is a whole key, so any non-empty bytes will do.
    if (batch.request_ids[i].first.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("request_ids[", i, "].request_id: empty"));
    }
    RETURN_IF_ERROR(CheckId(batch.request_ids[i].second, "request_ids", i, "run_id"));
  }
  for (size_t i = 0; i < batch.agents.size(); ++i) {
    const v1::AgentSpec& agent = batch.agents[i];
    RETURN_IF_ERROR(CheckId(agent.name(), "agents", i, "name"));
    if (agent.version() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "agents[", i, "].version: must be >= 1 (got ", agent.version(), ")"));
    }
  }
  for (size_t i = 0; i < batch.graphs.size(); ++i) {
    const v1::GraphSpec& graph = batch.graphs[i];
    RETURN_IF_ERROR(CheckId(graph.name(), "graphs", i, "name"));
    if (graph.version() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graphs[", i, "].version: must be >= 1 (got ", graph.version(), ")"));
    }
  }
  for (size_t i = 0; i < batch.waiting_deletes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.waiting_deletes[i], "waiting_deletes", i, "run_id"));
  }
  for (size_t i = 0; i < batch.waiting_puts.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.waiting_puts[i], "waiting_puts", i, "run_id"));
  }
  for (size_t i = 0; i < batch.approvals.size(); ++i) {
    // Like a request id, an approval id is a whole key.
    if (batch.approvals[i].approval_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("approvals[", i, "].approval_id: empty"));
    }
  }
  for (size_t i = 0; i < batch.session_heads.size(); ++i) {
    if (batch.session_heads[i].first.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("session_heads[", i, "].session_id: empty"));
    }
    RETURN_IF_ERROR(CheckId(batch.session_heads[i].second, "session_heads", i, "run_id"));
  }
  for (size_t i = 0; i < batch.wait_writes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.wait_writes[i].run_id, "wait_writes", i, "run_id"));
    if (batch.wait_writes[i].index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("wait_writes[", i, "].index: must be >= 0 (got ", batch.wait_writes[i].index, ")"));
    }
  }
  for (size_t i = 0; i < batch.run_deletes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.run_deletes[i].run_id(), "run_deletes", i, "run_id"));
  }
  for (size_t i = 0; i < batch.ended_deletes.size(); ++i) {
    RETURN_IF_ERROR(CheckId(batch.ended_deletes[i].run_id, "ended_deletes", i, "run_id"));
  }
  for (size_t i = 0; i < batch.namespaces.size(); ++i) {
    if (!IsValidNamespace(batch.namespaces[i].name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("namespaces[", i, "].name: \"", batch.namespaces[i].name(), "\" is not 1 to 63 of [a-z0-9_-]"));
    }
  }
  return absl::OkStatus();
}

bool MatchesFilter(const RunFilter& filter, const v1::Run& run) {
  const std::string_view ns = filter.ns.empty() ? std::string_view(kDefaultNamespace) : filter.ns;
  return NamespaceOfRunId(run.run_id()) == ns &&
         (filter.state == v1::RUN_STATE_UNSPECIFIED || run.state() == filter.state) &&
         (filter.agent_name.empty() || run.agent().name() == filter.agent_name) &&
         (filter.parent_run_id.empty() || run.parent_run_id() == filter.parent_run_id) &&
         (filter.session_id.empty() || run.session_id() == filter.session_id) &&
         std::all_of(filter.labels.begin(), filter.labels.end(), [&run](const auto& label) {
           auto it = run.labels().find(label.first);
           return it != run.labels().end() && it->second == label.second;
         });
}

bool MatchesFilter(const ApprovalFilter& filter, const v1::Approval& approval) {
  if (!filter.run_id.empty() && approval.run_id() != filter.run_id) return false;
  if (!filter.agent_name.empty() && approval.agent_name() != filter.agent_name) return false;
  if (!filter.ns.empty() && NamespaceOfRunId(approval.run_id()) != filter.ns) return false;
  switch (filter.states) {
    case ApprovalFilter::States::kPending:
      return approval.state() == v1::Approval::PENDING;
    case ApprovalFilter::States::kDecided:
      return approval.state() == v1::Approval::DECIDED ||
             approval.state() == v1::Approval::EXPIRED ||
             approval.state() == v1::Approval::ABANDONED;
    case ApprovalFilter::States::kAll:
      return true;
  }
  return false;
}

int EffectivePageSize(int requested) {
  if (requested <= 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

std::string EncodeRunPageToken(std::string_view last_run_id) { return std::string(last_run_id); }

std::string EncodeApprovalPageToken(std::string_view last_approval_id) {
  std::string raw;
  raw.reserve(1 + last_approval_id.size() + kTokenChecksumBytes);
  raw.push_back(static_cast<char>(kApprovalTokenFormatV1));
  raw.append(last_approval_id);
  PutBigEndian(&raw, Fnv1a32(raw), kTokenChecksumBytes);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<std::string> DecodeApprovalPageToken(std::string_view token) {
  if (token.empty()) return std::string();
  const absl::Status invalid =
      absl::InvalidArgumentError("page_token: not a token that ListApprovals returned");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(Sv(token), &raw) ||
      raw.size() < 1 + 1 + kTokenChecksumBytes ||
      static_cast<uint8_t>(raw.front()) != kApprovalTokenFormatV1) {
    return invalid;
  }
  const std::string_view body(raw.data(), raw.size() - kTokenChecksumBytes);
  const uint64_t checksum =
      GetBigEndian(std::string_view(raw).substr(body.size()), kTokenChecksumBytes);
  if (checksum != Fnv1a32(body)) return invalid;
  return std::string(body.substr(1));
}

namespace {
constexpr char kEventGroupTag[] = {'\x00', 'G'};
// The first bytes of a RunEvent serialized with its run_id: field 1, length-delimited.
constexpr char kRunIdTag = 0x0a;
}  // namespace

EventGroup::EventGroup() : bytes_(kEventGroupTag, sizeof(kEventGroupTag)) {}

bool EventGroup::Add(const v1::RunEvent& event) {
  if (!event.SerializeToString(&scratch_)) return false;
  std::string_view bytes = scratch_;
  // Fields are serialized in number order, run_id (1) first; the key holds it.
  if (!event.run_id().empty() && !bytes.empty() && bytes.front() == kRunIdTag) {
    std::string_view rest = bytes.substr(1);
    uint32_t len = 0;
    if (GetVarint32(&rest, &len) && rest.substr(0, len) == event.run_id()) bytes = rest.substr(len);
  }
  PutVarint32(&bytes_, static_cast<uint32_t>(bytes.size()));
  bytes_.append(bytes);
  return true;
}

bool DecodeEvents(std::string_view run_id, std::string_view value, std::vector<v1::RunEvent>* out) {
  if (!value.starts_with(std::string_view(kEventGroupTag, sizeof(kEventGroupTag)))) {
    return out->emplace_back().ParseFromArray(value.data(), static_cast<int>(value.size()));
  }
  std::string_view in = value.substr(sizeof(kEventGroupTag));
  while (!in.empty()) {
    uint32_t len = 0;
    if (!GetVarint32(&in, &len) || in.size() < len) return false;
    v1::RunEvent& event = out->emplace_back();
    if (!event.ParseFromArray(in.data(), static_cast<int>(len))) return false;
    event.set_run_id(std::string(run_id));
    in.remove_prefix(len);
  }
  return true;
}

std::string EncodeLease(const LeaseRecord& lease) {
  std::string out;
  out.reserve(1 + 5 + lease.lease_id.size() + 16 + 5 + lease.worker_id.size());
  out.push_back(static_cast<char>(kLeaseFormatV1));
  PutVarint32(&out, static_cast<uint32_t>(lease.lease_id.size()));
  out.append(lease.lease_id);
  PutBigEndian(&out, static_cast<uint64_t>(lease.epoch), 8);
  PutBigEndian(&out, static_cast<uint64_t>(lease.deadline_ms), 8);
  PutVarint32(&out, static_cast<uint32_t>(lease.worker_id.size()));
  out.append(lease.worker_id);
  return out;
}

absl::StatusOr<LeaseRecord> DecodeLease(std::string_view run_id, std::string_view value) {
  LeaseRecord lease;
  lease.run_id.assign(run_id);
  std::string_view in = value;
  if (in.empty() || static_cast<uint8_t>(in.front()) != kLeaseFormatV1) {
    return absl::DataLossError(
        absl::StrCat("lease of run ", Sv(run_id), ": unknown record format"));
  }
  in.remove_prefix(1);
  if (!GetLengthPrefixed(&in, &lease.lease_id) || !GetFixed64(&in, &lease.epoch) ||
      !GetFixed64(&in, &lease.deadline_ms) || !GetLengthPrefixed(&in, &lease.worker_id) ||
      !in.empty()) {
    return absl::DataLossError(absl::StrCat("lease of run ", Sv(run_id), ": truncated or corrupt record"));
  }
  return lease;
}

}  // namespace baton::orchestrator::store_keys
