#include "orchestrator/store/rocksdb_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace baton::orchestrator {

absl::Status FromRocksDb(const rocksdb::Status& s, std::string_view what, std::string_view path) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat("rocksdb ", absl::string_view(what.data(), what.size()), " (",
                                     absl::string_view(path.data(), path.size()), "): ", s.ToString());
  // The disk is full: writes wait for room (NoSpaceGuard), Open fails saying so.
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    // Disk and lock trouble may clear up (space freed, the other process exits), so
    // the same call may be retried.
    case rocksdb::Status::kIOError:
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace baton::orchestrator
