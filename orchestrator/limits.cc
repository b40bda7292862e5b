#include "orchestrator/limits.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace baton::orchestrator {
namespace {

// Bytes of a varint holding `n`.
int64_t VarintBytes(uint64_t n) {
  int64_t bytes = 1;
  while (n >= 0x80) {
    n >>= 7;
    ++bytes;
  }
  return bytes;
}

}  // namespace

absl::Status CheckSize(absl::string_view field, size_t bytes, int64_t limit, absl::string_view flag) {
  if (static_cast<uint64_t>(bytes) <= static_cast<uint64_t>(std::max<int64_t>(limit, 0))) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", bytes, " bytes is over the limit of ", limit, " (", flag, ")"));
}

absl::Status CheckAppendStepSize(const v1::AppendStepRequest& request, const InputLimits& limits) {
  // The whole request first: it is the cheapest answer for the largest requests. A
  // completion riding along is not counted: CompleteRun, which it replaces, has no bound.
  const size_t completion_bytes = request.has_complete() ? request.complete().ByteSizeLong() : 0;
  if (absl::Status s = CheckSize("request", request.ByteSizeLong() - completion_bytes, limits.max_append_bytes,
                                 "--max-append-bytes");
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < request.entries_size(); ++i) {
    if (absl::Status s = CheckSize(absl::StrCat("entries[", i, "]"), request.entries(i).ByteSizeLong(),
                                   limits.max_journal_entry_bytes, "--max-journal-entry-bytes");
        !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < request.children_size(); ++i) {
    if (absl::Status s = CheckSize(absl::StrCat("children[", i, "].input"), request.children(i).input().size(),
                                   limits.max_input_bytes, "--max-input-bytes");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

int MaxReceiveMessageBytes(const InputLimits& limits) {
  constexpr int64_t kHeadroom = int64_t{1} << 20;
  // CreateRun: input and an inline spec; ForkRun: input and a replacement tool result;
  // PutAgent, PutGraph: a spec; AppendStep: the whole request.
  const int64_t largest = std::max({limits.max_input_bytes + limits.max_spec_bytes,
                                    limits.max_input_bytes + limits.max_journal_entry_bytes,
                                    limits.max_append_bytes});
  return static_cast<int>(std::min<int64_t>(largest + kHeadroom, std::numeric_limits<int32_t>::max()));
}

bool PageBudget::Take(size_t record_bytes) {
  // A repeated message field: one tag byte, the length, the record.
  const int64_t bytes = 1 + VarintBytes(record_bytes) + static_cast<int64_t>(record_bytes);
  if (records_ > 0 && used_ + bytes > max_bytes_) return false;
  used_ += bytes;
  ++records_;
  return true;
}

}  // namespace baton::orchestrator
