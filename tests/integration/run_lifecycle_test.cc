// A run through the real stack: orchestrator + 2 workers + the model simulator.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "common/grpc_channel.h"
#include "common/transcript.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

TEST(RunLifecycleTest, FiveStepToolRunCompletesWithTranscriptEventsAndUsage) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run created = cluster.CreateRun("[sim steps=5 tool=echo] Echo a few things.");
  ASSERT_FALSE(created.run_id().empty());
  EXPECT_EQ(created.state(), v1::QUEUED);

  v1::Run run = cluster.WaitForEnd(created.run_id());
  ASSERT_EQ(run.state(), v1::SUCCEEDED) << run.error();
  EXPECT_EQ(run.steps(), 5);
  EXPECT_EQ(run.usage().model_calls(), 5);
  EXPECT_EQ(run.usage().tool_calls(), 4);
  EXPECT_FALSE(run.output().empty());

  // Transcript: the input, 5 assistant turns, 4 tool-result turns, in API shape.
  grpc::ClientContext ctx;
  v1::GetTranscriptRequest treq;
  treq.set_run_id(run.run_id());
  v1::Transcript transcript;
  ASSERT_TRUE(cluster.runs().GetTranscript(&ctx, treq, &transcript).ok());
  json messages = json::parse(transcript.messages_json());
  ASSERT_EQ(messages.size(), 10u);
  EXPECT_EQ(messages[0]["content"], "[sim steps=5 tool=echo] Echo a few things.");
  int64_t input_tokens = 0, output_tokens = 0;
  int turns = 0, calls = 0, results = 0;
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_model_turn()) {
      ++turns;
      input_tokens += e.model_turn().usage().input_tokens();
      output_tokens += e.model_turn().usage().output_tokens();
      EXPECT_EQ(e.model_turn().model(), "claude-sonnet-4-5");
    }
    calls += e.has_tool_call();
    results += e.has_tool_result();
  }
  EXPECT_EQ(turns, 5);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(results, 4);
  for (int i = 1; i < 10; i += 2) EXPECT_EQ(messages[i]["role"], "assistant");
  for (int i = 2; i < 10; i += 2) {
    EXPECT_EQ(messages[i]["content"][0]["type"], "tool_result");
    EXPECT_EQ(messages[i]["content"][0]["tool_use_id"], messages[i - 1]["content"].back()["id"]);
  }
  // Usage: the run's totals are the sum of the steps, which are what the API reported.
  EXPECT_GT(input_tokens, 0);
  EXPECT_EQ(run.usage().input_tokens(), input_tokens);
  EXPECT_EQ(run.usage().output_tokens(), output_tokens);
  json requests = cluster.SimRequests();
  ASSERT_EQ(requests.size(), 5u);

  // Events: numbered without gaps, steps and tool calls in order, final output, end state.
  std::vector<v1::RunEvent> events = cluster.Events(run.run_id());
  ASSERT_FALSE(events.empty());
  int steps_started = 0, steps_finished = 0, tools_started = 0, tools_finished = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1));
    steps_started += events[i].has_step_started();
    steps_finished += events[i].has_step_finished();
    tools_started += events[i].has_tool_call_started();
    tools_finished += events[i].has_tool_call_finished();
    if (events[i].has_tool_call_finished()) EXPECT_FALSE(events[i].tool_call_finished().is_error());
  }
  EXPECT_EQ(events.front().state_changed().state(), v1::QUEUED);
  EXPECT_EQ(events[1].state_changed().state(), v1::RUNNING);
  EXPECT_EQ(steps_started, 5);
  EXPECT_EQ(steps_finished, 5);
  EXPECT_EQ(tools_started, 4);
  EXPECT_EQ(tools_finished, 4);
  ASSERT_TRUE(events[events.size() - 2].has_final_output());
  EXPECT_EQ(events[events.size() - 2].final_output().text(), run.output());
  EXPECT_EQ(events[events.size() - 2].final_output().usage().input_tokens(), input_tokens);
  EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);

  // WatchRun resumes after a sequence number.
  grpc::ClientContext wctx;
  v1::WatchRunRequest wreq;
  wreq.set_run_id(run.run_id());
  wreq.set_after_seq(events.size() - 3);
  auto reader = cluster.runs().WatchRun(&wctx, wreq);
  std::vector<int64_t> seqs;
  v1::RunEvent event;
  while (reader->Read(&event)) seqs.push_back(event.seq());
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seqs, (std::vector<int64_t>{static_cast<int64_t>(events.size()) - 2,
                                       static_cast<int64_t>(events.size()) - 1,
                                       static_cast<int64_t>(events.size())}));

  // Each tool ran once.
  EXPECT_EQ(cluster.ToolAudit().size(), 4u);
}

TEST(RunLifecycleTest, WatchRunStreamsALiveRunToItsEnd) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run created = cluster.CreateRun("[sim steps=3 tool=echo sleep_ms=200] live");
  std::vector<v1::RunEvent> events = cluster.Events(created.run_id());  // blocks until the end
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state_changed().state(), v1::SUCCEEDED);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1));
}

TEST(RunLifecycleTest, ManyRunsSpreadOverBothWorkersAndListRunsPages) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(cluster.CreateRun("[sim steps=2 tool=echo sleep_ms=100] run " + std::to_string(i)).run_id());
  std::set<std::string> workers;
  for (const std::string& id : ids) {
    v1::Run run = cluster.WaitForEnd(id);
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << run.error();
    workers.insert(run.worker_id().empty() ? "?" : run.worker_id());
  }
  // ListRuns: newest first, in pages, filtered by state.
  std::vector<std::string> listed;
  std::string token;
  do {
    grpc::ClientContext ctx;
    v1::ListRunsRequest req;
    req.set_page_size(5);
    req.set_page_token(token);
    req.set_state(v1::SUCCEEDED);
    v1::ListRunsResponse resp;
    ASSERT_TRUE(cluster.runs().ListRuns(&ctx, req, &resp).ok());
    for (const auto& r : resp.runs()) listed.push_back(r.run_id());
    token = resp.next_page_token();
  } while (!token.empty());
  std::vector<std::string> expected(ids.rbegin(), ids.rend());
  EXPECT_EQ(listed, expected);
  grpc::ClientContext ctx;
  v1::ListRunsRequest req;
  req.set_state(v1::FAILED);
  v1::ListRunsResponse resp;
  ASSERT_TRUE(cluster.runs().ListRuns(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.runs_size(), 0);
}

TEST(RunLifecycleTest, CreateRunIsIdempotentByRequestId) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  v1::Run a = cluster.CreateRun("[sim steps=1] hello", "client-req-7");
  v1::Run b = cluster.CreateRun("[sim steps=1] hello", "client-req-7");
  EXPECT_EQ(a.run_id(), b.run_id());
  EXPECT_EQ(cluster.WaitForEnd(a.run_id()).state(), v1::SUCCEEDED);
  v1::Run c = cluster.CreateRun("[sim steps=1] hello", "client-req-7");
  EXPECT_EQ(c.run_id(), a.run_id());
  EXPECT_EQ(c.state(), v1::SUCCEEDED);
  EXPECT_EQ(cluster.SimRequests().size(), 1u);
}

TEST(RunLifecycleTest, StoredAgentsAreVersioned) {
  ClusterOptions options;
  options.workers = 1;
  Cluster cluster(options);
  cluster.Start();
  for (int version = 1; version <= 2; ++version) {
    grpc::ClientContext ctx;
    v1::PutAgentRequest req;
    *req.mutable_agent() = Cluster::Agent();
    req.mutable_agent()->set_system("version " + std::to_string(version));
    v1::PutAgentResponse resp;
    ASSERT_TRUE(cluster.agents().PutAgent(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.agent().version(), version);
  }
  grpc::ClientContext ctx;
  v1::CreateRunRequest req;
  req.set_agent_name("tester");
  req.set_agent_version(1);
  req.set_input("[sim steps=1] hi");
  v1::Run run;
  ASSERT_TRUE(cluster.runs().CreateRun(&ctx, req, &run).ok());
  EXPECT_EQ(run.agent().system(), "version 1");
  EXPECT_EQ(cluster.WaitForEnd(run.run_id()).state(), v1::SUCCEEDED);
  json sent = cluster.SimRequests()[0]["body"];
  // With prompt caching (the default) the system prompt goes as one text block.
  ASSERT_TRUE(sent["system"].is_array()) << sent["system"];
  EXPECT_EQ(sent["system"][0]["text"], "version 1");
}

// Every server answers grpc.health.v1 and lists its services through reflection,
// so grpcurl and load balancers work without the protos.
TEST(RunLifecycleTest, OrchestratorServesHealthAndReflection) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  auto channel = NewChannel(cluster.address(), ChannelOptions{.tls = cluster.client_tls()});
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  void* tag;
  bool ok;
  auto next = [&]() {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return ok;
  };
  auto bytes = [](const std::string& s) {
    grpc::Slice slice(s);
    return grpc::ByteBuffer(&slice, 1);
  };
  auto text = [](const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    (void)buffer.Dump(&slices);
    std::string out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  };
  {
    // HealthCheckRequest{service: ""} is the empty message; SERVING is status 1.
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", bytes(""), &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    next();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(text(response), std::string("\x08\x01", 2));
  }
  // Probes that name a service: HealthCheckRequest{service: NAME} is field 1.
  for (const std::string name : {"baton.v1.RunService", "baton.v1.AgentService", "baton.v1.WorkerService",
                                 "baton.v1.NoSuchService"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check",
                                      bytes(std::string("\x0a", 1) + static_cast<char>(name.size()) + name), &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    next();
    if (name == "baton.v1.NoSuchService") {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << name;
    } else {
      ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
      EXPECT_EQ(text(response), std::string("\x08\x01", 2)) << name;
    }
  }
  {
    // ServerReflectionRequest{list_services: ""}: field 7, length 0.
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(next());
    call->Write(bytes(std::string("\x3a\x00", 2)), reinterpret_cast<void*>(2));
    ASSERT_TRUE(next());
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(3));
    ASSERT_TRUE(next());
    const std::string listed = text(response);
    for (const char* service : {"baton.v1.RunService", "baton.v1.AgentService", "baton.v1.WorkerService",
                                "grpc.health.v1.Health"}) {
      EXPECT_NE(listed.find(service), std::string::npos) << service;
    }
    call->WritesDone(reinterpret_cast<void*>(4));
    next();
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    next();
  }
}

}  // namespace
}  // namespace baton::testing
