// baton-mcp-bench: what the MCP bridge adds to a tool call.
//
//   baton-mcp-bench [--calls=2000] [--concurrency=1,16] [--warmup=200] [--out=FILE.json]
//
// Calls server-everything's `echo` over stdio three ways, each against its own fresh
// server process, and reports calls/s and latency percentiles:
//   sdk-direct  the official TypeScript SDK client, in Node (bench/mcp_sdk_direct.mjs):
//               the baseline, an agent framework talking to the server itself;
//   mcp-client  Baton's C++ McpClient in this process (no gRPC): the bridge's core;
//   bridge      CallTool on baton-mcp-bridge over gRPC, as a worker makes it
//               (policy, schema validation, content mapping, audit log included).
// "Added" is bridge minus sdk-direct. docs/PERFORMANCE.md has the numbers.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "baton/v1/tool_service.grpc.pb.h"
#include "bench/process.h"
#include "bench/stats.h"
#include "common/flags.h"
#include "common/grpc_channel.h"
#include "common/logging.h"
#include "mcp-bridge/mcp_client.h"
#include "mcp-bridge/stdio_transport.h"
#include "mcp-bridge/timer_queue.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Result {
  std::string client;
  int concurrency = 0;
  int calls = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  json ToJson() const {
    json s = baton::bench::Summary(latencies_ms);
    return {{"client", client},          {"concurrency", concurrency}, {"calls", calls},
            {"calls_per_s", calls / seconds}, {"p50_ms", s["p50"]},     {"p90_ms", s["p90"]},
            {"p99_ms", s["p99"]}};
  }
};

std::string SourceDir() {
  // The binary lives in BUILD/bin; the sources are where CMake configured from.
  const char* env = std::getenv("BATON_SOURCE_DIR");
  return env != nullptr ? env : BATON_SOURCE_DIR_DEFAULT;
}

std::string EverythingServer() {
  return SourceDir() + "/tests/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}

std::string SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

// Runs `fn(i)` for i in [0, calls) on `concurrency` threads; times each call.
template <typename F>
Result Drive(const std::string& name, int calls, int concurrency, F fn) {
  Result r;
  r.client = name;
  r.calls = calls;
  r.concurrency = concurrency;
  std::atomic<int> next{0};
  std::vector<std::vector<double>> per_thread(concurrency);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (int i; (i = next++) < calls;) {
        const absl::Time t0 = absl::Now();
        fn(i);
        per_thread[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      }
    });
  }
  for (auto& th : threads) th.join();
  r.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& v : per_thread) r.latencies_ms.insert(r.latencies_ms.end(), v.begin(), v.end());
  return r;
}

Result RunMcpClient(int calls, int concurrency, int warmup) {
  baton::mcp::TimerQueue timers;
  baton::mcp::StdioTransportOptions options;
  options.command = "node";
  options.args = {EverythingServer(), "stdio"};
  options.log_name = "everything";
  baton::mcp::McpClient client(std::make_unique<baton::mcp::StdioTransport>(options), timers,
                               baton::mcp::McpClientOptions{});
  BATON_CHECK(client.Connect().ok()) << "cannot start server-everything";
  auto call = [&](int i) {
    baton::mcp::CallResult r =
        client.CallToolAndWait("echo", {{"message", absl::StrCat("bench ", i)}}, baton::mcp::CallOptions{});
    BATON_CHECK(r.kind == baton::mcp::CallResult::Kind::kResult) << r.message;
  };
  for (int i = 0; i < warmup; ++i) call(i);
  return Drive("mcp-client", calls, concurrency, call);
}

Result RunBridge(int calls, int concurrency, int warmup, const std::string& dir) {
  const std::string config = dir + "/bridge.json";
  fs::remove(dir + "/bridge.port");  // a stale one would be read as ready
  std::ofstream(config) << json{{"servers", {{"everything", {{"command", "node"}, {"args", {EverythingServer(), "stdio"}}}}}}}
                               .dump();
  baton::bench::Process bridge(SelfDir() + "/baton-mcp-bridge",
                               {"--config=" + config, "--listen=127.0.0.1:0", "--port-file=" + dir + "/bridge.port",
                                "--audit-log=" + dir + "/audit.jsonl"},
                               {}, dir + "/bridge.log");
  absl::StatusOr<int> port = baton::bench::WaitForPortFile(dir + "/bridge.port", absl::Seconds(30));
  BATON_CHECK(port.ok()) << port.status();
  auto channel = baton::NewChannel(absl::StrCat("127.0.0.1:", *port));
  auto stub = baton::v1::ToolService::NewStub(channel);
  auto call = [&](int i) {
    baton::v1::CallToolRequest request;
    request.set_name("mcp__everything__echo");
    request.set_arguments_json(json{{"message", absl::StrCat("bench ", i)}}.dump());
    request.set_run_id("run_bench");
    request.set_step(i);
    request.set_tool_use_id(absl::StrCat("toolu_", i));
    request.set_idempotency_key(absl::StrCat("run_bench:", i, ":toolu_", i));
    request.add_allowed_tools("mcp__everything__*");
    request.set_timeout_ms(60'000);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(70)));
    baton::v1::CallToolResponse response;
    grpc::Status s = stub->CallTool(&ctx, request, &response);
    BATON_CHECK(s.ok() && response.outcome() == baton::v1::TOOL_OUTCOME_OK)
        << s.error_message() << " " << response.content_json();
  };
  for (int i = 0; i < warmup; ++i) call(i);
  Result r = Drive("bridge", calls, concurrency, call);
  bridge.Signal(SIGTERM);
  bridge.Wait(absl::Seconds(10));
  return r;
}

Result RunSdkDirect(int calls, int concurrency, int warmup, const std::string& dir) {
  const std::string log = dir + absl::StrCat("/sdk-", concurrency, ".log");
  baton::bench::Process node("/usr/bin/env",
                             {"node", SourceDir() + "/bench/mcp_sdk_direct.mjs", absl::StrCat("--calls=", calls),
                              absl::StrCat("--concurrency=", concurrency), absl::StrCat("--warmup=", warmup), "--",
                              "node", EverythingServer(), "stdio"},
                             {}, log);
  BATON_CHECK(node.Wait(absl::Minutes(5)) == 0) << baton::bench::ReadFileOrEmpty(log);
  json line;
  for (absl::string_view l : absl::StrSplit(baton::bench::ReadFileOrEmpty(log), '\n', absl::SkipEmpty())) {
    json j = json::parse(l, nullptr, false);
    if (j.is_object() && j.value("client", "") == "sdk-direct") line = j;
  }
  BATON_CHECK(line.is_object()) << "no result from the SDK client: " << baton::bench::ReadFileOrEmpty(log);
  // The script reports percentiles, not samples: carry them as they are.
  Result r;
  r.client = "sdk-direct";
  r.calls = calls;
  r.concurrency = concurrency;
  r.seconds = line["seconds"].get<double>();
  r.latencies_ms = {line["p50_ms"].get<double>(), line["p90_ms"].get<double>(), line["p99_ms"].get<double>()};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("mcp-bench", baton::LogSeverity::kWarning);
  baton::Flags flags({"calls", "concurrency", "warmup", "out"}, {"help"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    std::cerr << "usage: baton-mcp-bench [--calls=2000] [--concurrency=1,16] [--warmup=200] [--out=FILE.json]\n";
    return s.ok() ? 0 : 2;
  }
  std::string error;
  const int calls = static_cast<int>(flags.GetInt("calls", 2000, &error));
  const int warmup = static_cast<int>(flags.GetInt("warmup", 200, &error));
  std::vector<int> levels;
  for (absl::string_view c : absl::StrSplit(flags.GetString("concurrency", "1,16"), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n < 1) error = "--concurrency: a comma-separated list of positive integers";
    levels.push_back(n);
  }
  if (!error.empty()) {
    std::cerr << "baton-mcp-bench: " << error << "\n";
    return 2;
  }
  char tmpl[] = "/tmp/baton-mcp-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);

  json all = json::array();
  std::cout << absl::StrFormat("%-11s %5s %7s %10s %9s %9s %9s\n", "client", "conc", "calls", "calls/s", "p50 ms",
                               "p90 ms", "p99 ms");
  for (int c : levels) {
    std::vector<json> rows;
    for (Result r : {RunSdkDirect(calls, c, warmup, dir), RunMcpClient(calls, c, warmup), RunBridge(calls, c, warmup, dir)}) {
      json row = r.client == "sdk-direct"
                     ? json{{"client", r.client}, {"concurrency", c}, {"calls", calls},
                            {"calls_per_s", calls / r.seconds}, {"p50_ms", r.latencies_ms[0]},
                            {"p90_ms", r.latencies_ms[1]}, {"p99_ms", r.latencies_ms[2]}}
                     : r.ToJson();
      std::cout << absl::StrFormat("%-11s %5d %7d %10.0f %9.3f %9.3f %9.3f\n", r.client, c, calls,
                                   row["calls_per_s"].get<double>(), row["p50_ms"].get<double>(),
                                   row["p90_ms"].get<double>(), row["p99_ms"].get<double>());
      rows.push_back(row);
      all.push_back(row);
    }
    std::cout << absl::StrFormat("added by the bridge at concurrency %d: p50 %+.3f ms, p99 %+.3f ms\n", c,
                                 rows[2]["p50_ms"].get<double>() - rows[0]["p50_ms"].get<double>(),
                                 rows[2]["p99_ms"].get<double>() - rows[0]["p99_ms"].get<double>());
  }
  if (flags.Has("out")) std::ofstream(flags.GetString("out")) << all.dump(2) << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
