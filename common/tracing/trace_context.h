// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header
// that carries a span's identity between processes, and the random ids of new spans.
#ifndef BATON_COMMON_TRACING_TRACE_CONTEXT_H_
#define BATON_COMMON_TRACING_TRACE_CONTEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace baton::tracing {

// The metadata key and HTTP header that carry a traceparent.
inline constexpr char kTraceparentKey[] = "traceparent";

// A span's identity as other processes see it. Plain value.
struct SpanContext {
  std::string trace_id;  // 32 lowercase hex digits, not all zero; empty: none
  std::string span_id;   // 16 lowercase hex digits, not all zero; empty: none
  bool sampled = true;   // trace-flags bit 0: the caller records this trace

  bool valid() const { return !trace_id.empty() && !span_id.empty(); }
};

// Parses a traceparent header ("00-<trace-id>-<parent-id>-<flags>"), as the W3C
// specification says: version 00 is exactly that; a later version may add fields
// after a dash; version ff, upper-case hex and all-zero ids are invalid. The error
// says what is wrong, prefixed with nothing (callers name the field).
absl::StatusOr<SpanContext> ParseTraceparent(absl::string_view header);

// "00-<trace-id>-<span-id>-01" (or -00 when not sampled). REQUIRES: context.valid().
std::string FormatTraceparent(const SpanContext& context);

// Random, never all zero.
std::string NewTraceId();
std::string NewSpanId();

// Whether `id` is `length` lowercase hex digits, not all zero.
bool IsValidId(absl::string_view id, size_t length);

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_TRACE_CONTEXT_H_
