#include "orchestrator/store/disk_health.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace baton::orchestrator {

DiskHealth::DiskHealth(std::string path, absl::Duration retry_delay)
    : path_(std::move(path)), retry_delay_(retry_delay) {}

absl::Status DiskHealth::CheckWritable() const {
  if (!full()) return absl::OkStatus();
  std::string cause;
  {
    absl::MutexLock lock(&mu_);
    cause = cause_;
  }
  return WithRetryDelay(
      absl::ResourceExhaustedError(absl::StrCat(
          "the disk of the data directory ", path_, " is full (", cause,
          "): writes are refused until space is freed there, then resume by themselves; reads still work")),
      retry_delay_);
}

void DiskHealth::MarkFull(std::string_view cause) {
  {
    absl::MutexLock lock(&mu_);
    cause_.assign(cause.data(), cause.size());
  }
  if (!full_.exchange(true, std::memory_order_acq_rel)) {
    BATON_LOG(ERROR) << "the disk of the data directory " << path_ << " is full (" << cause
                     << "): refusing writes until space is freed; reads go on";
  }
}

void DiskHealth::MarkWritable() {
  if (full_.exchange(false, std::memory_order_acq_rel)) {
    BATON_LOG(WARNING) << "the disk of the data directory " << path_ << " has room again: writes resume";
  }
}

absl::StatusOr<uint64_t> FreeBytes(const std::string& path) {
  struct statvfs fs;
  if (statvfs(path.c_str(), &fs) != 0) {
    return absl::UnavailableError(absl::StrCat("statvfs ", path, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

}  // namespace baton::orchestrator
