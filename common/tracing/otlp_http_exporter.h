// Exports spans over OTLP/HTTP with the JSON encoding (POST <endpoint>/v1/traces),
// configured by the standard OTEL_* environment variables. Spans wait in a bounded
// queue that a background thread drains in batches: Export never blocks, and a full
// queue drops the span and counts it.
#ifndef BATON_COMMON_TRACING_OTLP_HTTP_EXPORTER_H_
#define BATON_COMMON_TRACING_OTLP_HTTP_EXPORTER_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tracing/span.h"

namespace baton::tracing {

struct OtlpHttpExporterOptions {
  // Where batches are POSTed: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or
  // OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces". Required.
  std::string url;
  // OTEL_EXPORTER_OTLP_HEADERS, then OTEL_EXPORTER_OTLP_TRACES_HEADERS (k=v,k=v;
  // values percent-decoded). Never logged: they usually hold credentials.
  std::vector<std::pair<std::string, std::string>> headers;
  // OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT (ms). Default: 10 s.
  absl::Duration timeout = absl::Seconds(10);
  // OTEL_BSP_MAX_QUEUE_SIZE. Default: 2048 spans.
  size_t max_queue_size = 2048;
  // OTEL_BSP_MAX_EXPORT_BATCH_SIZE. Default: 512 spans.
  size_t max_batch_size = 512;
  // OTEL_BSP_SCHEDULE_DELAY (ms): how long a batch that is not full waits. Default: 5 s.
  absl::Duration schedule_delay = absl::Seconds(5);
  // service.name (OTEL_SERVICE_NAME, else the program's), OTEL_RESOURCE_ATTRIBUTES,
  // and the telemetry.sdk.* attributes.
  Attributes resource;

  // From the environment (`getenv`, for tests). nullopt when tracing is off:
  // OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none, or no endpoint set. A value
  // that cannot be used is kInvalidArgument naming the variable.
  static absl::StatusOr<std::optional<OtlpHttpExporterOptions>> FromEnvironment(
      const std::string& default_service_name,
      const std::function<const char*(const char*)>& getenv = [](const char* name) { return std::getenv(name); });
};

// Thread-safe. Owns its thread: the destructor flushes (Shutdown) and joins it.
class OtlpHttpExporter final : public SpanExporter {
 public:
  explicit OtlpHttpExporter(OtlpHttpExporterOptions options);
  ~OtlpHttpExporter() override;
  OtlpHttpExporter(const OtlpHttpExporter&) = delete;
  OtlpHttpExporter& operator=(const OtlpHttpExporter&) = delete;

  void Export(SpanData span) override;
  // Sends what is queued, for up to one timeout, and stops; what is left then, and
  // spans exported after, are dropped and counted. Idempotent.
  void Shutdown();

  // Spans dropped because the queue was full (or after Shutdown), and spans whose
  // batch the collector did not accept (an HTTP error, no connection, a timeout).
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  int64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  int64_t sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  // POSTs one batch, giving up after `timeout`; OK when the collector answered 2xx.
  absl::Status Post(const std::string& body, absl::Duration timeout);
  // Logs drops and failures, at most once a minute.
  void ReportLosses(bool final);

  const OtlpHttpExporterOptions options_;
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> sent_{0};
  int64_t reported_dropped_ = 0;  // Loop's thread only
  int64_t reported_failed_ = 0;
  absl::Time last_report_ = absl::InfinitePast();

  absl::Mutex mu_;
  std::deque<SpanData> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Shutdown: what is not sent by then is dropped (a collector that is down
  // must not hold the process's exit for longer than one timeout).
  absl::Time flush_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  void* curl_ = nullptr;  // CURL*, Loop's thread only
  // Last: started after every member it uses, joined first.
  std::thread thread_;
};

// Whether message content (prompts, answers, tool arguments and results) goes into
// spans: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, or a process flag
// that calls SetCaptureMessageContent(true). Default: false.
bool CaptureMessageContent();
void SetCaptureMessageContent(bool capture);

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_OTLP_HTTP_EXPORTER_H_
