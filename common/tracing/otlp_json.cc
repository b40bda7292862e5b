#include "common/tracing/otlp_json.h"

#include <cmath>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace baton::tracing {
namespace {

// The instrumentation scope: Baton's own instrumentation.
constexpr char kScopeName[] = "baton";

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0.
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto continuation = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  const unsigned char lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
    if (lead == 0xED && byte(1) > 0x9F) return 0;  // a surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;  // overlong
    if (lead == 0xF4 && byte(1) > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// `s` as a JSON string. Attribute values may hold bytes from a model or a tool that are
// not UTF-8: each byte that starts no well-formed sequence becomes U+FFFD rather than
// failing the whole batch.
void AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // Printable ASCII other than '"' and '\\' goes as it is, a run at a time.
    size_t plain = i;
    while (plain < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[plain]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++plain;
    }
    out.append(s.substr(i, plain - i));
    i = plain;
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out.append("\xEF\xBF\xBD");
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    ++i;
  }
  out.push_back('"');
}

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
      AppendString(out, s);
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
    AppendString(out, attributes[i].first);
    out.append(",\"value\":");
    AppendAnyValue(out, attributes[i].second);
    out.push_back('}');
  }
  out.push_back(']');
}

void AppendSpan(std::string& out, const SpanData& span) {
  out.append("{\"traceId\":");
  AppendString(out, span.trace_id);
  out.append(",\"spanId\":");
  AppendString(out, span.span_id);
  if (!span.parent_span_id.empty()) {
    out.append(",\"parentSpanId\":");
    AppendString(out, span.parent_span_id);
  }
  out.append(",\"name\":");
  AppendString(out, span.name);
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
      AppendString(out, e.name);
      out.append(",\"attributes\":");
      AppendKeyValues(out, e.attributes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  // STATUS_CODE_ERROR = 2; UNSET (0) is left out, as proto3 JSON leaves defaults out.
  if (span.error) {
    out.append(",\"status\":{\"code\":2,\"message\":");
    AppendString(out, span.status_message);
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
  AppendString(out, kScopeName);
  out.append("},\"spans\":[");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendSpan(out, spans[i]);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace baton::tracing
