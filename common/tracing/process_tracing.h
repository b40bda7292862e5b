// A process's observability set up at start-up: its log format (--log-format) and
// its traces (the OTEL_* environment).
#ifndef BATON_COMMON_TRACING_PROCESS_TRACING_H_
#define BATON_COMMON_TRACING_PROCESS_TRACING_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "common/tracing/otlp_http_exporter.h"

namespace baton::tracing {

// The flag every process takes: --log-format=text|json.
inline constexpr char kLogFormatFlag[] = "log-format";

// The process's tracing from the OTEL_* environment: an OtlpHttpExporter behind the
// global Tracer when an endpoint is configured, nothing otherwise. Keep it for the
// process's life; destruction flushes what is queued. A bad variable is an error
// naming it (start-up config: the caller exits). Destroy it after every thread that
// records spans has stopped.
class ProcessTracing {
 public:
  static absl::StatusOr<std::unique_ptr<ProcessTracing>> FromEnvironment(const std::string& service_name);
  ~ProcessTracing();
  ProcessTracing(const ProcessTracing&) = delete;
  ProcessTracing& operator=(const ProcessTracing&) = delete;

  OtlpHttpExporter* exporter() { return exporter_.get(); }  // null: tracing off

 private:
  ProcessTracing() = default;
  std::unique_ptr<OtlpHttpExporter> exporter_;
  std::unique_ptr<Tracer> tracer_;
};

// Applies --log-format (kLogFormatFlag, declared by the caller) and sets up tracing
// from the environment for `service_name`. An error names the flag or variable:
// start-up config, the caller exits.
absl::StatusOr<std::unique_ptr<ProcessTracing>> InitLogsAndTraces(const Flags& flags, const std::string& service_name);

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_PROCESS_TRACING_H_
