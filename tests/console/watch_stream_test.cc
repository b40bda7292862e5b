// The gateway's WatchRun stream against a fake orchestrator on loopback: it follows the
// run with WatchRunBatched and sends each message's events in one write, and against an
// orchestrator without WatchRunBatched it watches with WatchRun, the browser seeing the
// same events either way. (console_gateway_test covers the stream end to end against a
// real orchestrator.)
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "common/grpc_server.h"
#include "common/proto_json.h"
#include "console/watch_stream.h"

namespace baton::console {
namespace {

// Two messages of two events each: the run's start and step (one live), and its end.
std::vector<v1::RunEvent> ScriptedEvents() {
  std::vector<v1::RunEvent> events(4);
  events[0].set_seq(1);
  events[0].mutable_state_changed()->set_state(v1::RUNNING);
  events[1].mutable_text_delta()->set_text("live");  // seq 0: live, no id
  events[2].set_seq(2);
  events[2].mutable_text()->set_text("done");
  events[3].set_seq(3);
  events[3].mutable_state_changed()->set_state(v1::SUCCEEDED);
  for (v1::RunEvent& e : events) e.set_run_id("run_1");
  return events;
}

class FakeRuns final : public v1::RunService::Service {
 public:
  explicit FakeRuns(grpc::StatusCode refuse_batched) : refuse_batched_(refuse_batched) {}

  grpc::Status WatchRunBatched(grpc::ServerContext*, const v1::WatchRunRequest*,
                               grpc::ServerWriter<v1::RunEventBatch>* writer) override {
    Called("WatchRunBatched");
    if (refuse_batched_ != grpc::StatusCode::OK) return grpc::Status(refuse_batched_, "unknown method");
    const std::vector<v1::RunEvent> events = ScriptedEvents();
    for (size_t i = 0; i < events.size(); i += 2) {
      v1::RunEventBatch batch;
      *batch.add_events() = events[i];
      *batch.add_events() = events[i + 1];
      writer->Write(batch);
    }
    return grpc::Status::OK;
  }
  grpc::Status WatchRun(grpc::ServerContext*, const v1::WatchRunRequest*,
                        grpc::ServerWriter<v1::RunEvent>* writer) override {
    Called("WatchRun");
    for (const v1::RunEvent& event : ScriptedEvents()) writer->Write(event);
    return grpc::Status::OK;
  }

  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  void Called(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(method);
  }

  const grpc::StatusCode refuse_batched_;
  std::mutex mu_;
  std::vector<std::string> calls_;
};

// What the browser's connection was given: every write, in order.
class RecordingResponder final : public HttpResponder {
 public:
  void Send(const HttpResponse&) override { ADD_FAILURE() << "a stream starts, it is not sent whole"; }
  bool Start(int status, const HttpHeaders&) override {
    status_ = status;
    return true;
  }
  bool Write(std::string_view data) override {
    writes.emplace_back(data);
    return true;
  }
  int status_ = 0;
  std::vector<std::string> writes;
};

// Serves one watch of run_1 through the gateway against a fake that answers
// WatchRunBatched with `refuse_batched` (OK: it serves it).
struct Watched {
  std::vector<std::string> calls;
  RecordingResponder responder;
};
Watched Watch(grpc::StatusCode refuse_batched) {
  FakeRuns fake(refuse_batched);
  auto started = StartGrpcServer("127.0.0.1:0", {&fake});
  EXPECT_TRUE(started.ok()) << started.status();
  Watched watched;
  if (!started.ok()) return watched;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", started->port), grpc::InsecureChannelCredentials());
  auto stub = v1::RunService::NewStub(channel);
  v1::WatchRunRequest request;
  request.set_run_id("run_1");
  std::atomic<bool> stopping{false};
  ServeWatch(*stub, request, "", watched.responder, stopping);
  started->server->Shutdown();
  watched.calls = fake.calls();
  return watched;
}

// The scripted events as the browser gets them (the watched run's durable ones with
// their seq as the id), then the end.
std::string ExpectedStream() {
  std::string expected;
  for (const v1::RunEvent& e : ScriptedEvents()) {
    expected += SseEvent("run", e.seq() > 0 ? std::to_string(e.seq()) : "", MessageToJsonLine(e));
  }
  return expected + SseEvent("end", "", R"({"code":"OK"})");
}

std::string Joined(const std::vector<std::string>& writes) {
  std::string all;
  for (const std::string& w : writes) all += w;
  return all;
}

TEST(WatchStreamTest, FollowsTheRunWithTheBatchedStreamAMessagesEventsInOneWrite) {
  Watched watched = Watch(grpc::StatusCode::OK);
  EXPECT_EQ(watched.calls, std::vector<std::string>{"WatchRunBatched"});
  EXPECT_EQ(watched.responder.status_, 200);
  EXPECT_EQ(Joined(watched.responder.writes), ExpectedStream());
  // Two messages and the end: three writes, not five.
  EXPECT_EQ(watched.responder.writes.size(), 3u);
}

TEST(WatchStreamTest, WatchesWithWatchRunWhereTheBatchedStreamIsUnknown) {
  Watched watched = Watch(grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(watched.calls, (std::vector<std::string>{"WatchRunBatched", "WatchRun"}));
  EXPECT_EQ(Joined(watched.responder.writes), ExpectedStream());
}

// With authentication on, such an orchestrator's role table does not know the method.
TEST(WatchStreamTest, WatchesWithWatchRunWhereTheRoleTableRefusesTheBatchedStream) {
  Watched watched = Watch(grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(watched.calls, (std::vector<std::string>{"WatchRunBatched", "WatchRun"}));
  EXPECT_EQ(Joined(watched.responder.writes), ExpectedStream());
}

// Any other refusal is the watch's answer: it ends the stream, with no second call.
TEST(WatchStreamTest, AnotherErrorEndsTheStreamWithIt) {
  Watched watched = Watch(grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(watched.calls, std::vector<std::string>{"WatchRunBatched"});
  ASSERT_EQ(watched.responder.writes.size(), 1u);
  EXPECT_NE(watched.responder.writes[0].find("event: end\n"), std::string::npos) << watched.responder.writes[0];
  EXPECT_NE(watched.responder.writes[0].find("NOT_FOUND"), std::string::npos) << watched.responder.writes[0];
}

}  // namespace
}  // namespace baton::console
