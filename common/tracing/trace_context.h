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
// ... and the tracestate that goes with it.
inline constexpr char kTracestateKey[] = "tracestate";

// A span's identity as other processes see it. Plain value.
struct SpanContext {
  std::string trace_id;  // 32 lowercase hex digits, not all zero; empty: none
  std::string span_id;   // 16 lowercase hex digits, not all zero; empty: none
  bool sampled = true;   // trace-flags bit 0: the caller records this trace
  // The W3C tracestate that travels with the trace, as ParseTracestate leaves it;
  // empty: none. Spans pass it on to their children unchanged.
  std::string trace_state;

  bool valid() const { return !trace_id.empty() && !span_id.empty(); }
};

// Parses a traceparent header ("00-<trace-id>-<parent-id>-<flags>"), as the W3C
// specification says: version 00 is exactly that; a later version may add fields
// after a dash; version ff, upper-case hex and all-zero ids are invalid. The error
// says what is wrong, prefixed with nothing (callers name the field).
absl::StatusOr<SpanContext> ParseTraceparent(absl::string_view header);

// "00-<trace-id>-<span-id>-01" (or -00 when not sampled). REQUIRES: context.valid().
std::string FormatTraceparent(const SpanContext& context);

// Checks a tracestate header (the values of several headers joined by ','), as the
// W3C specification says: at most 32 list members "key=value", each key a simple key
// (a lowercase letter, then up to 255 of [a-z0-9_*/-]) or a multi-tenant one
// ("tenant@system", up to 241 and 14 characters), no key twice, each value 1 to 256
// printable ASCII characters other than ',' and '=', not ending in a space. Returns it
// with the blanks around members and the empty members dropped ("" for a header with
// none); the error says what is wrong, prefixed with nothing (callers name the field).
absl::StatusOr<std::string> ParseTracestate(absl::string_view header);

// Random, never all zero.
std::string NewTraceId();
std::string NewSpanId();

// Whether `id` is `length` lowercase hex digits, not all zero.
bool IsValidId(absl::string_view id, size_t length);

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_TRACE_CONTEXT_H_
