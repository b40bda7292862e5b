// The span exporter's counts as Prometheus counters (docs/operations.md, "Metrics"),
// for the processes that both trace and serve metrics.
#ifndef BATON_COMMON_TRACING_EXPORTER_METRICS_H_
#define BATON_COMMON_TRACING_EXPORTER_METRICS_H_

#include "common/metrics.h"
#include "common/tracing/process_tracing.h"

namespace baton::tracing {

// Adds baton_trace_spans_{exported,dropped,failed}_total to `registry`, read from the
// process's exporter at each scrape; with tracing off the families have no samples.
// REQUIRES: `tracing` outlives the registry's server.
inline void RegisterExporterMetrics(ProcessTracing& tracing, metrics::Registry& registry) {
  registry.AddScrapeCollector([exporter = tracing.exporter()](metrics::ScrapeWriter& out) {
    out.Counter("baton_trace_spans_exported_total", "Spans the OTLP collector accepted.");
    if (exporter != nullptr) out.Add({}, static_cast<double>(exporter->sent()));
    out.Counter("baton_trace_spans_dropped_total",
                "Spans dropped before sending: the exporter's queue was full, or the process was stopping.");
    if (exporter != nullptr) out.Add({}, static_cast<double>(exporter->dropped()));
    out.Counter("baton_trace_spans_failed_total",
                "Spans in batches the collector did not accept (an HTTP error, no connection, a timeout).");
    if (exporter != nullptr) out.Add({}, static_cast<double>(exporter->failed()));
  });
}

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_EXPORTER_METRICS_H_
