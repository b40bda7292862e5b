// ServerConnection and the MCP client against misbehaving servers written on the
// official SDK (tests/mcp-bridge/servers/fault_server.mjs): crashes, hangs,
// pagination, list_changed, out-of-order answers, garbage on stdout.
#include "mcp-bridge/server_connection.h"

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "tests/mcp-bridge/mcp_test_util.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace ::baton::mcp::testing;

CallResult CallAndWait(ToolServer& server, const std::string& tool, json args, CallOptions options = {}) {
  absl::Notification done;
  CallResult result;
  server.CallTool(tool, std::move(args), options, [&](CallResult r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

std::string Text(const CallResult& r) {
  if (r.kind != CallResult::Kind::kResult) return "<" + r.message + ">";
  return r.result["content"][0].value("text", "");
}

std::vector<std::string> Names(const std::vector<McpTool>& tools) {
  std::vector<std::string> out;
  for (const McpTool& t : tools) out.push_back(t.name);
  return out;
}

class FaultServerTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    dir_ = MakeTempDir();
    ServerConfig config = NodeServer("fault", FaultServer(), std::move(args));
    config.env = {{"START_LOG", dir_ + "/starts"}, {"CANCEL_LOG", dir_ + "/cancels"}, {"META_LOG", dir_ + "/meta"}};
    server_ = std::make_unique<ServerConnection>(config, DefaultTransportFactory(), timers_);
    server_->SetToolsChangedCallback([this] { ++tool_changes_; });
    server_->Start();
    ASSERT_TRUE(server_->WaitUntilStarted(absl::Seconds(20)));
    ASSERT_TRUE(server_->state().connected) << server_->state().last_error;
  }

  std::string dir_;
  TimerQueue timers_;
  std::atomic<int> tool_changes_{0};
  std::unique_ptr<ServerConnection> server_;
};

TEST_F(FaultServerTest, ListsToolsAndCalls) {
  Start();
  EXPECT_THAT(Names(server_->tools()), Contains("echo"));
  const std::vector<McpTool> tools = server_->tools();
  for (const McpTool& t : tools) {
    if (t.name == "echo") {
      EXPECT_TRUE(t.read_only);
      EXPECT_TRUE(t.idempotent);
    }
  }
  EXPECT_EQ(Text(CallAndWait(*server_, "echo", {{"text", "hi"}})), "echo: hi");
}

TEST_F(FaultServerTest, CrashMidCallIsReportedThenTheServerIsRestartedAndTheNextCallWorks) {
  Start();
  CallResult crashed = CallAndWait(*server_, "crash", json::object());
  EXPECT_EQ(crashed.kind, CallResult::Kind::kUnavailable);
  EXPECT_TRUE(crashed.sent);  // it reached the server: its outcome is unknown
  EXPECT_THAT(crashed.message, HasSubstr("exited with status 3"));
  // The next call waits for the restarted server rather than failing.
  CallResult next = CallAndWait(*server_, "echo", {{"text", "again"}});
  EXPECT_EQ(Text(next), "echo: again");
  EXPECT_THAT(ReadLines(dir_ + "/starts"), SizeIs(2));
  EXPECT_TRUE(server_->state().connected);
  EXPECT_EQ(server_->state().restarts, 1);
}

TEST_F(FaultServerTest, HangTimesOutAndTheServerSeesNotificationsCancelled) {
  Start();
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  CallResult r = CallAndWait(*server_, "hang", json::object(), options);
  EXPECT_EQ(r.kind, CallResult::Kind::kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  ASSERT_TRUE(Eventually([&] { return !ReadLines(dir_ + "/cancels").empty(); }));
  EXPECT_THAT(ReadLines(dir_ + "/cancels")[0], HasSubstr("cancelled"));
  EXPECT_THAT(ReadLines(dir_ + "/cancels")[0], HasSubstr("timeout"));
  // The connection is still good.
  EXPECT_EQ(Text(CallAndWait(*server_, "echo", {{"text", "alive"}})), "echo: alive");
}

TEST_F(FaultServerTest, CancellingACallTellsTheServer) {
  Start();
  absl::Notification done;
  CallResult result;
  int64_t handle = server_->CallTool("hang", json::object(), CallOptions{}, [&](CallResult r) {
    result = std::move(r);
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(200));
  server_->CancelCall(handle, "run cancelled");
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(result.kind, CallResult::Kind::kCancelled);
  ASSERT_TRUE(Eventually([&] { return !ReadLines(dir_ + "/cancels").empty(); }));
  EXPECT_THAT(ReadLines(dir_ + "/cancels")[0], HasSubstr("run cancelled"));
}

TEST_F(FaultServerTest, ProgressKeepsACallAliveUntilItsHardMaximum) {
  Start();
  CallOptions options;
  // 8 steps of 250 ms take 2 s, twice the timeout: only the resets keep the call
  // alive. Each gap leaves 750 ms of slack for a loaded machine.
  options.timeout = absl::Milliseconds(1000);
  CallResult ok = CallAndWait(*server_, "slow_progress", {{"steps", 8}, {"interval_ms", 250}}, options);
  ASSERT_EQ(ok.kind, CallResult::Kind::kResult) << ok.message;
  EXPECT_EQ(ok.progress_count, 8);
  options.max_duration = absl::Milliseconds(500);
  CallResult capped = CallAndWait(*server_, "slow_progress", {{"steps", 20}, {"interval_ms", 100}}, options);
  EXPECT_EQ(capped.kind, CallResult::Kind::kTimeout);
  EXPECT_THAT(capped.message, HasSubstr("maximum"));
}

TEST_F(FaultServerTest, PaginatedToolsListIsFollowedToTheEnd) {
  Start({"--page-size=3", "--extra-tools=7"});
  std::vector<std::string> names = Names(server_->tools());
  EXPECT_THAT(names, SizeIs(13 + 7));
  EXPECT_THAT(names, Contains("pad_6"));
  EXPECT_THAT(names, Contains("echo"));
}

TEST_F(FaultServerTest, ListChangedMakesTheToolsListedAgain) {
  Start();
  EXPECT_EQ(Text(CallAndWait(*server_, "add_tool", {{"name", "brand_new"}})), "added brand_new");
  ASSERT_TRUE(Eventually([&] {
    std::vector<std::string> names = Names(server_->tools());
    return std::find(names.begin(), names.end(), "brand_new") != names.end();
  }));
  EXPECT_GE(tool_changes_.load(), 2);
}

TEST_F(FaultServerTest, OutOfOrderAnswersReachTheirOwnCalls) {
  Start();
  absl::Notification slow_done, fast_done;
  CallResult slow, fast;
  std::atomic<int> order{0};
  int slow_rank = 0, fast_rank = 0;
  server_->CallTool("delayed", {{"ms", 500}, {"tag", "slow"}}, CallOptions{}, [&](CallResult r) {
    slow = std::move(r);
    slow_rank = ++order;
    slow_done.Notify();
  });
  server_->CallTool("delayed", {{"ms", 20}, {"tag", "fast"}}, CallOptions{}, [&](CallResult r) {
    fast = std::move(r);
    fast_rank = ++order;
    fast_done.Notify();
  });
  slow_done.WaitForNotification();
  fast_done.WaitForNotification();
  EXPECT_EQ(Text(slow), "delayed slow");
  EXPECT_EQ(Text(fast), "delayed fast");
  EXPECT_LT(fast_rank, slow_rank);
}

TEST_F(FaultServerTest, GarbageLinesAreIgnored) {
  Start({"--garbage"});
  EXPECT_EQ(Text(CallAndWait(*server_, "noisy", json::object())), "noisy ok");
  EXPECT_EQ(Text(CallAndWait(*server_, "echo", {{"text", "still fine"}})), "echo: still fine");
  EXPECT_TRUE(server_->state().connected);
}

TEST_F(FaultServerTest, ServerPingIsAnsweredAndUnsupportedRequestsRefused) {
  Start();
  EXPECT_EQ(Text(CallAndWait(*server_, "ping_client", json::object())), "pong ok");
  EXPECT_EQ(Text(CallAndWait(*server_, "ask_roots", json::object())), "roots refused: -32601");
}

TEST_F(FaultServerTest, MetaFieldsReachTheServer) {
  Start();
  CallOptions options;
  options.meta["baton/idempotencyKey"] = "run_1:2:toolu_3";
  CallAndWait(*server_, "echo", {{"text", "x"}}, options);
  std::vector<std::string> lines = ReadLines(dir_ + "/meta");
  ASSERT_THAT(lines, SizeIs(1));
  json meta = json::parse(lines[0]);
  EXPECT_EQ(meta["baton/idempotencyKey"], "run_1:2:toolu_3");
  EXPECT_TRUE(meta.contains("progressToken"));
}

TEST_F(FaultServerTest, RpcErrorsAreReportedAsSuch) {
  Start();
  CallResult r = CallAndWait(*server_, "rpc_error", json::object());
  EXPECT_EQ(r.kind, CallResult::Kind::kRpcError);
  EXPECT_THAT(r.error.message, HasSubstr("refused on purpose"));
}

TEST(ServerConnectionTest, AServerThatCannotStartFailsCallsQuicklyAndKeepsRetrying) {
  TimerQueue timers;
  ServerConfig config;
  config.name = "broken";
  config.command = "baton-no-such-command";
  config.restart_backoff_initial = absl::Milliseconds(20);
  config.connect_wait = absl::Milliseconds(300);
  ServerConnection server(config, DefaultTransportFactory(), timers);
  server.Start();
  ASSERT_TRUE(server.WaitUntilStarted(absl::Seconds(5)));
  EXPECT_FALSE(server.state().connected);
  const absl::Time start = absl::Now();
  CallResult r = CallAndWait(server, "anything", json::object());
  EXPECT_EQ(r.kind, CallResult::Kind::kUnavailable);
  EXPECT_FALSE(r.sent);
  EXPECT_THAT(r.message, HasSubstr("baton-no-such-command"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(Eventually([&] { return server.state().restarts >= 3; }));
}

}  // namespace
}  // namespace baton::mcp
