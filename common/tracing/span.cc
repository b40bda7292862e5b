#include "common/tracing/span.h"

#include <atomic>

#include "absl/time/clock.h"

namespace baton::tracing {
namespace {

thread_local SpanContext t_current;

const Tracer* const kNoTracer = new Tracer(nullptr);
std::atomic<const Tracer*> g_tracer{nullptr};

int64_t NowUnixNanos() { return absl::ToUnixNanos(absl::Now()); }

}  // namespace

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    context_ = std::move(other.context_);
    exporter_ = other.exporter_;
    data_ = std::move(other.data_);
    other.context_ = SpanContext();
  }
  return *this;
}

void Span::SetAttribute(std::string key, AttributeValue value) {
  if (data_ == nullptr) return;
  for (auto& [k, v] : data_->attributes) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  // A chat span has about fifteen.
  if (data_->attributes.empty()) data_->attributes.reserve(16);
  data_->attributes.emplace_back(std::move(key), std::move(value));
}

void Span::AddEvent(const std::string& name, Attributes attributes) {
  if (data_ == nullptr) return;
  data_->events.push_back(SpanEvent{name, NowUnixNanos(), std::move(attributes)});
}

void Span::SetError(const std::string& type, const std::string& message) {
  if (data_ == nullptr) return;
  data_->error = true;
  data_->status_message = message;
  SetAttribute("error.type", type);
}

void Span::End() {
  if (data_ == nullptr) return;
  data_->end_unix_nanos = NowUnixNanos();
  std::unique_ptr<SpanData> data = std::move(data_);
  exporter_->Export(std::move(*data));
}

Span Tracer::StartSpan(const std::string& name, SpanKind kind, const SpanContext& parent,
                       const std::string& trace_id) const {
  Span span;
  span.context_.span_id = NewSpanId();
  if (parent.valid()) {
    span.context_.trace_id = parent.trace_id;
    span.context_.sampled = parent.sampled;
  } else {
    span.context_.trace_id = IsValidId(trace_id, 32) ? trace_id : NewTraceId();
    span.context_.sampled = parent.trace_id.empty() || parent.sampled;
  }
  if (span.context_.trace_id == parent.trace_id) span.context_.trace_state = parent.trace_state;
  if (exporter_ == nullptr || !span.context_.sampled) return span;
  span.exporter_ = exporter_;
  span.data_ = std::make_unique<SpanData>();
  span.data_->name = name;
  span.data_->kind = kind;
  span.data_->trace_id = span.context_.trace_id;
  span.data_->span_id = span.context_.span_id;
  if (parent.valid()) span.data_->parent_span_id = parent.span_id;
  span.data_->trace_state = span.context_.trace_state;
  span.data_->start_unix_nanos = NowUnixNanos();
  return span;
}

void Tracer::Record(SpanData span) const {
  if (exporter_ != nullptr) exporter_->Export(std::move(span));
}

const Tracer& Tracer::Global() {
  const Tracer* tracer = g_tracer.load(std::memory_order_acquire);
  return tracer != nullptr ? *tracer : *kNoTracer;
}

void Tracer::SetGlobal(const Tracer* tracer) { g_tracer.store(tracer, std::memory_order_release); }

SpanContext CurrentSpanContext() { return t_current; }

ScopedSpan::ScopedSpan(const SpanContext& context)
    : previous_(t_current),
      log_context_(LogContext{CurrentLogContext().run_id, context.trace_id, context.span_id}) {
  t_current = context;
}

ScopedSpan::~ScopedSpan() { t_current = std::move(previous_); }

}  // namespace baton::tracing
