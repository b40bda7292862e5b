#include "orchestrator/store/rocksdb_no_space.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "rocksdb/db.h"
#include "rocksdb/transaction_log.h"

namespace baton::orchestrator {

// ---- InfoLog --------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<InfoLog>> InfoLog::Open(const std::string& dir, rocksdb::InfoLogLevel level) {
  const std::string path = dir + "/LOG";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    const int64_t micros =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::filesystem::rename(path, absl::StrCat(path, ".old.", micros), ec);
    if (ec) {
      // Not fatal: the new lines then follow the old ones.
      BATON_LOG(WARNING) << "cannot rename " << path << ": " << ec.message();
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("opening ", path, ": ", std::strerror(errno)));
  return std::shared_ptr<InfoLog>(new InfoLog(fd, level));
}

InfoLog::~InfoLog() { ::close(fd_); }

void InfoLog::Logv(const char* format, va_list ap) {
  // RocksDB's layout: "2026/11/30-06:13:42.962297 7f3a... message".
  char line[4096];
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm;
  localtime_r(&seconds, &tm);
  int n = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06lld %llx ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros),
                        static_cast<unsigned long long>(pthread_self()));
  const uint64_t dropped = dropped_.exchange(0);
  if (dropped > 0) {
    n += std::snprintf(line + n, sizeof(line) - n, "(%llu lines before this one dropped: the disk was full) ",
                       static_cast<unsigned long long>(dropped));
  }
  const int body = std::vsnprintf(line + n, sizeof(line) - n - 1, format, ap);
  if (body > 0) n = std::min<int>(n + body, static_cast<int>(sizeof(line)) - 2);
  if (line[n - 1] != '\n') line[n++] = '\n';
  // One write per line, O_APPEND: lines of concurrent threads do not interleave.
  if (::write(fd_, line, static_cast<size_t>(n)) != n) dropped_.fetch_add(dropped + 1);
}

// ---- NoSpaceGuard ---------------------------------------------------------------------

// Resume() flushes every memtable: a minute is far more than that takes.
constexpr absl::Duration kResumeTimeout = absl::Seconds(60);

class NoSpaceGuard::Listener final : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (reason == rocksdb::BackgroundErrorReason::kWriteCallback) wal_failed_ = true;
    BATON_LOG(WARNING) << "rocksdb background error: " << error->ToString();
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status error, bool* auto_recovery) override {
    // Soft errors (a compaction without room) clear by themselves; the store resumes
    // from hard ones (NoSpaceGuard::Resume).
    if (error.severity() >= rocksdb::Status::Severity::kHardError) *auto_recovery = false;
  }
  // Whether a WAL write failed since the last call.
  bool TakeWalFailed() { return wal_failed_.exchange(false); }
  bool wal_failed() const { return wal_failed_.load(); }

 private:
  std::atomic<bool> wal_failed_{false};
};

NoSpaceGuard::NoSpaceGuard(DiskHealth& health, NoSpaceOptions options)
    : health_(health), options_(options), listener_(std::make_shared<Listener>()) {}

std::shared_ptr<rocksdb::EventListener> NoSpaceGuard::listener() const { return listener_; }

absl::Status NoSpaceGuard::Attach(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* marker_cf) {
  db_ = db;
  marker_cf_ = marker_cf;
  return PutMarker();
}

absl::Status NoSpaceGuard::PutMarker() {
  rocksdb::WriteOptions write_options;
  write_options.disableWAL = true;
  rocksdb::Status s = db_->Put(write_options, marker_cf_, "memtable_marker", "");
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("rocksdb memtable marker: ", s.ToString()));
  return absl::OkStatus();
}

uint64_t NoSpaceGuard::CurrentWal() const {
  std::unique_ptr<rocksdb::LogFile> wal;
  if (!db_->GetCurrentWalFile(&wal).ok() || wal == nullptr) return 0;
  return wal->LogNumber();
}

void NoSpaceGuard::OnNoSpace(const std::string& message) {
  if (!health_.full() || failed_wal_ == 0) failed_wal_ = CurrentWal();
  health_.MarkFull(message);
}

absl::Status NoSpaceGuard::CheckRoom() {
  absl::StatusOr<uint64_t> free = FreeBytes(health_.path());
  if (!free.ok()) {
    // Nothing to go by: RocksDB's own errors decide.
    return health_.full() ? Resume(UINT64_MAX) : absl::OkStatus();
  }
  if (!health_.full()) {
    if (*free >= options_.min_free_bytes) return absl::OkStatus();
    health_.MarkFull(absl::StrCat(*free >> 20, " MiB free, under the ", options_.min_free_bytes >> 20,
                                  " MiB kept free (--min-free-disk-mb)"));
    return health_.CheckWritable();
  }
  return Resume(*free);
}

absl::Status NoSpaceGuard::Resume(uint64_t free_bytes) {
  const uint64_t needed = options_.min_free_bytes + options_.resume_extra_bytes;
  if (free_bytes < needed) return health_.CheckWritable();
  // RocksDB stopped writing if a write or a flush failed; Resume() flushes the
  // memtables (switching the WAL) and clears the error. OK at once when nothing failed.
  // RocksDB 7.8 can wait in Resume() forever for a flush it dropped while stopped
  // (docs/design.md, "When the disk fills"); a restart writes again, so a watchdog
  // ends the process rather than leave it refusing writes with room to spare.
  absl::Notification resumed;
  std::thread watchdog([&resumed, path = health_.path()] {
    if (!resumed.WaitForNotificationWithTimeout(kResumeTimeout)) {
      BATON_LOG(FATAL) << "rocksdb did not resume writing to " << path << " within "
                       << absl::FormatDuration(kResumeTimeout) << ": restarting from the durable state";
    }
  });
  rocksdb::Status s = db_->Resume();
  resumed.Notify();
  watchdog.join();
  if (s.IsNoSpace() || s.IsBusy()) {
    BATON_LOG(WARNING) << "rocksdb cannot resume yet: " << s.ToString();
    return health_.CheckWritable();
  }
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("the store at ", health_.path(),
                                               " cannot resume writing in place (", s.ToString(),
                                               "): restart the orchestrator"));
  }
  if (listener_->wal_failed() && failed_wal_ != 0 && CurrentWal() == failed_wal_) {
    // The failed WAL writer would be written again: RocksDB 7.8 asserts.
    return absl::UnavailableError(absl::StrCat("the store at ", health_.path(),
                                               " cannot resume writing in place (the WAL writer that failed, #",
                                               failed_wal_, ", was not replaced): restart the orchestrator"));
  }
  listener_->TakeWalFailed();
  failed_wal_ = 0;
  if (absl::Status marked = PutMarker(); !marked.ok()) {
    BATON_LOG(WARNING) << marked;
  }
  health_.MarkWritable();
  return absl::OkStatus();
}

}  // namespace baton::orchestrator
