// What the store knows about the disk under its data directory: writable, or full
// since a write failed for want of space and until the store writes again
// (docs/design.md, "When the disk fills").
#ifndef BATON_ORCHESTRATOR_STORE_DISK_HEALTH_H_
#define BATON_ORCHESTRATOR_STORE_DISK_HEALTH_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace baton::orchestrator {

// Thread-safe. CheckWritable is one atomic load while the disk is writable, so every
// write path may ask.
class DiskHealth {
 public:
  // `path`: the data directory, named in every refusal. `retry_delay`: when a refused
  // caller should try again.
  DiskHealth(std::string path, absl::Duration retry_delay);
  DiskHealth(const DiskHealth&) = delete;
  DiskHealth& operator=(const DiskHealth&) = delete;

  // OK while writes are accepted. While the disk is full: RESOURCE_EXHAUSTED naming
  // the data directory and why, with the retry delay (common/grpc_status.h).
  absl::Status CheckWritable() const;
  bool full() const { return full_.load(std::memory_order_acquire); }

  // A write failed for want of space (`cause`: the storage engine's words). Logs the
  // first of an episode.
  void MarkFull(std::string_view cause);
  // Writes go through again. Logs the end of an episode.
  void MarkWritable();

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const absl::Duration retry_delay_;
  std::atomic<bool> full_{false};
  mutable absl::Mutex mu_;
  std::string cause_ ABSL_GUARDED_BY(mu_);
};

// Bytes the filesystem holding `path` has free for this process (statvfs f_bavail),
// or kUnavailable naming the path.
absl::StatusOr<uint64_t> FreeBytes(const std::string& path);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_DISK_HEALTH_H_
