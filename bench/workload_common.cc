#include "bench/workload_common.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/stats.h"

namespace baton::bench {

namespace fs = std::filesystem;
using json = nlohmann::json;

void Log(const std::string& line) { std::cerr << "[bench] " << line << std::endl; }

void OrDie(const absl::Status& s, const std::string& what) {
  if (!s.ok()) {
    std::cerr << "[bench] " << what << ": " << s << std::endl;
    KillAllChildren();
    std::exit(1);
  }
}

int64_t Scaled(const BenchOptions& o, int64_t n) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(n) * o.scale)));
}

double UnixMs(absl::Time t) { return static_cast<double>(absl::ToUnixMicros(t)) / 1000.0; }

StackOptions BaseStack(const BenchOptions& o, const std::string& name) {
  StackOptions s;
  s.bin_dir = o.bin_dir;
  s.dir = o.work_dir + "/" + name;
  fs::remove_all(s.dir);
  s.orchestrator_wrapper = o.orchestrator_wrapper;
  s.worker_wrapper = o.worker_wrapper;
  return s;
}

v1::AgentSpec Agent(const BenchOptions& o, bool echo_tool, int max_steps) {
  v1::AgentSpec agent;
  agent.set_name("bench");
  agent.set_model("claude-sonnet-4-5");
  std::string system = "You are a benchmark agent.";
  if (o.system_bytes > static_cast<int>(system.size())) {
    system.reserve(o.system_bytes);
    while (static_cast<int>(system.size()) < o.system_bytes) system += " Answer briefly; use the tools given.";
    system.resize(o.system_bytes);
  }
  agent.set_system(system);
  if (echo_tool) agent.add_allowed_tools("echo");
  agent.set_max_steps(max_steps);
  agent.set_max_tokens(256);
  agent.set_disable_streaming(!o.streaming);
  return agent;
}

v1::CreateRunRequest Request(const v1::AgentSpec& agent, const std::string& input) {
  v1::CreateRunRequest r;
  *r.mutable_agent() = agent;
  r.set_input(input);
  return r;
}

json Repeat(int n, const std::function<json(int)>& once) {
  std::vector<json> repeats;
  for (int i = 0; i < std::max(n, 1); ++i) repeats.push_back(once(i));
  return json{{"repeats", repeats}, {"median", MedianOfRepeats(repeats)}, {"range", RangeOfRepeats(repeats)}};
}

absl::StatusOr<v1::Run> GetRun(v1::RunService::Stub& stub, const std::string& run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetRunRequest request;
  request.set_run_id(run_id);
  v1::Run run;
  grpc::Status s = stub.GetRun(&ctx, request, &run);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return run;
}

absl::StatusOr<v1::Transcript> GetTranscript(v1::RunService::Stub& stub, const std::string& run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::GetTranscriptRequest request;
  request.set_run_id(run_id);
  v1::Transcript t;
  grpc::Status s = stub.GetTranscript(&ctx, request, &t);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return t;
}

double DriverCpuSeconds() { return CpuSeconds(getpid()).value_or(0); }

void CpuTally::Add(const json& before, const json& after, int64_t units) {
  for (const char* k : {"orchestrator", "workers", "sim"}) {
    seconds_[k] += after[k].get<double>() - before[k].get<double>();
  }
  units_ += units;
}

json CpuTally::PerUnitMs() const {
  auto per = [&](const std::string& k) {
    auto it = seconds_.find(k);
    return units_ > 0 && it != seconds_.end() ? it->second * 1000.0 / static_cast<double>(units_) : 0.0;
  };
  return json{{"orchestrator", per("orchestrator")},
              {"workers", per("workers")},
              {"baton", per("orchestrator") + per("workers")},
              {"sim", per("sim")},
              {"units", units_}};
}

void Settle() { absl::SleepFor(absl::Milliseconds(20)); }

void KeepLogs(const BenchOptions& o, const std::string& dir, const std::string& name) {
  if (o.failure_dir.empty()) return;
  const std::string to = absl::StrCat(o.failure_dir, "/", name, "-",
                                      absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()));
  std::error_code ec;
  fs::create_directories(to, ec);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log") fs::copy(entry.path(), to / entry.path().filename(), ec);
  }
  Log(absl::StrCat("logs kept in ", to));
}

}  // namespace baton::bench
