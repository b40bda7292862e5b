#include "common/tracing/otlp_json.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace baton::tracing {
namespace {

using json = nlohmann::json;

// The instrumentation scope: Baton's own instrumentation.
constexpr char kScopeName[] = "baton";

json AnyValue(const AttributeValue& value) {
  struct Visitor {
    json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    json operator()(int64_t i) const { return {{"intValue", absl::StrCat(i)}}; }
    json operator()(double d) const { return {{"doubleValue", d}}; }
    json operator()(bool b) const { return {{"boolValue", b}}; }
    json operator()(const std::vector<std::string>& v) const {
      json values = json::array();
      for (const std::string& s : v) values.push_back({{"stringValue", s}});
      return {{"arrayValue", {{"values", std::move(values)}}}};
    }
  };
  return std::visit(Visitor{}, value);
}

json KeyValues(const Attributes& attributes) {
  json out = json::array();
  for (const auto& [key, value] : attributes) out.push_back({{"key", key}, {"value", AnyValue(value)}});
  return out;
}

json EncodeSpan(const SpanData& span) {
  json out = {
      {"traceId", span.trace_id},
      {"spanId", span.span_id},
      {"name", span.name},
      {"kind", static_cast<int>(span.kind)},
      {"startTimeUnixNano", absl::StrCat(span.start_unix_nanos)},
      {"endTimeUnixNano", absl::StrCat(span.end_unix_nanos)},
      {"attributes", KeyValues(span.attributes)},
  };
  if (!span.parent_span_id.empty()) out["parentSpanId"] = span.parent_span_id;
  if (!span.events.empty()) {
    json events = json::array();
    for (const SpanEvent& e : span.events) {
      events.push_back({{"timeUnixNano", absl::StrCat(e.time_unix_nanos)},
                        {"name", e.name},
                        {"attributes", KeyValues(e.attributes)}});
    }
    out["events"] = std::move(events);
  }
  // STATUS_CODE_ERROR = 2; UNSET (0) is left out, as proto3 JSON leaves defaults out.
  if (span.error) out["status"] = {{"code", 2}, {"message", span.status_message}};
  return out;
}

}  // namespace

std::string EncodeOtlpJson(const Attributes& resource, const std::vector<SpanData>& spans) {
  json encoded = json::array();
  for (const SpanData& span : spans) encoded.push_back(EncodeSpan(span));
  json request = {
      {"resourceSpans",
       json::array({{{"resource", {{"attributes", KeyValues(resource)}}},
                     {"scopeSpans", json::array({{{"scope", {{"name", kScopeName}}}, {"spans", std::move(encoded)}}})}}})},
  };
  // Attribute values may hold bytes from a model or a tool that are not UTF-8: they
  // are replaced rather than failing the whole batch.
  return request.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace baton::tracing
