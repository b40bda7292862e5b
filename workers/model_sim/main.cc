// baton-model-sim: an HTTP server speaking the Claude Messages API wire format,
// scripted by tests and a small deterministic agent otherwise. See docs/model-sim.md.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "workers/model_sim/http_server.h"
#include "workers/model_sim/simulator.h"

namespace {

constexpr char kUsage[] =
    "usage: baton-model-sim [--listen=127.0.0.1:0] [--port-file=F] [--script=FILE] "
    "[--latency-ms=N] [--rate-limit-rps=N] [--log-format=text|json]\n"
    "env BATON_SIM_API_KEY: when set, requests must send it as x-api-key\n";

struct Options {
  std::string listen = "127.0.0.1:0";  // Default: loopback, any free port
  std::string port_file;               // Default: none
  std::string script_file;             // Default: none
  int latency_ms = 0;                  // Default: 0
  int rate_limit_rps = 0;              // Default: 0 (no limit)
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "baton-model-sim: %s\n", message.c_str());
  return 2;
}

// Writes `port` to `path` through a temporary file and rename(), so a reader
// never sees a partial number.
bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  baton::InitLogging("model-sim");
  baton::DisableMutexDeadlockDetection();
  baton::Flags flags({"listen", "port-file", "script", "latency-ms", "rate-limit-rps", "log-format"}, {"help"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    return Fail(absl::StrCat(s.message(), "\n", kUsage));
  }
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (absl::Status s = baton::SetLogFormat(flags.GetString("log-format", "text")); !s.ok()) {
    return Fail(absl::StrCat("--log-format: ", s.message()));
  }
  Options options;
  options.listen = flags.GetString("listen", options.listen);
  options.port_file = flags.GetString("port-file");
  options.script_file = flags.GetString("script");
  std::string error;
  options.latency_ms = static_cast<int>(flags.GetInt("latency-ms", 0, &error));
  if (!error.empty()) return Fail(error);
  if (options.latency_ms < 0) return Fail("flag --latency-ms must be >= 0");
  options.rate_limit_rps = static_cast<int>(flags.GetInt("rate-limit-rps", 0, &error));
  if (!error.empty()) return Fail(error);
  if (options.rate_limit_rps < 0) return Fail("flag --rate-limit-rps must be >= 0");

  baton::model_sim::SimulatorOptions sim_options;
  if (const char* key = std::getenv("BATON_SIM_API_KEY")) sim_options.api_key = key;
  sim_options.latency_ms = options.latency_ms;
  sim_options.rate_limit_rps = options.rate_limit_rps;
  baton::model_sim::ModelSimulator simulator(sim_options);

  if (!options.script_file.empty()) {
    std::ifstream in(options.script_file);
    if (!in) return Fail(absl::StrCat("cannot read --script file ", options.script_file));
    std::stringstream text;
    text << in.rdbuf();
    auto script = baton::model_sim::Json::parse(text.str(), nullptr, false);
    if (script.is_discarded()) return Fail(absl::StrCat(options.script_file, " is not valid JSON"));
    if (absl::Status s = simulator.AddScript(script); !s.ok()) {
      return Fail(absl::StrCat(options.script_file, ": ", s.message()));
    }
  }

  // Block the stop signals in every thread; main waits for them with sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  baton::model_sim::HttpServerOptions server_options;
  server_options.listen = options.listen;
  baton::model_sim::HttpServer server(
      server_options, [&simulator](baton::model_sim::HttpRequest request) {
        return simulator.Handle(std::move(request));
      });
  if (absl::Status s = server.Start(); !s.ok()) return Fail(std::string(s.message()));

  if (!options.port_file.empty() && !WritePortFile(options.port_file, server.port())) {
    server.Stop();
    return Fail(absl::StrCat("cannot write --port-file ", options.port_file));
  }
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::fprintf(stderr, "baton-model-sim listening on %s:%d\n", host.c_str(), server.port());
  std::fflush(stderr);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  BATON_LOG(INFO) << "signal " << sig << ", stopping";
  server.Stop();
  return 0;
}
