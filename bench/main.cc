// baton-bench: runs the workloads of docs/PERFORMANCE.md against a real stack on
// loopback and writes the results as JSON and as the table in docs/PERFORMANCE.md.
//
//   baton-bench [--bin-dir=DIR] [--out-dir=bench/results] [--doc=docs/PERFORMANCE.md]
//               [--only=W1,W2,W1-secure,W2-secure,...,W9,W10,W5-graph]
//               [--scale=1] [--repeats=3] [--slow-repeats=1]
//               [--w3-lease-ttl-ms=10000] [--channels=8] [--streaming]
//               [--w7-children=100]
//               [--orchestrator-wrapper="/usr/bin/valgrind --tool=callgrind ..."]
//               [--worker-wrapper="..."] [--no-doc] [--keep] [--label=TEXT]
//               [--secure-parts=tls,auth,encryption]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/process.h"
#include "bench/report.h"
#include "bench/workloads.h"
#include "common/flags.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kUsage[] =
    "usage: baton-bench [--bin-dir=DIR] [--out-dir=bench/results] [--doc=docs/PERFORMANCE.md]\n"
    "         [--only=W1,W2,W2-deferred,W2-long,W1-secure,W2-secure,W2-obs,W3,W4,W5,W6,W7,W8,W9,W10,W5-graph]\n"
    "         [--scale=1] [--repeats=3] [--slow-repeats=1]\n"
    "         [--w3-lease-ttl-ms=10000] [--channels=8] [--streaming] [--no-doc] [--keep]\n"
    "         [--orchestrator-wrapper=\"/usr/bin/valgrind --tool=callgrind ...\"] [--label=TEXT]\n"
    "         [--worker-wrapper=\"...\"] (worker 0 only) [--workers=4] (W1 and the -secure, -obs pairs)\n"
    "         [--w2-workers=1] [--w2-slots=64] (W2) [--w7-children=100] [--system-bytes=0]\n"
    "         [--watch=batched|each] (W1, W2: WatchRunBatched or WatchRun)\n"
    "         [--secure-parts=tls,auth,encryption] (what W1-secure and W2-secure turn on; default all)\n"
    "         [--report-only=RESULTS.json] (rewrite the table from a results file)\n";

std::string CommandOutput(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  baton::Flags flags({"bin-dir", "out-dir", "doc", "only", "scale", "repeats", "slow-repeats", "w3-lease-ttl-ms",
                      "channels", "orchestrator-wrapper", "worker-wrapper", "label", "work-dir", "workers",
                      "w2-workers", "w2-slots", "watch",
                      "report-only", "w7-children", "secure-parts", "system-bytes"},
                     {"streaming", "no-doc", "keep", "help"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    if (!s.ok()) std::cerr << "baton-bench: " << s.message() << "\n";
    std::cerr << kUsage;
    return s.ok() ? 0 : 2;
  }
  std::string error;
  baton::bench::BenchOptions options;
  options.bin_dir = flags.GetString("bin-dir", fs::absolute(fs::path(argv[0])).parent_path().string());
  options.scale = flags.GetDouble("scale", 1.0, &error);
  options.repeats = static_cast<int>(flags.GetInt("repeats", 3, &error));
  options.slow_repeats = static_cast<int>(flags.GetInt("slow-repeats", 1, &error));
  options.w3_lease_ttl_ms = static_cast<int>(flags.GetInt("w3-lease-ttl-ms", 10'000, &error));
  options.channels = static_cast<int>(flags.GetInt("channels", 8, &error));
  options.workers = static_cast<int>(flags.GetInt("workers", 4, &error));
  options.w2_workers = static_cast<int>(flags.GetInt("w2-workers", 1, &error));
  options.w2_slots = static_cast<int>(flags.GetInt("w2-slots", 64, &error));
  options.w7_children = static_cast<int>(flags.GetInt("w7-children", 100, &error));
  options.system_bytes = static_cast<int>(flags.GetInt("system-bytes", 0, &error));
  options.streaming = flags.GetBool("streaming");
  const std::string watch = flags.GetString("watch", "batched");
  options.batched_watch = watch == "batched";
  if (watch != "batched" && watch != "each" && error.empty()) {
    error = absl::StrCat("--watch: \"", watch, "\" is neither \"batched\" nor \"each\"");
  }
  if (flags.Has("secure-parts")) {
    absl::StatusOr<baton::bench::Protections> parts =
        baton::bench::Protections::Parse(flags.GetString("secure-parts"));
    if (parts.ok()) {
      options.secured = *parts;
    } else if (error.empty()) {
      error = absl::StrCat("--secure-parts: ", parts.status().message());
    }
  }
  for (absl::string_view w : absl::StrSplit(flags.GetString("orchestrator-wrapper"), ' ', absl::SkipEmpty())) {
    options.orchestrator_wrapper.emplace_back(w);
  }
  for (absl::string_view w : absl::StrSplit(flags.GetString("worker-wrapper"), ' ', absl::SkipEmpty())) {
    options.worker_wrapper.emplace_back(w);
  }
  std::set<std::string> only;
  for (absl::string_view w :
       absl::StrSplit(flags.GetString("only", "W1,W2,W2-deferred,W2-long,W1-secure,W2-secure,W2-obs,W3,W4,W5,W6,W7,W8,W9,W10,W5-graph"), ',', absl::SkipEmpty())) {
    only.emplace(w);
  }
  if (error.empty() && (options.scale <= 0 || options.repeats < 1 || options.slow_repeats < 1 ||
                        options.w7_children < 1)) {
    error = "--scale must be > 0, --repeats, --slow-repeats and --w7-children >= 1";
  }
  if (error.empty() && (options.workers < 1 || options.w2_workers < 1 || options.w2_slots < 1)) {
    error = "--workers, --w2-workers and --w2-slots must be >= 1";
  }
  if (!error.empty()) {
    std::cerr << "baton-bench: " << error << "\n" << kUsage;
    return 2;
  }
  const std::string out_dir = flags.GetString("out-dir", "bench/results");
  options.failure_dir = out_dir + "/failures";
  if (flags.Has("work-dir")) {
    options.work_dir = flags.GetString("work-dir");
    fs::create_directories(options.work_dir);
  } else {
    std::string tmpl = fs::temp_directory_path().string() + "/baton-bench-XXXXXX";
    options.work_dir = mkdtemp(tmpl.data());
  }
  // A SIGPIPE from a dying child's socket must not end the driver.
  signal(SIGPIPE, SIG_IGN);

  if (flags.Has("report-only")) {
    // Rewrite the table from a results file, without running anything.
    json results = json::parse(baton::bench::ReadFileOrEmpty(flags.GetString("report-only")), nullptr, false);
    if (results.is_discarded() || !results.contains("workloads")) {
      std::cerr << "baton-bench: --report-only: not a results file\n";
      return 2;
    }
    const std::string table = baton::bench::MarkdownTable(results);
    std::cout << table;
    if (flags.GetBool("no-doc")) return 0;
    absl::Status s = baton::bench::UpdateDoc(flags.GetString("doc", "docs/PERFORMANCE.md"), table);
    if (!s.ok()) std::cerr << "baton-bench: " << s << "\n";
    return s.ok() ? 0 : 1;
  }
  const absl::Time started = absl::Now();
  json results;
  std::string git = CommandOutput("git describe --always --dirty 2>/dev/null");
  results["meta"] = {
      {"date", absl::FormatTime("%Y-%m-%d %H:%M UTC", started, absl::UTCTimeZone())},
      {"git", git.empty() ? "unknown" : git},
      {"machine", absl::StrCat(CommandOutput("nproc"), " cores, ",
                               CommandOutput("awk '/MemTotal/ {printf \"%.0f GB\", $2/1048576}' /proc/meminfo"))},
      {"label", flags.GetString("label")},
      {"scale", options.scale},
      {"repeats", options.repeats},
      {"slow_repeats", options.slow_repeats},
      {"streaming", options.streaming},
      {"system_bytes", options.system_bytes},
      {"orchestrator_wrapper", flags.GetString("orchestrator-wrapper")},
      {"build_type", BATON_BENCH_BUILD_TYPE},
  };
  json& workloads = results["workloads"];
  auto run = [&](const std::string& name, json (*fn)(const baton::bench::BenchOptions&)) {
    if (only.count(name) == 0) return;
    const absl::Time t0 = absl::Now();
    workloads[name] = fn(options);
    workloads[name]["wall_s"] = absl::ToDoubleSeconds(absl::Now() - t0);
    // Which run measured it: the table may show workloads of earlier runs beside it.
    workloads[name]["run"] = {{"date", results["meta"]["date"]},
                              {"git", results["meta"]["git"]},
                              {"build_type", results["meta"]["build_type"]},
                              {"scale", options.scale}};
    std::cerr << "[bench] " << name << " done in " << workloads[name]["wall_s"].get<double>() << " s\n";
  };
  run("W1", baton::bench::RunW1Dispatch);
  run("W2", baton::bench::RunW2Steps);
  run("W2-deferred", baton::bench::RunW2Deferred);
  run("W2-long", baton::bench::RunW2Long);
  run("W1-secure", baton::bench::RunW1Secure);
  run("W2-secure", baton::bench::RunW2Secure);
  run("W2-obs", baton::bench::RunW2Observed);
  run("W3", baton::bench::RunW3Recovery);
  run("W4", baton::bench::RunW4Restart);
  run("W5", baton::bench::RunW5Storage);
  run("W6", baton::bench::RunW6Memory);
  run("W7", baton::bench::RunW7FanOut);
  run("W8", baton::bench::RunW8Approval);
  run("W9", baton::bench::RunW9Wide);
  run("W10", baton::bench::RunW10Deep);
  run("W5-graph", baton::bench::RunW5Graph);
  results["meta"]["wall_s"] = absl::ToDoubleSeconds(absl::Now() - started);


  fs::create_directories(out_dir);
  const std::string stamp = absl::FormatTime("%Y%m%d-%H%M%S", started, absl::UTCTimeZone());
  {
    std::ofstream out(absl::StrCat(out_dir, "/run-", stamp, ".json"), std::ios::trunc);
    out << results.dump(2) << "\n";
  }
  // latest.json and the table: this run's workloads, and the latest results of the
  // others (--only) from the previous latest.json, each saying which run measured it.
  json latest = baton::bench::MergeWithPrevious(
      results, json::parse(baton::bench::ReadFileOrEmpty(out_dir + "/latest.json"), nullptr, false));
  {
    std::ofstream out(out_dir + "/latest.json", std::ios::trunc);
    out << latest.dump(2) << "\n";
  }
  const std::string table = baton::bench::MarkdownTable(latest);
  std::cout << table;
  if (!flags.GetBool("no-doc")) {
    const std::string doc = flags.GetString("doc", "docs/PERFORMANCE.md");
    if (absl::Status s = baton::bench::UpdateDoc(doc, table); !s.ok()) {
      std::cerr << "baton-bench: " << s << "\n";
      return 1;
    }
  }
  if (!flags.GetBool("keep")) fs::remove_all(options.work_dir);
  return 0;
}
