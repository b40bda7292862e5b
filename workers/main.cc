// baton-worker: runs agent runs leased from the orchestrator.
//
//   baton-worker --orchestrator=127.0.0.1:7233 [--concurrency=4] [--worker-id=ID]
//                [--tool-audit-log=FILE] [--heartbeat-ms=N] [--drain-timeout-ms=20000] [--namespaces=a,b]
//                [--model-retries=4] [--tool-bridge=HOST:PORT] [--ca=F [--cert=F --key=F]]
//                [--log-format=text|json] [--trace-message-content]
// --tool-bridge adds the MCP bridge's tools (baton-mcp-bridge) to the built-in ones.
// --prices=FILE replaces the built-in price table (docs/design.md, the agent loop).
// --max-tool-result-bytes=1048576: a larger tool result reaches the model as an error
// naming the limit (docs/operations.md, "Limits").
// --ca/--cert/--key (or BATON_CA, BATON_CERT, BATON_KEY): TLS to the orchestrator and
// the bridge; the certificate is this worker's identity (mTLS), and the default
// --worker-id is then IDENTITY/HOST-PID.
// --metrics-listen=HOST:PORT [--metrics-port-file=F]: Prometheus metrics at /metrics
// (docs/operations.md, "Metrics"); off without it.
// The Messages API is reached as Anthropic's SDKs do: ANTHROPIC_API_KEY (or
// ANTHROPIC_AUTH_TOKEN) and ANTHROPIC_BASE_URL.
// Traces go over OTLP/HTTP when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set; message
// content is in them only with --trace-message-content or
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true (docs/operations.md, "Tracing").
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/runtime.h"
#include "common/signals.h"
#include "common/tls.h"
#include "common/tracing/exporter_metrics.h"
#include "common/tracing/process_tracing.h"
#include "workers/agent_loop.h"
#include "workers/bridge_tool_executor.h"
#include "workers/builtin_tools.h"
#include "workers/grpc_rate_gate.h"
#include "workers/model/messages_api_client.h"
#include "workers/run_spans.h"
#include "workers/worker.h"
#include "workers/worker_metrics.h"

namespace {


constexpr char kUsage[] =
    "usage: baton-worker --orchestrator=HOST:PORT [--concurrency=4] [--worker-id=ID]\n"
    "         [--tool-audit-log=FILE] [--heartbeat-ms=N] [--drain-timeout-ms=20000] [--namespaces=a,b]\n"
    "         [--model-retries=4] [--tool-bridge=HOST:PORT] [--prices=FILE]\n"
    "         [--max-tool-result-bytes=1048576]\n"
    "         [--ca=F [--cert=F --key=F]] [--metrics-listen=HOST:PORT [--metrics-port-file=F]]\n"
    "         [--log-format=text|json] [--trace-message-content]\n"
    "environment: ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN, ANTHROPIC_BASE_URL,\n"
    "             BATON_CA, BATON_CERT, BATON_KEY, OTEL_* (tracing)\n";

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("worker");
  baton::DisableMutexDeadlockDetection();
  baton::BlockShutdownSignals();  // before any thread starts
  baton::Flags flags({"orchestrator", "concurrency", "worker-id", "tool-audit-log", "heartbeat-ms",
                      "drain-timeout-ms", "model-retries", "tool-bridge", "prices",
                      "max-tool-result-bytes", "ca", "cert", "key", "namespaces",
                      baton::metrics::kMetricsListenFlag, baton::metrics::kMetricsPortFileFlag,
                      baton::tracing::kLogFormatFlag},
                     {"help", "trace-message-content"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-worker: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  // Destroyed last: the slots' spans are flushed after the drain.
  absl::StatusOr<std::unique_ptr<baton::tracing::ProcessTracing>> tracing =
      baton::tracing::InitLogsAndTraces(flags, "baton-worker");
  if (!tracing.ok()) {
    std::cerr << "baton-worker: " << tracing.status().message() << "\n";
    return 2;
  }
  if (flags.GetBool("trace-message-content")) baton::tracing::SetCaptureMessageContent(true);
  std::string error;
  baton::worker::WorkerOptions options;
  options.orchestrator_address = flags.GetString("orchestrator", "127.0.0.1:7233");
  options.concurrency = static_cast<int>(flags.GetInt("concurrency", 4, &error));
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  options.tls = baton::ClientTlsFromFlags(flags);
  if (absl::Status s = baton::ValidateClientTls(options.tls); !s.ok()) {
    std::cerr << "baton-worker: " << s.message() << "\n";
    return 2;
  }
  std::string default_id = absl::StrCat(host, "-", getpid());
  if (!options.tls.cert_file.empty()) {
    // The orchestrator accepts only ids that belong to the certificate.
    absl::StatusOr<std::string> identity = baton::CertificateFileIdentity(options.tls.cert_file);
    if (!identity.ok()) {
      std::cerr << "baton-worker: --cert: " << identity.status().message() << "\n";
      return 2;
    }
    default_id = absl::StrCat(*identity, "/", default_id);
  }
  options.worker_id = flags.GetString("worker-id", default_id);
  options.namespaces = absl::StrSplit(flags.GetString("namespaces"), ',', absl::SkipEmpty());
  options.heartbeat_interval = absl::Milliseconds(flags.GetInt("heartbeat-ms", 0, &error));
  options.drain_timeout = absl::Milliseconds(flags.GetInt("drain-timeout-ms", 20'000, &error));
  const int model_retries = static_cast<int>(flags.GetInt("model-retries", 4, &error));
  baton::worker::AgentLoopOptions loop_options;
  loop_options.max_tool_result_bytes =
      flags.GetInt("max-tool-result-bytes", loop_options.max_tool_result_bytes, &error);
  if (error.empty() && (loop_options.max_tool_result_bytes < 1 || loop_options.max_tool_result_bytes > (1 << 30))) {
    error = "--max-tool-result-bytes must be between 1 and 1073741824";
  }
  if (error.empty() && (options.concurrency < 1 || options.concurrency > 1024)) {
    error = "--concurrency must be between 1 and 1024";
  }
  if (absl::Status s = baton::metrics::CheckMetricsFlags(flags); error.empty() && !s.ok()) {
    error = std::string(s.message());
  }
  if (!error.empty()) {
    std::cerr << "baton-worker: " << error << "\n" << kUsage;
    return 2;
  }
  // Prometheus metrics: the model client, the agent loop, the tools and the slots
  // register theirs; served once all are up.
  baton::metrics::Registry metrics(baton::metrics::MetricsEnabled(flags));
  baton::tracing::RegisterExporterMetrics(**tracing, metrics);

  baton::worker::MessagesApiClientOptions model_options = baton::worker::MessagesApiClientOptions::FromEnvironment();
  model_options.max_retries = model_retries;
  if (model_options.api_key.empty() && model_options.auth_token.empty()) {
    BATON_LOG(WARNING) << "neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN is set; calls to "
                       << model_options.base_url << " carry no credentials";
  }
  BATON_LOG(INFO) << "Messages API at " << model_options.base_url;
  // Every call first reserves capacity in the orchestrator's fleet-wide rate limits.
  baton::worker::GrpcRateGate rate_gate(options.orchestrator_address, options.worker_id, options.tls);
  model_options.rate_gate = &rate_gate;
  model_options.metrics = &metrics;
  baton::worker::MessagesApiClient model(model_options);
  baton::worker::BuiltinToolExecutor builtin(baton::SystemClock::Get(), flags.GetString("tool-audit-log"));
  std::unique_ptr<baton::worker::BridgeToolExecutor> bridge;
  std::vector<baton::worker::ToolExecutor*> parts = {&builtin};
  if (flags.Has("tool-bridge")) {
    baton::worker::BridgeToolExecutorOptions bridge_options;
    bridge_options.address = flags.GetString("tool-bridge");
    bridge_options.tls = options.tls;
    bridge = std::make_unique<baton::worker::BridgeToolExecutor>(bridge_options);
    parts.push_back(bridge.get());
    BATON_LOG(INFO) << "MCP tools from the bridge at " << bridge_options.address;
  }
  baton::worker::CompositeToolExecutor composite(parts);
  baton::worker::MeteredToolExecutor tools(composite, metrics);
  if (flags.Has("prices")) {
    absl::StatusOr<baton::worker::PriceTable> prices = baton::worker::PriceTable::Load(flags.GetString("prices"));
    if (!prices.ok()) {
      std::cerr << "baton-worker: --prices: " << prices.status().message() << "\n";
      return 2;
    }
    loop_options.prices = *std::move(prices);
  }
  loop_options.metrics = baton::worker::UsageMetrics::Register(metrics);
  // Spans around every model and tool call (chat, execute_tool), under the run's.
  baton::worker::TracingModelClient traced_model(model);
  baton::worker::TracingToolExecutor traced_tools(tools);
  baton::worker::AgentLoop loop(traced_model, traced_tools, baton::SystemClock::Get(), loop_options);
  baton::worker::Worker worker(options, loop);
  worker.RegisterMetrics(metrics);
  // Declared after everything its scrapes read, so it stops first.
  absl::StatusOr<std::unique_ptr<baton::metrics::MetricsServer>> metrics_server =
      baton::metrics::ServeMetricsFromFlags(flags, metrics);
  if (!metrics_server.ok()) {
    BATON_LOG(ERROR) << "--metrics-listen: " << metrics_server.status();
    return 1;
  }

  worker.Start();
  baton::WaitForShutdownSignal();
  worker.Drain();
  BATON_LOG(INFO) << "stopped";
  return 0;
}
