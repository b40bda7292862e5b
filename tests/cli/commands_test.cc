// Drives RunCli against an in-process fake orchestrator: what a user sees and the exit
// codes scripts rely on.
#include "cli/commands.h"

#include <unistd.h>

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
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "cli/up.h"
#include "common/grpc_server.h"

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

v1::RunEvent Event(int64_t seq, const std::string& text_proto) {
  v1::RunEvent event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &event)) << text_proto;
  event.set_run_id("run_1");
  event.set_seq(seq);
  return event;
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

// A scriptable RunService + AgentService. Thread-safe.
class FakeOrchestrator final : public v1::RunService::Service, public v1::AgentService::Service {
 public:
  grpc::Status CreateRun(grpc::ServerContext*, const v1::CreateRunRequest* request, v1::Run* run) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_create_ = *request;
    ++creates_;
    if (request->agent().max_steps() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "agent.max_steps: must be >= 0, got -1");
    }
    run->set_run_id("run_1");
    run->set_state(v1::QUEUED);
    run->set_input(request->input());
    return grpc::Status::OK;
  }
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest* request, v1::Run* run) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request->run_id() != "run_1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("run \"", request->run_id(), "\" not found"));
    }
    run->set_run_id("run_1");
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
    response->set_next_page_token("next");
    return grpc::Status::OK;
  }
  grpc::Status WatchRun(grpc::ServerContext*, const v1::WatchRunRequest* request,
                        grpc::ServerWriter<v1::RunEvent>* writer) override {
    std::vector<v1::RunEvent> events;
    bool break_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch_after_seqs_.push_back(request->after_seq());
      events = events_;
      break_now = break_after_ > 0;
    }
    int sent = 0;
    for (const v1::RunEvent& event : events) {
      if (event.seq() <= request->after_seq()) continue;
      if (break_now && sent == break_after_) {
        std::lock_guard<std::mutex> lock(mu_);
        break_after_ = 0;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "orchestrator restarting");
      }
      writer->Write(event);
      ++sent;
    }
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
  grpc::Status PutAgent(grpc::ServerContext*, const v1::PutAgentRequest* request,
                        v1::PutAgentResponse* response) override {
    *response->mutable_agent() = request->agent();
    response->mutable_agent()->set_version(4);
    return grpc::Status::OK;
  }
  grpc::Status GetAgent(grpc::ServerContext*, const v1::GetAgentRequest* request, v1::AgentSpec* agent) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("agent \"", request->name(), "\" not found"));
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
    return watch_after_seqs_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::RunEvent> events_;
  v1::RunState final_state_ = v1::SUCCEEDED;
  int break_after_ = 0;
  int creates_ = 0;
  v1::CreateRunRequest last_create_;
  v1::ListRunsRequest last_list_;
  std::vector<int64_t> watch_after_seqs_;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = StartGrpcServer("127.0.0.1:0", {static_cast<v1::RunService::Service*>(&fake_),
                                                   static_cast<v1::AgentService::Service*>(&fake_)});
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
  // Every event exactly once.
  std::string out = out_.str();
  EXPECT_EQ(out.find("state QUEUED"), out.rfind("state QUEUED"));
  EXPECT_THAT(out, HasSubstr("step 1: model claude-sonnet-4-5\n  tool sum {"));
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

}  // namespace
}  // namespace baton::cli
