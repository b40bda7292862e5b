// The audit log: one JSON line per call that changes state (roles.h, IsAudited) and
// per refused attempt of one:
//   {"time":"2026-11-30T01:02:03.456Z","principal":"alice","namespace":"default",
//    "method":"baton.v1.RunService/CancelRun","resource":"run-...","result":"PERMISSION_DENIED"}
// Never a secret, token, input, output or payload: entries carry names and ids only.
//
// Thread-safe. Record only appends to a queue; one writer thread owns the file and
// writes whatever has queued in one go, so a slow disk never holds up a handler.
#ifndef BATON_ORCHESTRATOR_AUTH_AUDIT_LOG_H_
#define BATON_ORCHESTRATOR_AUTH_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace baton::orchestrator::auth {

struct AuditEntry {
  int64_t time_ms = 0;         // set by Record from the clock when 0
  std::string principal;       // "" when the caller was not authenticated
  std::string ns = "default";  // the namespace of the resource; "" for keys
  std::string method;          // "baton.v1.RunService/CancelRun"
  std::string resource;        // run id, agent or graph name, key id, approval id; "" when unknown
  absl::StatusCode result = absl::StatusCode::kOk;
};

// One line, without the trailing newline.
std::string FormatAuditLine(const AuditEntry& entry);

class AuditLog {
 public:
  // Appends to `path` (created with mode 0600 if missing). Holds a reference to the
  // clock, which must outlive it.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path, const Clock& clock);
  // Writes every entry recorded so far, then closes the file.
  ~AuditLog();

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues `entry`; never waits for the file. Past kMaxQueued waiting entries (a
  // disk that stopped) entries are dropped and counted in the log.
  void Record(AuditEntry entry);

  static constexpr size_t kMaxQueued = 100'000;

 private:
  AuditLog(std::FILE* file, const Clock& clock);
  void WriterLoop();

  const Clock& clock_;
  std::FILE* const file_;  // owned; written only by writer_
  absl::Mutex mu_;
  std::deque<AuditEntry> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  // Last member: started after the others are built, joined before they go.
  std::thread writer_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_AUDIT_LOG_H_
