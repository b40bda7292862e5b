// Trace context parsing, spans, the OTLP JSON encoding, the exporter's configuration
// from OTEL_* and its bounded queue, and JSON log lines.
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/tracing/otlp_http_exporter.h"
#include "common/tracing/otlp_json.h"
#include "common/tracing/span.h"
#include "common/tracing/trace_context.h"

namespace baton::tracing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesTheW3CExample) {
  absl::StatusOr<SpanContext> c = ParseTraceparent(kTraceparent);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(FormatTraceparent(*c), kTraceparent);
  absl::StatusOr<SpanContext> unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.ok());
  EXPECT_FALSE(unsampled->sampled);
}

TEST(TraceparentTest, LaterVersionsMayAddFields) {
  EXPECT_TRUE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds").ok());
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").ok());
}

TEST(TraceparentTest, MalformedOnesSayWhatIsWrong) {
  EXPECT_THAT(ParseTraceparent("").status().message(), HasSubstr("is not a W3C traceparent"));
  EXPECT_THAT(ParseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").status().message(),
              HasSubstr("version \"ff\""));
  EXPECT_THAT(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").status().message(),
              HasSubstr("trace id"));
  EXPECT_THAT(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").status().message(),
              HasSubstr("parent id"));
  EXPECT_THAT(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").status().message(),
              HasSubstr("lowercase"));
  EXPECT_THAT(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x").status().message(),
              HasSubstr("flags"));
}

TEST(TraceparentTest, NewIdsAreValidAndDiffer) {
  EXPECT_TRUE(IsValidId(NewTraceId(), 32));
  EXPECT_TRUE(IsValidId(NewSpanId(), 16));
  EXPECT_NE(NewTraceId(), NewTraceId());
}

TEST(TracestateTest, KeepsValidMembersAndDropsBlanksAndEmptyOnes) {
  EXPECT_EQ(*ParseTracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(*ParseTracestate(" rojo=00f067aa0ba902b7 ,\t, congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(*ParseTracestate(""), "");
  EXPECT_EQ(*ParseTracestate(" , "), "");
  // Multi-tenant keys, and values with inner spaces and any other printable character.
  EXPECT_EQ(*ParseTracestate("7tenant@vendor=a b:c;d,x/y*z_-1=~!"), "7tenant@vendor=a b:c;d,x/y*z_-1=~!");
  // 32 members, at the limits of key and value lengths.
  std::string many;
  for (int i = 0; i < 32; ++i) absl::StrAppend(&many, i > 0 ? "," : "", "k", i, "=v");
  EXPECT_TRUE(ParseTracestate(many).ok());
  EXPECT_TRUE(ParseTracestate(absl::StrCat("a", std::string(255, 'b'), "=", std::string(256, 'v'))).ok());
}

TEST(TracestateTest, MalformedOnesSayWhatIsWrong) {
  EXPECT_THAT(ParseTracestate("rojo").status().message(), HasSubstr("member 1 \"rojo\" is not key=value"));
  EXPECT_THAT(ParseTracestate("ok=1,Rojo=2").status().message(), HasSubstr("member 2: key \"Rojo\""));
  EXPECT_THAT(ParseTracestate("1abc=2").status().message(), HasSubstr("key \"1abc\""));
  EXPECT_THAT(ParseTracestate("t@VENDOR=2").status().message(), HasSubstr("key \"t@VENDOR\""));
  EXPECT_THAT(ParseTracestate("t@averyveryverylongsystem=2").status().message(), HasSubstr("tenant@system"));
  EXPECT_THAT(ParseTracestate(absl::StrCat("a", std::string(256, 'b'), "=1")).status().message(),
              HasSubstr("must be a lowercase letter"));
  EXPECT_THAT(ParseTracestate("rojo=").status().message(), HasSubstr("member 1 (rojo): the value"));
  EXPECT_THAT(ParseTracestate("rojo=a=b").status().message(), HasSubstr("the value"));
  EXPECT_THAT(ParseTracestate(absl::StrCat("rojo=", std::string(257, 'v'))).status().message(),
              HasSubstr("the value"));
  EXPECT_THAT(ParseTracestate("rojo=caf\xc3\xa9").status().message(), HasSubstr("printable ASCII"));
  EXPECT_THAT(ParseTracestate("rojo=1,congo=2,rojo=3").status().message(), HasSubstr("\"rojo\" appears twice"));
  std::string too_many;
  for (int i = 0; i < 33; ++i) absl::StrAppend(&too_many, i > 0 ? "," : "", "k", i, "=v");
  EXPECT_THAT(ParseTracestate(too_many).status().message(), HasSubstr("more than 32 members"));
}

// Keeps what it is given.
class CollectingExporter : public SpanExporter {
 public:
  void Export(SpanData span) override { spans.push_back(std::move(span)); }
  std::vector<SpanData> spans;
};

TEST(SpanTest, ChildrenShareTheTraceAndNameTheirParent) {
  CollectingExporter exporter;
  Tracer tracer(&exporter);
  Span root = tracer.StartSpan("root", SpanKind::kInternal, *ParseTraceparent(kTraceparent));
  Span child = tracer.StartSpan("child", SpanKind::kClient, root.context());
  child.SetAttribute("n", int64_t{3});
  child.SetError("boom_error", "it broke");
  child.End();
  root.End();
  ASSERT_EQ(exporter.spans.size(), 2u);
  EXPECT_EQ(exporter.spans[0].name, "child");
  EXPECT_EQ(exporter.spans[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(exporter.spans[0].parent_span_id, root.context().span_id);
  EXPECT_TRUE(exporter.spans[0].error);
  EXPECT_EQ(exporter.spans[1].parent_span_id, "00f067aa0ba902b7");
  EXPECT_LE(exporter.spans[1].start_unix_nanos, exporter.spans[1].end_unix_nanos);
}

// A trace's tracestate goes from the caller's context to every span of the trace, and
// is exported with each (OTLP traceState); a new trace has none.
TEST(SpanTest, EverySpanOfATraceCarriesItsTracestate) {
  CollectingExporter exporter;
  Tracer tracer(&exporter);
  SpanContext caller = *ParseTraceparent(kTraceparent);
  caller.trace_state = "congo=t61rcWkgMzE";
  Span root = tracer.StartSpan("root", SpanKind::kInternal, caller);
  Span child = tracer.StartSpan("child", SpanKind::kClient, root.context());
  Span other = tracer.StartSpan("other", SpanKind::kInternal, {});
  EXPECT_EQ(child.context().trace_state, "congo=t61rcWkgMzE");
  EXPECT_EQ(other.context().trace_state, "");
  child.End();
  root.End();
  other.End();
  ASSERT_EQ(exporter.spans.size(), 3u);
  EXPECT_EQ(exporter.spans[0].trace_state, "congo=t61rcWkgMzE");
  EXPECT_EQ(exporter.spans[1].trace_state, "congo=t61rcWkgMzE");
  EXPECT_EQ(exporter.spans[2].trace_state, "");
  const json body = json::parse(EncodeOtlpJson({}, {exporter.spans[0], exporter.spans[2]}));
  const json& spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"];
  EXPECT_EQ(spans[0]["traceState"], "congo=t61rcWkgMzE");
  EXPECT_FALSE(spans[1].contains("traceState"));
}

TEST(SpanTest, AnUnsampledTraceOrNoExporterRecordsNothingButHasIds) {
  CollectingExporter exporter;
  Tracer tracer(&exporter);
  Span unsampled = tracer.StartSpan(
      "x", SpanKind::kInternal, *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_FALSE(unsampled.recording());
  EXPECT_TRUE(unsampled.context().valid());
  Span off = Tracer(nullptr).StartSpan("y", SpanKind::kInternal, {});
  EXPECT_FALSE(off.recording());
  EXPECT_TRUE(off.context().valid());
  unsampled.End();
  EXPECT_TRUE(exporter.spans.empty());
}

TEST(SpanTest, ARootCanJoinAGivenTrace) {
  Span root = Tracer(nullptr).StartSpan("r", SpanKind::kInternal, {}, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(root.context().trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(SpanTest, ScopedSpanIsTheThreadsCurrentSpanAndItsLogContext) {
  Span span = Tracer(nullptr).StartSpan("s", SpanKind::kInternal, {});
  ScopedLogContext run(LogContext{"default/run_1", "", ""});
  {
    ScopedSpan scope(span);
    EXPECT_EQ(CurrentSpanContext().span_id, span.context().span_id);
    EXPECT_EQ(CurrentLogContext().run_id, "default/run_1");
    EXPECT_EQ(CurrentLogContext().span_id, span.context().span_id);
    EXPECT_EQ(CurrentLogContext().trace_id, span.context().trace_id);
  }
  EXPECT_FALSE(CurrentSpanContext().valid());
  EXPECT_EQ(CurrentLogContext().span_id, "");
  EXPECT_EQ(CurrentLogContext().run_id, "default/run_1");
}

TEST(OtlpJsonTest, EncodesTheJsonMapping) {
  SpanData span;
  span.name = "chat m";
  span.kind = SpanKind::kClient;
  span.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  span.span_id = "00f067aa0ba902b7";
  span.parent_span_id = "1111111111111111";
  span.start_unix_nanos = 1700000000000000001;
  span.end_unix_nanos = 1700000000000000002;
  span.attributes = {{"s", std::string("v")}, {"i", int64_t{1} << 60}, {"d", 0.5}, {"b", true},
                     {"a", std::vector<std::string>{"end_turn"}}};
  span.error = true;
  span.status_message = "bad";
  const json body = json::parse(EncodeOtlpJson({{"service.name", std::string("svc")}}, {span}));
  const json& rs = body["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0], json::parse(R"({"key":"service.name","value":{"stringValue":"svc"}})"));
  const json& s = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(s["traceId"], span.trace_id);
  EXPECT_EQ(s["spanId"], span.span_id);
  EXPECT_EQ(s["parentSpanId"], span.parent_span_id);
  EXPECT_EQ(s["kind"], 3);
  EXPECT_EQ(s["startTimeUnixNano"], "1700000000000000001");  // int64 as a decimal string
  EXPECT_EQ(s["attributes"][1]["value"]["intValue"], "1152921504606846976");
  EXPECT_EQ(s["attributes"][2]["value"]["doubleValue"], 0.5);
  EXPECT_EQ(s["attributes"][3]["value"]["boolValue"], true);
  EXPECT_EQ(s["attributes"][4]["value"]["arrayValue"]["values"][0]["stringValue"], "end_turn");
  EXPECT_EQ(s["status"]["code"], 2);
}

TEST(OtlpJsonTest, EscapesStringsAndReplacesBytesThatAreNotUtf8) {
  SpanData span;
  span.name = "n";
  span.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  span.span_id = "00f067aa0ba902b7";
  const std::string tricky = "q\"b\\ nl\n tab\t bell\x07 \xC3\xA9 \xF0\x9F\x98\x80 bad\xC3( \xED\xA0\x80 \xFF end";
  span.attributes = {{"tricky", tricky}, {"nan", std::nan("")}, {"third", 0.1}};
  span.events.push_back(SpanEvent{"e\"v", 5, {{"k", std::string("v")}}});
  const std::string encoded = EncodeOtlpJson({}, {span});
  json body;
  ASSERT_NO_THROW(body = json::parse(encoded)) << encoded;
  const json& s = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(s["attributes"][0]["value"]["stringValue"],
            "q\"b\\ nl\n tab\t bell\x07 \xC3\xA9 \xF0\x9F\x98\x80 bad\xEF\xBF\xBD( "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end");
  EXPECT_TRUE(s["attributes"][1]["value"]["doubleValue"].is_null());
  EXPECT_EQ(s["attributes"][2]["value"]["doubleValue"], 0.1);  // read back exactly
  EXPECT_EQ(s["events"][0]["name"], "e\"v");
  EXPECT_EQ(s["events"][0]["timeUnixNano"], "5");
  EXPECT_EQ(s.count("parentSpanId"), 0u);
  EXPECT_EQ(s.count("status"), 0u);
}

absl::StatusOr<std::optional<OtlpHttpExporterOptions>> FromEnv(std::map<std::string, std::string> env) {
  return OtlpHttpExporterOptions::FromEnvironment("baton-test", [env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string Resource(const OtlpHttpExporterOptions& options, const std::string& key) {
  for (const auto& [k, v] : options.resource) {
    if (k == key) return std::get<std::string>(v);
  }
  return "<none>";
}

TEST(OtlpHttpExporterOptionsTest, TracingIsOffWithoutAnEndpointOrWhenDisabled) {
  EXPECT_FALSE(FromEnv({})->has_value());
  EXPECT_FALSE(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_TRACES_EXPORTER", "none"}})
                   ->has_value());
  EXPECT_FALSE(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_SDK_DISABLED", "true"}})->has_value());
}

TEST(OtlpHttpExporterOptionsTest, ReadsTheStandardVariables) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
                          {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=se%20cret, x-a = 1"},
                          {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-a=2"},
                          {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                          {"OTEL_BSP_MAX_QUEUE_SIZE", "10"},
                          {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"},
                          {"OTEL_SERVICE_NAME", "my-worker"}});
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->has_value());
  const OtlpHttpExporterOptions& o = **options;
  EXPECT_EQ(o.url, "http://collector:4318/v1/traces");
  EXPECT_EQ(o.headers, (std::vector<std::pair<std::string, std::string>>{{"api-key", "se cret"}, {"x-a", "2"}}));
  EXPECT_EQ(o.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(o.max_queue_size, 10u);
  EXPECT_EQ(o.max_batch_size, 10u);  // never above the queue
  EXPECT_EQ(Resource(o, "service.name"), "my-worker");
  EXPECT_EQ(Resource(o, "deployment.environment"), "prod");

  auto traces = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"},
                         {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/custom/path"},
                         {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource"}});
  EXPECT_EQ((*traces)->url, "https://b/custom/path");
  EXPECT_EQ(Resource(**traces, "service.name"), "from-resource");
  EXPECT_EQ(Resource(**FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"}}), "service.name"), "baton-test");
}

TEST(OtlpHttpExporterOptionsTest, BadValuesNameTheVariable) {
  EXPECT_THAT(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"}, {"OTEL_EXPORTER_OTLP_TIMEOUT", "soon"}})
                  .status()
                  .message(),
              HasSubstr("OTEL_EXPORTER_OTLP_TIMEOUT"));
  EXPECT_THAT(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"}, {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}})
                  .status()
                  .message(),
              HasSubstr("OTEL_EXPORTER_OTLP_HEADERS"));
  EXPECT_THAT(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}}).status().message(),
              HasSubstr("http://"));
  EXPECT_THAT(FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"}, {"OTEL_TRACES_EXPORTER", "zipkin"}})
                  .status()
                  .message(),
              HasSubstr("OTEL_TRACES_EXPORTER"));
}

// A loopback port that accepts connections into its backlog and never answers: a
// collector that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(OtlpHttpExporterTest, AFullQueueDropsAndCountsWithoutBlocking) {
  SilentListener collector;
  OtlpHttpExporterOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(collector.port()) + "/v1/traces";
  options.timeout = absl::Seconds(2);
  options.max_queue_size = 4;
  options.max_batch_size = 1;
  options.schedule_delay = absl::Milliseconds(10);
  OtlpHttpExporter exporter(options);
  Tracer tracer(&exporter);
  // The thread holds at most one span in its hanging POST; the queue takes four more.
  for (int i = 0; i < 20; ++i) tracer.StartSpan("s", SpanKind::kInternal, {}).End();
  EXPECT_GE(exporter.dropped(), 15);
  exporter.Shutdown();
  // Every span is accounted for: none was sent, each was dropped or failed.
  EXPECT_EQ(exporter.sent(), 0);
  EXPECT_EQ(exporter.dropped() + exporter.failed(), 20);
  tracer.StartSpan("late", SpanKind::kInternal, {}).End();
  EXPECT_EQ(exporter.dropped() + exporter.failed(), 21);
}

// Runs `body` with stderr in a file; returns what it wrote.
template <typename F>
std::string CaptureStderr(F body) {
  std::fflush(stderr);
  char path[] = "/tmp/baton-log-XXXXXX";
  const int fd = mkstemp(path);
  const int saved = dup(2);
  dup2(fd, 2);
  body();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::remove(path);
  return s.str();
}

TEST(JsonLogTest, EachLineIsAnObjectWithTheRunAndSpan) {
  ASSERT_FALSE(SetLogFormat("yaml").ok());
  ASSERT_TRUE(SetLogFormat("json").ok());
  InitLogging("tracing-test");
  const std::string out = CaptureStderr([] {
    BATON_LOG(INFO) << "outside any run";
    ScopedLogContext run(LogContext{"default/run_1", "", ""});
    ScopedSpan span(*ParseTraceparent(kTraceparent));
    BATON_LOG(WARNING) << "a \"quoted\"\nline \xff";
  });
  ASSERT_TRUE(SetLogFormat("text").ok());
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    json parsed = json::parse(line, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    lines.push_back(parsed);
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0]["severity"], "INFO");
  EXPECT_EQ(lines[0]["program"], "tracing-test");
  EXPECT_EQ(lines[0]["message"], "outside any run");
  EXPECT_FALSE(lines[0].contains("run_id"));
  EXPECT_THAT(lines[0]["time"].get<std::string>(), ::testing::MatchesRegex("[0-9-]+T[0-9:.]+Z"));
  EXPECT_EQ(lines[1]["severity"], "WARNING");
  EXPECT_THAT(lines[1]["message"].get<std::string>(), HasSubstr("a \"quoted\"\nline"));
  EXPECT_EQ(lines[1]["run_id"], "default/run_1");
  EXPECT_EQ(lines[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(lines[1]["span_id"], "00f067aa0ba902b7");
  EXPECT_THAT(lines[1]["source"].get<std::string>(), HasSubstr("tracing_test.cc:"));
}

}  // namespace
}  // namespace baton::tracing
