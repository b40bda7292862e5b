// GrpcInputRequester against a fake orchestrator WorkerService on 127.0.0.1:0:
// RequestInput, the AwaitInput long poll, decisions, deadlines, cancellation and
// retries.
#include "mcp-bridge/grpc_input_requester.h"

#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "common/grpc_server.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using namespace ::baton::mcp::testing;

// RequestInput and AwaitInput as the orchestrator offers them: AwaitInput is held
// until a decision or wait_ms. Scriptable failures. Thread-safe.
class FakeWorkerService final : public v1::WorkerService::CallbackService {
 public:
  ~FakeWorkerService() override { timers_.reset(); }

  grpc::ServerUnaryReactor* RequestInput(grpc::CallbackServerContext* context, const v1::RequestInputRequest* request,
                                         v1::RequestInputResponse* response) override {
    grpc::Status status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(*request);
      if (!request_failures_.empty()) {
        status = request_failures_.front();
        request_failures_.erase(request_failures_.begin());
      } else {
        response->set_approval_id("ap-" + std::to_string(requests_.size()));
      }
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  grpc::ServerUnaryReactor* AwaitInput(grpc::CallbackServerContext* context, const v1::AwaitInputRequest* request,
                                       v1::AwaitInputResponse* response) override {
    auto* parked = new Parked(this, response);
    int64_t id;
    std::optional<v1::ApprovalDecision> decided;
    {
      std::lock_guard<std::mutex> lock(mu_);
      awaits_.push_back(*request);
      auto it = decisions_.find(request->approval_id());
      if (it != decisions_.end()) decided = it->second;
      id = next_parked_++;
      parked->id = id;
      if (!decided.has_value()) parked_[id] = {parked, request->approval_id()};
    }
    if (decided.has_value()) {
      parked->Answer(true, *decided);
      return parked;
    }
    timers_->Schedule(absl::Now() + absl::Milliseconds(request->wait_ms()), [this, id] { Release(id, false, {}); });
    return parked;
  }

  void Decide(const std::string& approval_id, v1::ApprovalDecision decision) {
    std::vector<int64_t> ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      decisions_[approval_id] = decision;
      for (const auto& [id, p] : parked_) {
        if (p.second == approval_id) ids.push_back(id);
      }
    }
    for (int64_t id : ids) Release(id, true, decision);
  }
  void FailNextRequestInputs(std::vector<grpc::Status> failures) {
    std::lock_guard<std::mutex> lock(mu_);
    request_failures_ = std::move(failures);
  }
  std::vector<v1::RequestInputRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<v1::AwaitInputRequest> awaits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return awaits_;
  }
  size_t parked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return parked_.size();
  }
  int cancelled_awaits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_awaits_;
  }

 private:
  // A held AwaitInput; finishes exactly once (decision, wait_ms, or the client's
  // cancel) and deletes itself when gRPC is done with it.
  struct Parked final : grpc::ServerUnaryReactor {
    Parked(FakeWorkerService* s, v1::AwaitInputResponse* r) : service(s), response(r) {}
    void Answer(bool decided, const v1::ApprovalDecision& decision) {
      response->set_decided(decided);
      if (decided) *response->mutable_decision() = decision;
      Finish(grpc::Status::OK);
    }
    void OnCancel() override {
      if (service->Take(id)) {
        {
          std::lock_guard<std::mutex> lock(service->mu_);
          ++service->cancelled_awaits_;
        }
        Finish(grpc::Status::CANCELLED);
      }
    }
    void OnDone() override { delete this; }

    FakeWorkerService* service;
    v1::AwaitInputResponse* response;
    int64_t id = 0;
  };

  bool Take(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return parked_.erase(id) > 0;
  }
  void Release(int64_t id, bool decided, const v1::ApprovalDecision& decision) {
    Parked* p;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = parked_.find(id);
      if (it == parked_.end()) return;
      p = it->second.first;
      parked_.erase(it);
    }
    p->Answer(decided, decision);
  }

  mutable std::mutex mu_;
  std::vector<v1::RequestInputRequest> requests_;
  std::vector<v1::AwaitInputRequest> awaits_;
  std::vector<grpc::Status> request_failures_;
  std::map<std::string, v1::ApprovalDecision> decisions_;
  int64_t next_parked_ = 1;
  std::map<int64_t, std::pair<Parked*, std::string>> parked_;
  int cancelled_awaits_ = 0;
  std::unique_ptr<TimerQueue> timers_ = std::make_unique<TimerQueue>();
};

// What `done` got, and on which thread.
struct Outcome {
  absl::Notification done;
  absl::StatusOr<InputDecision> result = absl::UnknownError("not yet");
  std::thread::id thread;
  int calls = 0;

  std::function<void(absl::StatusOr<InputDecision>)> Callback() {
    return [this](absl::StatusOr<InputDecision> r) {
      ++calls;
      result = std::move(r);
      thread = std::this_thread::get_id();
      done.Notify();
    };
  }
};

InputRequest Request(absl::Duration time_left) {
  InputRequest r;
  r.call = ToolCallRef{"run_1", 4, "toolu_7", "mcp__shop__order"};
  r.message = "Which size?";
  r.requested_schema = json::parse(R"({"type":"object","properties":{"size":{"type":"string"}},"required":["size"]})");
  r.sequence = 2;
  r.deadline = absl::Now() + time_left;
  return r;
}

v1::ApprovalDecision MakeDecision(v1::Decision decision, const std::string& input_json = "") {
  v1::ApprovalDecision d;
  d.set_decision(decision);
  d.set_input_json(input_json);
  d.set_decided_by("ada@example.com");
  return d;
}

class GrpcInputRequesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<StartedServer> started = StartGrpcServer("127.0.0.1:0", {&service_});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
    options_.address = "127.0.0.1:" + std::to_string(server_.port);
    options_.await_wait = absl::Milliseconds(150);  // short polls, so the loop shows
    options_.retry_initial = absl::Milliseconds(20);
    requester_ = std::make_unique<GrpcInputRequester>(options_, timers_);
  }
  void TearDown() override {
    requester_.reset();
    server_.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  }

  TimerQueue timers_;
  FakeWorkerService service_;
  StartedServer server_;
  GrpcInputRequesterOptions options_;
  std::unique_ptr<GrpcInputRequester> requester_;
};

TEST_F(GrpcInputRequesterTest, CreatesTheRequestThenPollsUntilAPersonAccepts) {
  Outcome outcome;
  requester_->Ask(Request(absl::Seconds(30)), outcome.Callback());
  ASSERT_TRUE(Eventually([&] { return service_.requests().size() == 1; }));
  const v1::RequestInputRequest created = service_.requests()[0];
  EXPECT_EQ(created.run_id(), "run_1");
  EXPECT_EQ(created.step(), 4);
  EXPECT_EQ(created.tool_use_id(), "toolu_7");
  EXPECT_EQ(created.tool(), "mcp__shop__order");
  EXPECT_EQ(created.message(), "Which size?");
  EXPECT_EQ(json::parse(created.requested_schema_json()), Request(absl::Seconds(1)).requested_schema);
  EXPECT_EQ(created.sequence(), 2);
  EXPECT_GT(created.timeout_ms(), 25'000);  // what is left of the call's time
  EXPECT_LE(created.timeout_ms(), 30'000);

  // Long polls of the approval, again and again while nobody decides.
  ASSERT_TRUE(Eventually([&] { return service_.awaits().size() >= 3; }));
  for (const v1::AwaitInputRequest& a : service_.awaits()) {
    EXPECT_EQ(a.approval_id(), "ap-1");
    EXPECT_EQ(a.wait_ms(), 150);
  }
  EXPECT_FALSE(outcome.done.HasBeenNotified());

  service_.Decide("ap-1", MakeDecision(v1::ACCEPT, R"({"size":"L"})"));
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(outcome.result->action, InputDecision::Action::kAccept);
  EXPECT_EQ(outcome.result->content, json({{"size", "L"}}));
  EXPECT_EQ(outcome.calls, 1);
}

TEST_F(GrpcInputRequesterTest, DeclineAndCancelComeBackAsTheyWere) {
  Outcome declined;
  requester_->Ask(Request(absl::Seconds(30)), declined.Callback());
  ASSERT_TRUE(Eventually([&] { return service_.parked() == 1; }));
  service_.Decide("ap-1", MakeDecision(v1::DECLINE));
  ASSERT_TRUE(declined.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(declined.result.ok());
  EXPECT_EQ(declined.result->action, InputDecision::Action::kDecline);

  Outcome cancelled;
  requester_->Ask(Request(absl::Seconds(30)), cancelled.Callback());
  ASSERT_TRUE(Eventually([&] { return service_.parked() == 1; }));
  service_.Decide("ap-2", MakeDecision(v1::CANCEL));
  ASSERT_TRUE(cancelled.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(cancelled.result.ok());
  EXPECT_EQ(cancelled.result->action, InputDecision::Action::kCancel);
}

TEST(InputDecisionFromTest, EachDecisionMapsToAnAction) {
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::ACCEPT, R"({"a":1})")).action, InputDecision::Action::kAccept);
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::ACCEPT, R"({"a":1})")).content, json({{"a", 1}}));
  EXPECT_TRUE(InputDecisionFrom(MakeDecision(v1::ACCEPT, "not json")).content.is_discarded());
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::DECLINE)).action, InputDecision::Action::kDecline);
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::DENY)).action, InputDecision::Action::kDecline);
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::CANCEL)).action, InputDecision::Action::kCancel);
  EXPECT_EQ(InputDecisionFrom(MakeDecision(v1::APPROVE)).action, InputDecision::Action::kCancel);
  v1::ApprovalDecision expired = MakeDecision(v1::ACCEPT, R"({"a":1})");
  expired.set_timed_out(true);
  EXPECT_EQ(InputDecisionFrom(expired).action, InputDecision::Action::kCancel);
}

TEST_F(GrpcInputRequesterTest, NobodyDecidingByTheDeadlineIsDeadlineExceeded) {
  Outcome outcome;
  const absl::Time start = absl::Now();
  requester_->Ask(Request(absl::Milliseconds(700)), outcome.Callback());
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(650));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // No poll outlasts the call: the last one waited only for what was left.
  for (const v1::AwaitInputRequest& a : service_.awaits()) EXPECT_LE(a.wait_ms(), 150);
}

TEST_F(GrpcInputRequesterTest, CancelStopsTheLongPollAndNeverAnswersOnTheCallersThread) {
  Outcome outcome;
  const InputRequester::AskId id = requester_->Ask(Request(absl::Seconds(30)), outcome.Callback());
  // A long poll long enough to see it interrupted.
  ASSERT_TRUE(Eventually([&] { return service_.parked() == 1; }));
  requester_->Cancel(id);
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(outcome.thread, std::this_thread::get_id());
  requester_->Cancel(id);  // after the end: nothing
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(outcome.calls, 1);
}

TEST_F(GrpcInputRequesterTest, AnOrchestratorThatFailsForAMomentIsAskedAgain) {
  service_.FailNextRequestInputs({grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"),
                                  grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting")});
  Outcome outcome;
  requester_->Ask(Request(absl::Seconds(30)), outcome.Callback());
  ASSERT_TRUE(Eventually([&] { return service_.parked() == 1; }));
  EXPECT_EQ(service_.requests().size(), 3u);
  service_.Decide("ap-3", MakeDecision(v1::DECLINE));
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(outcome.result->action, InputDecision::Action::kDecline);
}

TEST_F(GrpcInputRequesterTest, ARefusalEndsTheAsk) {
  service_.FailNextRequestInputs({grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the run is not running")});
  Outcome outcome;
  requester_->Ask(Request(absl::Seconds(30)), outcome.Callback());
  ASSERT_TRUE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(outcome.result.status().message()), ::testing::HasSubstr("not running"));
  EXPECT_EQ(service_.requests().size(), 1u);
}

TEST_F(GrpcInputRequesterTest, DestroyingTheRequesterEndsEveryAsk) {
  Outcome outcome;
  requester_->Ask(Request(absl::Seconds(30)), outcome.Callback());
  ASSERT_TRUE(Eventually([&] { return service_.parked() == 1; }));
  requester_.reset();
  ASSERT_TRUE(outcome.done.HasBeenNotified());
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(Eventually([&] { return service_.cancelled_awaits() == 1; }));
}

}  // namespace
}  // namespace baton::mcp
