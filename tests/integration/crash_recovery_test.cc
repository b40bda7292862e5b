// Crashes with SIGKILL: a worker mid-run, the orchestrator with runs queued and
// running. Nothing acknowledged is lost; recorded tool calls do not run again.
#include <signal.h>

#include <map>

#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

int ToolResults(Cluster& cluster, const std::string& run_id) {
  grpc::ClientContext ctx;
  v1::GetTranscriptRequest req;
  req.set_run_id(run_id);
  v1::Transcript t;
  if (!cluster.runs().GetTranscript(&ctx, req, &t).ok()) return -1;
  int n = 0;
  for (const auto& e : t.entries()) n += e.has_tool_result();
  return n;
}

v1::Run GetRun(Cluster& cluster, const std::string& run_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::GetRunRequest req;
  req.set_run_id(run_id);
  v1::Run run;
  cluster.runs().GetRun(&ctx, req, &run);
  return run;
}

// Once `results` tool results of the run are journaled, SIGKILLs the worker running it
// (of two); returns the victim's index, or -1 (with a test failure) when the run did
// not get there running.
int KillItsWorkerAfter(Cluster& cluster, const std::string& run_id, int results) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ToolResults(cluster, run_id) < results && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_GE(ToolResults(cluster, run_id), results);
  v1::Run running = GetRun(cluster, run_id);
  EXPECT_EQ(running.state(), v1::RUNNING);
  if (running.state() != v1::RUNNING) return -1;
  const int victim = running.worker_id() == "worker-0" ? 0 : 1;
  cluster.KillWorker(victim, SIGKILL);
  return victim;
}

TEST(CrashRecoveryTest, KilledWorkersRunResumesElsewhereWithoutRepeatingToolCalls) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run run = cluster.CreateRun("[sim steps=8 tool=echo sleep_ms=250] work slowly");
  // Once some tool results are journaled.
  const int victim = KillItsWorkerAfter(cluster, run.run_id(), 3);
  ASSERT_GE(victim, 0);

  v1::Run done = cluster.WaitForEnd(run.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  // The lease expired once: a lost lease, not a failed attempt (those are for the
  // run's own errors).
  EXPECT_EQ(done.lease_losses(), 1);
  EXPECT_EQ(done.attempt(), 1);
  EXPECT_EQ(done.worker_id(), "worker-" + std::to_string(1 - victim));
  EXPECT_EQ(done.steps(), 8);

  // Every tool call ran exactly once across both workers.
  std::map<std::string, int> runs_per_call;
  for (const json& line : cluster.ToolAudit()) runs_per_call[line["tool_use_id"].get<std::string>()]++;
  EXPECT_EQ(runs_per_call.size(), 7u);
  for (const auto& [id, count] : runs_per_call) EXPECT_EQ(count, 1) << id;
  EXPECT_EQ(ToolResults(cluster, run.run_id()), 7);

  // Both attempts' work is in the journal, under their epochs.
  grpc::ClientContext ctx;
  v1::GetTranscriptRequest req;
  req.set_run_id(run.run_id());
  v1::Transcript t;
  ASSERT_TRUE(cluster.runs().GetTranscript(&ctx, req, &t).ok());
  std::set<int64_t> epochs;
  for (const auto& e : t.entries()) epochs.insert(e.epoch());
  EXPECT_EQ(epochs, (std::set<int64_t>{1, 2}));
}

// AgentSpec.defer_safe_tool_results: a read-only tool's result rides on the run's next
// write, so a worker killed during the model call that follows leaves the call without
// a result. The next worker runs it again (the tool allows it); the journal holds one
// result per call.
TEST(CrashRecoveryTest, DeferredSafeResultsAreRunAgainAfterAKillAndJournaledOnce) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::CreateRunRequest request;
  *request.mutable_agent() = Cluster::Agent();
  request.mutable_agent()->set_defer_safe_tool_results(true);
  request.set_input("[sim steps=6 tool=echo sleep_ms=400] work slowly");
  v1::Run run;
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    ASSERT_TRUE(cluster.runs().CreateRun(&ctx, request, &run).ok());
  }
  // Results reach the journal with the next turn: after two, kill the worker during a
  // model call (400 ms of every ~405), with the last call's result unwritten.
  ASSERT_GE(KillItsWorkerAfter(cluster, run.run_id(), 2), 0);

  v1::Run done = cluster.WaitForEnd(run.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.steps(), 6);
  EXPECT_EQ(done.lease_losses(), 1);

  // One result per call in the journal.
  std::map<std::string, int> results;
  const v1::Transcript transcript = cluster.Transcript(run.run_id());
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_tool_result()) results[e.tool_result().tool_use_id()]++;
  }
  EXPECT_EQ(results.size(), 5u);
  for (const auto& [id, count] : results) EXPECT_EQ(count, 1) << id;
  // Every call ran; only the one whose result the kill lost ran twice.
  std::map<std::string, int> runs_per_call;
  for (const json& line : cluster.ToolAudit()) runs_per_call[line["tool_use_id"].get<std::string>()]++;
  EXPECT_EQ(runs_per_call.size(), 5u);
  int repeated = 0;
  for (const auto& [id, count] : runs_per_call) {
    EXPECT_TRUE(results.count(id)) << id;
    EXPECT_LE(count, 2) << id;
    repeated += count - 1;
  }
  EXPECT_LE(repeated, 1);
  std::cout << "calls run again after the kill: " << repeated << std::endl;
}

TEST(CrashRecoveryTest, KilledOrchestratorLosesNoAcknowledgedRun) {
  ClusterOptions options;
  options.concurrency = 2;
  Cluster cluster(options);
  cluster.Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 16; ++i) {
    ids.push_back(cluster.CreateRun("[sim steps=3 tool=echo sleep_ms=150] job " + std::to_string(i)).run_id());
    ASSERT_FALSE(ids.back().empty());
  }
  // Wait for a mix of running and queued runs, some running ones with steps journaled
  // (a plain append writes no run record: the restart counts them back in).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int running = 0, queued = 0, journaled = 0;
  while (absl::Now() < deadline) {
    running = queued = journaled = 0;
    for (const std::string& id : ids) {
      v1::Run run = GetRun(cluster, id);
      running += run.state() == v1::RUNNING;
      journaled += run.state() == v1::RUNNING && run.last_journal_seq() > 0;
      queued += run.state() == v1::QUEUED;
    }
    if (running >= 2 && queued >= 4 && journaled >= 1) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(running, 2);
  ASSERT_GE(queued, 4);
  ASSERT_GE(journaled, 1);
  cluster.KillOrchestrator(SIGKILL);
  absl::SleepFor(absl::Milliseconds(500));
  cluster.StartOrchestrator();  // same port, same data directory

  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id, absl::Seconds(90));
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    EXPECT_EQ(run.steps(), 3) << id;
    // Counted once each across the crash, whichever side of it they were journaled on.
    EXPECT_EQ(run.usage().model_calls(), 3) << id;
    EXPECT_EQ(run.usage().tool_calls(), 2) << id;
    // Events written before and after the crash form one gap-free history.
    std::vector<v1::RunEvent> events = cluster.Events(id);
    ASSERT_FALSE(events.empty());
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1)) << id;
    EXPECT_EQ(events.front().state_changed().state(), v1::QUEUED);
    EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
  }
  // No recorded call ran twice.
  std::map<std::string, int> runs_per_call;
  for (const json& line : cluster.ToolAudit()) {
    runs_per_call[line["idempotency_key"].get<std::string>()]++;
  }
  EXPECT_EQ(runs_per_call.size(), 32u);
  for (const auto& [key, count] : runs_per_call) EXPECT_EQ(count, 1) << key;
}

TEST(CrashRecoveryTest, StaleEpochIsRefused) {
  ClusterOptions options;
  options.workers = 0;  // the test plays the workers
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  v1::Run run = cluster.CreateRun("hello");
  v1::PollTaskResponse first = cluster.PollTask("old-worker");
  ASSERT_TRUE(first.has_task());
  EXPECT_EQ(first.task().lease().epoch(), 1);
  // No heartbeat: the lease expires and the run is leased again.
  v1::PollTaskResponse second = cluster.PollTask("new-worker");
  ASSERT_TRUE(second.has_task());
  EXPECT_EQ(second.task().lease().epoch(), 2);

  v1::JournalEntry entry;
  entry.mutable_tool_result()->set_tool_use_id("t1");
  entry.mutable_tool_result()->set_content_json("\"x\"");
  {
    grpc::ClientContext ctx;
    v1::AppendStepRequest req;
    *req.mutable_lease() = first.task().lease();
    *req.add_entries() = entry;
    v1::AppendStepResponse resp;
    grpc::Status s = cluster.worker_api().AppendStep(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(s.error_message().find("stale"), std::string::npos) << s.error_message();
  }
  {
    // In a batch each step is answered as its own AppendStep: the stale one is
    // refused, the current holder's is journaled, a malformed one is named.
    grpc::ClientContext ctx;
    v1::AppendStepsRequest req;
    v1::AppendStepRequest* stale = req.add_steps();
    *stale->mutable_lease() = first.task().lease();
    *stale->add_entries() = entry;
    v1::AppendStepRequest* current = req.add_steps();
    *current->mutable_lease() = second.task().lease();
    *current->add_entries() = entry;
    v1::AppendStepRequest* malformed = req.add_steps();
    *malformed->mutable_lease() = second.task().lease();
    malformed->add_entries()->mutable_tool_result()->set_tool_use_id("t2");
    v1::AppendStepsResponse resp;
    ASSERT_TRUE(cluster.worker_api().AppendSteps(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.results_size(), 3);
    EXPECT_EQ(resp.results(0).status().code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(resp.results(0).status().message().find("stale"), std::string::npos)
        << resp.results(0).status().message();
    EXPECT_EQ(resp.results(1).status().code(), 0) << resp.results(1).status().message();
    EXPECT_GT(resp.results(1).response().last_seq(), 0);
    EXPECT_EQ(resp.results(2).status().code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(resp.results(2).status().message().find("entries[0]"), std::string::npos)
        << resp.results(2).status().message();
  }
  {
    // A batch whose every step is refused by its checks is answered all the same.
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::AppendStepsRequest req;
    v1::AppendStepRequest* malformed = req.add_steps();
    *malformed->mutable_lease() = second.task().lease();
    malformed->add_entries()->mutable_tool_result()->set_tool_use_id("t3");
    v1::AppendStepsResponse resp;
    ASSERT_TRUE(cluster.worker_api().AppendSteps(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.results_size(), 1);
    EXPECT_EQ(resp.results(0).status().code(), grpc::StatusCode::INVALID_ARGUMENT)
        << resp.results(0).status().message();
  }
  {
    grpc::ClientContext ctx;
    v1::CompleteRunRequest req;
    *req.mutable_lease() = first.task().lease();
    req.set_output("stale answer");
    v1::CompleteRunResponse resp;
    EXPECT_EQ(cluster.worker_api().CompleteRun(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::FailRunRequest req;
    *req.mutable_lease() = first.task().lease();
    req.set_error("stale failure");
    v1::FailRunResponse resp;
    EXPECT_EQ(cluster.worker_api().FailRun(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // Live text: a watcher gets the current holder's, never the stale worker's.
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::WatchRunRequest watch;
  watch.set_run_id(run.run_id());
  watch.set_live_text(true);
  auto reader = cluster.runs().WatchRun(&watch_ctx, watch);
  // A watcher follows the hub before it reads the store: once an event came, it is
  // subscribed.
  v1::RunEvent event;
  ASSERT_TRUE(reader->Read(&event));
  {
    grpc::ClientContext ctx;
    v1::PublishDeltasBatchRequest req;
    for (const auto& [lease, text] : {std::pair{first.task().lease(), "stale text"},
                                      std::pair{second.task().lease(), "fresh text"}}) {
      v1::PublishDeltasRequest* live = req.add_runs();
      *live->mutable_lease() = lease;
      live->add_deltas()->set_text(text);
    }
    v1::PublishDeltasResponse resp;
    EXPECT_TRUE(cluster.worker_api().PublishDeltasBatch(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::PublishDeltasRequest req;
    *req.mutable_lease() = first.task().lease();
    req.add_deltas()->set_text("stale text again");
    v1::PublishDeltasResponse resp;
    EXPECT_TRUE(cluster.worker_api().PublishDeltas(&ctx, req, &resp).ok());
  }
  // The current holder's work is accepted and the stale writes left no trace.
  {
    grpc::ClientContext ctx;
    v1::CompleteRunRequest req;
    *req.mutable_lease() = second.task().lease();
    req.set_output("fresh answer");
    v1::CompleteRunResponse resp;
    EXPECT_TRUE(cluster.worker_api().CompleteRun(&ctx, req, &resp).ok());
  }
  v1::Run done = GetRun(cluster, run.run_id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "fresh answer");
  std::vector<std::string> live;
  while (reader->Read(&event)) {
    if (event.has_text_delta()) live.push_back(event.text_delta().text());
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(live, std::vector<std::string>{"fresh text"});
}

TEST(CrashRecoveryTest, CancelledRunStopsWithinAHeartbeat) {
  ClusterOptions options;
  options.workers = 1;
  options.heartbeat_ms = 500;
  Cluster cluster(options);
  cluster.Start();
  // Each model call takes 20 s: the run is mid-call when cancelled.
  v1::Run run = cluster.CreateRun("[sim steps=5 tool=echo sleep_ms=20000] slow");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (GetRun(cluster, run.run_id()).state() != v1::RUNNING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time cancelled_at = absl::Now();
  grpc::ClientContext ctx;
  v1::CancelRunRequest req;
  req.set_run_id(run.run_id());
  req.set_reason("test");
  v1::Run reply;
  ASSERT_TRUE(cluster.runs().CancelRun(&ctx, req, &reply).ok());
  EXPECT_TRUE(reply.cancel_requested());
  v1::Run done = cluster.WaitForEnd(run.run_id(), absl::Seconds(15));
  const absl::Duration took = absl::Now() - cancelled_at;
  EXPECT_EQ(done.state(), v1::CANCELLED);
  EXPECT_EQ(done.failure_kind(), v1::CANCELLED_BY_USER);
  // One heartbeat interval (0.5 s) plus the time to abort the call and report;
  // far below the 20 s the model call would have taken.
  EXPECT_LT(took, absl::Seconds(2)) << took;
  EXPECT_TRUE(cluster.worker(0)->Running());
}

TEST(CrashRecoveryTest, DrainingWorkerGivesItsRunBack) {
  ClusterOptions options;
  options.workers = 2;
  Cluster cluster(options);
  cluster.Start();
  v1::Run run = cluster.CreateRun("[sim steps=6 tool=echo sleep_ms=300] drain me");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (ToolResults(cluster, run.run_id()) < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  v1::Run running = GetRun(cluster, run.run_id());
  ASSERT_EQ(running.state(), v1::RUNNING);
  const int holder = running.worker_id() == "worker-0" ? 0 : 1;
  cluster.KillWorker(holder, SIGTERM);
  EXPECT_EQ(cluster.worker(holder)->Wait(absl::Seconds(10)), 0);  // a clean exit
  v1::Run done = cluster.WaitForEnd(run.run_id());
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << done.error();
  EXPECT_EQ(done.attempt(), 1);  // a release is not a failed attempt
  EXPECT_EQ(done.worker_id(), "worker-" + std::to_string(1 - holder));
  std::map<std::string, int> runs_per_call;
  for (const json& line : cluster.ToolAudit()) runs_per_call[line["tool_use_id"].get<std::string>()]++;
  for (const auto& [id, count] : runs_per_call) EXPECT_EQ(count, 1) << id;
}

}  // namespace
}  // namespace baton::testing
