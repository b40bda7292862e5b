// baton-mcp-bridge: every configured MCP server's tools as baton.v1.ToolService.
//
//   baton-mcp-bridge --config=FILE [--listen=127.0.0.1:7234] [--port-file=F]
//                    [--audit-log=FILE] [--startup-wait-ms=20000]
//                    [--orchestrator=HOST:PORT] [--tls-cert=F --tls-key=F [--tls-client-ca=F]]
//                    [--insecure] [--ca=F [--cert=F --key=F]] [--log-format=text|json]
// Traces go over OTLP/HTTP when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set
// (docs/operations.md, "Tracing").
// The config format is in docs/mcp-bridge.md. ${VAR} in it expands from this
// process's environment: that is how credentials reach the servers.
// --orchestrator is where a person is asked when an MCP server asks for input
// (elicitation) during a call whose policy is ELICITATION_ASK; without it those
// requests are declined.
// --tls-*: the server's TLS (common/tls.h); with --tls-client-ca every ToolService call
// needs a client certificate from that CA. --ca/--cert/--key (or BATON_CA, BATON_CERT,
// BATON_KEY): TLS of the connection to the orchestrator.
// --metrics-listen=HOST:PORT [--metrics-port-file=F]: Prometheus metrics at /metrics
// (docs/operations.md, "Metrics"); off without it.
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/runtime.h"
#include "common/signals.h"
#include "common/tls.h"
#include "common/tracing/exporter_metrics.h"
#include "common/tracing/process_tracing.h"
#include "mcp-bridge/audit_log.h"
#include "mcp-bridge/bridge.h"
#include "mcp-bridge/config.h"
#include "mcp-bridge/grpc_input_requester.h"
#include "mcp-bridge/server_connection.h"
#include "mcp-bridge/timer_queue.h"
#include "mcp-bridge/tool_service.h"

namespace {

constexpr char kUsage[] =
    "usage: baton-mcp-bridge --config=FILE [--listen=127.0.0.1:7234] [--port-file=F]\n"
    "         [--audit-log=FILE] [--startup-wait-ms=20000] [--orchestrator=HOST:PORT]\n"
    "         [--tls-cert=F --tls-key=F [--tls-client-ca=F]] [--insecure] [--ca=F [--cert=F --key=F]]\n"
    "         [--metrics-listen=HOST:PORT [--metrics-port-file=F]]\n"
    "         [--log-format=text|json]\n"
    "environment: BATON_CA, BATON_CERT, BATON_KEY (for --orchestrator)\n";

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("mcp-bridge");
  baton::DisableMutexDeadlockDetection();
  baton::BlockShutdownSignals();  // before any thread starts
  baton::Flags flags({"config", "listen", "port-file", "audit-log", "startup-wait-ms", "orchestrator", "tls-cert",
                      "tls-key", "tls-client-ca", "ca", "cert", "key", baton::metrics::kMetricsListenFlag,
                      baton::metrics::kMetricsPortFileFlag, baton::tracing::kLogFormatFlag},
                     {"help", baton::kInsecureFlag});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-mcp-bridge: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  // Destroyed last: the calls' spans are flushed after the bridge stopped.
  absl::StatusOr<std::unique_ptr<baton::tracing::ProcessTracing>> tracing =
      baton::tracing::InitLogsAndTraces(flags, "baton-mcp-bridge");
  if (!tracing.ok()) {
    std::cerr << "baton-mcp-bridge: " << tracing.status().message() << "\n";
    return 2;
  }
  std::string error;
  const absl::Duration startup_wait = absl::Milliseconds(flags.GetInt("startup-wait-ms", 20'000, &error));
  if (error.empty() && !flags.Has("config")) error = "--config is required";
  if (absl::Status s = baton::metrics::CheckMetricsFlags(flags); error.empty() && !s.ok()) {
    error = std::string(s.message());
  }
  if (error.empty() && flags.Has("orchestrator") && flags.GetString("orchestrator").empty()) {
    error = "--orchestrator needs an address (HOST:PORT)";
  }
  if (!error.empty()) {
    std::cerr << "baton-mcp-bridge: " << error << "\n" << kUsage;
    return 2;
  }
  const std::string listen = flags.GetString("listen", "127.0.0.1:7234");
  const baton::ServerTlsOptions server_tls = baton::ServerTlsFromFlags(flags);
  const baton::ClientTlsOptions client_tls = baton::ClientTlsFromFlags(flags);
  // Authentication (issue 10) will pass whether it is configured; until it exists, TLS
  // alone makes a non-loopback address acceptable.
  constexpr bool kAuthConfigured = true;
  for (absl::Status s : {baton::ValidateServerTls(server_tls), baton::ValidateClientTls(client_tls),
                         baton::CheckListenSecurity(listen, server_tls.enabled(), kAuthConfigured,
                                                    flags.GetBool(baton::kInsecureFlag))}) {
    if (!s.ok()) {
      std::cerr << "baton-mcp-bridge: " << s.message() << "\n";
      return 2;
    }
  }
  absl::StatusOr<baton::mcp::BridgeConfig> config =
      baton::mcp::LoadBridgeConfig(flags.GetString("config"), baton::mcp::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "baton-mcp-bridge: " << config.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<baton::mcp::AuditLog>> audit =
      baton::mcp::AuditLog::Open(flags.GetString("audit-log"));
  if (!audit.ok()) {
    std::cerr << "baton-mcp-bridge: " << audit.status().message() << "\n";
    return 2;
  }

  // Destruction runs bottom-up: the metrics server and the gRPC server stop first,
  // then the bridge (and with it every server connection), then the input requester
  // (its asks are cancelled), then the timers they used, then the metrics the bridge's
  // calls counted in to their end.
  baton::metrics::Registry metrics(baton::metrics::MetricsEnabled(flags));
  baton::tracing::RegisterExporterMetrics(**tracing, metrics);
  baton::mcp::TimerQueue timers;
  std::unique_ptr<baton::mcp::GrpcInputRequester> input_requester;
  if (flags.Has("orchestrator")) {
    baton::mcp::GrpcInputRequesterOptions options;
    options.address = flags.GetString("orchestrator");
    options.tls = client_tls;
    input_requester = std::make_unique<baton::mcp::GrpcInputRequester>(options, timers);
    BATON_LOG(INFO) << "elicitation with policy ask goes to the orchestrator at " << options.address;
  } else {
    BATON_LOG(INFO) << "no --orchestrator: elicitation with policy ask is declined";
  }
  std::vector<std::unique_ptr<baton::mcp::ToolServer>> servers;
  for (const baton::mcp::ServerConfig& server : config->servers) {
    servers.push_back(std::make_unique<baton::mcp::ServerConnection>(server, baton::mcp::DefaultTransportFactory(),
                                                                     timers));
  }
  baton::mcp::Bridge bridge(std::move(servers), **audit, baton::SystemClock::Get(), input_requester.get());
  bridge.RegisterMetrics(metrics);
  bridge.Start();
  if (!bridge.WaitUntilStarted(startup_wait)) {
    BATON_LOG(WARNING) << "some MCP servers are still connecting after " << absl::FormatDuration(startup_wait)
                       << "; serving without their tools for now";
  }
  const baton::v1::ListToolsResponse listed = bridge.ListTools({});
  for (const baton::v1::ServerStatus& s : listed.servers()) {
    if (s.connected()) {
      BATON_LOG(INFO) << "server " << s.name() << ": " << s.tool_count() << " tools (" << s.server_name() << " "
                      << s.server_version() << ", protocol " << s.protocol_version() << ")";
    } else {
      BATON_LOG(WARNING) << "server " << s.name() << " is not connected: " << s.last_error();
    }
  }

  baton::mcp::ToolServiceImpl service(bridge);
  service.RequireClientCertificates(!server_tls.client_ca_file.empty());
  auto server = baton::StartGrpcServer(listen, {&service}, {baton::v1::ToolService::service_full_name()},
                                       server_tls);
  if (!server.ok()) {
    BATON_LOG(ERROR) << server.status();
    return 1;
  }
  if (flags.Has("port-file")) {
    if (absl::Status s = baton::WritePortFile(flags.GetString("port-file"), server->port); !s.ok()) {
      BATON_LOG(ERROR) << s;
      return 1;
    }
  }
  // Declared after the bridge its scrapes read, so it stops first.
  absl::StatusOr<std::unique_ptr<baton::metrics::MetricsServer>> metrics_server =
      baton::metrics::ServeMetricsFromFlags(flags, metrics);
  if (!metrics_server.ok()) {
    BATON_LOG(ERROR) << "--metrics-listen: " << metrics_server.status();
    return 1;
  }
  BATON_LOG(INFO) << "serving on port " << server->port << " with " << config->servers.size() << " MCP servers";

  baton::WaitForShutdownSignal();
  BATON_LOG(INFO) << "shutting down";
  // Calls in flight get a moment to finish; then the servers are stopped in their
  // orderly way (stdin closed, SIGTERM, SIGKILL).
  server->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  bridge.Stop();
  return 0;
}
