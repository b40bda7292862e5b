// OpenTelemetry traces and JSON logs with real processes: a cluster, a
// baton-mcp-bridge with the fault MCP server behind it, and workers, all exporting
// OTLP/HTTP to otlp_receiver.mjs, whose caller span (and its traceparent) comes from
// the official OpenTelemetry JS SDK and whose decoder (the OTLP JSON mapping) is not
// Baton's. A run created with that traceparent must put every span of every process
// in the caller's trace, nested as docs/operations.md ("Tracing") says, with the
// GenAI attributes of the run, and no message content unless asked; a second attempt
// after the orchestrator and the worker were killed still joins the trace; a graph
// run's span, which the orchestrator exports, holds its node runs' spans.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/cluster.h"
#include "tests/integration/prometheus_text.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kTool[] = "mcp__fault__echo";
constexpr char kSecretInput[] = "the secret input of the run";
constexpr char kSecretEcho[] = "a secret argument";
// Sent with the caller's traceparent (the W3C specification's example, with blanks).
constexpr char kTracestate[] = " congo=t61rcWkgMzE, rojo=00f067aa0ba902b7";
constexpr char kTracestateKept[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

class TracingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>(ClusterOptions{.workers = 0, .orchestrator_args = {"--log-format=json"}});
    cluster_->Start();
    const std::string dir = cluster_->dir();
    receiver_ = std::make_unique<Process>(
        "/usr/bin/env", std::vector<std::string>{"node", mcp::testing::SourceDir() + "/tests/integration/otlp_receiver.mjs"},
        std::map<std::string, std::string>{{"SPANS_FILE", spans_file()},
                                           {"TRACEPARENT_FILE", dir + "/traceparent"},
                                           {"PORT_FILE", dir + "/receiver.port"}},
        dir + "/receiver.log");
    const int port = WaitForPortFile(dir + "/receiver.port", absl::Seconds(60));
    ASSERT_GT(port, 0) << ReadFile(dir + "/receiver.log");
    endpoint_ = "http://127.0.0.1:" + std::to_string(port);
    traceparent_ = std::string(absl::StripAsciiWhitespace(ReadFile(dir + "/traceparent")));
    std::vector<std::string> parts = absl::StrSplit(traceparent_, '-');
    ASSERT_THAT(parts, SizeIs(4)) << traceparent_;
    caller_trace_ = parts[1];
    caller_span_ = parts[2];

    json config = {{"servers", {{"fault", {{"command", "node"}, {"args", {mcp::testing::FaultServer()}},
                                           {"env", {{"META_LOG", meta_log()}}}}}}}};
    mcp::testing::WriteFile(dir + "/bridge.json", config.dump(2));
    bridge_ = std::make_unique<Process>(
        Cluster::Bin("baton-mcp-bridge"),
        std::vector<std::string>{"--config=" + dir + "/bridge.json", "--listen=127.0.0.1:0",
                                 "--port-file=" + dir + "/bridge.port", "--log-format=json"},
        OtelEnv("baton-mcp-bridge"), dir + "/bridge.log");
    bridge_port_ = WaitForPortFile(dir + "/bridge.port", absl::Seconds(30));
  }

  std::map<std::string, std::string> OtelEnv(const std::string& service) const {
    return {{"OTEL_EXPORTER_OTLP_ENDPOINT", endpoint_},
            {"OTEL_SERVICE_NAME", service},
            {"OTEL_EXPORTER_OTLP_HEADERS", "x-test-header=from%20env"},
            {"OTEL_BSP_SCHEDULE_DELAY", "100"}};
  }

  // A worker with --tool-bridge, exporting spans; `extra` adds flags.
  std::unique_ptr<Process> StartWorker(const std::string& name, std::vector<std::string> extra = {}) {
    std::map<std::string, std::string> env = OtelEnv("baton-worker");
    env["ANTHROPIC_BASE_URL"] = cluster_->sim_url();
    env["ANTHROPIC_API_KEY"] = "test-key";
    std::vector<std::string> args = {"--orchestrator=" + cluster_->address(),
                                     "--tool-bridge=127.0.0.1:" + std::to_string(bridge_port_),
                                     "--worker-id=" + name,
                                     "--heartbeat-ms=300",
                                     "--model-retries=2",
                                     "--drain-timeout-ms=5000",
                                     "--log-format=json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(Cluster::Bin("baton-worker"), args, env, worker_log(name));
  }

  v1::Run CreateRun(const std::string& traceparent, const std::string& tool, const std::string& tracestate = "") {
    v1::CreateRunRequest request;
    v1::AgentSpec* agent = request.mutable_agent();
    agent->set_name("tracer");
    agent->set_model("claude-sonnet-4-5");
    agent->set_max_steps(5);
    agent->add_allowed_tools(tool);
    request.set_input(kSecretInput);
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    if (!traceparent.empty()) ctx.AddMetadata("traceparent", traceparent);
    if (!tracestate.empty()) ctx.AddMetadata("tracestate", tracestate);
    v1::Run created;
    grpc::Status s = cluster_->runs().CreateRun(&ctx, request, &created);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return created;
  }

  // Every decoded span so far (a test failure for a request that did not decode).
  std::vector<json> Spans() {
    std::vector<json> spans;
    for (const std::string& line : mcp::testing::ReadLines(spans_file())) {
      json span = json::parse(line, nullptr, false);
      if (span.is_discarded()) continue;  // a line being written
      EXPECT_FALSE(span.contains("error")) << line;
      if (!span.contains("error")) spans.push_back(span);
    }
    return spans;
  }
  // Waits for the spans that `enough` accepts.
  std::vector<json> WaitForSpans(const std::function<bool(const std::vector<json>&)>& enough) {
    std::vector<json> spans;
    WaitUntil([&] { return enough(spans = Spans()); }, absl::Seconds(60));
    return spans;
  }
  static std::vector<json> Named(const std::vector<json>& spans, const std::string& prefix) {
    std::vector<json> out;
    for (const json& s : spans) {
      if (absl::StartsWith(s["name"].get<std::string>(), prefix)) out.push_back(s);
    }
    return out;
  }

  std::string spans_file() const { return cluster_->dir() + "/spans.jsonl"; }
  std::string meta_log() const { return cluster_->dir() + "/meta.jsonl"; }
  std::string worker_log(const std::string& name) const { return cluster_->dir() + "/" + name + ".log"; }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Process> receiver_;
  std::unique_ptr<Process> bridge_;
  int bridge_port_ = 0;
  std::string endpoint_;
  std::string traceparent_;
  std::string caller_trace_;
  std::string caller_span_;
};

TEST_F(TracingTest, EverySpanOfARunJoinsTheCallersTraceWithTheGenAiAttributes) {
  std::unique_ptr<Process> worker = StartWorker("traced-worker");
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", kTool}, {"input", {{"text", kSecretEcho}}}}}}},
      {{"content", "All done."}},
  }));
  const v1::Run created = CreateRun(traceparent_, kTool, kTracestate);
  const v1::Run run = cluster_->WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  // The trace is kept with the run, its tracestate too.
  EXPECT_EQ(run.trace().trace_id(), caller_trace_);
  EXPECT_EQ(run.trace().parent_span_id(), caller_span_);
  EXPECT_EQ(run.trace().tracestate(), kTracestateKept);

  const std::vector<json> spans = WaitForSpans([](const std::vector<json>& s) {
    return Named(s, "invoke_agent").size() >= 1 && Named(s, "chat").size() >= 2 &&
           Named(s, "execute_tool").size() >= 1 && Named(s, "tools/call").size() >= 1;
  });
  // The JS SDK's own export of the caller's span came through the same decoder.
  ASSERT_THAT(Named(spans, "caller"), SizeIs(1));
  EXPECT_EQ(Named(spans, "caller")[0]["spanId"], caller_span_);

  const std::vector<json> agents = Named(spans, "invoke_agent");
  const std::vector<json> chats = Named(spans, "chat");
  const std::vector<json> tools = Named(spans, "execute_tool");
  const std::vector<json> mcp_calls = Named(spans, "tools/call");
  ASSERT_THAT(agents, SizeIs(1));
  ASSERT_THAT(chats, SizeIs(2));
  ASSERT_THAT(tools, SizeIs(1));
  ASSERT_THAT(mcp_calls, SizeIs(1));
  for (const json& s : spans) {
    EXPECT_EQ(s["traceId"], caller_trace_) << s.dump();
    if (s["service"] != "unknown_service:node") {
      EXPECT_EQ(s["traceState"], kTracestateKept) << s.dump();  // the worker's spans and the bridge's
      EXPECT_TRUE(s["int64AsString"].get<bool>()) << s.dump();
      EXPECT_EQ(s["headers"]["x-test-header"], "from env");  // OTEL_EXPORTER_OTLP_HEADERS
    }
  }

  const json& agent = agents[0];
  EXPECT_EQ(agent["name"], "invoke_agent tracer");
  EXPECT_EQ(agent["service"], "baton-worker");
  EXPECT_EQ(agent["parentSpanId"], caller_span_);
  EXPECT_EQ(agent["attributes"]["gen_ai.operation.name"], "invoke_agent");
  EXPECT_EQ(agent["attributes"]["gen_ai.agent.name"], "tracer");
  EXPECT_EQ(agent["attributes"]["gen_ai.conversation.id"], run.run_id());

  int64_t input = 0, output = 0, cache_creation = 0, cache_read = 0;
  std::set<std::string> response_ids;
  for (const json& chat : chats) {
    const json& a = chat["attributes"];
    EXPECT_EQ(chat["name"], "chat claude-sonnet-4-5");
    EXPECT_EQ(chat["service"], "baton-worker");
    EXPECT_EQ(chat["kind"], 3);  // CLIENT
    EXPECT_EQ(chat["parentSpanId"], agent["spanId"]);
    EXPECT_EQ(a["gen_ai.operation.name"], "chat");
    EXPECT_EQ(a["gen_ai.provider.name"], "anthropic");
    EXPECT_EQ(a["gen_ai.request.model"], "claude-sonnet-4-5");
    EXPECT_EQ(a["gen_ai.response.model"], "claude-sonnet-4-5");
    EXPECT_EQ(a["gen_ai.conversation.id"], run.run_id());
    EXPECT_THAT(a["gen_ai.response.id"].get<std::string>(), ::testing::StartsWith("msg_"));
    response_ids.insert(a["gen_ai.response.id"].get<std::string>());
    ASSERT_TRUE(a["gen_ai.response.finish_reasons"].is_array()) << a.dump();
    EXPECT_GT(a.value("gen_ai.response.time_to_first_chunk", 0.0), 0.0) << a.dump();
    EXPECT_FALSE(a.contains("error.type"));
    input += a["gen_ai.usage.input_tokens"].get<int64_t>();
    output += a["gen_ai.usage.output_tokens"].get<int64_t>();
    cache_creation += a["gen_ai.usage.cache_creation.input_tokens"].get<int64_t>();
    cache_read += a["gen_ai.usage.cache_read.input_tokens"].get<int64_t>();
  }
  EXPECT_THAT(response_ids, SizeIs(2));
  // The spans' tokens are the run's usage (input counts cached tokens too, as the
  // conventions ask).
  EXPECT_EQ(input, run.usage().input_tokens() + run.usage().cache_creation_input_tokens() +
                       run.usage().cache_read_input_tokens());
  EXPECT_EQ(output, run.usage().output_tokens());
  EXPECT_EQ(cache_creation, run.usage().cache_creation_input_tokens());
  EXPECT_EQ(cache_read, run.usage().cache_read_input_tokens());
  EXPECT_GT(output, 0);
  std::set<std::string> finish_reasons;
  for (const json& chat : chats) finish_reasons.insert(chat["attributes"]["gen_ai.response.finish_reasons"][0]);
  EXPECT_EQ(finish_reasons, (std::set<std::string>{"tool_use", "end_turn"}));

  const v1::Transcript transcript = cluster_->Transcript(run.run_id());
  std::string tool_use_id;
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_tool_call()) tool_use_id = e.tool_call().tool_use_id();
  }
  const json& tool = tools[0];
  EXPECT_EQ(tool["name"], std::string("execute_tool ") + kTool);
  EXPECT_EQ(tool["parentSpanId"], agent["spanId"]);
  EXPECT_EQ(tool["attributes"]["gen_ai.operation.name"], "execute_tool");
  EXPECT_EQ(tool["attributes"]["gen_ai.tool.name"], kTool);
  EXPECT_EQ(tool["attributes"]["gen_ai.tool.call.id"], tool_use_id);
  EXPECT_EQ(tool["attributes"]["gen_ai.tool.type"], "extension");

  const json& mcp_call = mcp_calls[0];
  EXPECT_EQ(mcp_call["service"], "baton-mcp-bridge");
  EXPECT_EQ(mcp_call["parentSpanId"], tool["spanId"]);
  EXPECT_EQ(mcp_call["attributes"]["mcp.method.name"], "tools/call");
  EXPECT_EQ(mcp_call["attributes"]["baton.mcp.server"], "fault");
  EXPECT_EQ(mcp_call["attributes"]["baton.mcp.tool"], "echo");
  EXPECT_EQ(mcp_call["attributes"]["baton.tool.outcome"], "ok");
  // The MCP server got the bridge span's traceparent in the call's _meta.
  std::vector<std::string> metas = mcp::testing::ReadLines(meta_log());
  ASSERT_THAT(metas, SizeIs(1));
  EXPECT_EQ(json::parse(metas[0])["traceparent"],
            "00-" + caller_trace_ + "-" + mcp_call["spanId"].get<std::string>() + "-01");
  EXPECT_EQ(json::parse(metas[0])["tracestate"], kTracestateKept);

  // No message content by default: not the input, the arguments, the result or the answer.
  const std::string everything = ReadFile(spans_file());
  EXPECT_THAT(everything, ::testing::Not(HasSubstr(kSecretInput)));
  EXPECT_THAT(everything, ::testing::Not(HasSubstr(kSecretEcho)));
  EXPECT_THAT(everything, ::testing::Not(HasSubstr("All done.")));

  // JSON logs: one object a line; the lines about the run carry its ids.
  int run_lines = 0;
  for (const std::string& path : {worker_log("traced-worker"), cluster_->dir() + "/bridge.log"}) {
    for (const std::string& line : mcp::testing::ReadLines(path)) {
      const json parsed = json::parse(line, nullptr, false);
      ASSERT_TRUE(parsed.is_object()) << path << ": " << line;
      for (const char* key : {"time", "severity", "program", "message"}) EXPECT_TRUE(parsed.contains(key)) << line;
      if (parsed["message"].get<std::string>().find(run.run_id()) == std::string::npos) continue;
      ++run_lines;
      EXPECT_EQ(parsed.value("run_id", ""), run.run_id()) << line;
      EXPECT_EQ(parsed.value("trace_id", ""), caller_trace_) << line;
      EXPECT_EQ(parsed.value("span_id", "").size(), 16u) << line;
    }
  }
  EXPECT_GE(run_lines, 2);  // "running ..." and "... succeeded"
}

// A process that traces and serves metrics counts what its exporter did: the spans the
// collector accepted, and none dropped or failed while the collector is up.
TEST_F(TracingTest, AWorkersMetricsCountTheSpansItsExporterSent) {
  const std::string port_file = cluster_->dir() + "/worker-metrics.port";
  std::unique_ptr<Process> worker =
      StartWorker("metered-worker", {"--metrics-listen=127.0.0.1:0", "--metrics-port-file=" + port_file});
  const int port = WaitForPortFile(port_file, absl::Seconds(30));
  ASSERT_GT(port, 0) << ReadFile(worker_log("metered-worker"));
  absl::StatusOr<Exposition> before = ScrapeMetrics(port);
  ASSERT_TRUE(before.ok()) << before.status();
  for (const char* family : {"baton_trace_spans_exported_total", "baton_trace_spans_dropped_total",
                             "baton_trace_spans_failed_total"}) {
    EXPECT_EQ(before->Type(family).value_or("(absent)"), "counter") << family;
  }
  cluster_->SimScript(json::array({{{"content", "All done."}}}));
  const v1::Run run = cluster_->WaitForEnd(CreateRun(traceparent_, kTool).run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  WaitForSpans(
      [](const std::vector<json>& s) { return Named(s, "invoke_agent").size() >= 1 && Named(s, "chat").size() >= 1; });
  auto from_worker = [this] {
    const std::vector<json> now = Spans();
    return static_cast<double>(
        std::count_if(now.begin(), now.end(), [](const json& s) { return s["service"] == "baton-worker"; }));
  };
  ASSERT_GE(from_worker(), 2);
  // The exporter counts a batch once the collector has answered, just after the
  // receiver wrote its spans: wait for the two counts to agree.
  std::optional<Exposition> after;
  double received = 0;
  WaitUntil(
      [&] {
        absl::StatusOr<Exposition> scraped = ScrapeMetrics(port);
        if (scraped.ok()) after = *std::move(scraped);
        received = from_worker();
        return after.has_value() && after->Value("baton_trace_spans_exported_total").value_or(0) == received;
      },
      absl::Seconds(30));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->Value("baton_trace_spans_exported_total").value_or(0), received);
  EXPECT_EQ(after->Value("baton_trace_spans_dropped_total").value_or(-1), 0);
  EXPECT_EQ(after->Value("baton_trace_spans_failed_total").value_or(-1), 0);
}

TEST_F(TracingTest, ContentIsExportedOnlyWhenTheOperatorOptsIn) {
  std::unique_ptr<Process> worker = StartWorker("content-worker", {"--trace-message-content"});
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", kTool}, {"input", {{"text", kSecretEcho}}}}}}},
      {{"content", "All done."}},
  }));
  const v1::Run run = cluster_->WaitForEnd(CreateRun(traceparent_, kTool).run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  const std::vector<json> spans = WaitForSpans([](const std::vector<json>& s) {
    return Named(s, "invoke_agent").size() >= 1 && Named(s, "execute_tool").size() >= 1;
  });
  const std::vector<json> tools = Named(spans, "execute_tool");
  ASSERT_THAT(tools, SizeIs(1));
  const json& tool = tools[0]["attributes"];
  EXPECT_THAT(tool.value("gen_ai.tool.call.arguments", ""), HasSubstr(kSecretEcho));
  EXPECT_THAT(tool.value("gen_ai.tool.call.result", ""), HasSubstr(kSecretEcho));
  bool input_seen = false;
  for (const json& chat : Named(spans, "chat")) {
    input_seen = input_seen || chat["attributes"].value("gen_ai.input.messages", "").find(kSecretInput) != std::string::npos;
  }
  EXPECT_TRUE(input_seen);
}

TEST_F(TracingTest, AMalformedTraceparentIsRefusedNamingIt) {
  v1::CreateRunRequest request;
  *request.mutable_agent() = Cluster::Agent();
  request.set_input("hi");
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ctx.AddMetadata("traceparent", "00-not-a-trace-01");
  v1::Run created;
  grpc::Status s = cluster_->runs().CreateRun(&ctx, request, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("traceparent"));

  // A malformed tracestate with a good traceparent: refused too, naming it.
  grpc::ClientContext bad_state;
  SetDeadline(bad_state);
  bad_state.AddMetadata("traceparent", traceparent_);
  bad_state.AddMetadata("tracestate", "congo=t61rcWkgMzE,Rojo=1");
  s = cluster_->runs().CreateRun(&bad_state, request, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("tracestate (gRPC metadata): member 2: key \"Rojo\""));

  // A tracestate without a traceparent belongs to no trace: ignored, as W3C says.
  grpc::ClientContext alone;
  SetDeadline(alone);
  alone.AddMetadata("tracestate", "congo=t61rcWkgMzE");
  s = cluster_->runs().CreateRun(&alone, request, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(created.trace().tracestate(), "");
  EXPECT_NE(created.trace().trace_id(), caller_trace_);
}

TEST_F(TracingTest, ARunWithoutATraceparentStartsItsOwnTrace) {
  std::unique_ptr<Process> worker = StartWorker("own-trace-worker");
  cluster_->SimScript(json::array({{{"content", "Hello."}}}));
  const v1::Run run = cluster_->WaitForEnd(CreateRun("", kTool).run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  ASSERT_EQ(run.trace().trace_id().size(), 32u);
  EXPECT_NE(run.trace().trace_id(), caller_trace_);
  EXPECT_EQ(run.trace().parent_span_id(), "");
  const std::vector<json> spans =
      WaitForSpans([](const std::vector<json>& s) { return Named(s, "invoke_agent").size() >= 1; });
  const std::vector<json> agents = Named(spans, "invoke_agent");
  ASSERT_THAT(agents, SizeIs(1));
  EXPECT_EQ(agents[0]["traceId"], run.trace().trace_id());
  EXPECT_EQ(agents[0]["parentSpanId"], "");
}

TEST_F(TracingTest, ASubagentsRunNestsUnderItsParentsSpanInTheCallersTrace) {
  std::unique_ptr<Process> worker = StartWorker("subagent-worker");
  v1::CreateRunRequest request;
  v1::AgentSpec* agent = request.mutable_agent();
  agent->set_name("parent");
  agent->set_model("claude-sonnet-4-5");
  agent->set_max_steps(5);
  v1::Subagent* helper = agent->add_subagents();
  helper->set_name("helper");
  helper->set_description("Helps.");
  helper->mutable_agent()->set_name("child");
  helper->mutable_agent()->set_model("claude-sonnet-4-5");
  helper->set_input_schema_json(
      json{{"type", "object"},
           {"properties", {{"prompt", {{"type", "string"}, {"enum", json::array({"[sim text=child done] help"})}}}}},
           {"required", json::array({"prompt"})}}
          .dump());
  // The simulator calls `helper` once, then answers.
  request.set_input("[sim steps=2 tool=helper] delegate");
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ctx.AddMetadata("traceparent", traceparent_);
  ctx.AddMetadata("tracestate", kTracestate);
  v1::Run created;
  ASSERT_TRUE(cluster_->runs().CreateRun(&ctx, request, &created).ok());
  const v1::Run run = cluster_->WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  const std::vector<v1::Run> children = Children(*cluster_, run.run_id());
  ASSERT_THAT(children, SizeIs(1));
  EXPECT_EQ(children[0].trace().trace_id(), caller_trace_);
  EXPECT_EQ(children[0].trace().tracestate(), kTracestateKept);

  const std::vector<json> spans = WaitForSpans([](const std::vector<json>& s) {
    return Named(s, "invoke_agent parent").size() >= 2 && Named(s, "invoke_agent child").size() >= 1;
  });
  std::set<std::string> parent_spans;
  for (const json& a : Named(spans, "invoke_agent parent")) {
    EXPECT_EQ(a["parentSpanId"], caller_span_);  // each attempt: before and after the child
    parent_spans.insert(a["spanId"].get<std::string>());
  }
  const std::vector<json> child = Named(spans, "invoke_agent child");
  ASSERT_THAT(child, SizeIs(1));
  EXPECT_EQ(child[0]["traceId"], caller_trace_);
  EXPECT_EQ(child[0]["traceState"], kTracestateKept);
  EXPECT_TRUE(parent_spans.count(child[0]["parentSpanId"].get<std::string>())) << child[0].dump();
  EXPECT_EQ(children[0].trace().parent_span_id(), child[0]["parentSpanId"]);
}

TEST_F(TracingTest, AGraphRunHasASpanInTheCallersTraceAndItsNodeRunsNestUnderIt) {
  // The orchestrator records the graph run's span: start it again, exporting.
  cluster_->KillOrchestrator(SIGKILL);
  cluster_->SetOrchestratorEnv(OtelEnv("baton-orchestrator"));
  cluster_->StartOrchestrator();
  std::unique_ptr<Process> worker = StartWorker("graph-worker");
  const json spec = {
      {"name", "relay"},
      {"nodes", json::array({{{"id", "first"},
                              {"agent", {{"agent", {{"name", "first-agent"}, {"model", "claude-sonnet-4-5"}}},
                                         {"input", "[sim text=one] {{input}}"}}}},
                             {{"id", "second"},
                              {"agent", {{"agent", {{"name", "second-agent"}, {"model", "claude-sonnet-4-5"}}},
                                         {"input", "[sim text=two] after {{nodes.first.output}}"}}}}})},
      {"edges", json::array({{{"from", "first"}, {"to", "second"}}})},
      {"output", "{{nodes.second.output}}"}};
  v1::CreateRunRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(spec.dump(), request.mutable_graph()).ok());
  request.set_input("go");
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ctx.AddMetadata("traceparent", traceparent_);
  ctx.AddMetadata("tracestate", kTracestate);
  v1::Run created;
  grpc::Status s = cluster_->runs().CreateRun(&ctx, request, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::Run run = cluster_->WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();

  const std::vector<json> spans = WaitForSpans([](const std::vector<json>& s) {
    return Named(s, "invoke_agent relay").size() == 1 && Named(s, "invoke_agent first-agent").size() == 1 &&
           Named(s, "invoke_agent second-agent").size() == 1;
  });
  const std::vector<json> graph = Named(spans, "invoke_agent relay");
  ASSERT_THAT(graph, SizeIs(1));
  EXPECT_EQ(graph[0]["traceId"], caller_trace_);
  EXPECT_EQ(graph[0]["parentSpanId"], caller_span_);
  EXPECT_EQ(graph[0]["traceState"], kTracestateKept);
  EXPECT_EQ(graph[0]["resource"]["service.name"], "baton-orchestrator");
  EXPECT_EQ(graph[0]["attributes"]["gen_ai.conversation.id"], run.run_id());
  EXPECT_EQ(graph[0]["attributes"]["baton.graph.name"], "relay");
  EXPECT_EQ(graph[0]["attributes"]["baton.run.outcome"], "succeeded");
  EXPECT_EQ(graph[0]["attributes"]["baton.graph.node_runs"], 2);
  EXPECT_EQ(graph[0]["startTimeUnixNano"].get<std::string>(), absl::StrCat(run.create_time_ms() * 1'000'000));
  EXPECT_EQ(graph[0]["endTimeUnixNano"].get<std::string>(), absl::StrCat(run.end_time_ms() * 1'000'000));
  for (const char* node : {"invoke_agent first-agent", "invoke_agent second-agent"}) {
    const std::vector<json> agent = Named(spans, node);
    ASSERT_THAT(agent, SizeIs(1)) << node;
    EXPECT_EQ(agent[0]["traceId"], caller_trace_) << node;
    EXPECT_EQ(agent[0]["parentSpanId"], graph[0]["spanId"]) << node;
    EXPECT_EQ(agent[0]["traceState"], kTracestateKept) << node;  // a node run's trace is its graph run's
  }
}

TEST_F(TracingTest, AnAttemptAfterTheOrchestratorAndItsWorkerWereKilledJoinsTheSameTrace) {
  std::unique_ptr<Process> first = StartWorker("first-worker");
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__fault__delayed"}, {"input", {{"ms", 120000}, {"tag", "t"}}}}}}},
      {{"content", "Recovered."}},
  }));
  const v1::Run created = CreateRun(traceparent_, "mcp__fault__delayed");
  // Mid-run: the tool call is in flight at the MCP server.
  ASSERT_TRUE(WaitUntil([&] { return !mcp::testing::ReadLines(meta_log()).empty(); }, absl::Seconds(60)));
  first->Kill(SIGKILL);
  first->Wait(absl::Seconds(10));
  cluster_->KillOrchestrator(SIGKILL);
  cluster_->StartOrchestrator();
  std::unique_ptr<Process> second = StartWorker("second-worker");
  const v1::Run run = cluster_->WaitForEnd(created.run_id(), absl::Seconds(120));
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_EQ(run.worker_id(), "second-worker");
  EXPECT_EQ(run.trace().trace_id(), caller_trace_);  // kept across the restart

  const std::vector<json> spans = WaitForSpans([](const std::vector<json>& s) {
    for (const json& a : Named(s, "invoke_agent")) {
      if (a["attributes"]["baton.worker.id"] == "second-worker") return true;
    }
    return false;
  });
  json second_attempt;
  for (const json& a : Named(spans, "invoke_agent")) {
    if (a["attributes"]["baton.worker.id"] == "second-worker") second_attempt = a;
  }
  ASSERT_TRUE(second_attempt.is_object());
  EXPECT_EQ(second_attempt["traceId"], caller_trace_);
  EXPECT_EQ(second_attempt["parentSpanId"], caller_span_);
  EXPECT_GE(second_attempt["attributes"]["baton.run.epoch"].get<int64_t>(), 2);
  bool second_chat = false;
  for (const json& s : spans) {
    EXPECT_EQ(s["traceId"], caller_trace_) << s.dump();
    if (absl::StartsWith(s["name"].get<std::string>(), "chat") && s["parentSpanId"] == second_attempt["spanId"]) {
      second_chat = true;
    }
  }
  EXPECT_TRUE(second_chat);

  // The orchestrator's line about the lost lease names the run and its trace.
  bool lease_line = false;
  for (const std::string& line : mcp::testing::ReadLines(cluster_->dir() + "/orchestrator.log")) {
    const json parsed = json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << line;
    if (!absl::StartsWith(parsed["message"].get<std::string>(), "lease on " + run.run_id())) continue;
    lease_line = true;
    EXPECT_EQ(parsed.value("run_id", ""), run.run_id()) << line;
    EXPECT_EQ(parsed.value("trace_id", ""), caller_trace_) << line;
    EXPECT_EQ(parsed.value("span_id", ""), caller_span_) << line;
  }
  EXPECT_TRUE(lease_line);
}

}  // namespace
}  // namespace baton::testing
