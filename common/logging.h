// Minimal leveled logging to stderr (Debian's Abseil has no absl/log).
//   BATON_LOG(INFO) << "leased " << run_id;
// Text lines look like: "I20261121 10:00:00.123 orchestrator] leased run_...".
// With --log-format=json (SetLogFormat), one JSON object per line: time, severity,
// program, message, source (warnings and worse), and the run_id, trace_id and span_id
// of the thread's ScopedLogContext when it has one (docs/operations.md, "Logs").
// Never log secrets: API keys and credentials are redacted at their source.
#ifndef BATON_COMMON_LOGGING_H_
#define BATON_COMMON_LOGGING_H_

#include <cstdint>
#include <sstream>
#include <string>

#include "absl/status/status.h"

namespace baton {

enum class LogSeverity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

// Sets the program name shown on every line and the minimum severity printed.
void InitLogging(const std::string& program, LogSeverity min_severity = LogSeverity::kInfo);
bool LogEnabled(LogSeverity severity);
// "text" (the default) or "json"; anything else is kInvalidArgument naming the value.
// BATON_LOG_FORMAT sets it too (InitLogging reads it).
absl::Status SetLogFormat(const std::string& format);

// What a thread's log lines are about: every field set is on each line (JSON format).
struct LogContext {
  std::string run_id;
  std::string trace_id;
  std::string span_id;
};
// The calling thread's context (empty fields when none).
const LogContext& CurrentLogContext();

// Sets the calling thread's log context until destruction, then restores the one
// before. Nests; not movable.
class ScopedLogContext {
 public:
  explicit ScopedLogContext(LogContext context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  LogContext previous_;
};

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();  // writes the line; aborts on kFatal
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  const char* file_;
  int line_;
  int64_t time_unix_nanos_;
  std::ostringstream stream_;
};

}  // namespace baton

#define BATON_LOG_SEVERITY_DEBUG ::baton::LogSeverity::kDebug
#define BATON_LOG_SEVERITY_INFO ::baton::LogSeverity::kInfo
#define BATON_LOG_SEVERITY_WARNING ::baton::LogSeverity::kWarning
#define BATON_LOG_SEVERITY_ERROR ::baton::LogSeverity::kError
#define BATON_LOG_SEVERITY_FATAL ::baton::LogSeverity::kFatal

#define BATON_LOG(sev)                                  \
  if (!::baton::LogEnabled(BATON_LOG_SEVERITY_##sev)) { \
  } else                                                \
    ::baton::LogMessage(BATON_LOG_SEVERITY_##sev, __FILE__, __LINE__).stream()

// Crashes with a message when an invariant is broken (never for external input).
#define BATON_CHECK(cond) \
  if (cond) {             \
  } else                  \
    BATON_LOG(FATAL) << "Check failed: " #cond " "

#endif  // BATON_COMMON_LOGGING_H_
