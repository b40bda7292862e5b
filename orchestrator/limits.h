// Limits on the size of what clients and workers send the orchestrator, and of a page
// of a listing (docs/operations.md, "Limits"). Pure: no gRPC, no store.
//
// One rule for every refusal: INVALID_ARGUMENT, with a message naming the field, its
// size, the limit and the flag that sets it:
//   input: 9437184 bytes is over the limit of 8388608 (--max-input-bytes)
// The same request is refused every time, whoever sends it and however long they wait,
// so it is an invalid argument; RESOURCE_EXHAUSTED stays for quotas and rate limits,
// which pass with time (and for gRPC's own transport limit, which the servers set above
// these, MaxReceiveMessageBytes, so a client never meets it first).
#ifndef BATON_ORCHESTRATOR_LIMITS_H_
#define BATON_ORCHESTRATOR_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "baton/v1/worker_service.pb.h"

namespace baton::orchestrator {

// Sizes are serialized protobuf bytes (for strings: their bytes). A plain aggregate;
// main.cc fills it from flags.
struct InputLimits {
  // CreateRunRequest.input, ForkRunRequest.input, AppendStep's children[].input
  // (--max-input-bytes). Default: 8 MiB.
  int64_t max_input_bytes = int64_t{8} << 20;
  // One agent spec (PutAgent, CreateRun's inline agent) or graph spec (PutGraph,
  // CreateRun's inline graph), as sent (--max-spec-bytes). Default: 1 MiB.
  int64_t max_spec_bytes = int64_t{1} << 20;
  // One journal entry in AppendStep, and ForkRun's replacement tool result
  // (--max-journal-entry-bytes). Default: 16 MiB.
  int64_t max_journal_entry_bytes = int64_t{16} << 20;
  // A whole AppendStep request: the entries and child runs of one step
  // (--max-append-bytes). Default: 32 MiB.
  int64_t max_append_bytes = int64_t{32} << 20;
  // A page of ListRuns, ListApprovals, ListAgents or ListGraphs (--max-page-bytes): the
  // page stops early, with a next_page_token, rather than exceed it. Default: 4 MiB
  // less 64 KiB, so a client with gRPC's default 4 MiB receive limit reads any page
  // (except one holding a single record larger than that).
  int64_t max_page_bytes = (int64_t{4} << 20) - (int64_t{64} << 10);
};

// What a limit flag may be set to: 1 byte to 1 GiB.
inline constexpr int64_t kMaxLimitBytes = int64_t{1} << 30;

// OK when `bytes` <= `limit`; otherwise INVALID_ARGUMENT
// "`field`: <bytes> bytes is over the limit of <limit> (`flag`)".
absl::Status CheckSize(absl::string_view field, size_t bytes, int64_t limit, absl::string_view flag);

// The limits of an AppendStep request: the whole request (--max-append-bytes), each
// entry (--max-journal-entry-bytes, "entries[2]: ...") and each child run's input
// (--max-input-bytes, "children[0].input: ...").
absl::Status CheckAppendStepSize(const v1::AppendStepRequest& request, const InputLimits& limits);

// gRPC's max receive message size for a server enforcing `limits`: the largest request
// they allow plus 1 MiB for the other fields, so a request over a limit reaches the
// handler and gets the message above rather than gRPC's RESOURCE_EXHAUSTED. At most
// INT32_MAX (gRPC takes an int).
int MaxReceiveMessageBytes(const InputLimits& limits);

// Fills one page of a listing up to a byte budget. Not thread-safe; one per call.
class PageBudget {
 public:
  // Room kept for the response's other fields (next_page_token).
  static constexpr int64_t kReserveBytes = 1024;

  explicit PageBudget(int64_t max_bytes) : max_bytes_(max_bytes) {}

  // Whether a record of `record_bytes` (its ByteSizeLong()) still fits on the page;
  // if so it is counted. The first record always fits: a record larger than the
  // budget is returned, alone, rather than never.
  bool Take(size_t record_bytes);
  int records() const { return records_; }

 private:
  const int64_t max_bytes_;
  int64_t used_ = kReserveBytes;
  int records_ = 0;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_LIMITS_H_
