// baton-stalled-watcher-bench: does a WatchRun subscriber that stops reading slow
// the runs it watches? Runs the same streamed workload with and without one stalled
// live-text watcher per run, alternating, and prints the medians and their ratio
// (issue target: within 10 %).
//
//   baton-stalled-watcher-bench [--repeats=5] [--runs=8]
// Uses the integration tests' cluster (real processes on loopback).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/flags.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

// Seconds from the first CreateRun until every run is SUCCEEDED.
double RunOnce(int runs, bool stalled_watchers) {
  ClusterOptions options;
  options.workers = 2;
  options.concurrency = 4;
  Cluster cluster(options);
  cluster.Start();
  // A long streamed answer: the simulator sends it in small text deltas.
  std::string words;
  for (int i = 0; i < 4000; ++i) absl::StrAppend(&words, "word", i, " ");
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::RunEvent>>> readers;
  const absl::Time start = absl::Now();
  std::vector<std::string> ids;
  for (int i = 0; i < runs; ++i) {
    v1::CreateRunRequest create;
    *create.mutable_agent() = Cluster::Agent();
    create.mutable_agent()->set_max_tokens(16000);  // room for the long answer
    create.set_input(absl::StrCat("[sim steps=6 tool=echo sleep_ms=50 text=", words, "] run ", i));
    grpc::ClientContext create_ctx;
    v1::Run run;
    if (grpc::Status s = cluster.runs().CreateRun(&create_ctx, create, &run); !s.ok()) {
      std::fprintf(stderr, "CreateRun: %s\n", s.error_message().c_str());
      continue;
    }
    ids.push_back(run.run_id());
    if (stalled_watchers) {
      // Opened and never read: its flow-control window fills and it stays stuck.
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      v1::WatchRunRequest request;
      request.set_run_id(run.run_id());
      request.set_live_text(true);
      readers.push_back(cluster.runs().WatchRun(contexts.back().get(), request));
    }
  }
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id, absl::Seconds(120));
    if (run.state() != v1::SUCCEEDED) {
      std::fprintf(stderr, "run %s ended %s: %s\n", id.c_str(), v1::RunState_Name(run.state()).c_str(),
                   run.error().c_str());
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& ctx : contexts) ctx->TryCancel();
  return seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

}  // namespace
}  // namespace baton::testing

int main(int argc, char** argv) {
  baton::Flags flags({"repeats", "runs"}, {"help"});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.GetBool("help")) {
    std::fprintf(stderr, "usage: baton-stalled-watcher-bench [--repeats=5] [--runs=8]\n");
    return s.ok() ? 0 : 2;
  }
  const int repeats = static_cast<int>(flags.GetInt("repeats", 5));
  const int runs = static_cast<int>(flags.GetInt("runs", 8));
  std::vector<double> without, with;
  for (int r = 0; r < repeats; ++r) {
    without.push_back(baton::testing::RunOnce(runs, false));
    with.push_back(baton::testing::RunOnce(runs, true));
    std::printf("repeat %d: without %.3f s, with stalled watchers %.3f s\n", r + 1, without.back(), with.back());
    std::fflush(stdout);
  }
  const double a = baton::testing::Median(without), b = baton::testing::Median(with);
  std::printf("median without %.3f s, with %.3f s, ratio %.3f (target <= 1.10)\n", a, b, b / a);
  return 0;
}
