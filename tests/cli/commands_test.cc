// Drives RunCli against an in-process fake orchestrator: what a user sees and the exit
// codes scripts rely on.
#include "cli/commands.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <google/protobuf/text_format.h>
#include <gmock/gmock.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/graph.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "cli/approvals.h"
#include "cli/up.h"
#include "common/grpc_server.h"

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

v1::RunEvent Event(int64_t seq, const std::string& text_proto, const std::string& run_id = "run_1") {
  v1::RunEvent event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &event)) << text_proto;
  event.set_run_id(run_id);
  event.set_seq(seq);
  return event;
}

template <typename T>
T Proto(const std::string& text_proto) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &message)) << text_proto;
  return message;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The approvals the fake serves: a gated tool call, two MCP input requests (one whose
// schema requires a property, one whose schema requires none) and a decided one.
constexpr char kToolApproval[] = "run_1:1:toolu_2";
constexpr char kInputRequest[] = "run_1:1:elicit_1";
constexpr char kOptionalInputRequest[] = "run_1:1:elicit_2";
constexpr char kDeniedApproval[] = "run_1:0:toolu_1";

std::map<std::string, v1::Approval> SeedApprovals() {
  std::map<std::string, v1::Approval> approvals;
  auto add = [&approvals](const std::string& text_proto) {
    v1::Approval approval = Proto<v1::Approval>(text_proto);
    approvals[approval.approval_id()] = approval;
  };
  add(absl::StrCat(R"pb(approval_id: 'run_1:1:toolu_2' run_id: 'run_1' kind: TOOL_CALL tool: 'sleep'
                       input_json: '{"seconds":5}' state: PENDING expire_time_ms: )pb",
                   NowMs() + 3'630'000));
  add(R"pb(approval_id: 'run_1:1:elicit_1' run_id: 'run_1' kind: ELICITATION tool: 'mcp__travel__book'
           message: 'Which date?' state: PENDING
           input_schema_json: '{"type":"object","properties":{"date":{"type":"string"}},"required":["date"]}')pb");
  add(R"pb(approval_id: 'run_1:1:elicit_2' run_id: 'run_1' kind: ELICITATION tool: 'mcp__travel__book'
           message: 'Anything else?' state: PENDING
           input_schema_json: '{"type":"object","properties":{"note":{"type":"string"}}}')pb");
  add(R"pb(approval_id: 'run_1:0:toolu_1' run_id: 'run_1' kind: TOOL_CALL tool: 'sleep' state: DECIDED
           decision { decision: DENY message: 'no' decided_by: 'bob' })pb");
  return approvals;
}

std::vector<v1::RunEvent> SucceedingRun() {
  return {
      Event(1, "state_changed { state: QUEUED }"),
      Event(2, "state_changed { state: RUNNING attempt: 1 worker_id: 'worker-1' }"),
      Event(3, "step_started { step: 1 model: 'claude-sonnet-4-5' }"),
      Event(4, R"(tool_call_started { step: 1 tool_use_id: 't1' name: 'sum' input_json: '{"numbers":[17,25]}' })"),
      Event(5, "tool_call_finished { step: 1 tool_use_id: 't1' name: 'sum' output_preview: '42' duration_ms: 1 }"),
      Event(6, "step_finished { step: 1 stop_reason: 'tool_use' usage { input_tokens: 10 output_tokens: 5 } }"),
      Event(7, "text { step: 2 text: '17 + 25 = 42.' }"),
      Event(8, "final_output { text: '17 + 25 = 42.' usage { model_calls: 2 tool_calls: 1 } }"),
      Event(9, "state_changed { state: SUCCEEDED }"),
  };
}

// A scriptable RunService + AgentService + GraphService. Thread-safe.
class FakeOrchestrator final : public v1::RunService::Service,
                               public v1::AgentService::Service,
                               public v1::GraphService::Service {
 public:
  grpc::Status CreateRun(grpc::ServerContext*, const v1::CreateRunRequest* request, v1::Run* run) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_create_ = *request;
    ++creates_;
    if (request->agent().max_steps() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "agent.max_steps: must be >= 0, got -1");
    }
    if (request->graph().nodes_size() > 0 && request->graph().nodes(0).id() == "bad id") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "nodes[0].id: \"bad id\" is not a node id");
    }
    if (request->input() == "too big") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "input: larger than 8 MiB");
    }
    run->set_run_id("run_1");
    run->set_state(v1::QUEUED);
    run->set_input(request->input());
    return grpc::Status::OK;
  }
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest* request, v1::Run* run) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request->run_id() == "run_w") {  // a child run waiting for its own child, an approval
      *run = Proto<v1::Run>(absl::StrCat(R"pb(
          run_id: 'run_w' state: WAITING agent { name: 'researcher' model: 'm' } input: 'dig'
          parent_run_id: 'run_1' root_run_id: 'run_1' depth: 1 parent_tool_use_id: 'toolu_9'
          session_id: 'chat-7' session_seq: 3 continue_from: 'run_0' forked_from: 'run_x' forked_at_seq: 12
          children: 1 tree_usage { model_calls: 4 }
          waits { tool_use_id: 'toolu_a' child_run_id: 'run_c1' name: 'summarizer' }
          waits { tool_use_id: 'toolu_b' approval_id: 'run_w:2:toolu_b' name: 'sleep' expire_time_ms: )pb",
                                         NowMs() + 7'230'000, R"pb( }
          waits { tool_use_id: 'toolu_c' child_run_id: 'run_c2' name: 'critic' done: true })pb"));
      return grpc::Status::OK;
    }
    if (request->run_id() != "run_1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("run \"", request->run_id(), "\" not found"));
    }
    run->set_run_id(request->run_id());
    run->set_state(final_state_);
    return grpc::Status::OK;
  }
  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_list_ = *request;
    v1::Run* run = response->add_runs();
    run->set_run_id("run_1");
    run->set_state(v1::SUCCEEDED);
    run->set_input("hello");
    run = response->add_runs();
    run->set_run_id("run_2");
    run->set_state(v1::WAITING);
    run->set_input("wait");
    response->set_next_page_token("next");
    return grpc::Status::OK;
  }
  grpc::Status WatchRun(grpc::ServerContext*, const v1::WatchRunRequest* request,
                        grpc::ServerWriter<v1::RunEvent>* writer) override {
    return Watch("WatchRun", *request, [&](const std::vector<v1::RunEvent>& events) {
      for (const v1::RunEvent& event : events) writer->Write(event);
    });
  }
  // Two events to a message (the last may hold one), so a message's events and a
  // break between two messages are both exercised.
  grpc::Status WatchRunBatched(grpc::ServerContext*, const v1::WatchRunRequest* request,
                               grpc::ServerWriter<v1::RunEventBatch>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (refuse_batched_ != grpc::StatusCode::OK) {
        watch_methods_.push_back("WatchRunBatched");
        return grpc::Status(refuse_batched_, "unknown method");
      }
    }
    return Watch("WatchRunBatched", *request, [&](const std::vector<v1::RunEvent>& events) {
      for (size_t i = 0; i < events.size(); i += 2) {
        v1::RunEventBatch batch;
        for (size_t j = i; j < std::min(i + 2, events.size()); ++j) *batch.add_events() = events[j];
        writer->Write(batch);
      }
    });
  }
  // The scripted events after the request's after_seq, handed to `write`; with a break
  // scripted, the first break_after of them and then UNAVAILABLE.
  grpc::Status Watch(const std::string& method, const v1::WatchRunRequest& request,
                     const std::function<void(const std::vector<v1::RunEvent>&)>& write) {
    std::vector<v1::RunEvent> events;
    bool break_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch_requests_.push_back(request);
      watch_methods_.push_back(method);
      events = events_;
      break_now = break_after_ > 0;
    }
    std::vector<v1::RunEvent> sent;
    for (const v1::RunEvent& event : events) {
      // after_seq applies to the watched run only; subagents' events come again.
      if (event.run_id() == request.run_id() && event.seq() <= request.after_seq()) continue;
      if (break_now && static_cast<int>(sent.size()) == break_after_) {
        write(sent);
        std::lock_guard<std::mutex> lock(mu_);
        break_after_ = 0;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "orchestrator restarting");
      }
      sent.push_back(event);
    }
    write(sent);
    return grpc::Status::OK;
  }
  grpc::Status CancelRun(grpc::ServerContext*, const v1::CancelRunRequest* request, v1::Run* run) override {
    run->set_run_id(request->run_id());
    run->set_state(v1::RUNNING);
    run->set_cancel_requested(true);
    return grpc::Status::OK;
  }
  grpc::Status GetTranscript(grpc::ServerContext*, const v1::GetTranscriptRequest* request,
                             v1::Transcript* transcript) override {
    transcript->set_run_id(request->run_id());
    transcript->set_input("What is 17 + 25?");
    return grpc::Status::OK;
  }
  grpc::Status ListApprovals(grpc::ServerContext*, const v1::ListApprovalsRequest* request,
                             v1::ListApprovalsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_list_approvals_ = *request;
    for (const auto& [id, approval] : approvals_) {
      const bool pending = approval.state() == v1::Approval::PENDING;
      if (request->filter() == v1::ListApprovalsRequest::PENDING && !pending) continue;
      if (request->filter() == v1::ListApprovalsRequest::DECIDED && pending) continue;
      if (id == kOptionalInputRequest) continue;  // keeps the table short
      *response->add_approvals() = approval;
    }
    response->set_next_page_token("p2");
    return grpc::Status::OK;
  }
  grpc::Status GetApproval(grpc::ServerContext*, const v1::GetApprovalRequest* request,
                           v1::Approval* approval) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++get_approvals_;
    auto it = approvals_.find(request->approval_id());
    if (it == approvals_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("approval \"", request->approval_id(), "\" not found"));
    }
    *approval = it->second;
    return grpc::Status::OK;
  }
  // Like the orchestrator: another decision on a decided request, and an edited input
  // the schema refuses, are errors.
  grpc::Status DecideApproval(grpc::ServerContext*, const v1::DecideApprovalRequest* request,
                              v1::Approval* approval) override {
    std::lock_guard<std::mutex> lock(mu_);
    decides_.push_back(*request);
    auto it = approvals_.find(request->approval_id());
    if (it == approvals_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such approval");
    if (it->second.state() != v1::Approval::PENDING) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("approval ", request->approval_id(), " was already decided: DENY by bob"));
    }
    if (request->input_json() == R"({"seconds":-1})") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "input_json does not match the tool's input schema: /seconds: must be >= 0");
    }
    *approval = it->second;
    approval->set_state(v1::Approval::DECIDED);
    v1::ApprovalDecision* decision = approval->mutable_decision();
    decision->set_approval_id(request->approval_id());
    decision->set_decision(request->decision());
    decision->set_input_json(request->input_json());
    decision->set_message(request->message());
    decision->set_decided_by(request->decided_by());
    return grpc::Status::OK;
  }
  grpc::Status ForkRun(grpc::ServerContext*, const v1::ForkRunRequest* request, v1::Run* run) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_fork_ = *request;
    run->set_run_id("run_f");
    run->set_state(v1::QUEUED);
    run->set_forked_from(request->run_id());
    run->set_forked_at_seq(request->at_journal_seq());
    return grpc::Status::OK;
  }
  grpc::Status PutAgent(grpc::ServerContext*, const v1::PutAgentRequest* request,
                        v1::PutAgentResponse* response) override {
    *response->mutable_agent() = request->agent();
    response->mutable_agent()->set_version(4);
    return grpc::Status::OK;
  }
  grpc::Status GetAgent(grpc::ServerContext*, const v1::GetAgentRequest* request, v1::AgentSpec* agent) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("agent \"", request->name(), "\" not found"));
  }
  grpc::Status PutGraph(grpc::ServerContext*, const v1::PutGraphRequest* request,
                        v1::PutGraphResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_put_graph_ = request->graph();
    for (const v1::GraphEdge& edge : request->graph().edges()) {
      if (edge.to() == "writr") {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "edges[0] (reviewer -> writr): unknown node \"writr\"");
      }
    }
    *response->mutable_graph() = request->graph();
    response->mutable_graph()->set_version(2);
    return grpc::Status::OK;
  }
  grpc::Status GetGraph(grpc::ServerContext*, const v1::GetGraphRequest* request, v1::GraphSpec* graph) override {
    if (request->name() != "research") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("graph \"", request->name(), "\" not found"));
    }
    const int32_t version = request->version() > 0 ? request->version() : 3;
    *graph = Proto<v1::GraphSpec>(
        absl::StrCat("name: 'research' version: ", version, " nodes { id: 'plan' agent { agent_name: 'planner' } }"));
    return grpc::Status::OK;
  }
  grpc::Status ListGraphs(grpc::ServerContext*, const v1::ListGraphsRequest* request,
                          v1::ListGraphsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (no_graphs_) return grpc::Status::OK;
    if (request->page_token().empty()) {
      *response->add_graphs() = Proto<v1::GraphSpec>(
          "name: 'research' version: 3 description: 'Plans, researches, writes, reviews.' "
          "nodes { id: 'a' } nodes { id: 'b' } nodes { id: 'c' } nodes { id: 'd' }");
      response->set_next_page_token("g2");
    } else {
      *response->add_graphs() = Proto<v1::GraphSpec>("name: 'triage' version: 1 nodes { id: 'router' }");
    }
    return grpc::Status::OK;
  }
  grpc::Status ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest* request,
                          v1::ListAgentsResponse* response) override {
    v1::AgentSpec* agent = response->add_agents();
    agent->set_name("assistant");
    agent->set_version(request->page_token().empty() ? 1 : 2);
    agent->set_model("claude-sonnet-4-5");
    if (request->page_token().empty()) response->set_next_page_token("p2");
    return grpc::Status::OK;
  }

  void Script(std::vector<v1::RunEvent> events, v1::RunState final_state, int break_after = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    events_ = std::move(events);
    final_state_ = final_state;
    break_after_ = break_after;
  }
  v1::CreateRunRequest last_create() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_create_;
  }
  int creates() {
    std::lock_guard<std::mutex> lock(mu_);
    return creates_;
  }
  v1::ListRunsRequest last_list() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_list_;
  }
  std::vector<int64_t> watch_after_seqs() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int64_t> seqs;
    for (const v1::WatchRunRequest& request : watch_requests_) seqs.push_back(request.after_seq());
    return seqs;
  }
  std::vector<v1::WatchRunRequest> watch_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_requests_;
  }
  v1::ListApprovalsRequest last_list_approvals() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_list_approvals_;
  }
  int get_approvals() {
    std::lock_guard<std::mutex> lock(mu_);
    return get_approvals_;
  }
  std::vector<v1::DecideApprovalRequest> decides() {
    std::lock_guard<std::mutex> lock(mu_);
    return decides_;
  }
  v1::ForkRunRequest last_fork() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_fork_;
  }
  v1::GraphSpec last_put_graph() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_put_graph_;
  }
  void AddApproval(const v1::Approval& approval) {
    std::lock_guard<std::mutex> lock(mu_);
    approvals_[approval.approval_id()] = approval;
  }
  void ServeNoGraphs() {
    std::lock_guard<std::mutex> lock(mu_);
    no_graphs_ = true;
  }
  // An orchestrator from before WatchRunBatched: it answers it with `code`.
  void RefuseBatchedWatch(grpc::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_batched_ = code;
  }
  std::vector<std::string> watch_methods() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_methods_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::RunEvent> events_;
  v1::RunState final_state_ = v1::SUCCEEDED;
  int break_after_ = 0;
  int creates_ = 0;
  v1::CreateRunRequest last_create_;
  v1::ListRunsRequest last_list_;
  std::vector<v1::WatchRunRequest> watch_requests_;
  std::vector<std::string> watch_methods_;
  grpc::StatusCode refuse_batched_ = grpc::StatusCode::OK;
  std::map<std::string, v1::Approval> approvals_ = SeedApprovals();
  v1::ListApprovalsRequest last_list_approvals_;
  int get_approvals_ = 0;
  std::vector<v1::DecideApprovalRequest> decides_;
  v1::ForkRunRequest last_fork_;
  v1::GraphSpec last_put_graph_;
  bool no_graphs_ = false;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = StartGrpcServer("127.0.0.1:0", {static_cast<v1::RunService::Service*>(&fake_),
                                                   static_cast<v1::AgentService::Service*>(&fake_),
                                                   static_cast<v1::GraphService::Service*>(&fake_)});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(started->server);
    addr_ = absl::StrCat("127.0.0.1:", started->port);
    dir_ = std::filesystem::path(::testing::TempDir()) / ("commands_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  int Cli(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    args.push_back("--addr=" + addr_);
    return RunCli(std::move(args), out_, err_);
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << contents;
    return path;
  }

  FakeOrchestrator fake_;
  std::unique_ptr<grpc::Server> server_;  // destroyed before fake_
  std::string addr_;
  std::filesystem::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CommandsTest, RpcErrorsPrintCodeAndMessageAndExitOne) {
  EXPECT_EQ(Cli({"get", "nope"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: run \"nope\" not found\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, UnreachableOrchestratorSaysHowToStartIt) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"get", "run_1", "--addr=127.0.0.1:1"}, out, err), kExitFailure);
  EXPECT_THAT(err.str(), StartsWith("error: UNAVAILABLE: "));
  EXPECT_THAT(err.str(), HasSubstr("baton up"));
}

TEST_F(CommandsTest, RunWithWatchPrintsTheIdProgressAndOutputAndExitsZero) {
  fake_.Script(SucceedingRun(), v1::SUCCEEDED);
  std::string agent = WriteFile("agent.json", R"({"name": "assistant", "model": "claude-sonnet-4-5"})");
  EXPECT_EQ(Cli({"run", agent, "What is 17 + 25?", "--watch", "--priority", "5", "--label", "team=infra",
                 "--label=env=dev", "--request-id", "req-1"}),
            kExitOk)
      << err_.str();
  std::string out = out_.str();
  EXPECT_THAT(out, StartsWith("run_1\nstate QUEUED\nstate RUNNING (attempt 1, worker-1)\n"));
  EXPECT_THAT(out, HasSubstr("step 1: model claude-sonnet-4-5\n"));
  EXPECT_THAT(out, HasSubstr("  tool sum {\"numbers\":[17,25]}\n  tool sum -> 42 (1 ms)\n"));
  EXPECT_THAT(out, HasSubstr("  text: 17 + 25 = 42.\n"));
  EXPECT_THAT(out, HasSubstr("output:\n17 + 25 = 42.\nstate SUCCEEDED\n"));

  v1::CreateRunRequest request = fake_.last_create();
  EXPECT_EQ(request.agent().model(), "claude-sonnet-4-5");
  EXPECT_EQ(request.input(), "What is 17 + 25?");
  EXPECT_EQ(request.priority(), 5);
  EXPECT_EQ(request.request_id(), "req-1");
  EXPECT_EQ(request.labels().at("team"), "infra");
  EXPECT_EQ(request.labels().at("env"), "dev");
}

TEST_F(CommandsTest, WatchingARunThatFailedExitsOne) {
  std::vector<v1::RunEvent> events = {
      Event(1, "state_changed { state: RUNNING attempt: 1 }"),
      Event(2, "state_changed { state: FAILED failure_kind: MODEL_ERROR reason: 'model not found' }")};
  fake_.Script(events, v1::FAILED);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitFailure);
  EXPECT_THAT(out_.str(), HasSubstr("state FAILED [MODEL_ERROR]: model not found\n"));
}

TEST_F(CommandsTest, WatchResumesAfterTheLastEventWhenTheStreamBreaks) {
  fake_.Script(SucceedingRun(), v1::SUCCEEDED, /*break_after=*/3);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitOk) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("reconnecting"));
  EXPECT_EQ(fake_.watch_after_seqs(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(fake_.watch_methods(), (std::vector<std::string>{"WatchRunBatched", "WatchRunBatched"}));
  // Every event exactly once.
  std::string out = out_.str();
  EXPECT_EQ(out.find("state QUEUED"), out.rfind("state QUEUED"));
  EXPECT_THAT(out, HasSubstr("step 1: model claude-sonnet-4-5\n  tool sum {"));
}

// An orchestrator from before WatchRunBatched: the watch goes on with WatchRun, and stays
// with it after a break.
TEST_F(CommandsTest, WatchFallsBackToOneEventPerMessageWhereTheBatchedStreamIsUnknown) {
  fake_.RefuseBatchedWatch(grpc::StatusCode::UNIMPLEMENTED);
  fake_.Script(SucceedingRun(), v1::SUCCEEDED, /*break_after=*/3);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.watch_methods(), (std::vector<std::string>{"WatchRunBatched", "WatchRun", "WatchRun"}));
  EXPECT_EQ(fake_.watch_after_seqs(), (std::vector<int64_t>{0, 3}));
  std::string out = out_.str();
  EXPECT_EQ(out.find("state QUEUED"), out.rfind("state QUEUED"));
  EXPECT_THAT(out, HasSubstr("step 1: model claude-sonnet-4-5\n  tool sum {"));
}

// With authentication on, such an orchestrator's role table does not know the method.
TEST_F(CommandsTest, WatchFallsBackToOneEventPerMessageWhereTheRoleTableRefusesTheBatchedStream) {
  fake_.RefuseBatchedWatch(grpc::StatusCode::PERMISSION_DENIED);
  fake_.Script(SucceedingRun(), v1::SUCCEEDED);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.watch_methods(), (std::vector<std::string>{"WatchRunBatched", "WatchRun"}));
  EXPECT_THAT(out_.str(), HasSubstr("state SUCCEEDED"));
}

// --keep is how many backups DIR keeps: refused before any call unless 1 or more.
TEST_F(CommandsTest, AdminBackupKeepIsANumberOfBackups) {
  for (const char* bad : {"0", "-1", "two"}) {
    EXPECT_EQ(Cli({"admin", "backup", "/tmp/backups", "--keep", bad}), kExitUsage) << bad;
    EXPECT_THAT(err_.str(), HasSubstr("--keep")) << bad;
    EXPECT_THAT(err_.str(), HasSubstr("usage: baton admin backup DIR [--keep N]")) << bad;
  }
}

TEST_F(CommandsTest, WatchStartsAfterTheGivenSequence) {
  fake_.Script(SucceedingRun(), v1::SUCCEEDED);
  EXPECT_EQ(Cli({"watch", "run_1", "--after-seq", "7"}), kExitOk);
  EXPECT_EQ(fake_.watch_after_seqs(), (std::vector<int64_t>{7}));
  EXPECT_THAT(out_.str(), Not(HasSubstr("state QUEUED")));
}

TEST_F(CommandsTest, JsonPrintsOneObjectPerLine) {
  fake_.Script(SucceedingRun(), v1::SUCCEEDED);
  std::string agent = WriteFile("agent.json", R"({"model": "m"})");
  EXPECT_EQ(Cli({"run", agent, "hi", "--watch", "--json"}), kExitOk);
  std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + SucceedingRun().size());
  for (const std::string& line : lines) {
    auto json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << line;
  }
  EXPECT_EQ(nlohmann::json::parse(lines[0])["runId"], "run_1");
  EXPECT_EQ(nlohmann::json::parse(lines.back())["stateChanged"]["state"], "SUCCEEDED");
}

TEST_F(CommandsTest, BadAgentFileExitsTwoNamingFileAndFieldWithoutCallingTheServer) {
  std::string agent = WriteFile("agent.json", R"({"modle": "claude-sonnet-4-5"})");
  EXPECT_EQ(Cli({"run", agent, "hi"}), kExitUsage);
  EXPECT_EQ(err_.str(), absl::StrCat("error: ", agent, ": invalid agent: INVALID_ARGUMENT: unknown field \"modle\"\n"));
  EXPECT_EQ(fake_.creates(), 0);
}

TEST_F(CommandsTest, AgentRefusedByTheServerIsReportedLikeALocalFileError) {
  std::string agent = WriteFile("agent.json", R"({"model": "m", "maxSteps": -1})");
  EXPECT_EQ(Cli({"run", agent, "hi"}), kExitUsage);
  EXPECT_EQ(err_.str(), absl::StrCat("error: ", agent,
                                     ": invalid agent: INVALID_ARGUMENT: agent.max_steps: must be >= 0, got -1\n"));
}

TEST_F(CommandsTest, RunByStoredAgentName) {
  fake_.Script({}, v1::SUCCEEDED);
  EXPECT_EQ(Cli({"run", "--agent", "assistant@2", "hello"}), kExitOk);
  EXPECT_EQ(out_.str(), "run_1\n");
  EXPECT_EQ(fake_.last_create().agent_name(), "assistant");
  EXPECT_EQ(fake_.last_create().agent_version(), 2);
  EXPECT_FALSE(fake_.last_create().has_agent());
}

TEST_F(CommandsTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Cli({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(Cli({"get"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("usage: baton get RUN_ID"));
  EXPECT_EQ(Cli({"get", "run_1", "--watch"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--watch does not apply"));
  EXPECT_EQ(Cli({"ls", "--state", "done"}), kExitUsage);
  EXPECT_EQ(Cli({"ls", "--limit", "x"}), kExitUsage);
  EXPECT_EQ(Cli({"run", "a.json", "hi", "--label", "novalue"}), kExitUsage);
  EXPECT_EQ(Cli({"get", "run_1", "--label", "a=b"}), kExitUsage);
  EXPECT_EQ(Cli({"admin"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("expected `admin backup` or `admin restore`"));
  EXPECT_EQ(Cli({"admin", "restore", "only-one-dir"}), kExitUsage);
  EXPECT_EQ(Cli({"namespaces", "put", "team", "--retention", "soon"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--retention: 'soon' is not a period"));
  EXPECT_EQ(fake_.creates(), 0);
}

TEST_F(CommandsTest, HelpAndNoArgumentsPrintUsage) {
  EXPECT_EQ(Cli({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("baton up [--data-dir DIR]"));
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({}, out, err), kExitOk);
  EXPECT_THAT(out.str(), HasSubstr("baton run AGENT.json INPUT") );
}

TEST_F(CommandsTest, ListPassesFiltersAndShowsTheNextPage) {
  EXPECT_EQ(Cli({"ls", "--state", "succeeded", "--agent", "assistant", "--limit", "5", "--page-token", "abc"}),
            kExitOk);
  v1::ListRunsRequest request = fake_.last_list();
  EXPECT_EQ(request.state(), v1::SUCCEEDED);
  EXPECT_EQ(request.agent_name(), "assistant");
  EXPECT_EQ(request.page_size(), 5);
  EXPECT_EQ(request.page_token(), "abc");
  EXPECT_THAT(out_.str(), StartsWith("RUN ID  STATE      AGENT     STEPS  AGE  INPUT\nrun_1   SUCCEEDED  (inline)"));
  EXPECT_THAT(out_.str(), HasSubstr("more: baton ls --page-token next\n"));
}

TEST_F(CommandsTest, AgentsPutRequiresANameAndPrintsTheVersion) {
  std::string nameless = WriteFile("nameless.json", R"({"model": "m"})");
  EXPECT_EQ(Cli({"agents", "put", nameless}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("\"name\" is required"));
  std::string named = WriteFile("named.json", R"({"name": "assistant", "model": "m"})");
  EXPECT_EQ(Cli({"agents", "put", named}), kExitOk);
  EXPECT_EQ(out_.str(), "stored agent assistant version 4\n");
}

TEST_F(CommandsTest, AgentsListFollowsPages) {
  EXPECT_EQ(Cli({"agents", "ls"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("assistant  1"));
  EXPECT_THAT(out_.str(), HasSubstr("assistant  2"));
  EXPECT_EQ(Cli({"agents", "get", "nope"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: agent \"nope\" not found\n");
}

TEST_F(CommandsTest, CancelSaysTheCancelIsPending) {
  EXPECT_EQ(Cli({"cancel", "run_1", "--reason", "enough"}), kExitOk);
  EXPECT_EQ(out_.str(), "cancel requested: run_1 is RUNNING until its worker stops it\n");
}

TEST_F(CommandsTest, CheckOrchestratorUsesTheHealthService) {
  EXPECT_TRUE(CheckOrchestrator(addr_, absl::Seconds(5)).ok());
  EXPECT_FALSE(CheckOrchestrator("127.0.0.1:1", absl::Seconds(1)).ok());
}


// ---- runs that wait ----

// The run's side of a subagent call and an approval: what a person watching sees.
std::vector<v1::RunEvent> WaitingRun() {
  return {
      Event(1, "state_changed { state: RUNNING attempt: 1 worker_id: 'worker-1' }"),
      Event(2, "step_started { step: 0 model: 'm' }"),
      Event(3, "child_started { step: 0 tool_use_id: 'toolu_1' name: 'researcher' child_run_id: 'run_c1' }"),
      Event(4, R"(approval_requested { approval { approval_id: 'run_1:0:toolu_2' run_id: 'run_1' kind: TOOL_CALL
                  tool: 'sleep' input_json: '{"seconds":5}' } })"),
      Event(5, "step_finished { step: 0 stop_reason: 'tool_use' }"),
      Event(6, "waiting { child_run_ids: 'run_c1' approval_ids: 'run_1:0:toolu_2' }"),
      Event(7, "state_changed { state: WAITING }"),
      Event(8, "child_finished { step: 0 tool_use_id: 'toolu_1' child_run_id: 'run_c1' state: SUCCEEDED "
               "output_preview: 'three sources' }"),
      Event(9, "approval_decided { approval_id: 'run_1:0:toolu_2' decision { decision: APPROVE decided_by: 'alice' } }"),
      Event(10, "state_changed { state: QUEUED }"),
      Event(11, "final_output { text: 'done' }"),
      Event(12, "state_changed { state: SUCCEEDED }"),
  };
}

TEST_F(CommandsTest, WatchShowsWhatTheRunWaitsForAndHowToAnswer) {
  fake_.Script(WaitingRun(), v1::SUCCEEDED);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(),
              HasSubstr("step 0: model m\n"
                        "  child run_c1 started (subagent researcher)\n"
                        "  approval needed: sleep {\"seconds\":5}  →  baton approve run_1:0:toolu_2 | "
                        "baton deny run_1:0:toolu_2 --message …\n"
                        "step 0 done: tool_use\n"
                        "waiting for 1 child run / 1 approval\n"
                        "state WAITING\n"
                        "  child run_c1 SUCCEEDED: three sources\n"
                        "  approval run_1:0:toolu_2: APPROVE by alice\n"
                        "state QUEUED\n"));
  EXPECT_FALSE(fake_.watch_requests().at(0).include_children());
}

TEST_F(CommandsTest, WatchChildrenAsksForThemAndPrefixesTheirEventsWithTheirRun) {
  std::vector<v1::RunEvent> events = WaitingRun();
  // The child's own events, interleaved; its end must not end the watch.
  events.insert(events.begin() + 3, Event(1, "state_changed { state: RUNNING attempt: 1 }", "run_c1"));
  events.insert(events.begin() + 8, Event(2, "final_output { text: 'three sources\\nand a table' }", "run_c1"));
  events.insert(events.begin() + 9, Event(3, "state_changed { state: SUCCEEDED }", "run_c1"));
  events.insert(events.begin() + 9, Event(0, "text_delta { step: 0 text: 'live child text' }", "run_c1"));
  fake_.Script(events, v1::SUCCEEDED, /*break_after=*/9);
  EXPECT_EQ(Cli({"watch", "run_1", "--children"}), kExitOk) << err_.str();
  ASSERT_EQ(fake_.watch_requests().size(), 2u);
  EXPECT_TRUE(fake_.watch_requests()[0].include_children());
  EXPECT_TRUE(fake_.watch_requests()[1].include_children());
  // Resumes after the watched run's last event, not a child's.
  EXPECT_EQ(fake_.watch_after_seqs(), (std::vector<int64_t>{0, 7}));
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("  child run_c1 started (subagent researcher)\n[run_c1] state RUNNING (attempt 1)\n"));
  EXPECT_THAT(out, HasSubstr("[run_c1] output:\n[run_c1] three sources\n[run_c1] and a table\n"));
  EXPECT_THAT(out, HasSubstr("[run_c1] state SUCCEEDED\n  child run_c1 SUCCEEDED: three sources\n"));
  EXPECT_THAT(out, Not(HasSubstr("live child text")));
  // Replayed after the reconnect, printed once.
  EXPECT_EQ(out.find("[run_c1] state RUNNING"), out.rfind("[run_c1] state RUNNING"));
  EXPECT_EQ(out.find("[run_c1] output:"), out.rfind("[run_c1] output:"));
  EXPECT_THAT(out, HasSubstr("state SUCCEEDED\n"));
}

TEST_F(CommandsTest, ChildrenWithoutAWatchIsAUsageError) {
  std::string agent = WriteFile("agent.json", R"({"model": "m"})");
  EXPECT_EQ(Cli({"run", agent, "hi", "--children"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--children goes with --watch"));
  EXPECT_EQ(fake_.creates(), 0);
}

TEST_F(CommandsTest, RunInASessionOrContinuingARun) {
  std::string agent = WriteFile("agent.json", R"({"model": "m"})");
  EXPECT_EQ(Cli({"run", agent, "and then?", "--session", "chat-7"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_create().session_id(), "chat-7");
  EXPECT_EQ(fake_.last_create().continue_from(), "");
  EXPECT_EQ(Cli({"run", "--agent", "assistant", "more", "--continue", "run_0"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_create().continue_from(), "run_0");
  EXPECT_EQ(fake_.last_create().session_id(), "");
  EXPECT_EQ(out_.str(), "run_1\n");

  EXPECT_EQ(Cli({"run", agent, "x", "--session", "s", "--continue", "run_0"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--session and --continue do not go together"));
  EXPECT_EQ(fake_.creates(), 2);
}

TEST_F(CommandsTest, ListFiltersByParentAndSessionAndShowsWaitingRuns) {
  EXPECT_EQ(Cli({"ls", "--parent", "run_1", "--session", "chat-7", "--state", "waiting"}), kExitOk) << err_.str();
  v1::ListRunsRequest request = fake_.last_list();
  EXPECT_EQ(request.parent_run_id(), "run_1");
  EXPECT_EQ(request.session_id(), "chat-7");
  EXPECT_EQ(request.state(), v1::WAITING);
  EXPECT_THAT(out_.str(), HasSubstr("\nrun_2   WAITING    (inline)  0      -    wait\n"));
}

TEST_F(CommandsTest, GetShowsTheTreeSessionForkAndWhatAWaitingRunWaitsFor) {
  EXPECT_EQ(Cli({"get", "run_w"}), kExitOk) << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("state       WAITING\n"));
  EXPECT_THAT(out, HasSubstr("parent      run_1 (root run_1, depth 1)\n"));
  EXPECT_THAT(out, HasSubstr("session     chat-7 #3\n"));
  EXPECT_THAT(out, HasSubstr("continues   run_0\n"));
  EXPECT_THAT(out, HasSubstr("forked      from run_x at journal seq 12\n"));
  EXPECT_THAT(out, HasSubstr("waits for   child run run_c1 (subagent summarizer)\n"
                             "            approval run_w:2:toolu_b (tool sleep, expires in 2h 0m)\n"
                             "            child run run_c2 (subagent critic): done\n"));
  EXPECT_THAT(out, HasSubstr("children    1 (baton ls --parent run_w)\n"));
  EXPECT_THAT(out, HasSubstr("tree usage  4 model calls"));
}

TEST_F(CommandsTest, ForkSendsTheCutTheNewInputAndTheReplacedToolResult) {
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "4", "--input", "try again", "--tool-result", R"(toolu_1="43")",
                 "--label", "why=retry", "--request-id", "fork-1"}),
            kExitOk)
      << err_.str();
  EXPECT_EQ(out_.str(), "run_f\n");
  v1::ForkRunRequest request = fake_.last_fork();
  EXPECT_EQ(request.run_id(), "run_1");
  EXPECT_EQ(request.at_journal_seq(), 4);
  ASSERT_TRUE(request.has_input());
  EXPECT_EQ(request.input(), "try again");
  EXPECT_EQ(request.tool_result().tool_use_id(), "toolu_1");
  EXPECT_EQ(request.tool_result().content_json(), R"("43")");
  EXPECT_EQ(request.labels().at("why"), "retry");
  EXPECT_EQ(request.request_id(), "fork-1");

  // Without --input the input is not replaced (an empty one would be).
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "0"}), kExitOk) << err_.str();
  EXPECT_FALSE(fake_.last_fork().has_input());
  EXPECT_FALSE(fake_.last_fork().has_tool_result());
  EXPECT_EQ(fake_.last_fork().at_journal_seq(), 0);
}

TEST_F(CommandsTest, ForkWithWatchFollowsTheNewRun) {
  std::vector<v1::RunEvent> events = {Event(1, "state_changed { state: QUEUED }", "run_f"),
                                      Event(2, "state_changed { state: SUCCEEDED }", "run_f")};
  fake_.Script(events, v1::SUCCEEDED);
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "2", "--watch"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "run_f\nstate QUEUED\nstate SUCCEEDED\n");
  EXPECT_EQ(fake_.watch_requests().at(0).run_id(), "run_f");
}

TEST_F(CommandsTest, ForkUsageErrors) {
  EXPECT_EQ(Cli({"fork", "run_1"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--at SEQ is required"));
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "-1"}), kExitUsage);
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "x"}), kExitUsage);
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "2", "--tool-result", "toolu_1=42"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("a JSON string"));
  EXPECT_EQ(Cli({"fork", "run_1", "--at", "2", "--tool-result", R"(a="1")", "--tool-result", R"(b="2")"}),
            kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("at most one tool result"));
  EXPECT_EQ(Cli({"get", "run_1", "--tool-result", R"(a="1")"}), kExitUsage);
  EXPECT_EQ(fake_.last_fork().run_id(), "");  // never called
}

TEST_F(CommandsTest, ApprovalsListShowsPendingRequestsWithTheirDeadline) {
  EXPECT_EQ(Cli({"approvals", "ls", "--run", "run_1", "--agent", "assistant", "--limit", "5"}), kExitOk)
      << err_.str();
  v1::ListApprovalsRequest request = fake_.last_list_approvals();
  EXPECT_EQ(request.run_id(), "run_1");
  EXPECT_EQ(request.agent_name(), "assistant");
  EXPECT_EQ(request.filter(), v1::ListApprovalsRequest::PENDING);
  EXPECT_EQ(request.page_size(), 5);
  EXPECT_EQ(out_.str(),
            "ID                RUN    TOOL           INPUT          STATE    EXPIRES / DECISION\n"
            "run_1:1:elicit_1  run_1  input request  Which date?    PENDING  -\n"
            "run_1:1:toolu_2   run_1  sleep          {\"seconds\":5}  PENDING  in 1h 0m\n"
            "more: baton approvals ls --page-token p2\n");
}

TEST_F(CommandsTest, ApprovalsListDecidedOrAll) {
  EXPECT_EQ(Cli({"approvals", "ls", "--decided"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_list_approvals().filter(), v1::ListApprovalsRequest::DECIDED);
  EXPECT_THAT(out_.str(), HasSubstr("run_1:0:toolu_1  run_1  sleep  {}     DECIDED  DENY by bob: no\n"));
  EXPECT_EQ(Cli({"approvals", "ls", "--all", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_list_approvals().filter(), v1::ListApprovalsRequest::ALL);
  auto json = nlohmann::json::parse(out_.str(), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out_.str();
  EXPECT_EQ(json["approvals"].size(), 3u);
  EXPECT_EQ(Cli({"approvals", "ls", "--all", "--decided"}), kExitUsage);
  EXPECT_EQ(Cli({"approvals"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("expected `approvals ls`"));
}

TEST_F(CommandsTest, ApproveDecidesAsTheLocalUserUnlessToldOtherwise) {
  const std::string user = DefaultDecider(std::getenv("USER"));  // $USER, else "cli"
  EXPECT_EQ(Cli({"approve", kToolApproval}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), absl::StrCat("approval run_1:1:toolu_2: APPROVE by ", user, " (tool sleep on run_1)\n"));
  EXPECT_EQ(fake_.get_approvals(), 1);
  ASSERT_EQ(fake_.decides().size(), 1u);
  v1::DecideApprovalRequest request = fake_.decides()[0];
  EXPECT_EQ(request.approval_id(), kToolApproval);
  EXPECT_EQ(request.decision(), v1::APPROVE);
  EXPECT_EQ(request.decided_by(), user);
  EXPECT_EQ(request.input_json(), "");

  EXPECT_EQ(Cli({"approve", kToolApproval, "--as", "carol@example.com"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decided_by(), "carol@example.com");
}

TEST_F(CommandsTest, ApproveWithAnEditedInput) {
  EXPECT_EQ(Cli({"approve", kToolApproval, "--edit", R"({"seconds":1})", "--as", "alice"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::EDIT);
  EXPECT_EQ(fake_.decides().back().input_json(), R"({"seconds":1})");
  EXPECT_EQ(out_.str(), "approval run_1:1:toolu_2: EDIT by alice: {\"seconds\":1} (tool sleep on run_1)\n");

  // Not JSON: refused here, nothing sent.
  EXPECT_EQ(Cli({"approve", kToolApproval, "--edit", "{seconds: 1}"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--edit: not valid JSON"));
  EXPECT_EQ(fake_.decides().size(), 1u);

  // Refused by the server's schema check: its message, exit 1.
  EXPECT_EQ(Cli({"approve", kToolApproval, "--edit", R"({"seconds":-1})"}), kExitFailure);
  EXPECT_EQ(err_.str(),
            "error: INVALID_ARGUMENT: input_json does not match the tool's input schema: /seconds: must be >= 0\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, DenyAndRespondNeedAMessage) {
  EXPECT_EQ(Cli({"deny", kToolApproval}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("`baton deny` needs --message TEXT"));
  EXPECT_EQ(Cli({"respond", kToolApproval}), kExitUsage);
  EXPECT_TRUE(fake_.decides().empty());

  EXPECT_EQ(Cli({"deny", kToolApproval, "--message", "too slow", "--as", "alice"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::DENY);
  EXPECT_EQ(fake_.decides().back().message(), "too slow");
  EXPECT_EQ(out_.str(), "approval run_1:1:toolu_2: DENY by alice: too slow (tool sleep on run_1)\n");

  EXPECT_EQ(Cli({"respond", kToolApproval, "--message", "slept already", "--as", "alice"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::RESPOND);
  EXPECT_EQ(fake_.decides().back().message(), "slept already");
}

TEST_F(CommandsTest, DecidingAnAlreadyDecidedOrUnknownRequestExitsOne) {
  EXPECT_EQ(Cli({"approve", kDeniedApproval}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: FAILED_PRECONDITION: approval run_1:0:toolu_1 was already decided: DENY by bob\n");
  EXPECT_EQ(Cli({"deny", "run_9:0:x", "--message", "no"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: approval \"run_9:0:x\" not found\n");
}

TEST_F(CommandsTest, InputRequestsAreAcceptedWithContentOrDeclined) {
  // The schema requires "date": approve needs --content.
  EXPECT_EQ(Cli({"approve", kInputRequest}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("needs --content JSON matching its schema"));
  EXPECT_EQ(Cli({"approve", kInputRequest, "--edit", "{}"}), kExitUsage);
  EXPECT_EQ(Cli({"respond", kInputRequest, "--message", "x"}), kExitUsage);
  EXPECT_TRUE(fake_.decides().empty());

  EXPECT_EQ(Cli({"approve", kInputRequest, "--content", R"({"date":"2026-12-01"})", "--as", "alice"}), kExitOk)
      << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::ACCEPT);
  EXPECT_EQ(fake_.decides().back().input_json(), R"({"date":"2026-12-01"})");
  EXPECT_EQ(out_.str(), "approval run_1:1:elicit_1: ACCEPT by alice: {\"date\":\"2026-12-01\"} (input request on run_1)\n");

  // Nothing required: accepting sends an empty object.
  EXPECT_EQ(Cli({"approve", kOptionalInputRequest}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::ACCEPT);
  EXPECT_EQ(fake_.decides().back().input_json(), "{}");

  EXPECT_EQ(Cli({"deny", kOptionalInputRequest}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::DECLINE);
}

TEST_F(CommandsTest, DecisionFlagsOnlyApplyToTheirVerb) {
  EXPECT_EQ(Cli({"approve", kToolApproval, "--message", "x"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--message does not apply to `baton approve`"));
  EXPECT_EQ(Cli({"deny", kToolApproval, "--message", "x", "--edit", "{}"}), kExitUsage);
  EXPECT_EQ(Cli({"approve"}), kExitUsage);
  EXPECT_EQ(fake_.get_approvals(), 0);
}

TEST_F(CommandsTest, HelpShowsTheCommandsForRunsThatWait) {
  EXPECT_EQ(Cli({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("baton approvals ls [--run RUN_ID]"));
  EXPECT_THAT(out_.str(), HasSubstr("baton approve ID [--edit JSON]"));
  EXPECT_THAT(out_.str(), HasSubstr("baton fork RUN_ID --at SEQ"));
  EXPECT_THAT(out_.str(), HasSubstr("--session ID | --continue RUN_ID"));
  EXPECT_EQ(Cli({"fork", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("usage: baton fork RUN_ID --at SEQ"));
}

// ---- graphs ----

constexpr char kGraphJson[] = R"({"name": "research", "nodes": [
    {"id": "plan", "agent": {"agent": {"model": "claude-sonnet-4-5"}}},
    {"id": "write", "agent": {"agent_name": "writer"}}],
  "edges": [{"from": "plan", "to": "write"}]})";

TEST_F(CommandsTest, GraphsPutPrintsNameAndVersion) {
  std::string file = WriteFile("graph.json", kGraphJson);
  EXPECT_EQ(Cli({"graphs", "put", file}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "stored graph research version 2\n");
  EXPECT_EQ(fake_.last_put_graph().nodes_size(), 2);
  EXPECT_EQ(fake_.last_put_graph().nodes(1).agent().agent_name(), "writer");
}

TEST_F(CommandsTest, GraphsPutOfABadFileExitsTwoNamingTheFileWithoutCallingTheServer) {
  std::string file = WriteFile("graph.json", R"({"name": "g", "nodes": [{"id": "a", "agnet": {}}]})");
  EXPECT_EQ(Cli({"graphs", "put", file}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("error: ", file, ": invalid graph: INVALID_ARGUMENT: unknown field \"nodes[0].agnet\"\n"));
  std::string nameless = WriteFile("nameless.json", R"({"nodes": [{"id": "a"}]})");
  EXPECT_EQ(Cli({"graphs", "put", nameless}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("\"name\" is required to store a graph"));
  EXPECT_EQ(Cli({"graphs", "put", (dir_ / "missing.json").string()}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("missing.json: cannot read graph file: No such file or directory"));
  EXPECT_EQ(fake_.last_put_graph().name(), "");  // never called
}

TEST_F(CommandsTest, GraphRefusedByTheServerIsReportedLikeALocalFileError) {
  std::string file = WriteFile("graph.json", R"({"name": "g", "nodes": [{"id": "reviewer"}],
      "edges": [{"from": "reviewer", "to": "writr"}]})");
  EXPECT_EQ(Cli({"graphs", "put", file}), kExitUsage);
  EXPECT_EQ(err_.str(), absl::StrCat("error: ", file,
                                     ": invalid graph: INVALID_ARGUMENT: edges[0] (reviewer -> writr): unknown node "
                                     "\"writr\"\n"));
}

TEST_F(CommandsTest, GraphsGetPrintsTheSpecAsJson) {
  EXPECT_EQ(Cli({"graphs", "get", "research", "--version", "2"}), kExitOk) << err_.str();
  auto json = nlohmann::json::parse(out_.str(), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out_.str();
  EXPECT_EQ(json["name"], "research");
  EXPECT_EQ(json["version"], 2);
  EXPECT_EQ(json["nodes"][0]["agent"]["agentName"], "planner");
  EXPECT_EQ(Cli({"graphs", "get", "nope"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: graph \"nope\" not found\n");
  EXPECT_EQ(Cli({"graphs", "get", "research", "--version", "x"}), kExitUsage);
}

TEST_F(CommandsTest, GraphsLsTablesEveryPage) {
  EXPECT_EQ(Cli({"graphs", "ls"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "NAME      VERSION  NODES  DESCRIPTION\n"
            "research  3        4      Plans, researches, writes, reviews.\n"
            "triage    1        1\n");
  EXPECT_EQ(Cli({"graphs", "ls", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str())["graphs"].size(), 2u);
  fake_.ServeNoGraphs();
  EXPECT_EQ(Cli({"graphs", "ls"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "no graphs (store one with: baton graphs put FILE)\n");
  EXPECT_EQ(Cli({"graphs"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("expected `graphs put`, `graphs get` or `graphs ls`"));
}

TEST_F(CommandsTest, RunGraphFromAFileSendsTheInlineSpec) {
  std::string file = WriteFile("graph.json", kGraphJson);
  EXPECT_EQ(Cli({"run", "--graph", file, "Compare batteries", "--label", "team=r", "--priority", "3"}), kExitOk)
      << err_.str();
  EXPECT_EQ(out_.str(), "run_1\n");
  v1::CreateRunRequest request = fake_.last_create();
  EXPECT_EQ(request.graph().name(), "research");
  EXPECT_EQ(request.graph().nodes_size(), 2);
  EXPECT_EQ(request.graph_name(), "");
  EXPECT_FALSE(request.has_agent());
  EXPECT_EQ(request.input(), "Compare batteries");
  EXPECT_EQ(request.labels().at("team"), "r");
  EXPECT_EQ(request.priority(), 3);
}

TEST_F(CommandsTest, RunGraphByStoredNameAndVersion) {
  EXPECT_EQ(Cli({"run", "--graph", "research@4", "hello"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_create().graph_name(), "research");
  EXPECT_EQ(fake_.last_create().graph_version(), 4);
  EXPECT_FALSE(fake_.last_create().has_graph());
  EXPECT_EQ(Cli({"run", "--graph=triage", "hello"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.last_create().graph_name(), "triage");
  EXPECT_EQ(fake_.last_create().graph_version(), 0);
}

TEST_F(CommandsTest, RunGraphUsageAndFileErrorsExitTwoWithoutCallingTheServer) {
  std::string file = WriteFile("graph.json", kGraphJson);
  EXPECT_EQ(Cli({"run", "--graph", (dir_ / "typo.json").string(), "hi"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("typo.json: cannot read graph file"));
  std::string bad = WriteFile("bad.json", R"({"name": "g", "nodes": []})");
  EXPECT_EQ(Cli({"run", "--graph", bad, "hi"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("error: ", bad, ": invalid graph: INVALID_ARGUMENT: field \"nodes\" is required (a graph has "
                                         "at least one node)\n"));
  EXPECT_EQ(Cli({"run", "--graph", file}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("missing arguments"));
  EXPECT_EQ(Cli({"run", "--graph", file, "a.json", "hi"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("with --graph, give only INPUT"));
  EXPECT_EQ(Cli({"run", "--graph", file, "--agent", "assistant", "hi"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("give --agent or --graph, not both"));
  EXPECT_EQ(Cli({"run", "--graph", file, "hi", "--session", "s"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--session and --continue are for agent runs"));
  EXPECT_EQ(Cli({"run", "--graph", "research@x", "hi"}), kExitUsage);
  EXPECT_EQ(Cli({"run", "--graph", "-", "-"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("cannot both be standard input"));
  EXPECT_EQ(fake_.creates(), 0);
}

TEST_F(CommandsTest, GraphRunRefusalsAreTheFilesUnlessTheyNameTheRequest) {
  std::string bad = WriteFile("graph.json", R"({"nodes": [{"id": "bad id"}]})");
  EXPECT_EQ(Cli({"run", "--graph", bad, "hi"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("error: ", bad,
                         ": invalid graph: INVALID_ARGUMENT: nodes[0].id: \"bad id\" is not a node id\n"));
  std::string good = WriteFile("good.json", kGraphJson);
  EXPECT_EQ(Cli({"run", "--graph", good, "too big"}), kExitFailure);
  EXPECT_EQ(err_.str(), "error: INVALID_ARGUMENT: input: larger than 8 MiB\n");
}

// A research graph as a watch sees it: plan, a map of two items (one fails), the
// writer and a review that loops back once, then approves.
std::vector<v1::RunEvent> GraphRun() {
  return {
      Event(1, "state_changed { state: WAITING }", "run_g"),
      Event(2, "node_started { node: 'plan' visit: 1 child_run_id: 'run_p' }", "run_g"),
      Event(3, R"(node_finished { node: 'plan' visit: 1 child_run_id: 'run_p' state: SUCCEEDED
                  output_preview: '{"tasks":["LFP","NMC"]}' })", "run_g"),
      Event(4, "edge_taken { from: 'plan' to: 'research' }", "run_g"),
      Event(5, "node_started { node: 'research' visit: 1 items: 2 }", "run_g"),
      Event(6, "node_started { node: 'research' visit: 1 item: 1 child_run_id: 'run_r1' }", "run_g"),
      Event(7, "node_started { node: 'research' visit: 1 item: 2 child_run_id: 'run_r2' }", "run_g"),
      Event(8, "node_finished { node: 'research' visit: 1 item: 2 state: FAILED error: 'model error' }", "run_g"),
      Event(9, "map_progress { node: 'research' visit: 1 progress { total: 2 failed: 1 running: 1 } }", "run_g"),
      Event(10, "node_finished { node: 'research' visit: 1 item: 1 state: SUCCEEDED output_preview: 'LFP: safe' }",
            "run_g"),
      Event(11, "map_progress { node: 'research' visit: 1 progress { total: 2 succeeded: 1 failed: 1 } }", "run_g"),
      Event(12, R"(node_finished { node: 'research' visit: 1 state: SUCCEEDED output_preview: '["LFP: safe",null]' })",
            "run_g"),
      Event(13, "edge_taken { from: 'research' to: 'writer' }", "run_g"),
      Event(14, "node_started { node: 'writer' visit: 1 child_run_id: 'run_w1' }", "run_g"),
      Event(15, "node_finished { node: 'writer' visit: 1 state: SUCCEEDED output_preview: 'Draft 1' }", "run_g"),
      Event(16, "edge_taken { from: 'writer' to: 'reviewer' }", "run_g"),
      Event(17, "node_started { node: 'reviewer' visit: 1 child_run_id: 'run_v1' }", "run_g"),
      Event(18, R"(node_finished { node: 'reviewer' visit: 1 state: SUCCEEDED
                   output_preview: '{"approved":false,"feedback":"add costs"}' })", "run_g"),
      Event(19, "edge_taken { from: 'reviewer' to: 'writer' }", "run_g"),
      Event(20, "node_started { node: 'writer' visit: 2 child_run_id: 'run_w2' }", "run_g"),
      Event(21, "node_finished { node: 'writer' visit: 2 state: SUCCEEDED output_preview: 'Draft 2' }", "run_g"),
      Event(22, "edge_taken { from: 'writer' to: 'reviewer' }", "run_g"),
      Event(23, "node_started { node: 'reviewer' visit: 2 child_run_id: 'run_v2' }", "run_g"),
      Event(24, R"(node_finished { node: 'reviewer' visit: 2 state: SUCCEEDED
                   output_preview: '{"approved":true,"feedback":""}' })", "run_g"),
      Event(25, "final_output { text: 'Draft 2' }", "run_g"),
      Event(26, "state_changed { state: SUCCEEDED }", "run_g"),
  };
}

TEST_F(CommandsTest, WatchingAGraphRunShowsTheGraphAdvance) {
  fake_.Script(GraphRun(), v1::SUCCEEDED);
  EXPECT_EQ(Cli({"watch", "run_g"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "state WAITING\n"
            "node plan started (run run_p)\n"
            "node plan finished SUCCEEDED: {\"tasks\":[\"LFP\",\"NMC\"]}\n"
            "edge plan -> research\n"
            "node research started: 2 items\n"
            "  research #1 started (run run_r1)\n"
            "  research #2 started (run run_r2)\n"
            "  research #2 FAILED: model error\n"
            "node research: 1/2 done, 1 failed, 1 running\n"
            "  research #1 SUCCEEDED: LFP: safe\n"
            "node research: 2/2 done, 1 failed, 0 running\n"
            "node research finished SUCCEEDED: [\"LFP: safe\",null]\n"
            "edge research -> writer\n"
            "node writer started (run run_w1)\n"
            "node writer finished SUCCEEDED: Draft 1\n"
            "edge writer -> reviewer\n"
            "node reviewer started (run run_v1)\n"
            "node reviewer finished SUCCEEDED: {\"approved\":false,\"feedback\":\"add costs\"}\n"
            "edge reviewer -> writer\n"
            "node writer started (visit 2, run run_w2)\n"
            "node writer finished SUCCEEDED (visit 2): Draft 2\n"
            "edge writer -> reviewer\n"
            "node reviewer started (visit 2, run run_v2)\n"
            "node reviewer finished SUCCEEDED (visit 2): {\"approved\":true,\"feedback\":\"\"}\n"
            "output:\nDraft 2\n"
            "state SUCCEEDED\n");
}

TEST_F(CommandsTest, RunGraphWithWatchFollowsTheGraphRunAndItsNodesWithChildren) {
  std::vector<v1::RunEvent> events = {
      Event(1, "node_started { node: 'plan' visit: 1 child_run_id: 'run_p' }", "run_1"),
      Event(1, "state_changed { state: RUNNING attempt: 1 }", "run_p"),
      Event(2, "state_changed { state: SUCCEEDED }", "run_p"),
      Event(2, "node_finished { node: 'plan' visit: 1 state: SUCCEEDED output_preview: 'ok' }", "run_1"),
      Event(3, "state_changed { state: SUCCEEDED }", "run_1"),
  };
  fake_.Script(events, v1::SUCCEEDED);
  EXPECT_EQ(Cli({"run", "--graph", "research", "go", "--watch", "--children"}), kExitOk) << err_.str();
  EXPECT_TRUE(fake_.watch_requests().at(0).include_children());
  EXPECT_EQ(out_.str(),
            "run_1\n"
            "node plan started (run run_p)\n"
            "[run_p] state RUNNING (attempt 1)\n"
            "[run_p] state SUCCEEDED\n"
            "node plan finished SUCCEEDED: ok\n"
            "state SUCCEEDED\n");
}

TEST_F(CommandsTest, AGraphsHumanNodeSaysHowToAnswerAndIsAnsweredLikeAnApproval) {
  std::vector<v1::RunEvent> events = {
      Event(1, "node_started { node: 'approve_refund' visit: 1 approval_id: 'run_1:approve_refund:1' }"),
      Event(2, R"(approval_requested { approval { approval_id: 'run_1:approve_refund:1' run_id: 'run_1'
                  kind: GRAPH_NODE tool: 'approve_refund' message: 'Refund order 7?' } })"),
      Event(3, "waiting { approval_ids: 'run_1:approve_refund:1' }"),
      Event(4, "approval_decided { approval_id: 'run_1:approve_refund:1' "
               "decision { decision: RESPOND message: 'refund half' decided_by: 'alice' } }"),
      Event(5, R"(node_finished { node: 'approve_refund' visit: 1 state: SUCCEEDED
                  output_preview: '{"decision":"RESPOND","message":"refund half","decided_by":"alice"}' })"),
      Event(6, "state_changed { state: SUCCEEDED }"),
  };
  fake_.Script(events, v1::SUCCEEDED);
  EXPECT_EQ(Cli({"watch", "run_1"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "node approve_refund started (approval run_1:approve_refund:1)\n"
            "  node approve_refund asks: Refund order 7?\n"
            "    answer: baton approve run_1:approve_refund:1 | baton deny run_1:approve_refund:1 | "
            "baton respond run_1:approve_refund:1 --message …\n"
            "waiting for 1 approval\n"
            "  approval run_1:approve_refund:1: RESPOND by alice: refund half\n"
            "node approve_refund finished SUCCEEDED: {\"decision\":\"RESPOND\",\"message\":\"refund half\","
            "\"decided_by\":\"alice\"}\n"
            "state SUCCEEDED\n");

  fake_.AddApproval(Proto<v1::Approval>(
      "approval_id: 'run_1:approve_refund:1' run_id: 'run_1' kind: GRAPH_NODE tool: 'approve_refund' "
      "message: 'Refund order 7?' state: PENDING"));
  EXPECT_EQ(Cli({"approvals", "ls", "--run", "run_1"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("run_1:approve_refund:1  run_1  node approve_refund  Refund order 7?"));
  EXPECT_EQ(Cli({"deny", "run_1:approve_refund:1", "--as", "alice"}), kExitOk) << err_.str();
  EXPECT_EQ(fake_.decides().back().decision(), v1::DENY);
  EXPECT_EQ(out_.str(), "approval run_1:approve_refund:1: DENY by alice (node approve_refund on run_1)\n");
}

TEST_F(CommandsTest, HelpShowsTheGraphCommands) {
  EXPECT_EQ(Cli({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("baton graphs put FILE"));
  EXPECT_THAT(out_.str(), HasSubstr("baton graphs ls"));
  EXPECT_THAT(out_.str(), HasSubstr("baton run --graph FILE|NAME[@VERSION] INPUT"));
  EXPECT_EQ(Cli({"run", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("baton run --graph FILE|NAME[@VERSION]"));
}

}  // namespace
}  // namespace baton::cli
