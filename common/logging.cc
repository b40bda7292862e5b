#include "common/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace baton {
namespace {

std::atomic<int> g_min_severity{static_cast<int>(LogSeverity::kInfo)};
std::string* g_program = new std::string("baton");
std::mutex g_write_mu;

char SeverityLetter(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug: return 'D';
    case LogSeverity::kInfo: return 'I';
    case LogSeverity::kWarning: return 'W';
    case LogSeverity::kError: return 'E';
    case LogSeverity::kFatal: return 'F';
  }
  return '?';
}

}  // namespace

void InitLogging(const std::string& program, LogSeverity min_severity) {
  *g_program = program;
  g_min_severity = static_cast<int>(min_severity);
  if (const char* env = std::getenv("BATON_LOG_LEVEL")) {
    std::string level(env);
    if (level == "debug") g_min_severity = 0;
    if (level == "info") g_min_severity = 1;
    if (level == "warning") g_min_severity = 2;
    if (level == "error") g_min_severity = 3;
  }
}

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >= g_min_severity.load(std::memory_order_relaxed);
}

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity) {
  stream_ << SeverityLetter(severity)
          << absl::FormatTime("%Y%m%d %H:%M:%E3S", absl::Now(), absl::LocalTimeZone()) << ' '
          << *g_program << "] ";
  if (severity >= LogSeverity::kWarning) {
    const char* base = file;
    for (const char* p = file; *p; ++p) {
      if (*p == '/') base = p + 1;
    }
    stream_ << base << ':' << line << ": ";
  }
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  std::string text = stream_.str();
  {
    std::lock_guard<std::mutex> lock(g_write_mu);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace baton
