// Prometheus metrics of every process, scraped over HTTP: a stack whose orchestrator,
// worker and MCP bridge (the npm "everything" server behind it) serve --metrics-listen
// runs a tool-using agent to SUCCEEDED, and each scrape shows its counters moved by
// exactly what the run did: the tokens and cost GetRun reports, one lease, one tool
// call, the run ended SUCCEEDED, the MCP server up.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/cleanup/cleanup.h"
#include "tests/integration/cluster.h"
#include "tests/integration/prometheus_text.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kModel[] = "claude-sonnet-4-5";

// The scrape of a process; a test failure (and an empty exposition) when it fails.
Exposition Scrape(int port) {
  absl::StatusOr<Exposition> scraped = ScrapeMetrics(port);
  EXPECT_TRUE(scraped.ok()) << "port " << port << ": " << scraped.status();
  return scraped.ok() ? *std::move(scraped) : Exposition();
}

// A series' value, 0 when it does not exist (yet).
double ValueOr0(const Exposition& e, const std::string& name, const MetricLabels& labels = {}) {
  return e.Value(name, labels).value_or(0);
}

// How much a series moved between two scrapes.
double Moved(const Exposition& before, const Exposition& after, const std::string& name,
             const MetricLabels& labels = {}) {
  return ValueOr0(after, name, labels) - ValueOr0(before, name, labels);
}

// Every agreed name is exposed with its agreed type (docs/operations.md, "Metrics").
void ExpectTypes(const Exposition& e, const std::map<std::string, std::string>& types) {
  for (const auto& [name, type] : types) EXPECT_EQ(e.Type(name).value_or("(absent)"), type) << name;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>(ClusterOptions{.workers = 0, .metrics = true});
    cluster_->Start();
    const std::string dir = cluster_->dir();
    json config = {{"servers",
                    {{"everything",
                      {{"command", "node"}, {"args", {mcp::testing::EverythingServer(), "stdio"}}}}}}};
    mcp::testing::WriteFile(dir + "/bridge.json", config.dump(2));
    bridge_ = std::make_unique<Process>(
        Cluster::Bin("baton-mcp-bridge"),
        std::vector<std::string>{"--config=" + dir + "/bridge.json", "--listen=127.0.0.1:0",
                                 "--port-file=" + dir + "/bridge.port", "--audit-log=" + dir + "/bridge-audit.jsonl",
                                 "--metrics-listen=127.0.0.1:0", "--metrics-port-file=" + dir + "/bridge-metrics.port"},
        std::map<std::string, std::string>{}, dir + "/bridge.log");
    const int bridge_port = WaitForPortFile(dir + "/bridge.port", absl::Seconds(30));
    bridge_metrics_port_ = WaitForPortFile(dir + "/bridge-metrics.port", absl::Seconds(30));
    worker_ = std::make_unique<Process>(
        Cluster::Bin("baton-worker"),
        std::vector<std::string>{"--orchestrator=" + cluster_->address(), "--worker-id=metrics-worker",
                                 "--concurrency=2", "--heartbeat-ms=300", "--model-retries=2",
                                 "--drain-timeout-ms=5000", "--tool-bridge=127.0.0.1:" + std::to_string(bridge_port),
                                 "--metrics-listen=127.0.0.1:0", "--metrics-port-file=" + dir + "/worker-metrics.port"},
        std::map<std::string, std::string>{{"ANTHROPIC_BASE_URL", cluster_->sim_url()},
                                           {"ANTHROPIC_API_KEY", "test-key"}},
        dir + "/worker.log");
    worker_metrics_port_ = WaitForPortFile(dir + "/worker-metrics.port", absl::Seconds(30));
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Process> bridge_;
  std::unique_ptr<Process> worker_;
  int bridge_metrics_port_ = 0;
  int worker_metrics_port_ = 0;
};

TEST_F(MetricsTest, EachProcessCountsWhatAToolUsingRunDid) {
  const Exposition orchestrator_before = Scrape(cluster_->orchestrator_metrics_port());
  const Exposition worker_before = Scrape(worker_metrics_port_);
  const Exposition bridge_before = Scrape(bridge_metrics_port_);

  // Two model calls with every kind of token (the scripted usage overwrites the
  // simulator's), one MCP tool call between them.
  cluster_->SimScript(json::array({
      {{"content", {{{"type", "tool_use"}, {"name", "mcp__everything__echo"}, {"input", {{"message", "metered"}}}}}},
       {"usage", {{"input_tokens", 120}, {"output_tokens", 30}, {"cache_creation_input_tokens", 400},
                  {"cache_read_input_tokens", 0}}}},
      {{"content", "Echoed."},
       {"usage", {{"input_tokens", 80}, {"output_tokens", 12}, {"cache_creation_input_tokens", 0},
                  {"cache_read_input_tokens", 400}}}},
  }));
  v1::CreateRunRequest request;
  v1::AgentSpec* agent = request.mutable_agent();
  agent->set_name("metered");
  agent->set_model(kModel);
  agent->set_max_steps(5);
  agent->add_allowed_tools("mcp__everything__echo");
  request.set_input("Echo something.");
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run created;
  grpc::Status status = cluster_->runs().CreateRun(&ctx, request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::Run run = cluster_->WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_EQ(run.output(), "Echoed.");
  const v1::Usage& usage = run.usage();
  ASSERT_EQ(usage.model_calls(), 2);
  ASSERT_EQ(usage.tool_calls(), 1);
  ASSERT_GT(usage.cost_usd(), 0);

  // The worker: tokens by kind and cost as GetRun reports them, two model calls, one
  // tool call, and its slots free again.
  ASSERT_TRUE(WaitUntil([&] { return ValueOr0(Scrape(worker_metrics_port_), "baton_worker_slots_busy") == 0; },
                        absl::Seconds(30)));
  const Exposition worker = Scrape(worker_metrics_port_);
  ExpectTypes(worker, {{"baton_worker_slots", "gauge"},
                       {"baton_worker_slots_busy", "gauge"},
                       {"baton_model_call_seconds", "histogram"},
                       {"baton_model_time_to_first_token_seconds", "histogram"},
                       {"baton_model_tokens_total", "counter"},
                       {"baton_model_cost_usd_total", "counter"},
                       {"baton_tool_call_seconds", "histogram"}});
  // A labelled family shows up with its first series: nothing was retried.
  EXPECT_THAT(worker.Samples("baton_model_retries_total"), ::testing::IsEmpty());
  const std::map<std::string, int64_t> tokens = {
      {"input", usage.input_tokens()},
      {"output", usage.output_tokens()},
      {"cache_write", usage.cache_creation_input_tokens()},
      {"cache_read", usage.cache_read_input_tokens()},
  };
  for (const auto& [kind, expected] : tokens) {
    EXPECT_GT(expected, 0) << kind;
    EXPECT_EQ(Moved(worker_before, worker, "baton_model_tokens_total", {{"model", kModel}, {"kind", kind}}),
              static_cast<double>(expected))
        << kind;
  }
  EXPECT_NEAR(Moved(worker_before, worker, "baton_model_cost_usd_total", {{"model", kModel}}), usage.cost_usd(),
              1e-12);
  EXPECT_EQ(Moved(worker_before, worker, "baton_model_call_seconds_count", {{"model", kModel}, {"outcome", "ok"}}), 2);
  EXPECT_EQ(Moved(worker_before, worker, "baton_model_time_to_first_token_seconds_count", {{"model", kModel}}), 2);
  EXPECT_EQ(Moved(worker_before, worker, "baton_tool_call_seconds_count",
                  {{"tool", "mcp__everything__echo"}, {"outcome", "ok"}}),
            1);
  EXPECT_EQ(worker.Samples("baton_tool_call_seconds_count").size(), 1u) << "only the one tool was called";
  EXPECT_EQ(ValueOr0(worker, "baton_worker_slots"), 2);

  // The bridge: one call of echo, answered ok, and the server up.
  const Exposition bridge = Scrape(bridge_metrics_port_);
  ExpectTypes(bridge, {{"baton_mcp_server_up", "gauge"},
                       {"baton_mcp_server_restarts_total", "counter"},
                       {"baton_mcp_calls_total", "counter"},
                       {"baton_mcp_call_seconds", "histogram"}});
  EXPECT_EQ(Moved(bridge_before, bridge, "baton_mcp_calls_total",
                  {{"server", "everything"}, {"tool", "echo"}, {"outcome", "ok"}}),
            1);
  EXPECT_EQ(bridge.Samples("baton_mcp_calls_total").size(), 1u) << "no other call, no other outcome";
  EXPECT_EQ(Moved(bridge_before, bridge, "baton_mcp_call_seconds_count", {{"server", "everything"}, {"tool", "echo"}}),
            1);
  EXPECT_EQ(bridge.Value("baton_mcp_server_up", {{"server", "everything"}}), 1);
  EXPECT_EQ(bridge.Value("baton_mcp_server_restarts_total", {{"server", "everything"}}), 0);

  // The orchestrator: one lease, started once, the run ended SUCCEEDED and nothing is
  // left queued or running; its journal writes were acknowledged and committed.
  const Exposition orchestrator = Scrape(cluster_->orchestrator_metrics_port());
  ExpectTypes(orchestrator, {{"baton_runs", "gauge"},
                             {"baton_runs_ended_total", "counter"},
                             {"baton_queue_depth", "gauge"},
                             {"baton_queue_oldest_age_seconds", "gauge"},
                             {"baton_leases_granted_total", "counter"},
                             {"baton_leases_expired_total", "counter"},
                             {"baton_fencing_refusals_total", "counter"},
                             {"baton_submit_to_start_seconds", "histogram"},
                             {"baton_append_step_seconds", "histogram"},
                             {"baton_commit_group_size", "histogram"},
                             {"baton_commit_write_seconds", "histogram"},
                             {"baton_watchers", "gauge"},
                             {"baton_live_deltas_dropped_total", "counter"},
                             {"baton_rocksdb_live_sst_bytes", "gauge"},
                             {"baton_rocksdb_memtable_bytes", "gauge"},
                             {"baton_rocksdb_pending_compaction_bytes", "gauge"}});
  EXPECT_EQ(Moved(orchestrator_before, orchestrator, "baton_leases_granted_total"), 1);
  EXPECT_EQ(Moved(orchestrator_before, orchestrator, "baton_leases_expired_total"), 0);
  EXPECT_EQ(Moved(orchestrator_before, orchestrator, "baton_fencing_refusals_total"), 0);
  EXPECT_EQ(Moved(orchestrator_before, orchestrator, "baton_submit_to_start_seconds_count"), 1);
  EXPECT_EQ(Moved(orchestrator_before, orchestrator, "baton_runs_ended_total",
                  {{"namespace", "default"}, {"state", "SUCCEEDED"}}),
            1);
  EXPECT_EQ(orchestrator.Samples("baton_runs_ended_total").size(), 1u) << "no run ended otherwise";
  for (const char* state : {"QUEUED", "RUNNING", "WAITING"}) {
    EXPECT_EQ(orchestrator.Value("baton_runs", {{"namespace", "default"}, {"state", state}}), 0) << state;
  }
  EXPECT_EQ(orchestrator.Value("baton_queue_depth", {{"namespace", "default"}}), 0);
  EXPECT_EQ(orchestrator.Value("baton_queue_oldest_age_seconds", {{"namespace", "default"}}), 0);
  // Turn, tool call and result, turn: at least one AppendStep each way the worker
  // batches them, each a durable group commit.
  EXPECT_GE(Moved(orchestrator_before, orchestrator, "baton_append_step_seconds_count"), 2);
  EXPECT_GE(Moved(orchestrator_before, orchestrator, "baton_commit_write_seconds_count"), 3);
  EXPECT_GE(Moved(orchestrator_before, orchestrator, "baton_commit_group_size_sum"),
            Moved(orchestrator_before, orchestrator, "baton_commit_group_size_count"));
  EXPECT_GT(ValueOr0(orchestrator, "baton_rocksdb_memtable_bytes"), 0);
}

TEST_F(MetricsTest, QueuedRunsShowInTheQueueGaugesUntilAWorkerTakesThem) {
  // No worker may lease: the one started in SetUp goes away first.
  worker_->Kill(SIGTERM);
  ASSERT_GE(worker_->Wait(absl::Seconds(30)), 0);
  const v1::Run queued = cluster_->CreateRun("Wait in the queue.");
  absl::SleepFor(absl::Milliseconds(1500));
  const Exposition orchestrator = Scrape(cluster_->orchestrator_metrics_port());
  EXPECT_EQ(orchestrator.Value("baton_runs", {{"namespace", "default"}, {"state", "QUEUED"}}), 1);
  EXPECT_EQ(orchestrator.Value("baton_queue_depth", {{"namespace", "default"}}), 1);
  const double age = ValueOr0(orchestrator, "baton_queue_oldest_age_seconds", {{"namespace", "default"}});
  EXPECT_GE(age, 1.0);
  EXPECT_LT(age, 600.0);
  EXPECT_EQ(orchestrator.Value("baton_submit_to_start_seconds_count"), 0);
}

// The steps of one AppendSteps call (a worker's batch) go in one synced write, not the
// first alone while the rest are still being decided (RunStore::HoldCommits).
TEST(GroupCommitTest, TheStepsOfOneAppendStepsCallShareOneSyncedWrite) {
  // A bound far above what deciding the batch takes, so a busy machine cannot split it.
  Cluster cluster(ClusterOptions{.workers = 0,
                                 .lease_ttl_ms = 30'000,
                                 .start_sim = false,
                                 .orchestrator_args = {"--commit-hold-ms=10000"},
                                 .metrics = true});
  cluster.Start();
  constexpr int kRuns = 48;
  for (int i = 0; i < kRuns; ++i) cluster.CreateRun("step");
  std::vector<v1::Lease> leases;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::PollTaskRequest request;
    request.set_worker_id("batching-worker");
    request.set_max_tasks(kRuns);
    request.set_wait_ms(5000);
    v1::PollTaskResponse response;
    ASSERT_TRUE(cluster.worker_api().PollTask(&ctx, request, &response).ok());
    ASSERT_TRUE(response.has_task());
    leases.push_back(response.task().lease());
    for (const v1::Task& task : response.more_tasks()) leases.push_back(task.lease());
  }
  ASSERT_EQ(leases.size(), static_cast<size_t>(kRuns)) << "one poll leases every queued run";
  v1::AppendStepsRequest request;
  for (const v1::Lease& lease : leases) {
    v1::AppendStepRequest* step = request.add_steps();
    *step->mutable_lease() = lease;
    v1::ToolResult* result = step->add_entries()->mutable_tool_result();
    result->set_tool_use_id("t1");
    result->set_content_json("\"ok\"");
  }
  const Exposition before = Scrape(cluster.orchestrator_metrics_port());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::AppendStepsResponse response;
  ASSERT_TRUE(cluster.worker_api().AppendSteps(&ctx, request, &response).ok());
  ASSERT_EQ(response.results_size(), kRuns);
  for (const v1::AppendStepResult& result : response.results()) {
    EXPECT_EQ(result.status().code(), 0) << result.status().message();
  }
  const Exposition after = Scrape(cluster.orchestrator_metrics_port());
  EXPECT_EQ(Moved(before, after, "baton_commit_group_size_count"), 1);
  EXPECT_EQ(Moved(before, after, "baton_commit_group_size_sum"), kRuns);
}

// `baton up --metrics`: the orchestrator and each worker serve /metrics on a free port,
// say where, and answer there with their own families.
TEST(BatonUpMetricsTest, EachProcessServesMetricsWhereBatonUpSays) {
  const std::string data_dir = ::testing::TempDir() + "/baton-up-metrics-" + std::to_string(getpid());
  const std::map<std::string, std::string> env = {{"ANTHROPIC_API_KEY", ""}, {"BATON_API_KEY", ""}};
  std::string output;
  ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "up", "--detach", "--data-dir", data_dir, "--port", "0", "--workers",
                        "1", "--no-console", "--metrics"},
                       env, &output, absl::Seconds(120)),
            0)
      << output;
  // Stopped however the test ends: the stack is detached.
  absl::Cleanup down = [&] {
    std::string stopped;
    EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "down", "--data-dir", data_dir}, env, &stopped), 0) << stopped;
  };
  for (const auto& [name, family] : std::map<std::string, std::string>{{"orchestrator", "baton_runs"},
                                                                       {"worker-1", "baton_worker_slots"}}) {
    // Written before `baton up` said the stack was up (it waits for them).
    const int port = WaitForPortFile(data_dir + "/" + name + ".metrics.port", absl::Seconds(1));
    ASSERT_GT(port, 0) << name;
    EXPECT_THAT(output, HasSubstr("Metrics of " + name + ": http://127.0.0.1:" + std::to_string(port) + "/metrics"));
    const Exposition scraped = Scrape(port);
    EXPECT_TRUE(scraped.Type(family).has_value()) << name << " has no " << family;
  }
}

TEST(MetricsFlagsTest, AMetricsPortFileWithoutAnAddressIsRefusedByEveryProcess) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{Cluster::Bin("baton-orchestrator"), "--data-dir=/nonexistent/never",
                                 "--metrics-port-file=/tmp/never.port"},
        std::vector<std::string>{Cluster::Bin("baton-worker"), "--metrics-port-file=/tmp/never.port"},
        std::vector<std::string>{Cluster::Bin("baton-mcp-bridge"), "--config=/nonexistent.json",
                                 "--metrics-port-file=/tmp/never.port"},
        std::vector<std::string>{Cluster::Bin("baton-worker"), "--metrics-listen=nowhere"}}) {
    std::string output;
    EXPECT_EQ(RunCommand(argv, {}, &output), 2) << argv[0] << ": " << output;
    EXPECT_THAT(output, HasSubstr("--metrics-")) << argv[0];
  }
}

}  // namespace
}  // namespace baton::testing
