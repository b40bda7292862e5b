// The orchestrator restarted (SIGKILL, started again) under load, 20 times: every
// running run goes on under its recovered lease and journals a step within 2 s of
// the restart. Every worker slot is busy, so no worker has a PollTask parked: the
// calls that ride out the restart are the runs' own AppendStep and the heartbeats
// (before they waited for the channel, a worker whose slots were all busy reconnected
// only at gRPC's 5 s backup poll, and its runs stood still for 10-30 s).
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

constexpr int kWorkers = 2;
constexpr int kSlots = 4;
constexpr int kRestarts = 20;
constexpr absl::Duration kBound = absl::Seconds(2);

// (last journal seq, attempt) of each run; a run that cannot be read is left out.
std::map<std::string, v1::Run> Snapshot(Cluster& cluster, const std::vector<std::string>& ids) {
  std::map<std::string, v1::Run> out;
  for (const std::string& id : ids) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(5));
    v1::GetRunRequest request;
    request.set_run_id(id);
    v1::Run run;
    if (cluster.runs().GetRun(&ctx, request, &run).ok()) out[id] = run;
  }
  return out;
}

TEST(RestartTest, EveryRunningRunJournalsAStepWithinTwoSecondsOfEachRestart) {
  ClusterOptions options;
  options.workers = kWorkers;
  options.concurrency = kSlots;
  // The default of a real deployment: a restart must not depend on leases expiring.
  options.lease_ttl_ms = 10'000;
  options.heartbeat_ms = 3'000;  // TTL / 3, the workers' default
  Cluster cluster(options);
  cluster.Start();

  // One run per slot; each step calls a tool that takes 100 ms.
  std::vector<std::string> ids;
  for (int i = 0; i < kWorkers * kSlots; ++i) {
    ids.push_back(cluster.CreateRun(absl::StrCat("[sim steps=5000 tool=echo sleep_ms=100] restart ", i), "", 6000)
                      .run_id());
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::map<std::string, v1::Run> runs = Snapshot(cluster, ids);
        if (runs.size() != ids.size()) return false;
        for (const auto& [id, run] : runs) {
          if (run.state() != v1::RUNNING || run.last_journal_seq() < 2) return false;
        }
        return true;
      },
      absl::Seconds(60)))
      << "the runs did not all start";

  std::vector<double> waits_s;
  for (int restart = 0; restart < kRestarts; ++restart) {
    const std::map<std::string, v1::Run> before = Snapshot(cluster, ids);
    ASSERT_EQ(before.size(), ids.size());
    cluster.KillOrchestrator(SIGKILL);
    cluster.StartOrchestrator();  // returns once it serves
    const absl::Time serving = absl::Now();
    std::map<std::string, v1::Run> after;
    const bool all_moved = WaitUntil(
        [&] {
          after = Snapshot(cluster, ids);
          for (const auto& [id, run] : before) {
            auto it = after.find(id);
            if (it == after.end() || it->second.last_journal_seq() <= run.last_journal_seq()) return false;
          }
          return true;
        },
        absl::Seconds(30));
    const absl::Duration waited = absl::Now() - serving;
    waits_s.push_back(absl::ToDoubleSeconds(waited));
    ASSERT_TRUE(all_moved) << "restart " << restart << ": some runs journaled nothing for 30 s";
    EXPECT_LE(waited, kBound) << "restart " << restart << ": the last run journaled a step "
                              << absl::FormatDuration(waited) << " after the orchestrator served again";
    // Each went on under the lease it held: the restart cost no attempt.
    for (const auto& [id, run] : after) {
      EXPECT_EQ(run.state(), v1::RUNNING) << id << ": " << run.error();
      EXPECT_EQ(run.attempt(), before.at(id).attempt()) << id << " was leased again after restart " << restart;
      EXPECT_EQ(run.epoch(), before.at(id).epoch()) << id;
    }
  }
  std::sort(waits_s.begin(), waits_s.end());
  std::cout << "restart -> every run journaled a step, s: median " << waits_s[waits_s.size() / 2] << ", max "
            << waits_s.back() << "\n";

  for (const std::string& id : ids) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CancelRunRequest request;
    request.set_run_id(id);
    v1::Run cancelled;
    EXPECT_TRUE(cluster.runs().CancelRun(&ctx, request, &cancelled).ok());
  }
}

}  // namespace
}  // namespace baton::testing
