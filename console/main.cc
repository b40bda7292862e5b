// baton-console: the web console. An HTTP server (the page, and a JSON/SSE gateway to
// the orchestrator's API) that is a gRPC client of the orchestrator like the CLI.
//
//   baton-console [--orchestrator=127.0.0.1:7233] [--ca=F [--cert=F --key=F]]
//                 [--listen=127.0.0.1:8233] [--port-file=F] [--static-dir=DIR]
//                 [--secure-cookies] [--sse-ping-seconds=15] [--insecure] [--log-format=text|json]
// --orchestrator: the orchestrator's client address (env BATON_ADDR). --ca/--cert/--key:
// TLS to it (env BATON_CA, BATON_CERT, BATON_KEY). --static-dir: the front end's
// files; default <dir of this executable>/../share/baton/console. --secure-cookies: mark
// session cookies Secure (behind a TLS proxy). --insecure: allow a non-loopback
// --listen (plain HTTP). --sse-ping-seconds: how often an idle WatchRun stream gets a
// comment line (keeps proxies from closing it; shows when the browser has gone).
// docs/operations.md, "Web console".
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/grpc_channel.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/tls.h"
#include "console/civet_server.h"
#include "console/console_handler.h"

namespace {

constexpr char kUsage[] =
    "usage: baton-console [--orchestrator=127.0.0.1:7233] [--ca=F [--cert=F --key=F]]\n"
    "         [--listen=127.0.0.1:8233] [--port-file=F] [--static-dir=DIR] [--secure-cookies]\n"
    "         [--sse-ping-seconds=15] [--insecure] [--log-format=text|json]\n";

// <dir of this executable>/../share/baton/console: where the build (and an install)
// puts the front end.
std::string DefaultStaticDir() {
  std::error_code error;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "share/baton/console";
  return (exe.parent_path().parent_path() / "share" / "baton" / "console").string();
}

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("console");
  baton::BlockShutdownSignals();  // before any thread starts
  std::set<std::string> value_flags = {"orchestrator", "listen", "port-file", "static-dir", "log-format",
                                       "sse-ping-seconds"};
  value_flags.insert(baton::kClientTlsValueFlags.begin(), baton::kClientTlsValueFlags.end());
  baton::Flags flags(std::move(value_flags), {"help", "secure-cookies", baton::kInsecureFlag});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-console: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  if (absl::Status s = baton::SetLogFormat(flags.GetString("log-format", "text")); !s.ok()) {
    std::cerr << "baton-console: --log-format: " << s.message() << "\n";
    return 2;
  }
  const char* env_addr = std::getenv("BATON_ADDR");
  const std::string orchestrator =
      flags.GetString("orchestrator", env_addr != nullptr && *env_addr != '\0' ? env_addr : "127.0.0.1:7233");
  baton::ChannelOptions channel_options;
  channel_options.tls = baton::ClientTlsFromFlags(flags);
  if (absl::Status s = baton::ValidateClientTls(channel_options.tls); !s.ok()) {
    std::cerr << "baton-console: " << s.message() << "\n";
    return 2;
  }
  baton::console::CivetServerOptions server_options;
  server_options.listen = flags.GetString("listen", "127.0.0.1:8233");
  if (!flags.GetBool(baton::kInsecureFlag) && !baton::IsLoopbackAddress(server_options.listen)) {
    std::cerr << "baton-console: refusing to listen on " << server_options.listen
              << " over plain HTTP: API keys and session cookies would cross the network in the clear. Listen on "
                 "127.0.0.1 behind a TLS proxy (with --secure-cookies), or pass --insecure to accept the risk\n";
    return 2;
  }
  baton::console::ConsoleOptions options;
  options.static_dir = flags.GetString("static-dir", DefaultStaticDir());
  options.secure_cookies = flags.GetBool("secure-cookies");
  std::string error;
  const int64_t ping_seconds = flags.GetInt("sse-ping-seconds", 15, &error);
  if (error.empty() && (ping_seconds < 1 || ping_seconds > 3600)) error = "--sse-ping-seconds must be 1..3600";
  if (!error.empty()) {
    std::cerr << "baton-console: " << error << "\n" << kUsage;
    return 2;
  }
  options.watch.ping_interval = absl::Seconds(ping_seconds);

  // Calls carry each browser's own credential; the channel has none of its own.
  baton::console::ConsoleHandler handler(baton::NewChannel(orchestrator, channel_options),
                                         baton::SystemClock::Get(), options);
  absl::StatusOr<std::unique_ptr<baton::console::CivetServer>> server =
      baton::console::CivetServer::Start(server_options, handler);
  if (!server.ok()) {
    BATON_LOG(ERROR) << server.status();
    return 1;
  }
  if (flags.Has("port-file")) {
    if (absl::Status s = baton::WritePortFile(flags.GetString("port-file"), (*server)->port()); !s.ok()) {
      BATON_LOG(ERROR) << s;
      return 1;
    }
  }
  const bool built = std::filesystem::exists(std::filesystem::path(options.static_dir) / "index.html");
  BATON_LOG(INFO) << "serving http://" << server_options.listen.substr(0, server_options.listen.rfind(':')) << ":"
                  << (*server)->port() << "/ for the orchestrator at " << orchestrator
                  << (channel_options.tls.enabled() ? " (TLS)" : "") << "; front end "
                  << (built ? "from " + options.static_dir : "missing (" + options.static_dir + " has no index.html)");
  baton::WaitForShutdownSignal();
  BATON_LOG(INFO) << "shutting down";
  handler.Stop();  // watch streams end within a second; the server waits for them
  server->reset();
  return 0;
}
