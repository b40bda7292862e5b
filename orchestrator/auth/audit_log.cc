#include "orchestrator/auth/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/logging.h"

namespace baton::orchestrator::auth {

std::string FormatAuditLine(const AuditEntry& entry) {
  nlohmann::ordered_json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(entry.time_ms), absl::UTCTimeZone());
  line["principal"] = entry.principal;
  line["namespace"] = entry.ns;
  line["method"] = entry.method;
  line["resource"] = entry.resource;
  line["result"] = absl::StatusCodeToString(entry.result);
  // Names and ids come from callers: replace invalid UTF-8 rather than throw.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, const Clock& clock) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  std::FILE* file = ::fdopen(fd, "a");
  if (file == nullptr) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(file, clock));
}

AuditLog::AuditLog(std::FILE* file, const Clock& clock)
    : clock_(clock), file_(file), writer_([this] { WriterLoop(); }) {}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  std::fclose(file_);
}

void AuditLog::Record(AuditEntry entry) {
  if (entry.time_ms == 0) entry.time_ms = clock_.NowMillis();
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= kMaxQueued) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(entry));
}

void AuditLog::WriterLoop() {
  for (;;) {
    std::deque<AuditEntry> batch;
    uint64_t dropped = 0;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AuditLog* log) ABSL_EXCLUSIVE_LOCKS_REQUIRED(log->mu_) { return !log->queue_.empty() || log->stopping_; },
          this));
      batch.swap(queue_);
      std::swap(dropped, dropped_);
      stopping = stopping_;
    }
    for (const AuditEntry& entry : batch) {
      std::string line = FormatAuditLine(entry);
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), file_);
    }
    if (!batch.empty() && std::fflush(file_) != 0) BATON_LOG(ERROR) << "audit log: write failed: " << std::strerror(errno);
    if (dropped > 0) BATON_LOG(ERROR) << "audit log: " << dropped << " entries dropped (the writer fell behind)";
    if (stopping) return;
  }
}

}  // namespace baton::orchestrator::auth
