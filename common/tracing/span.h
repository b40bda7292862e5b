// Spans as OpenTelemetry records them, without the OpenTelemetry SDK (not in Debian):
// a Tracer starts Spans, a Span collects attributes and events and, when it ends,
// goes to the tracer's SpanExporter (OtlpHttpExporter in the processes). The span the
// calling thread works under is thread-local (ScopedSpan), so log lines name it and
// outgoing calls carry it as their traceparent.
#ifndef BATON_COMMON_TRACING_SPAN_H_
#define BATON_COMMON_TRACING_SPAN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/logging.h"
#include "common/tracing/trace_context.h"

namespace baton::tracing {

// OTLP's SpanKind values.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

using AttributeValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;
using Attributes = std::vector<std::pair<std::string, AttributeValue>>;

struct SpanEvent {
  std::string name;
  int64_t time_unix_nanos = 0;
  Attributes attributes;
};

// A finished span, as exported.
struct SpanData {
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // empty: a root
  std::string trace_state;     // W3C tracestate (OTLP traceState); empty: none
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  Attributes attributes;
  std::vector<SpanEvent> events;
  bool error = false;  // OTLP status ERROR; UNSET otherwise
  std::string status_message;
};

// Where ended spans go. Export never blocks (it may drop); thread-safe.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  virtual void Export(SpanData span) = 0;
};

class Tracer;

// One span being recorded. Movable, not thread-safe (one thread records it). Ends
// (and is exported) at End() or destruction, once. A span always has ids, so logs and
// outgoing traceparents name it; it records attributes only when its tracer exports
// and its trace is sampled.
class Span {
 public:
  Span() = default;  // no span: no ids, records nothing
  Span(Span&& other) noexcept { *this = std::move(other); }
  Span& operator=(Span&& other) noexcept;
  ~Span() { End(); }

  const SpanContext& context() const { return context_; }
  bool recording() const { return data_ != nullptr; }

  void SetAttribute(std::string key, AttributeValue value);
  void AddEvent(const std::string& name, Attributes attributes = {});
  // Marks the span failed: OTLP status ERROR with `message`, and the `error.type`
  // attribute (a short class of failure, as the semantic conventions ask).
  void SetError(const std::string& type, const std::string& message);
  void End();

 private:
  friend class Tracer;
  SpanContext context_;
  SpanExporter* exporter_ = nullptr;
  std::unique_ptr<SpanData> data_;  // null: not recording
};

// Starts spans. Thread-safe; `exporter` (may be null: spans are not recorded) must
// outlive it.
class Tracer {
 public:
  explicit Tracer(SpanExporter* exporter) : exporter_(exporter) {}

  // A span under `parent`: in its trace, with it as parent. Without a valid parent,
  // the root of a new trace, or of `trace_id`'s trace when that is given. A span in
  // `parent`'s trace carries its trace_state.
  Span StartSpan(const std::string& name, SpanKind kind, const SpanContext& parent,
                 const std::string& trace_id = "") const;
  bool exporting() const { return exporter_ != nullptr; }
  // Exports a span whose ids and times were decided elsewhere: one that began before
  // this process could hold it open (the orchestrator's graph runs, which outlive
  // restarts). Does nothing when the tracer does not export.
  void Record(SpanData span) const;

  // The process's tracer (InitTracing sets it); one that exports nothing until then.
  static const Tracer& Global();
  static void SetGlobal(const Tracer* tracer);

 private:
  SpanExporter* const exporter_;
};

// The span the calling thread works under: what outgoing calls send as traceparent.
// Invalid when there is none.
SpanContext CurrentSpanContext();

// Makes `span` the calling thread's current span, and its ids those of the thread's
// log lines (with the run id already there), until destruction. Nests.
class ScopedSpan {
 public:
  explicit ScopedSpan(const Span& span) : ScopedSpan(span.context()) {}
  explicit ScopedSpan(const SpanContext& context);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  SpanContext previous_;
  ScopedLogContext log_context_;
};

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_SPAN_H_
