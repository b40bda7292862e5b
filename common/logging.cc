#include "common/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace baton {
namespace {

std::atomic<int> g_min_severity{static_cast<int>(LogSeverity::kInfo)};
std::atomic<bool> g_json{false};
std::string* g_program = new std::string("baton");
std::mutex g_write_mu;
thread_local LogContext t_context;

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

const char* SeverityName(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug: return "DEBUG";
    case LogSeverity::kInfo: return "INFO";
    case LogSeverity::kWarning: return "WARNING";
    case LogSeverity::kError: return "ERROR";
    case LogSeverity::kFatal: return "FATAL";
  }
  return "UNKNOWN";
}

const char* BaseName(const char* file) {
  const char* base = file;
  for (const char* p = file; *p; ++p) {
    if (*p == '/') base = p + 1;
  }
  return base;
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
  if (const char* env = std::getenv("BATON_LOG_FORMAT")) {
    if (absl::Status s = SetLogFormat(env); !s.ok()) {
      BATON_LOG(WARNING) << "BATON_LOG_FORMAT: " << s.message() << "; logging text";
    }
  }
}

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >= g_min_severity.load(std::memory_order_relaxed);
}

absl::Status SetLogFormat(const std::string& format) {
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("log format \"", format, "\" is not text or json"));
  }
  g_json = format == "json";
  return absl::OkStatus();
}

const LogContext& CurrentLogContext() { return t_context; }

ScopedLogContext::ScopedLogContext(LogContext context) : previous_(std::move(t_context)) {
  t_context = std::move(context);
}

ScopedLogContext::~ScopedLogContext() { t_context = std::move(previous_); }

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity), file_(file), line_(line), time_unix_nanos_(absl::GetCurrentTimeNanos()) {}

LogMessage::~LogMessage() {
  const absl::Time time = absl::FromUnixNanos(time_unix_nanos_);
  std::string text;
  if (g_json.load(std::memory_order_relaxed)) {
    nlohmann::json line = {
        {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone())},
        {"severity", SeverityName(severity_)},
        {"program", *g_program},
        {"message", stream_.str()},
    };
    if (severity_ >= LogSeverity::kWarning) line["source"] = absl::StrCat(BaseName(file_), ":", line_);
    if (!t_context.run_id.empty()) line["run_id"] = t_context.run_id;
    if (!t_context.trace_id.empty()) line["trace_id"] = t_context.trace_id;
    if (!t_context.span_id.empty()) line["span_id"] = t_context.span_id;
    // A message that is not UTF-8 (bytes from a peer) is still one valid JSON line.
    text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    text = absl::StrCat(std::string(1, SeverityLetter(severity_)),
                        absl::FormatTime("%Y%m%d %H:%M:%E3S", time, absl::LocalTimeZone()), " ", *g_program, "] ");
    if (severity_ >= LogSeverity::kWarning) absl::StrAppend(&text, BaseName(file_), ":", line_, ": ");
    absl::StrAppend(&text, stream_.str());
  }
  text.push_back('\n');
  {
    std::lock_guard<std::mutex> lock(g_write_mu);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace baton
