// Faults beyond SIGKILL: workers frozen with SIGSTOP and a worker cut off from the
// orchestrator (a network namespace whose link goes down), each for longer than the
// lease TTL. What a user relies on: every run succeeds without spending the attempts
// meant for its own errors, a grant a frozen or unreachable worker cannot take up comes
// back within the take-up window (not the TTL), the woken or reconnected worker's late
// calls are refused, and no recorded tool call runs twice.
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

constexpr int kTakeUpMs = 500;

// One lease of a run, read from its StateChanged events: the k-th lease has epoch k.
struct LeaseSpan {
  std::string run_id;
  int64_t epoch = 0;
  std::string worker_id;
  int64_t leased_ms = 0;
  int64_t ended_ms = 0;  // 0: the run ended (or is still running) under it
  std::string end_reason;
  bool withdrawn() const { return absl::StrContains(end_reason, "lease withdrawn"); }
  bool expired() const { return absl::StrContains(end_reason, "lease expired"); }
};

std::vector<LeaseSpan> Leases(Cluster& cluster, const std::string& run_id) {
  std::vector<LeaseSpan> spans;
  for (const v1::RunEvent& event : cluster.Events(run_id)) {
    if (!event.has_state_changed()) continue;
    const v1::RunEvent::StateChanged& change = event.state_changed();
    if (!spans.empty() && spans.back().ended_ms == 0 && change.state() == v1::QUEUED) {
      spans.back().ended_ms = event.time_ms();
      spans.back().end_reason = change.reason();
    }
    if (change.state() == v1::RUNNING && absl::StartsWith(change.reason(), "leased to ")) {
      spans.push_back({run_id, static_cast<int64_t>(spans.size()) + 1, change.worker_id(), event.time_ms()});
    }
  }
  return spans;
}

// Every journal entry of an epoch comes before every entry of a later one: a worker
// whose lease was taken over wrote nothing after the next holder began.
void ExpectEpochsInOrder(Cluster& cluster, const std::string& run_id) {
  const v1::Transcript transcript = cluster.Transcript(run_id);
  int64_t highest = 0;
  for (const v1::JournalEntry& entry : transcript.entries()) {
    EXPECT_GE(entry.epoch(), highest) << run_id << " seq " << entry.seq();
    highest = std::max(highest, entry.epoch());
  }
}

// A lease withdrawn before it was taken up journaled nothing: its worker's late
// appends were refused.
void ExpectNothingJournaledUnder(Cluster& cluster, const LeaseSpan& lease) {
  const v1::Transcript transcript = cluster.Transcript(lease.run_id);
  for (const v1::JournalEntry& entry : transcript.entries()) {
    EXPECT_NE(entry.epoch(), lease.epoch) << lease.run_id << " seq " << entry.seq() << " by " << lease.worker_id;
  }
}

// No recorded tool call ran twice, and `expected` calls ran in all.
void ExpectEveryCallRanOnce(const Cluster& cluster, size_t expected) {
  std::map<std::pair<std::string, std::string>, int> calls = ExecutedCalls(cluster);
  EXPECT_EQ(calls.size(), expected);
  for (const auto& [call, count] : calls) EXPECT_EQ(count, 1) << call.first << " " << call.second;
}

// Waits until the run has journaled `n` tool results (it is well under way).
bool WaitForToolResults(Cluster& cluster, const std::string& run_id, int n) {
  return WaitUntil(
      [&] {
        const v1::Transcript transcript = cluster.Transcript(run_id);
        int results = 0;
        for (const auto& e : transcript.entries()) results += e.has_tool_result();
        return results >= n;
      },
      absl::Seconds(30));
}

bool WorkerLogged(const Cluster& cluster, int worker, const std::string& text) {
  return absl::StrContains(ReadFile(cluster.dir() + "/worker-" + std::to_string(worker) + ".log"), text);
}

// A stack with a short take-up window, so a withdrawal is told apart from an expiry.
ClusterOptions FaultOptions(int workers, int concurrency, int lease_ttl_ms) {
  ClusterOptions options;
  options.workers = workers;
  options.concurrency = concurrency;
  options.lease_ttl_ms = lease_ttl_ms;
  options.orchestrator_args = {absl::StrCat("--lease-take-up-ms=", kTakeUpMs)};
  return options;
}

std::string Dropped(const std::string& run_id) { return absl::StrCat("lease on ", run_id, " lost; dropping the run"); }

TEST(WorkerFaultsTest, FrozenWorkersGrantsComeBackWithinTheTakeUpWindowAndCostNoAttempt) {
  Cluster cluster(FaultOptions(/*workers=*/4, /*concurrency=*/2, /*lease_ttl_ms=*/6000));
  cluster.Start();
  // Every worker parks its polls, then two freeze: their polls stay parked at the
  // orchestrator, which answers them as if they were alive.
  absl::SleepFor(absl::Seconds(2));
  const std::set<std::string> frozen = {"worker-1", "worker-2"};
  cluster.KillWorker(1, SIGSTOP);
  cluster.KillWorker(2, SIGSTOP);

  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back(cluster.CreateRun(absl::StrCat("[sim steps=3 tool=echo sleep_ms=100] job ", i)).run_id());
    ASSERT_FALSE(ids.back().empty());
  }
  // The frozen workers' grants come back and go to the others.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::string& id : ids) {
          v1::Run run = cluster.GetRun(id);
          if (run.state() == v1::RUNNING && frozen.count(run.worker_id()) > 0) return false;
        }
        return true;
      },
      absl::Seconds(30)));
  // Woken, they find their grants gone.
  cluster.KillWorker(1, SIGCONT);
  cluster.KillWorker(2, SIGCONT);

  std::vector<LeaseSpan> withdrawn;
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id, absl::Seconds(120));
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    EXPECT_EQ(run.steps(), 3) << id;
    // No attempt spent on a frozen worker: attempts are for the run's own errors.
    EXPECT_EQ(run.attempt(), 1) << id;
    int losses = 0;
    for (const LeaseSpan& lease : Leases(cluster, id)) {
      if (lease.ended_ms == 0) continue;
      ++losses;
      if (lease.withdrawn()) withdrawn.push_back(lease);
      // A frozen worker's lease is never taken up: it is withdrawn, not left to expire.
      if (frozen.count(lease.worker_id) > 0) {
        EXPECT_TRUE(lease.withdrawn()) << id << ": " << lease.end_reason;
      }
    }
    EXPECT_EQ(run.lease_losses(), losses) << id;
    ExpectEpochsInOrder(cluster, id);
  }
  // Each frozen worker had polls parked: the scenario happened.
  ASSERT_GE(withdrawn.size(), 1u);
  int64_t slowest_ms = 0;
  for (const LeaseSpan& lease : withdrawn) {
    const int64_t took = lease.ended_ms - lease.leased_ms;
    slowest_ms = std::max(slowest_ms, took);
    // The take-up window (0.5 s) plus the commit and the ticker, with room for a
    // loaded machine; far below the 6 s TTL a grant to a frozen worker used to hold.
    EXPECT_LT(took, 3000) << lease.run_id << " leased to " << lease.worker_id;
    // The woken worker's late calls for it were refused: nothing of its epoch was
    // journaled, and it dropped the run.
    ExpectNothingJournaledUnder(cluster, lease);
    const int worker = lease.worker_id.back() - '0';
    EXPECT_TRUE(WaitUntil([&] { return WorkerLogged(cluster, worker, Dropped(lease.run_id)); }, absl::Seconds(30)))
        << lease.worker_id << " never dropped " << lease.run_id;
  }
  std::cerr << withdrawn.size() << " grants withdrawn; the slowest came back after " << slowest_ms << " ms\n";
  ExpectEveryCallRanOnce(cluster, 2 * ids.size());
  EXPECT_TRUE(cluster.worker(1)->Running());
  EXPECT_TRUE(cluster.worker(2)->Running());
}

TEST(WorkerFaultsTest, WorkerFrozenMidRunIsFencedAndRunsNoCallOnceWoken) {
  const ClusterOptions options = FaultOptions(/*workers=*/2, /*concurrency=*/1, /*lease_ttl_ms=*/2000);
  Cluster cluster(options);
  cluster.Start();
  v1::Run run = cluster.CreateRun("[sim steps=8 tool=echo sleep_ms=300] work slowly");
  ASSERT_TRUE(WaitForToolResults(cluster, run.run_id(), 2));
  v1::Run running = cluster.GetRun(run.run_id());
  ASSERT_EQ(running.state(), v1::RUNNING);
  const int holder = running.worker_id() == "worker-0" ? 0 : 1;
  cluster.KillWorker(holder, SIGSTOP);
  const absl::Time frozen_at = absl::Now();
  // Its lease was taken up, so it lasts the TTL; then the run moves on at once.
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::Run now = cluster.GetRun(run.run_id());
        return now.epoch() > running.epoch() && now.worker_id() != running.worker_id();
      },
      absl::Seconds(30)));
  const absl::Duration moved_after = absl::Now() - frozen_at;
  EXPECT_LT(moved_after, absl::Milliseconds(options.lease_ttl_ms) + absl::Seconds(5)) << moved_after;
  // Frozen past its TTL, then woken.
  absl::SleepFor(absl::Milliseconds(options.lease_ttl_ms));
  cluster.KillWorker(holder, SIGCONT);

  v1::Run done = cluster.WaitForEnd(run.run_id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.steps(), 8);
  EXPECT_EQ(done.attempt(), 1);
  EXPECT_EQ(done.lease_losses(), 1);
  std::vector<LeaseSpan> leases = Leases(cluster, run.run_id());
  ASSERT_GE(leases.size(), 2u);
  EXPECT_TRUE(leases[0].expired()) << leases[0].end_reason;
  EXPECT_TRUE(WaitUntil([&] { return WorkerLogged(cluster, holder, Dropped(run.run_id())); }, absl::Seconds(30)))
      << "the woken worker kept the run";
  ExpectEpochsInOrder(cluster, run.run_id());
  ExpectEveryCallRanOnce(cluster, 7);
  EXPECT_TRUE(cluster.worker(holder)->Running());
}

TEST(WorkerFaultsTest, WorkerCutOffPastTheTtlIsFencedWhenReconnected) {
  NetNamespace ns;
  if (!ns.ok()) {
    GTEST_SKIP() << "cannot make a network namespace for the cut-off worker (needs root or CAP_NET_ADMIN): "
                 << ns.error();
  }
  // worker-0 runs in the namespace (worker-1 joins after the cut); one of its slots
  // runs, the other's poll is parked.
  ClusterOptions options = FaultOptions(/*workers=*/1, /*concurrency=*/2, /*lease_ttl_ms=*/2000);
  options.host = ns.host_address();  // reachable from the namespace; private to the machine
  options.worker_netns = {{0, ns.name()}};
  Cluster cluster(options);
  cluster.Start();
  v1::Run first = cluster.CreateRun("[sim steps=8 tool=echo sleep_ms=300] work slowly");
  ASSERT_TRUE(WaitForToolResults(cluster, first.run_id(), 2));
  ASSERT_EQ(cluster.GetRun(first.run_id()).worker_id(), "worker-0");

  ASSERT_TRUE(ns.SetLinkUp(false));
  const absl::Time cut_at = absl::Now();
  // Runs created while it is cut off: its parked poll is answered into the void.
  std::vector<std::string> ids{first.run_id()};
  for (int i = 0; i < 3; ++i) {
    ids.push_back(cluster.CreateRun(absl::StrCat("[sim steps=3 tool=echo sleep_ms=100] job ", i)).run_id());
  }
  cluster.StartWorker(1);
  ASSERT_TRUE(WaitUntil([&] { return cluster.GetRun(first.run_id()).worker_id() == "worker-1"; },
                        absl::Seconds(30)));
  // Cut off for twice the TTL, then back.
  const absl::Time reconnect_at = cut_at + 2 * absl::Milliseconds(options.lease_ttl_ms);
  if (absl::Now() < reconnect_at) absl::SleepFor(reconnect_at - absl::Now());
  ASSERT_TRUE(ns.SetLinkUp(true));

  int withdrawn = 0;
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id, absl::Seconds(120));
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    EXPECT_EQ(run.attempt(), 1) << id;
    for (const LeaseSpan& lease : Leases(cluster, id)) {
      if (lease.ended_ms == 0 || !lease.withdrawn()) continue;
      ++withdrawn;
      EXPECT_EQ(lease.worker_id, "worker-0") << id;
      EXPECT_LT(lease.ended_ms - lease.leased_ms, 3000) << id;
      ExpectNothingJournaledUnder(cluster, lease);
    }
    ExpectEpochsInOrder(cluster, id);
  }
  // The grant to worker-0's parked poll came back within the window.
  EXPECT_GE(withdrawn, 1);
  v1::Run first_done = cluster.GetRun(first.run_id());
  EXPECT_EQ(first_done.steps(), 8);
  EXPECT_EQ(first_done.lease_losses(), 1);
  std::vector<LeaseSpan> first_leases = Leases(cluster, first.run_id());
  ASSERT_GE(first_leases.size(), 2u);
  EXPECT_TRUE(first_leases[0].expired()) << first_leases[0].end_reason;
  // Reconnected, worker-0 learns its lease is gone (a refused heartbeat or append).
  EXPECT_TRUE(WaitUntil([&] { return WorkerLogged(cluster, 0, Dropped(first.run_id())); }, absl::Seconds(60)))
      << "the reconnected worker kept the run";
  ExpectEveryCallRanOnce(cluster, 7 + 2 * 3);
  EXPECT_TRUE(cluster.worker(0)->Running());
}

}  // namespace
}  // namespace baton::testing
