// What a client written from proto/ alone relies on (issue "The API as a contract"):
// page tokens only the orchestrator can make, a step's start visible while its model
// call is in flight, server reflection v1, and WorkerService kept off the client
// address when it has a listener of its own, label filters, counts by state, WhoAmI
// without --auth, and WatchRunBatched giving WatchRun's events in fewer messages.
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "baton/v1/auth.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

void ExpectRefusedToken(const grpc::Status& s, const std::string& what) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what << ": " << s.error_message();
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << what << ": " << s.error_message();
}

grpc::Status ListRunsPage(Cluster& cluster, const std::string& ns, const std::string& token, int page_size,
                          v1::ListRunsResponse* page, v1::RunState state = v1::RUN_STATE_UNSPECIFIED) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ListRunsRequest request;
  request.set_namespace_(ns);
  request.set_page_token(token);
  request.set_page_size(page_size);
  request.set_state(state);
  return cluster.runs().ListRuns(&ctx, request, page);
}

grpc::Status ListAgentsPage(Cluster& cluster, const std::string& ns, const std::string& token,
                            v1::ListAgentsResponse* page) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ListAgentsRequest request;
  request.set_namespace_(ns);
  request.set_page_token(token);
  request.set_page_size(1);
  return cluster.agents().ListAgents(&ctx, request, page);
}

v1::Run CreateIn(Cluster& cluster, const std::string& ns, const std::string& input) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CreateRunRequest request;
  *request.mutable_agent() = Cluster::Agent();
  request.set_input(input);
  request.set_namespace_(ns);
  v1::Run run;
  grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

TEST(ApiContractTest, PageTokensAreRefusedUnlessIssuedForTheSameListing) {
  ClusterOptions options;
  options.workers = 0;  // runs stay queued: listing is what is tested
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  for (int i = 0; i < 3; ++i) CreateIn(cluster, "team-a", "a" + std::to_string(i));
  for (int i = 0; i < 3; ++i) CreateIn(cluster, "team-b", "b" + std::to_string(i));
  for (const char* ns : {"team-a", "team-b"}) {
    for (const char* name : {"alpha", "beta"}) {
      grpc::ClientContext ctx;
      SetDeadline(ctx);
      v1::PutAgentRequest request;
      *request.mutable_agent() = Cluster::Agent();
      request.mutable_agent()->set_name(name);
      request.set_namespace_(ns);
      v1::PutAgentResponse response;
      ASSERT_TRUE(cluster.agents().PutAgent(&ctx, request, &response).ok());
    }
  }

  // Made-up tokens, including one that looks like a run id (what tokens were before).
  v1::ListRunsResponse runs;
  const std::string run_id_token = CreateIn(cluster, "team-a", "a3").run_id();
  for (const std::string& token : {std::string("garbage"), run_id_token, std::string("team-a/run_zzzzzzzz")}) {
    ExpectRefusedToken(ListRunsPage(cluster, "team-a", token, 2, &runs), "ListRuns " + token);
  }
  v1::ListAgentsResponse agents;
  ExpectRefusedToken(ListAgentsPage(cluster, "team-a", "garbage", &agents), "ListAgents garbage");
  ExpectRefusedToken(ListAgentsPage(cluster, "team-a", "alpha", &agents), "ListAgents with a name as token");
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ListGraphsRequest request;
    request.set_page_token("garbage");
    v1::ListGraphsResponse graphs;
    ExpectRefusedToken(cluster.graphs().ListGraphs(&ctx, request, &graphs), "ListGraphs garbage");
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ListApprovalsRequest request;
    request.set_page_token("garbage");
    v1::ListApprovalsResponse approvals;
    ExpectRefusedToken(cluster.runs().ListApprovals(&ctx, request, &approvals), "ListApprovals garbage");
  }

  // A real token works for its own listing, and only there.
  ASSERT_TRUE(ListRunsPage(cluster, "team-a", "", 2, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 2);
  const std::string token = runs.next_page_token();
  ASSERT_FALSE(token.empty());
  ExpectRefusedToken(ListRunsPage(cluster, "team-b", token, 2, &runs), "another namespace");
  ExpectRefusedToken(ListRunsPage(cluster, "team-a", token, 2, &runs, v1::QUEUED), "another filter");
  ExpectRefusedToken(ListAgentsPage(cluster, "team-a", token, &agents), "another listing");
  ASSERT_TRUE(ListAgentsPage(cluster, "team-a", "", &agents).ok());
  const std::string agents_token = agents.next_page_token();
  ASSERT_FALSE(agents_token.empty());
  ExpectRefusedToken(ListAgentsPage(cluster, "team-b", agents_token, &agents), "an agent token in another namespace");

  // Tokens outlive a restart: the whole listing, in pages, across one.
  cluster.KillOrchestrator();
  cluster.StartOrchestrator();
  std::vector<std::string> listed;
  std::string next = token;
  for (int pages = 0; !next.empty() && pages < 10; ++pages) {
    grpc::Status s = ListRunsPage(cluster, "team-a", next, 2, &runs);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const v1::Run& run : runs.runs()) listed.push_back(run.run_id());
    next = runs.next_page_token();
  }
  EXPECT_EQ(listed.size(), 2u) << "4 runs in team-a, 2 of them on the first page";
  grpc::Status s = ListAgentsPage(cluster, "team-a", agents_token, &agents);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(agents.agents_size(), 1);
  EXPECT_EQ(agents.agents(0).name(), "beta");
}

// What the runs page of the web console asks for: runs filtered by labels (pages
// whose tokens are bound to the labels), counts by state for the same filter, and who
// the caller is.
TEST(ApiContractTest, RunsFilterByLabelsCountByStateAndWhoAmIAnswersWithoutAuth) {
  ClusterOptions options;
  options.workers = 0;  // runs stay queued
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  auto create = [&](const std::map<std::string, std::string>& labels) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("labelled");
    request.mutable_labels()->insert(labels.begin(), labels.end());
    v1::Run run;
    grpc::Status s = cluster.runs().CreateRun(&ctx, request, &run);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return run.run_id();
  };
  const std::string a1 = create({{"team", "a"}, {"env", "prod"}});
  const std::string a2 = create({{"team", "a"}});
  create({{"team", "b"}, {"env", "prod"}});
  const std::string a3 = create({{"team", "a"}, {"env", "prod"}});
  create({});
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CancelRunRequest cancel;
    cancel.set_run_id(a2);
    v1::Run cancelled;
    ASSERT_TRUE(cluster.runs().CancelRun(&ctx, cancel, &cancelled).ok());
  }

  auto list = [&](const std::map<std::string, std::string>& labels, const std::string& token,
                  v1::ListRunsResponse* page) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ListRunsRequest request;
    request.mutable_labels()->insert(labels.begin(), labels.end());
    request.set_page_size(1);
    request.set_page_token(token);
    return cluster.runs().ListRuns(&ctx, request, page);
  };
  std::vector<std::string> listed;
  std::string token;
  v1::ListRunsResponse page;
  for (int pages = 0; pages < 10; ++pages) {
    grpc::Status s = list({{"team", "a"}, {"env", "prod"}}, token, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const v1::Run& run : page.runs()) listed.push_back(run.run_id());
    token = page.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_EQ(listed, (std::vector<std::string>{a3, a1}));
  ASSERT_TRUE(list({{"team", "a"}}, "", &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());
  ExpectRefusedToken(list({{"team", "b"}}, page.next_page_token(), &page), "a token of other labels");
  ExpectRefusedToken(list({}, page.next_page_token(), &page), "a token of labels without them");
  grpc::Status bad = list({{"", "x"}}, "", &page);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("labels"), std::string::npos) << bad.error_message();

  auto count = [&](const std::map<std::string, std::string>& labels, const std::string& agent) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::CountRunsRequest request;
    request.mutable_labels()->insert(labels.begin(), labels.end());
    request.set_agent_name(agent);
    v1::CountRunsResponse counts;
    grpc::Status s = cluster.runs().CountRuns(&ctx, request, &counts);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::map<v1::RunState, int64_t> by_state;
    for (const v1::StateCount& c : counts.counts()) by_state[c.state()] = c.count();
    return by_state;
  };
  const std::string agent = Cluster::Agent().name();
  EXPECT_EQ(count({}, ""), (std::map<v1::RunState, int64_t>{{v1::QUEUED, 4}, {v1::CANCELLED, 1}}));
  EXPECT_EQ(count({{"team", "a"}}, ""), (std::map<v1::RunState, int64_t>{{v1::QUEUED, 2}, {v1::CANCELLED, 1}}));
  EXPECT_EQ(count({{"env", "prod"}}, agent), (std::map<v1::RunState, int64_t>{{v1::QUEUED, 3}}));
  EXPECT_TRUE(count({}, "no-such-agent").empty());

  v1::IdentityService::Stub identity(grpc::CreateChannel(cluster.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::WhoAmIResponse who;
  grpc::Status s = identity.WhoAmI(&ctx, v1::WhoAmIRequest(), &who);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(who.principal(), "");
  EXPECT_EQ(std::vector<std::string>(who.roles().begin(), who.roles().end()), std::vector<std::string>{"admin"});
  EXPECT_EQ(std::vector<std::string>(who.namespaces().begin(), who.namespaces().end()),
            std::vector<std::string>{"*"});
  EXPECT_FALSE(who.auth_enabled());
}

TEST(ApiContractTest, AWatcherSeesAStepStartWhileItsModelCallIsInFlight) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // The simulator holds its answer for 4 s: the step is in flight that long.
  const v1::Run run = cluster.CreateRun("[sim steps=1 sleep_ms=4000 text=Done.] hello");

  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::WatchRunRequest request;
  request.set_run_id(run.run_id());
  request.set_live_text(true);
  auto reader = cluster.runs().WatchRun(&ctx, request);
  std::vector<v1::RunEvent> events;
  int64_t journal_seq_at_live_start = -1;
  v1::RunEvent event;
  while (reader->Read(&event)) {
    if (event.has_step_started() && event.seq() == 0 && journal_seq_at_live_start < 0) {
      // Nothing of the step is journaled yet: the model has not answered.
      journal_seq_at_live_start = cluster.GetRun(run.run_id()).last_journal_seq();
    }
    events.push_back(event);
  }
  ASSERT_TRUE(reader->Finish().ok());

  int live_start = -1, durable_start = -1, step_end = -1;
  for (int i = 0; i < static_cast<int>(events.size()); ++i) {
    const v1::RunEvent& e = events[i];
    if (e.has_step_started() && e.step_started().step() == 0) (e.seq() == 0 ? live_start : durable_start) = i;
    if (e.has_step_finished() && e.step_finished().step() == 0) step_end = i;
  }
  ASSERT_GE(live_start, 0) << "no live StepStarted";
  EXPECT_EQ(events[live_start].step_started().model(), Cluster::Agent().model());
  EXPECT_EQ(journal_seq_at_live_start, 0) << "the live start came after the model answered";
  ASSERT_GE(durable_start, 0) << "the durable StepStarted is still there";
  EXPECT_GT(events[durable_start].seq(), 0);
  EXPECT_LT(live_start, durable_start);
  EXPECT_LT(live_start, step_end);
  EXPECT_EQ(cluster.WaitForEnd(run.run_id()).state(), v1::SUCCEEDED);

  // A watcher of durable events only never sees it.
  for (const v1::RunEvent& e : cluster.Events(run.run_id())) EXPECT_GT(e.seq(), 0);
}

// One request on a fresh reflection v1 stream.
grpc::reflection::v1::ServerReflectionResponse Reflect(const std::string& address,
                                                       const grpc::reflection::v1::ServerReflectionRequest& request) {
  auto stub = grpc::reflection::v1::ServerReflection::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1::ServerReflectionResponse response;
  EXPECT_TRUE(stream->Write(request));
  EXPECT_TRUE(stream->Read(&response));
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
  return response;
}

// WatchRunBatched: WatchRun's events, in its order and with its end, in fewer messages.
std::vector<v1::RunEventBatch> ReadBatches(Cluster& cluster, const std::string& run_id, int64_t after_seq,
                                           grpc::Status* status) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(30));
  v1::WatchRunRequest request;
  request.set_run_id(run_id);
  request.set_after_seq(after_seq);
  auto reader = cluster.runs().WatchRunBatched(&ctx, request);
  std::vector<v1::RunEventBatch> batches;
  v1::RunEventBatch batch;
  while (reader->Read(&batch)) batches.push_back(batch);
  *status = reader->Finish();
  return batches;
}

std::vector<std::string> Flattened(const std::vector<v1::RunEventBatch>& batches) {
  std::vector<std::string> events;
  for (const v1::RunEventBatch& batch : batches) {
    EXPECT_GT(batch.events_size(), 0) << "an empty batch";
    for (const v1::RunEvent& event : batch.events()) events.push_back(event.SerializeAsString());
  }
  return events;
}

TEST(ApiContractTest, WatchRunBatchedSendsWatchRunsEventsInFewerMessages) {
  Cluster cluster(ClusterOptions{});
  cluster.Start();
  // Four steps, 150 ms each: the watch below starts while the run goes on.
  const v1::Run run = cluster.CreateRun("[sim steps=4 tool=echo sleep_ms=150 text=Done.] batched");
  grpc::Status status;
  const std::vector<v1::RunEventBatch> live = ReadBatches(cluster, run.run_id(), 0, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::vector<std::string> each;
  for (const v1::RunEvent& event : cluster.Events(run.run_id())) each.push_back(event.SerializeAsString());
  ASSERT_GT(each.size(), 10u);
  EXPECT_EQ(Flattened(live), each) << "the same events, in the same order, to the same end";
  // A step's events travel together: far fewer messages than events.
  EXPECT_LT(live.size(), each.size() / 2) << live.size() << " messages for " << each.size() << " events";

  // Once the run is over, its events come in one message (at most 64 to a message).
  const std::vector<v1::RunEventBatch> replay = ReadBatches(cluster, run.run_id(), 0, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(replay.size(), 1u);
  EXPECT_EQ(Flattened(replay), each);
  // after_seq: the events after it, as with WatchRun.
  const std::vector<v1::RunEventBatch> tail = ReadBatches(cluster, run.run_id(), 3, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Flattened(tail), std::vector<std::string>(each.begin() + 3, each.end()));

  // The same refusals as WatchRun.
  ReadBatches(cluster, run.run_id(), -1, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("after_seq"), std::string::npos) << status.error_message();
  ReadBatches(cluster, "run_doesnotexist", 0, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

TEST(ApiContractTest, ServerReflectionV1ListsServicesAndServesDescriptors) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();

  grpc::reflection::v1::ServerReflectionRequest list;
  list.set_list_services("");
  const auto listed = Reflect(cluster.address(), list);
  ASSERT_TRUE(listed.has_list_services_response()) << listed.DebugString();
  std::set<std::string> services;
  for (const auto& service : listed.list_services_response().service()) services.insert(service.name());
  for (const char* name : {"baton.v1.RunService", "baton.v1.AgentService", "baton.v1.GraphService",
                           "baton.v1.WorkerService", "baton.v1.IdentityService",
                           "grpc.reflection.v1.ServerReflection"}) {
    EXPECT_EQ(services.count(name), 1u) << name;
  }

  // The file of a method, with every file it imports, as a client needs to call it.
  grpc::reflection::v1::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("baton.v1.RunService.ListRuns");
  const auto files = Reflect(cluster.address(), symbol);
  ASSERT_TRUE(files.has_file_descriptor_response()) << files.DebugString();
  std::set<std::string> names;
  for (const std::string& bytes : files.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    if (names.empty()) {
      EXPECT_EQ(file.name(), "baton/v1/run_service.proto");
      ASSERT_GE(file.service_size(), 1);
      EXPECT_EQ(file.service(0).name(), "RunService");
    }
    names.insert(file.name());
  }
  for (const char* name : {"baton/v1/run.proto", "baton/v1/agent.proto", "baton/v1/graph.proto"}) {
    EXPECT_EQ(names.count(name), 1u) << name << " (an import) is missing";
  }

  grpc::reflection::v1::ServerReflectionRequest by_name;
  by_name.set_file_by_filename("baton/v1/worker_service.proto");
  const auto file = Reflect(cluster.address(), by_name);
  ASSERT_TRUE(file.has_file_descriptor_response()) << file.DebugString();
  EXPECT_GE(file.file_descriptor_response().file_descriptor_proto_size(), 1);

  grpc::reflection::v1::ServerReflectionRequest missing;
  missing.set_file_containing_symbol("baton.v1.NoSuchService");
  const auto error = Reflect(cluster.address(), missing);
  ASSERT_TRUE(error.has_error_response()) << error.DebugString();
  EXPECT_EQ(error.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(error.error_response().error_message().find("baton.v1.NoSuchService"), std::string::npos);
}

TEST(ApiContractTest, WithAWorkerListenerClientsCannotCallWorkerServiceAndWorkersStillRunRuns) {
  ClusterOptions options;
  options.worker_listen = true;
  Cluster cluster(options);
  cluster.Start();
  ASSERT_NE(cluster.worker_address(), cluster.address());

  // The client address does not serve WorkerService at all.
  v1::WorkerService::Stub on_client_address(grpc::CreateChannel(cluster.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::PollTaskRequest poll;
  poll.set_worker_id("impostor");
  poll.set_wait_ms(100);
  v1::PollTaskResponse task;
  grpc::Status s = on_client_address.PollTask(&ctx, poll, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();

  // The worker address serves only WorkerService.
  v1::RunService::Stub on_worker_address(grpc::CreateChannel(cluster.worker_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext list_ctx;
  SetDeadline(list_ctx);
  v1::ListRunsResponse runs;
  s = on_worker_address.ListRuns(&list_ctx, v1::ListRunsRequest(), &runs);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();

  // Workers connected to their address run runs, across an orchestrator restart too.
  const v1::Run first = cluster.CreateRun("[sim steps=2 tool=echo] one");
  EXPECT_EQ(cluster.WaitForEnd(first.run_id()).state(), v1::SUCCEEDED);
  cluster.KillOrchestrator();
  cluster.StartOrchestrator();
  const v1::Run second = cluster.CreateRun("[sim steps=2 tool=echo] two");
  EXPECT_EQ(cluster.WaitForEnd(second.run_id()).state(), v1::SUCCEEDED);
}

}  // namespace
}  // namespace baton::testing
