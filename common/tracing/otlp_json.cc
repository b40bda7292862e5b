#include "common/tracing/otlp_json.h"

#include <cmath>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_text.h"

namespace baton::tracing {
namespace {

// The instrumentation scope: Baton's own instrumentation.
constexpr char kScopeName[] = "baton";

// proto3 JSON: an int64 is a decimal string.
void AppendInt64String(std::string& out, int64_t v) {
  out.push_back('"');
  absl::StrAppend(&out, v);
  out.push_back('"');
}

void AppendAnyValue(std::string& out, const AttributeValue& value) {
  struct Visitor {
    std::string& out;
    void operator()(const std::string& s) const {
      out.append("{\"stringValue\":");
      AppendJsonString(out, s);
      out.push_back('}');
    }
    void operator()(int64_t i) const {
      out.append("{\"intValue\":");
      AppendInt64String(out, i);
      out.push_back('}');
    }
    void operator()(double d) const {
      out.append("{\"doubleValue\":");
      // Enough digits to read back the same double; JSON has no NaN or infinity.
      if (std::isfinite(d)) {
        absl::StrAppendFormat(&out, "%.17g", d);
      } else {
        out.append("null");
      }
      out.push_back('}');
    }
    void operator()(bool b) const { absl::StrAppend(&out, "{\"boolValue\":", b ? "true" : "false", "}"); }
    void operator()(const std::vector<std::string>& values) const {
      out.append("{\"arrayValue\":{\"values\":[");
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        (*this)(values[i]);
      }
      out.append("]}}");
    }
  };
  std::visit(Visitor{out}, value);
}

void AppendKeyValues(std::string& out, const Attributes& attributes) {
  out.push_back('[');
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"key\":");
    AppendJsonString(out, attributes[i].first);
    out.append(",\"value\":");
    AppendAnyValue(out, attributes[i].second);
    out.push_back('}');
  }
  out.push_back(']');
}

void AppendSpan(std::string& out, const SpanData& span) {
  out.append("{\"traceId\":");
  AppendJsonString(out, span.trace_id);
  out.append(",\"spanId\":");
  AppendJsonString(out, span.span_id);
  if (!span.parent_span_id.empty()) {
    out.append(",\"parentSpanId\":");
    AppendJsonString(out, span.parent_span_id);
  }
  if (!span.trace_state.empty()) {
    out.append(",\"traceState\":");
    AppendJsonString(out, span.trace_state);
  }
  out.append(",\"name\":");
  AppendJsonString(out, span.name);
  absl::StrAppend(&out, ",\"kind\":", static_cast<int>(span.kind), ",\"startTimeUnixNano\":");
  AppendInt64String(out, span.start_unix_nanos);
  out.append(",\"endTimeUnixNano\":");
  AppendInt64String(out, span.end_unix_nanos);
  out.append(",\"attributes\":");
  AppendKeyValues(out, span.attributes);
  if (!span.events.empty()) {
    out.append(",\"events\":[");
    for (size_t i = 0; i < span.events.size(); ++i) {
      const SpanEvent& e = span.events[i];
      if (i > 0) out.push_back(',');
      out.append("{\"timeUnixNano\":");
      AppendInt64String(out, e.time_unix_nanos);
      out.append(",\"name\":");
      AppendJsonString(out, e.name);
      out.append(",\"attributes\":");
      AppendKeyValues(out, e.attributes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  // STATUS_CODE_ERROR = 2; UNSET (0) is left out, as proto3 JSON leaves defaults out.
  if (span.error) {
    out.append(",\"status\":{\"code\":2,\"message\":");
    AppendJsonString(out, span.status_message);
    out.push_back('}');
  }
  out.push_back('}');
}

}  // namespace

// Written straight into one string: the exporter encodes every span the process
// records, and a JSON tree would cost a few allocations per attribute first.
std::string EncodeOtlpJson(const Attributes& resource, const std::vector<SpanData>& spans) {
  std::string out;
  out.reserve(512 + spans.size() * 1024);
  out.append("{\"resourceSpans\":[{\"resource\":{\"attributes\":");
  AppendKeyValues(out, resource);
  out.append("},\"scopeSpans\":[{\"scope\":{\"name\":");
  AppendJsonString(out, kScopeName);
  out.append("},\"spans\":[");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendSpan(out, spans[i]);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace baton::tracing
