// The bridge's audit log: one JSON line per tool call (who called what, a digest of
// the arguments, how it ended, how long it took, how big the result was). Never the
// arguments or results themselves, so no secret a tool handles lands in it.
#ifndef BATON_MCP_BRIDGE_AUDIT_LOG_H_
#define BATON_MCP_BRIDGE_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace baton::mcp {

struct AuditRecord {
  absl::Time time;
  std::string run_id;
  int step = 0;
  std::string tool_use_id;
  std::string idempotency_key;
  std::string tool;      // the exposed name
  std::string server;    // empty when the tool is unknown
  std::string mcp_tool;  // the server's own name
  std::string arguments_sha256;
  int64_t arguments_bytes = 0;
  int64_t duration_ms = 0;
  std::string outcome;  // "ok", "tool_error", "not_allowed", ...
  bool reached_server = false;
  int64_t result_bytes = 0;
  bool truncated = false;
};

// Thread-safe. Appends to a file (or does nothing when opened with no path).
class AuditLog {
 public:
  // An empty path: records are dropped.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Write(const AuditRecord& record);

 private:
  explicit AuditLog(std::FILE* file) : file_(file) {}
  absl::Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);  // owned; null: disabled
};

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_AUDIT_LOG_H_
