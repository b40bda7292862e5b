// Byte encodings of the store's keys, compact values and page tokens, and the rules
// both RunStore implementations share (batch validation, list filters, page sizes).
// Both order their keyspaces with these functions, so the in-memory store iterates in
// exactly the order RocksDB does and refuses exactly the same input. Pure logic: no
// RocksDB headers.
//
// Layout (BE = big-endian, fixed width; <ns> a namespace, common/namespaces.h):
//   runs         <run_id>                                  -> v1::Run
//   journal      <run_id> 0x00 BE64(seq)                   -> v1::JournalEntry
//   events       <run_id> 0x00 BE64(last seq)              -> EventGroup (format 6), or
//                <run_id> 0x00 BE64(seq)                   -> v1::RunEvent (before)
//   queue        BE32(0x7fffffff - priority)               -> "" (all in the key)
//                BE64(enqueue_time_ms ^ 1<<63) <run_id>
//   leases       <run_id>                                  -> EncodeLease()
//   agents       <ns> 0x00 <name> 0x00 BE32(version)       -> v1::AgentSpec
//   graphs       <ns> 0x00 <name> 0x00 BE32(version)       -> v1::GraphSpec
//   request_ids  <ns> 0x00 <request_id>                    -> <run_id>
//   waiting      <run_id>                                  -> "" (all in the key)
//   approvals    <approval_id>                             -> v1::Approval
//   sessions     <ns> 0x00 <session_id>                    -> <run_id> (the head)
//   run_index    <ns> 0x00 RunIndexKey()                   -> <run_id>
//   namespaces   <ns>                                      -> v1::Namespace
//   ended        <ns> 0x00 BE64(end_time_ms ^ 1<<63) <bare_id> -> <run_id>
//   meta         "format"                                  -> the layout's version
//
// Run ids start with "<ns>/" (common/namespaces.h), so every key of a run starts
// with its namespace; the other families put it first themselves. run_index serves
// ListRuns (RunIndexKey). Databases from before namespaces (format 1, ids without
// "<ns>/") are moved to format 2 when opened: their agents, graphs, request ids and
// sessions into "default", their runs into run_index.
//
// ended (retention) holds the root runs that ended (IsRetentionRoot), oldest end first
// per namespace; a database written before it gains the entries of its ended runs when
// it is next opened (format 3).
//
// waiting, approvals and sessions came later; a database written before them gains
// them, empty, when it is next opened. Request, approval and session ids are whole
// keys, so any non-empty bytes will do; approval ids conventionally start with their
// run's id ("<run_id>:<step>:<tool_use_id>"), but no read relies on it.
//
// Run ids and agent names never contain 0x00 (ValidateStoreBatch refuses them), so
// "<run_id> 0x00" is a prefix of exactly one run's keys even when one run id is a
// prefix of another ("run_a" vs "run_ab"), and "<run_id> 0x01" is its exclusive upper
// bound. Big-endian fixed-width integers make byte order equal numeric order (seq 256
// after seq 2). Sequence numbers and agent versions are non-negative, so they are
// stored as plain unsigned values; the enqueue time has its sign bit flipped so that
// negative times still sort first.
#ifndef BATON_ORCHESTRATOR_STORE_STORE_KEYS_H_
#define BATON_ORCHESTRATOR_STORE_STORE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator::store_keys {

inline constexpr char kSeparator = '\0';
// Width of the BE64 sequence number that ends every journal and events key.
inline constexpr size_t kSeqBytes = 8;
// Width of the BE32 version that ends every agents key.
inline constexpr size_t kVersionBytes = 4;

// True when `id` can name a run or an agent in a key: not empty, no 0x00 byte.
bool IsValidId(std::string_view id);

// Journal and events keys. REQUIRES: IsValidId(run_id), seq >= 0.
std::string RunSeqKey(std::string_view run_id, int64_t seq);
// "<run_id> 0x00": every key of the run starts with it.
std::string RunSeqPrefix(std::string_view run_id);
// "<run_id> 0x01": greater than every key of the run, smaller than any other run's.
std::string RunSeqUpperBound(std::string_view run_id);
// The seq of a journal or events key; nullopt when the key is malformed.
std::optional<int64_t> SeqOfRunSeqKey(std::string_view key);

// A run's parts (StoreBatch): the keys of what it was created with and of
// Run.waits[index], as journal keys ("<run_id> 0x00 BE64(part)"), so one prefix scan
// reads them in order.
inline constexpr int64_t kSpecPart = 0;
inline int64_t WaitPart(int32_t index) { return int64_t{index} + 1; }
// What a run is created with and never changes, kept apart from its record: a run
// holding only its agent, input and graph.
v1::Run SpecOf(const v1::Run& run);
// What put_runs stores of `run`: without its waits and input, its agent cut to name,
// version, model and namespace, and its graph to name and version (what ListRuns'
// filters and index keys read).
v1::Run StoredRecord(const v1::Run& run);
// Whether `run` is already what StoredRecord gives (the scheduler's rewrites put runs
// cut so), so that it can be stored without a copy.
bool IsStoredRecord(const v1::Run& run);
// What a record keeps of its agent (name, version, model, namespace) and graph (name,
// version): RunView.BASIC's summary of them too (run_view.h).
v1::AgentSpec AgentSummary(const v1::AgentSpec& agent);
v1::GraphSpec GraphSummary(const v1::GraphSpec& graph);
// Puts the spec part back into a record read from the store.
void MergeSpec(v1::Run spec, v1::Run* run);

// Queue keys: byte order is dequeue order (priority desc, then enqueue time asc,
// then run id asc).
std::string QueueKey(const QueueEntry& entry);
std::optional<QueueEntry> ParseQueueKey(std::string_view key);
// True when `a` is dequeued before `b` (the order QueueKey encodes).
bool QueueOrderLess(const QueueEntry& a, const QueueEntry& b);

// "<ns> 0x00 <id>": request ids, session ids, and the start of agents, graphs and
// run_index keys. "<ns> 0x00" and "<ns> 0x01" bound a namespace's keys.
std::string ScopedKey(std::string_view ns, std::string_view id);
std::string NamespacePrefix(std::string_view ns);
std::string NamespaceUpperBound(std::string_view ns);

// Agents and graphs keys. REQUIRES: IsValidId(name), version >= 0.
std::string AgentKey(std::string_view ns, std::string_view name, int32_t version);
std::string AgentPrefix(std::string_view ns, std::string_view name);      // "<ns> 0x00 <name> 0x00"
std::string AgentUpperBound(std::string_view ns, std::string_view name);  // "<ns> 0x00 <name> 0x01"
// The name part of an agents key; empty when the key is malformed.
std::string_view AgentNameOfKey(std::string_view key);
// The namespace a stored spec belongs to: its `namespace` field, "default" when unset.
std::string_view SpecNamespace(std::string_view namespace_field);

// run_index keys, after "<ns> 0x00". The run id's part after "<ns>/" (its "run_..."
// form, which sorts by creation time) ends each key, so every index lists a
// namespace's runs newest-last, old ids and new alike:
//   'a' <bare_id>                          every run of the namespace
//   's' <state as one byte> <bare_id>      runs in a state
//   'g' <agent name> 0x00 <bare_id>        runs of an agent (by name)
//   'p' <parent_run_id> 0x00 <bare_id>     children of a run
// A run's state changes, so its 's' key moves; the others never change.
enum class RunIndex : char { kAll = 'a', kState = 's', kAgent = 'g', kParent = 'p' };
// The index entry prefix ("<ns> 0x00 kind [field [0x00]]") ListRuns walks for
// `filter`, and which index it is: parent, else agent, else state, else all.
std::string RunIndexPrefix(const RunFilter& filter);
// Every index key of `run` (its 's' key for its current state).
std::vector<std::string> RunIndexKeys(const v1::Run& run);
// "<ns> 0x00 's' <state>": the prefix of the 's' keys of the runs of `ns` in `state`.
std::string RunStateIndexPrefix(std::string_view ns, v1::RunState state);
// The 's' key of `run_id` in `state`.
std::string RunStateIndexKey(std::string_view run_id, v1::RunState state);
// The part of a run id after "<ns>/" (the whole id when it has none).
std::string_view BareRunId(std::string_view run_id);

// ended keys: a namespace's entries in end time order. REQUIRES: IsValidId(run_id).
std::string EndedKey(std::string_view run_id, int64_t end_time_ms);
// Greater than the keys of `ns` whose end time is < ended_before_ms, smaller than the
// others (the iteration bound of RunStore::ListEnded).
std::string EndedBound(std::string_view ns, int64_t ended_before_ms);
// The end time of an ended key (whose namespace part is `ns`); nullopt when malformed.
std::optional<int64_t> EndTimeOfEndedKey(std::string_view ns, std::string_view key);
// The namespace part of an ended (or any "<ns> 0x00 ...") key; empty when it has none.
std::string_view NamespaceOfScopedKey(std::string_view key);
// The run's end time for the ended index: end_time_ms, else (a record from before
// end times were kept) create_time_ms.
int64_t EndTimeOf(const v1::Run& run);

// Approval ids start with their run's id and ':' ("<run_id>:<step>:<tool_use_id>"),
// and run ids hold no ':', so [RunApprovalsPrefix, RunApprovalsUpperBound) holds exactly
// the approvals of one run (retention deletes them as a range).
std::string RunApprovalsPrefix(std::string_view run_id);
std::string RunApprovalsUpperBound(std::string_view run_id);

// OK when every key of `batch` can be encoded: run ids (wherever a batch names one:
// runs, journal, events, queue, leases, request ids' and session heads' targets,
// waiting, run deletes, ended deletes) and agent names not empty and without 0x00; request ids, approval ids and
// session ids not empty; seqs >= 0; agent versions >= 1. Otherwise kInvalidArgument
// naming the field, e.g. "journal[2].seq: must be >= 0 (got -1)". Both stores call it
// first, so they refuse exactly the same batches.
absl::Status ValidateBatch(const StoreBatch& batch);

// The filters of ListRuns and ListApprovals; every set field must match.
bool MatchesFilter(const RunFilter& filter, const v1::Run& run);
bool MatchesFilter(const ApprovalFilter& filter, const v1::Approval& approval);

// ListRuns, ListAgents and ListApprovals page sizes: <= 0 means kDefaultPageSize, at
// most kMaxPageSize.
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 1000;
int EffectivePageSize(int requested);

// ListRuns page tokens: the last run id of the page (the next page holds the runs
// created before it). Made here only, so a page the service cuts short
// (--max-page-bytes) continues exactly as one the store ended.
std::string EncodeRunPageToken(std::string_view last_run_id);

// ListApprovals page tokens: the last approval id of the page, with a format byte
// and a checksum, in unpadded web-safe base64. The checksum is not a secret (a client
// that forges a token only skips approvals it could list anyway); it turns a
// truncated or made-up token into an error instead of a silently wrong page.
// REQUIRES: !last_approval_id.empty().
std::string EncodeApprovalPageToken(std::string_view last_approval_id);
// The approval id the next page starts after; "" for the empty token (the first
// page). kInvalidArgument when `token` is not one EncodeApprovalPageToken made.
absl::StatusOr<std::string> DecodeApprovalPageToken(std::string_view token);

// Events value (format 6): the events of one run that one batch appends, one record
// keyed by the last one's seq, so that a read from seq N seeks straight to the record
// holding N (its key is the first at or after N). The value: 0x00 'G', then for each
// event, in seq order, varint32 len | the event serialized without its run_id (the
// key's). A serialized RunEvent (a record written before format 6) never starts with
// 0x00, and an encrypted value (value_cipher.h) starts 0x00 0xBE, so each shape is
// told apart by its first bytes.
class EventGroup {
 public:
  EventGroup();
  // False when `event` cannot be serialized (larger than 2 GiB).
  // REQUIRES: `event` belongs to the group's run and follows its last event.
  bool Add(const v1::RunEvent& event);
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
  std::string scratch_;
};
// Appends the events of an events value of either shape to *out, each with `run_id`
// (the key's) set. False when `value` is not a valid encoding.
bool DecodeEvents(std::string_view run_id, std::string_view value, std::vector<v1::RunEvent>* out);

// Lease value (the run id is the key). Format version 1:
//   0x01 | varint32 len | lease_id | BE64 epoch | BE64 deadline_ms |
//   varint32 len | worker_id
// The leading version byte lets a later format be read side by side with this one.
std::string EncodeLease(const LeaseRecord& lease);
// kDataLoss when `value` is not a valid encoding.
absl::StatusOr<LeaseRecord> DecodeLease(std::string_view run_id, std::string_view value);

}  // namespace baton::orchestrator::store_keys

#endif  // BATON_ORCHESTRATOR_STORE_STORE_KEYS_H_
