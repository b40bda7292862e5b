// Bad input gets a clear error naming what is wrong; nothing crashes; the API key
// never reaches storage, events or logs.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

grpc::Status Create(Cluster& cluster, const v1::AgentSpec& agent, const std::string& input = "hi") {
  grpc::ClientContext ctx;
  v1::CreateRunRequest req;
  *req.mutable_agent() = agent;
  req.set_input(input);
  v1::Run run;
  return cluster.runs().CreateRun(&ctx, req, &run);
}

void ExpectInvalid(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message();
}

TEST(BadInputTest, InvalidRequestsNameTheField) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();

  v1::AgentSpec agent = Cluster::Agent();
  agent.set_model("");
  ExpectInvalid(Create(cluster, agent), "agent.model");
  agent = Cluster::Agent();
  agent.set_max_steps(-3);
  ExpectInvalid(Create(cluster, agent), "agent.max_steps");
  agent = Cluster::Agent();
  agent.set_max_tokens_total(-1);
  ExpectInvalid(Create(cluster, agent), "agent.max_tokens_total");
  ExpectInvalid(Create(cluster, Cluster::Agent(), ""), "input");
  {
    grpc::ClientContext ctx;
    v1::PutAgentRequest req;
    *req.mutable_agent() = Cluster::Agent();
    req.mutable_agent()->set_name("");
    v1::PutAgentResponse resp;
    ExpectInvalid(cluster.agents().PutAgent(&ctx, req, &resp), "agent.name");
  }
  {
    grpc::ClientContext ctx;
    v1::CreateRunRequest req;
    req.set_agent_name("no-such-agent");
    req.set_input("hi");
    v1::Run run;
    grpc::Status s = cluster.runs().CreateRun(&ctx, req, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("no-such-agent"), std::string::npos);
  }
  const std::string unknown = "run_00000000000000000000";
  {
    grpc::ClientContext ctx;
    v1::GetRunRequest req;
    req.set_run_id(unknown);
    v1::Run run;
    grpc::Status s = cluster.runs().GetRun(&ctx, req, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find(unknown), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::CancelRunRequest req;
    req.set_run_id(unknown);
    v1::Run run;
    EXPECT_EQ(cluster.runs().CancelRun(&ctx, req, &run).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::WatchRunRequest req;
    req.set_run_id(unknown);
    auto reader = cluster.runs().WatchRun(&ctx, req);
    v1::RunEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::GetTranscriptRequest req;
    req.set_run_id("not-a-run");
    v1::Transcript t;
    ExpectInvalid(cluster.runs().GetTranscript(&ctx, req, &t), "run_id");
  }

  // Agent files through the CLI: malformed JSON and unknown fields.
  const std::string bad_json = cluster.dir() + "/bad.json";
  std::ofstream(bad_json) << "{\"model\": \"claude-sonnet-4-5\",";
  std::string out;
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "run", bad_json, "hi", "--addr", cluster.address()}, {}, &out), 2);
  EXPECT_NE(out.find("bad.json"), std::string::npos) << out;
  const std::string unknown_field = cluster.dir() + "/unknown.json";
  std::ofstream(unknown_field) << R"({"model": "claude-sonnet-4-5", "modle": "x"})";
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "run", unknown_field, "hi", "--addr", cluster.address()}, {}, &out), 2);
  EXPECT_NE(out.find("modle"), std::string::npos) << out;
  const std::string negative = cluster.dir() + "/negative.json";
  std::ofstream(negative) << R"({"model": "claude-sonnet-4-5", "maxSteps": -1})";
  EXPECT_NE(RunCommand({Cluster::Bin("baton"), "run", negative, "hi", "--addr", cluster.address()}, {}, &out), 0);
  EXPECT_NE(out.find("max_steps"), std::string::npos) << out;

  // The orchestrator is still serving.
  EXPECT_FALSE(cluster.CreateRun("still fine").run_id().empty());
}

// A worker cannot name another run's approval: the id of an approval request is the
// run's id, the step and the tool_use_id, or empty (the orchestrator fills it in).
TEST(BadInputTest, AnApprovalRequestCannotNameAnotherRunsApproval) {
  ClusterOptions options;
  options.workers = 0;  // the test plays the worker
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  v1::Run run = cluster.CreateRun("hello");
  const v1::PollTaskResponse polled = cluster.PollTask("test-worker");
  ASSERT_TRUE(polled.has_task());
  auto append = [&](const std::string& approval_id) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::AppendStepRequest req;
    *req.mutable_lease() = polled.task().lease();
    v1::JournalEntry* entry = req.add_entries();
    entry->set_step(0);
    v1::ApprovalRequest* approval = entry->mutable_approval_request();
    approval->set_tool_use_id("t1");
    approval->set_name("echo");
    approval->set_input_json("{}");
    approval->set_approval_id(approval_id);
    v1::AppendStepResponse resp;
    return cluster.worker_api().AppendStep(&ctx, req, &resp);
  };
  ExpectInvalid(append("default/run_other:0:t1"), "entries[0].approval_request.approval_id");
  ExpectInvalid(append(run.run_id() + ":1:t1"), "entries[0].approval_request.approval_id");
  ASSERT_TRUE(append(run.run_id() + ":0:t1").ok());
  std::vector<v1::Approval> approvals = ListApprovals(cluster, run.run_id(), v1::ListApprovalsRequest::ALL);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].approval_id(), run.run_id() + ":0:t1");
}

TEST(BadInputTest, ApiErrorsFailTheRunWithTheApiMessage) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  cluster.SimScript(json::array({{{"match", "trigger-400"},
                                  {"status", 400},
                                  {"error", {{"type", "invalid_request_error"},
                                             {"message", "max_tokens: 999999 > 64000, the maximum for this model"}}}}}));
  v1::Run run = cluster.WaitForEnd(cluster.CreateRun("trigger-400").run_id());
  EXPECT_EQ(run.state(), v1::FAILED);
  EXPECT_EQ(run.failure_kind(), v1::MODEL_ERROR);
  EXPECT_NE(run.error().find("max_tokens: 999999 > 64000"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("invalid_request_error"), std::string::npos) << run.error();
  EXPECT_EQ(run.attempt(), 1);  // a 400 is not retried
  EXPECT_TRUE(cluster.worker(0)->Running());
}

TEST(BadInputTest, WrongApiKeyFailsTheRunWithA401Message) {
  ClusterOptions options;
  options.workers = 1;
  options.sim_env["BATON_SIM_API_KEY"] = "sk-ant-right-key";
  options.worker_env["ANTHROPIC_API_KEY"] = "sk-ant-wrong-key";
  Cluster cluster(options);
  cluster.Start();
  v1::Run run = cluster.WaitForEnd(cluster.CreateRun("[sim steps=1] hi").run_id());
  EXPECT_EQ(run.state(), v1::FAILED);
  EXPECT_EQ(run.failure_kind(), v1::MODEL_ERROR);
  EXPECT_NE(run.error().find("401"), std::string::npos) << run.error();
  EXPECT_NE(run.error().find("authentication_error"), std::string::npos) << run.error();
  EXPECT_EQ(run.error().find("sk-ant-wrong-key"), std::string::npos) << run.error();
  EXPECT_TRUE(cluster.worker(0)->Running());
}

TEST(BadInputTest, ApiKeyNeverReachesStorageEventsOrLogs) {
  const std::string secret = "sk-ant-api03-SECRET-never-store-4242";
  ClusterOptions options;
  options.sim_env["BATON_SIM_API_KEY"] = secret;
  options.worker_env["ANTHROPIC_API_KEY"] = secret;
  Cluster cluster(options);
  cluster.Start();
  // The agent even asks a tool to repeat its input; the key is not in any input.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(cluster.CreateRun("[sim steps=3 tool=echo] run " + std::to_string(i)).run_id());
  std::string everything;
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id);
    ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();  // the key was accepted
    everything += run.DebugString();
    for (const v1::RunEvent& e : cluster.Events(id)) everything += e.DebugString();
    grpc::ClientContext ctx;
    v1::GetTranscriptRequest req;
    req.set_run_id(id);
    v1::Transcript t;
    ASSERT_TRUE(cluster.runs().GetTranscript(&ctx, req, &t).ok());
    everything += t.DebugString();
  }
  everything += cluster.SimRequests().dump();
  EXPECT_EQ(everything.find(secret), std::string::npos);
  // Every byte on disk: RocksDB files (WAL, SSTs, manifest), logs, audit logs.
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(ReadFile(entry.path().string()).find(secret), std::string::npos) << entry.path();
  }
  EXPECT_GT(files, 5);
}

}  // namespace
}  // namespace baton::testing
