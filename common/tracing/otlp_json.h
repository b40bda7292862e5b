// OTLP's JSON encoding of spans (an ExportTraceServiceRequest as the OTLP/HTTP JSON
// mapping says: trace and span ids as hex, int64 values and times as decimal strings,
// enums as numbers, lowerCamelCase field names).
#ifndef BATON_COMMON_TRACING_OTLP_JSON_H_
#define BATON_COMMON_TRACING_OTLP_JSON_H_

#include <string>
#include <vector>

#include "common/tracing/span.h"

namespace baton::tracing {

// The body of one POST to /v1/traces: `spans` under one resource (`resource`: the
// process's attributes, service.name among them) and one instrumentation scope.
std::string EncodeOtlpJson(const Attributes& resource, const std::vector<SpanData>& spans);

}  // namespace baton::tracing

#endif  // BATON_COMMON_TRACING_OTLP_JSON_H_
