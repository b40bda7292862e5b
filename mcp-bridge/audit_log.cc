#include "mcp-bridge/audit_log.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace baton::mcp {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  std::FILE* file = nullptr;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "ae");
    if (file == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("cannot open the audit log ", path, ": ", strerror(errno)));
    }
  }
  return std::unique_ptr<AuditLog>(new AuditLog(file));
}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) std::fclose(file_);
}

void AuditLog::Write(const AuditRecord& r) {
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone())},
      {"run_id", r.run_id},
      {"step", r.step},
      {"tool_use_id", r.tool_use_id},
      {"idempotency_key", r.idempotency_key},
      {"tool", r.tool},
      {"server", r.server},
      {"mcp_tool", r.mcp_tool},
      {"arguments_sha256", r.arguments_sha256},
      {"arguments_bytes", r.arguments_bytes},
      {"duration_ms", r.duration_ms},
      {"outcome", r.outcome},
      {"reached_server", r.reached_server},
      {"result_bytes", r.result_bytes},
      {"truncated", r.truncated},
  };
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

}  // namespace baton::mcp
