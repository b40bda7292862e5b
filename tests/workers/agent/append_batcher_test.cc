// AppendBatcher against a real gRPC server on loopback playing the orchestrator's
// WorkerService: steps that wait while calls are out go together in the next call, each
// step gets its own answer (retry delay included), and an orchestrator without
// AppendSteps still gets every step, one AppendStep each.
#include "workers/append_batcher.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "google/rpc/status.pb.h"

namespace baton::worker {
namespace {

// Answers a step: last_seq = first_seq + entries - 1; run "stale" is refused, run
// "busy" is told to come back in 250 ms.
absl::Status Answer(const v1::AppendStepRequest& step, v1::AppendStepResponse* out) {
  if (step.lease().run_id() == "stale") return absl::FailedPreconditionError("lease on run \"stale\" is stale");
  if (step.lease().run_id() == "busy") {
    return WithRetryDelay(absl::ResourceExhaustedError("commit queue full"), absl::Milliseconds(250));
  }
  out->set_last_seq(step.first_seq() + step.entries_size() - 1);
  return absl::OkStatus();
}

// Holds every AppendSteps call until Release().
class BatchingOrchestrator final : public v1::WorkerService::CallbackService {
 public:
  grpc::ServerUnaryReactor* AppendSteps(grpc::CallbackServerContext* ctx, const v1::AppendStepsRequest* request,
                                        v1::AppendStepsResponse* reply) override {
    for (const v1::AppendStepRequest& step : request->steps()) {
      v1::AppendStepResult* result = reply->add_results();
      absl::Status s = Answer(step, result->mutable_response());
      if (!s.ok()) ToRpcStatus(s, result->mutable_status());
    }
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::MutexLock lock(&mu_);
    sizes_.push_back(request->steps_size());
    if (released_) {
      reactor->Finish(grpc::Status::OK);
    } else {
      held_.push_back(reactor);
    }
    return reactor;
  }

  void WaitForHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto held = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= n; };
    mu_.Await(absl::Condition(&held));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
    for (grpc::ServerUnaryReactor* r : held_) r->Finish(grpc::Status::OK);
    held_.clear();
  }
  std::vector<int> sizes() {
    absl::MutexLock lock(&mu_);
    return sizes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
  std::vector<int> sizes_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// An orchestrator from before AppendSteps: gRPC answers UNIMPLEMENTED for it.
class OldOrchestrator : public v1::WorkerService::CallbackService {
 public:
  grpc::ServerUnaryReactor* AppendStep(grpc::CallbackServerContext* ctx, const v1::AppendStepRequest* request,
                                       v1::AppendStepResponse* reply) override {
    ++appends_;
    return FinishNow(ctx, Answer(*request, reply));
  }
  std::atomic<int> appends_{0};
};

// The same with authentication on: its role table refuses a method it does not know.
class OldOrchestratorWithAuth final : public OldOrchestrator {
 public:
  grpc::ServerUnaryReactor* AppendSteps(grpc::CallbackServerContext* ctx, const v1::AppendStepsRequest*,
                                        v1::AppendStepsResponse*) override {
    return FinishNow(ctx, absl::PermissionDeniedError("method /baton.v1.WorkerService/AppendSteps is not allowed"));
  }
};

struct Server {
  explicit Server(grpc::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    server = builder.BuildAndStart();
  }
  ~Server() { server->Shutdown(); }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  }
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

v1::AppendStepRequest Step(const std::string& run_id, int64_t first_seq, int entries) {
  v1::AppendStepRequest step;
  step.mutable_lease()->set_run_id(run_id);
  step.mutable_lease()->set_epoch(1);
  step.set_first_seq(first_seq);
  for (int i = 0; i < entries; ++i) step.add_entries()->mutable_tool_result()->set_tool_use_id("t");
  return step;
}

struct Outcome {
  v1::AppendStepRequest request;
  v1::AppendStepResponse response;
  grpc::Status status;
};

TEST(AppendBatcherTest, StepsThatWaitGoTogetherEachWithItsOwnAnswer) {
  BatchingOrchestrator service;
  Server server(&service);
  AppendBatcher batcher(server.Channel());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);

  constexpr int kSteps = 12;
  std::vector<Outcome> outcomes(kSteps);
  for (int i = 0; i < kSteps; ++i) {
    const std::string run = i == 5 ? "stale" : i == 7 ? "busy" : "run-" + std::to_string(i);
    outcomes[i].request = Step(run, 10 * i + 1, i % 3 + 1);
  }
  std::vector<std::thread> threads;
  auto append = [&](int i) {
    threads.emplace_back([&, i] {
      outcomes[i].status = batcher.Append(&outcomes[i].request, deadline, &outcomes[i].response);
    });
  };
  // The first two go at once, each alone: nothing else is out.
  append(0);
  service.WaitForHeld(1);
  append(1);
  service.WaitForHeld(2);
  // The other ten arrive while both are held, and wait for one of them to end.
  for (int i = 2; i < kSteps; ++i) append(i);
  while (batcher.queued() < kSteps - 2) absl::SleepFor(absl::Milliseconds(1));
  service.Release();
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(service.sizes(), (std::vector<int>{1, 1, kSteps - 2}));
  EXPECT_EQ(batcher.calls(), 3);
  EXPECT_EQ(batcher.batched_steps(), kSteps);
  for (int i = 0; i < kSteps; ++i) {
    const Outcome& o = outcomes[i];
    // The step is back with its owner, whole.
    EXPECT_EQ(o.request.entries_size(), i % 3 + 1) << i;
    EXPECT_EQ(o.request.first_seq(), 10 * i + 1) << i;
    if (i == 5) {
      EXPECT_EQ(o.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_NE(o.status.error_message().find("stale"), std::string::npos) << o.status.error_message();
    } else if (i == 7) {
      EXPECT_EQ(o.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(RetryDelay(o.status), absl::Milliseconds(250));
    } else {
      ASSERT_TRUE(o.status.ok()) << i << ": " << o.status.error_message();
      EXPECT_EQ(o.response.last_seq(), 10 * i + 1 + i % 3) << i;
    }
  }
}

// Three steps in a row through `service`: each answered, one AppendSteps call (which
// taught the batcher it is not there) and every step sent as AppendStep.
void ExpectEachStepAlone(OldOrchestrator& service) {
  Server server(&service);
  AppendBatcher batcher(server.Channel());
  for (int i = 0; i < 3; ++i) {
    v1::AppendStepRequest step = Step("run", 5 * i + 1, 2);
    v1::AppendStepResponse response;
    grpc::Status status = batcher.Append(&step, absl::Now() + absl::Seconds(30), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.last_seq(), 5 * i + 2);
    EXPECT_EQ(step.entries_size(), 2);
  }
  EXPECT_EQ(batcher.calls(), 1);
  EXPECT_EQ(service.appends_.load(), 3);
}

TEST(AppendBatcherTest, AnOrchestratorWithoutAppendStepsGetsEachStepAlone) {
  OldOrchestrator service;
  ExpectEachStepAlone(service);
}

TEST(AppendBatcherTest, AnOldOrchestratorWithAuthenticationGetsEachStepAlone) {
  OldOrchestratorWithAuth service;
  ExpectEachStepAlone(service);
}

TEST(AppendBatcherTest, AFailedCallFailsEveryStepItCarried) {
  // Nothing listens there: the calls wait for the channel until their deadline.
  int port = 0;
  {
    OldOrchestrator service;
    Server gone(&service);
    port = gone.port;
  }
  AppendBatcher batcher(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  std::vector<Outcome> outcomes(4);
  std::vector<std::thread> threads;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(300);
  for (int i = 0; i < 4; ++i) {
    outcomes[i].request = Step("run-" + std::to_string(i), 1, 1);
    threads.emplace_back(
        [&, i] { outcomes[i].status = batcher.Append(&outcomes[i].request, deadline, &outcomes[i].response); });
  }
  for (std::thread& t : threads) t.join();
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << o.status.error_message();
    EXPECT_EQ(o.request.lease().run_id().substr(0, 4), "run-");
  }
}

}  // namespace
}  // namespace baton::worker
