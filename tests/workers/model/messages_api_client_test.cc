// MessagesApiClient against a scripted HTTP server on 127.0.0.1.
#include "workers/model/messages_api_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/workers/model/messages_api_fixtures.h"
#include "workers/model/api_error.h"

namespace baton::worker {
namespace {

using nlohmann::json;
using namespace ::baton::worker::api_test;  // the fixtures both client tests share
using ::testing::HasSubstr;
using ::testing::Not;

// One canned HTTP response: `head` is the status line and headers (without the blank
// line), `chunks` are written one by one with `pause` between them, then the server
// either closes the connection or, with `hold_open`, waits until the client goes away.
struct Reply {
  std::string head;
  std::vector<std::string> chunks;
  absl::Duration pause = absl::ZeroDuration();
  bool hold_open = false;
};

Reply JsonReply(int status, const json& body, const std::string& extra_headers = "") {
  const std::string text = body.dump();
  return Reply{.head = absl::StrCat("HTTP/1.1 ", status, " Whatever\r\n",
                                    "content-type: application/json\r\n",
                                    "content-length: ", text.size(), "\r\n",
                                    "connection: close\r\n", extra_headers),
               .chunks = {text}};
}

json ErrorBody(const std::string& type, const std::string& message) {
  return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

// A streamed reply; the body ends when the server closes the connection.
Reply SseReply(const std::vector<std::string>& chunks,
               const std::string& extra_headers = "request-id: req_sse\r\n") {
  return Reply{.head = absl::StrCat("HTTP/1.1 200 OK\r\n",
                                    "content-type: text/event-stream; charset=utf-8\r\n",
                                    "cache-control: no-cache\r\n", "connection: close\r\n",
                                    extra_headers),
               .chunks = chunks};
}

// A complete stream: some text, then a tool_use whose input is split mid-token.
std::vector<std::string> ToolUseStream() {
  const std::string all =
      MessageStartEvent() +
      SseEventText({{"type", "content_block_start"},
                    {"index", 0},
                    {"content_block", {{"type", "text"}, {"text", ""}}}}) +
      SseEventText({{"type", "content_block_delta"},
                    {"index", 0},
                    {"delta", {{"type", "text_delta"}, {"text", "Checking"}}}}) +
      "event: ping\ndata: {\"type\": \"ping\"}\n\n" +
      SseEventText({{"type", "content_block_delta"},
                    {"index", 0},
                    {"delta", {{"type", "text_delta"}, {"text", " now."}}}}) +
      SseEventText({{"type", "content_block_stop"}, {"index", 0}}) +
      SseEventText({{"type", "content_block_start"},
                    {"index", 1},
                    {"content_block",
                     {{"type", "tool_use"},
                      {"id", "toolu_01"},
                      {"name", "read_file"},
                      {"input", json::object()}}}}) +
      SseEventText({{"type", "content_block_delta"},
                    {"index", 1},
                    {"delta", {{"type", "input_json_delta"}, {"partial_json", "{\"pa"}}}}) +
      SseEventText(
          {{"type", "content_block_delta"},
           {"index", 1},
           {"delta", {{"type", "input_json_delta"}, {"partial_json", "th\": \"/tmp/x\"}"}}}}) +
      SseEventText({{"type", "content_block_stop"}, {"index", 1}}) +
      SseEventText({{"type", "message_delta"},
                    {"delta", {{"stop_reason", "tool_use"}, {"stop_sequence", nullptr}}},
                    {"usage", {{"output_tokens", 45}}}}) +
      SseEventText({{"type", "message_stop"}});
  // Cut the bytes at awkward places so events straddle writes.
  std::vector<std::string> chunks;
  for (size_t at = 0; at < all.size(); at += 97) chunks.push_back(all.substr(at, 97));
  return chunks;
}

// Serves the scripted replies in order, one connection each, on 127.0.0.1:<ephemeral>.
class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_fd_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }

  ~ScriptedHttpServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }

  std::string base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  // Waits for `fd` to become readable; false when stopping.
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 10) > 0) return true;
    }
    return false;
  }

  void Pause(absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    while (!stop_ && absl::Now() < end) absl::SleepFor(absl::Milliseconds(2));
  }

  void Serve() {
    for (const Reply& reply : replies_) {
      if (!WaitReadable(listen_fd_)) return;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      PlainStream stream(fd, &stop_);
      std::string pending;
      Request request;
      if (ReadRequest(stream, pending, &request)) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(request);
        }
        stream.Write(reply.head + "\r\n");  // a client gone away ends the reply early
        for (const std::string& chunk : reply.chunks) {
          stream.Write(chunk);
          Pause(reply.pause);
        }
        if (reply.hold_open) {
          // Until the client closes (recv returns 0) or the test ends.
          char byte;
          while (WaitReadable(fd) && recv(fd, &byte, 1, 0) > 0) {
          }
        }
      }
      close(fd);
    }
  }

  std::vector<Reply> replies_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;  // last: started after every other member exists
};

MessagesApiClientOptions TestOptions(const ScriptedHttpServer& server) {
  MessagesApiClientOptions options;
  options.base_url = server.base_url() + "/";
  options.api_key = "sk-ant-test-SECRET";
  options.connect_timeout = absl::Seconds(2);
  options.max_retries = 2;
  options.max_retry_delay = absl::Milliseconds(20);  // every test stays fast
  return options;
}

ModelCallOptions NonStreaming() {
  ModelCallOptions call;
  call.stream = false;
  call.attempt_timeout = absl::Seconds(5);
  return call;
}

ModelCallOptions Streaming() {
  ModelCallOptions call;
  call.attempt_timeout = absl::Seconds(5);
  return call;
}

TEST(MessagesApiClientTest, JsonResponseSucceeds) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("Hi!"), "request-id: req_json\r\n")});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), NonStreaming());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->message, TextMessage("Hi!"));
  EXPECT_EQ(response->request_id, "req_json");
  EXPECT_EQ(response->attempts, 1);

  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].request_line, "POST /v1/messages HTTP/1.1");
  EXPECT_EQ(requests[0].headers["content-type"], "application/json");
  json sent = json::parse(requests[0].body);
  EXPECT_EQ(sent, Request1());  // no "stream" field when not streaming
}

TEST(MessagesApiClientTest, SendsAuthVersionAndBetaHeaders) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("a")), JsonReply(200, TextMessage("b"))});
  MessagesApiClientOptions options = TestOptions(server);
  options.betas = {"prompt-caching-2024-07-31", "token-efficient-tools-2025-02-19"};
  {
    MessagesApiClient client(options);
    ASSERT_TRUE(client.CreateMessage(Request1(), NonStreaming()).ok());
  }
  options.api_key.clear();
  options.auth_token = "token-SECRET";
  options.betas.clear();
  {
    MessagesApiClient client(options);
    ASSERT_TRUE(client.CreateMessage(Request1(), NonStreaming()).ok());
  }
  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].headers["x-api-key"], "sk-ant-test-SECRET");
  EXPECT_EQ(requests[0].headers["anthropic-version"], "2023-06-01");
  EXPECT_EQ(requests[0].headers["anthropic-beta"],
            "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19");
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);
  EXPECT_EQ(requests[1].headers["authorization"], "Bearer token-SECRET");
  EXPECT_EQ(requests[1].headers.count("x-api-key"), 0u);
  EXPECT_EQ(requests[1].headers.count("anthropic-beta"), 0u);
  EXPECT_EQ(requests[1].headers["anthropic-version"], "2023-06-01");
}

TEST(MessagesApiClientTest, StreamedToolUseIsAssembled) {
  ScriptedHttpServer server({SseReply(ToolUseStream())});
  MessagesApiClient client(TestOptions(server));
  ModelCallOptions call = Streaming();
  std::string streamed_text;
  call.on_text = [&](int index, const std::string& text) {
    EXPECT_EQ(index, 0);
    streamed_text += text;
  };
  auto response = client.CreateMessage(Request1(), call);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->request_id, "req_sse");
  EXPECT_EQ(response->attempts, 1);
  EXPECT_EQ(streamed_text, "Checking now.");
  EXPECT_EQ(response->message["id"], "msg_sse");
  EXPECT_EQ(response->message["stop_reason"], "tool_use");
  EXPECT_EQ(response->message["content"], json::parse(R"([
      {"type":"text","text":"Checking now."},
      {"type":"tool_use","id":"toolu_01","name":"read_file","input":{"path":"/tmp/x"}}])"));
  EXPECT_EQ(response->message["usage"], json::parse(R"({"input_tokens":30,"output_tokens":45})"));

  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  json sent = json::parse(requests[0].body);
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(requests[0].headers["accept"], "text/event-stream");
}

TEST(MessagesApiClientTest, RateLimitedWithRetryAfterMsThenSucceeds) {
  ScriptedHttpServer server(
      {JsonReply(429, ErrorBody("rate_limit_error", "Number of requests exceeded"),
                 "retry-after-ms: 5\r\nrequest-id: req_429\r\n"),
       JsonReply(200, TextMessage("after retry"), "request-id: req_ok\r\n")});
  MessagesApiClientOptions options = TestOptions(server);
  options.max_retry_delay = absl::Seconds(60);  // the server's 5 ms must be what we wait
  options.initial_retry_backoff = absl::Seconds(30);
  MessagesApiClient client(options);
  const absl::Time start = absl::Now();
  auto response = client.CreateMessage(Request1(), NonStreaming());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(response->request_id, "req_ok");
  EXPECT_EQ(response->message["content"][0]["text"], "after retry");
  EXPECT_EQ(server.requests().size(), 2u);
}

// Records what the client asks and reports.
class FakeRateGate final : public RateGate {
 public:
  absl::Status Acquire(const RateAttempt& attempt, const std::function<bool()>&) override {
    std::lock_guard<std::mutex> lock(mu);
    acquired.push_back(attempt);
    return absl::OkStatus();
  }
  void Report(const RateAttempt& attempt, const RateOutcome& outcome) override {
    std::lock_guard<std::mutex> lock(mu);
    reported.push_back(outcome);
  }
  bool Governs(const std::string& model) override { return governs; }
  std::mutex mu;
  std::vector<RateAttempt> acquired;
  std::vector<RateOutcome> reported;
  bool governs = true;
};

TEST(MessagesApiClientTest, RateGateIsAskedBeforeEachAttemptAndToldTheOutcome) {
  ScriptedHttpServer server(
      {JsonReply(429, ErrorBody("rate_limit_error", "slow down"),
                 "retry-after: 30\r\nanthropic-ratelimit-requests-remaining: 0\r\n"),
       JsonReply(200, TextMessage("ok")), JsonReply(200, json{{"input_tokens", 5}})});
  FakeRateGate gate;
  MessagesApiClientOptions options = TestOptions(server);
  options.max_retry_delay = absl::Seconds(60);
  options.rate_gate = &gate;
  MessagesApiClient client(options);
  const absl::Time start = absl::Now();
  auto response = client.CreateMessage(Request1(), NonStreaming());
  ASSERT_TRUE(response.ok()) << response.status();
  // The gate governs the model: it spaces the retry, not the client's retry-after.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(gate.acquired.size(), 2u);
  EXPECT_EQ(gate.acquired[0].model, Request1()["model"]);
  EXPECT_EQ(gate.acquired[0].output_tokens, Request1()["max_tokens"].get<int64_t>());
  EXPECT_GT(gate.acquired[0].input_tokens, 0);
  ASSERT_EQ(gate.reported.size(), 2u);
  EXPECT_EQ(gate.reported[0].http_status, 429);
  EXPECT_EQ(gate.reported[0].headers["anthropic-ratelimit-requests-remaining"], "0");
  EXPECT_EQ(gate.reported[1].http_status, 200);
  EXPECT_GE(gate.reported[1].output_tokens, 0);
  // count_tokens does not go through the gate.
  EXPECT_EQ(client.CountTokens(Request1()).value_or(0), 5);
  EXPECT_EQ(gate.acquired.size(), 2u);
}

TEST(MessagesApiClientTest, UngovernedModelKeepsTheClientsBackoffOn429) {
  ScriptedHttpServer server({JsonReply(429, ErrorBody("rate_limit_error", "slow down"), "retry-after-ms: 300\r\n"),
                             JsonReply(200, TextMessage("ok"))});
  FakeRateGate gate;
  gate.governs = false;
  MessagesApiClientOptions options = TestOptions(server);
  options.max_retry_delay = absl::Seconds(60);
  options.rate_gate = &gate;
  MessagesApiClient client(options);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client.CreateMessage(Request1(), NonStreaming()).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
}

TEST(MessagesApiClientTest, OverloadedUntilRetriesRunOutIsUnavailable) {
  const json body = ErrorBody("overloaded_error", "Overloaded");
  ScriptedHttpServer server({JsonReply(529, body, "request-id: req_a\r\n"),
                             JsonReply(529, body, "request-id: req_b\r\n"),
                             JsonReply(529, body, "request-id: req_c\r\n"),
                             JsonReply(200, TextMessage("never reached"))});
  MessagesApiClient client(TestOptions(server));  // max_retries = 2
  auto response = client.CreateMessage(Request1(), Streaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              HasSubstr("Messages API 529 overloaded_error: Overloaded (request-id req_c)"));
  EXPECT_THAT(response.status().message(), HasSubstr("3 attempts"));
  // The agent loop switches to a fallback model on this.
  EXPECT_EQ(ApiErrorTypeOf(response.status()), "overloaded_error");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(MessagesApiClientTest, RateLimitedUntilRetriesRunOutIsResourceExhausted) {
  const json body = ErrorBody("rate_limit_error", "slow down");
  ScriptedHttpServer server({JsonReply(429, body, "retry-after: 0\r\n"),
                             JsonReply(429, body, "retry-after: 0\r\n"),
                             JsonReply(429, body, "retry-after: 0\r\n")});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), NonStreaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(MessagesApiClientTest, BadRequestFailsAtOnceWithTheApiMessage) {
  ScriptedHttpServer server(
      {JsonReply(400, ErrorBody("invalid_request_error", "max_tokens: Field required"),
                 "request-id: req_123\r\n"),
       JsonReply(200, TextMessage("must not be requested"))});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), Streaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "Messages API 400 invalid_request_error: max_tokens: Field required "
            "(request-id req_123)");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, ShouldRetryFalseHeaderStopsRetries) {
  ScriptedHttpServer server(
      {JsonReply(529, ErrorBody("overloaded_error", "Overloaded"), "x-should-retry: false\r\n"),
       JsonReply(200, TextMessage("must not be requested"))});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), NonStreaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, UnauthorizedIsUnauthenticatedAndNeverShowsTheKey) {
  ScriptedHttpServer server(
      {JsonReply(401, ErrorBody("authentication_error", "invalid x-api-key"),
                 "request-id: req_401\r\n")});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), NonStreaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(response.status().message(), HasSubstr("authentication_error: invalid x-api-key"));
  EXPECT_THAT(response.status().message(), Not(HasSubstr("SECRET")));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, CredentialWithLineBreakIsRefusedWithoutBeingShown) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("must not be requested"))});
  MessagesApiClientOptions options = TestOptions(server);
  options.api_key = "sk-ant-SECRET\r\nx-injected: 1";
  MessagesApiClient client(options);
  auto response = client.CreateMessage(Request1(), NonStreaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("api_key"));
  EXPECT_THAT(response.status().message(), Not(HasSubstr("SECRET")));
  EXPECT_TRUE(server.requests().empty());
}

TEST(MessagesApiClientTest, OtherClientErrorsMapToTheirCodes) {
  ScriptedHttpServer server(
      {JsonReply(403, ErrorBody("permission_error", "no")),
       JsonReply(404, ErrorBody("not_found_error", "model: claude-nope")),
       JsonReply(413, ErrorBody("request_too_large", "too big"))});
  MessagesApiClient client(TestOptions(server));
  EXPECT_EQ(client.CreateMessage(Request1(), NonStreaming()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client.CreateMessage(Request1(), NonStreaming()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client.CreateMessage(Request1(), NonStreaming()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(MessagesApiClientTest, MidStreamOverloadedErrorIsRetried) {
  const std::string error_event =
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n";
  const std::string partial =
      MessageStartEvent() +
      SseEventText({{"type", "content_block_start"},
                    {"index", 0},
                    {"content_block", {{"type", "text"}, {"text", ""}}}}) +
      SseEventText({{"type", "content_block_delta"},
                    {"index", 0},
                    {"delta", {{"type", "text_delta"}, {"text", "Check"}}}});
  ScriptedHttpServer server({SseReply({partial, error_event}), SseReply(ToolUseStream())});
  MessagesApiClient client(TestOptions(server));
  ModelCallOptions call = Streaming();
  std::string streamed_text;
  call.on_text = [&](int, const std::string& text) { streamed_text += text; };
  auto response = client.CreateMessage(Request1(), call);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(response->message["stop_reason"], "tool_use");
  EXPECT_EQ(response->message["content"][0]["text"], "Checking now.");
  // The failed attempt's text came first; the retry streams again from the start.
  EXPECT_EQ(streamed_text, "CheckChecking now.");
}

TEST(MessagesApiClientTest, MidStreamInvalidRequestErrorIsNotRetried) {
  ScriptedHttpServer server(
      {SseReply({MessageStartEvent(),
                 "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                 "\"invalid_request_error\",\"message\":\"nope\"}}\n\n"}),
       SseReply(ToolUseStream())});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), Streaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "Messages API stream error invalid_request_error: nope (request-id req_sse)");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, TruncatedStreamIsRetried) {
  ScriptedHttpServer server({SseReply({MessageStartEvent()}), SseReply(ToolUseStream())});
  MessagesApiClient client(TestOptions(server));
  auto response = client.CreateMessage(Request1(), Streaming());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->attempts, 2);
}

TEST(MessagesApiClientTest, CancellationStopsASlowResponseQuickly) {
  Reply slow = SseReply({MessageStartEvent()});
  slow.hold_open = true;  // then nothing more, for as long as the client stays
  ScriptedHttpServer server({slow});
  MessagesApiClient client(TestOptions(server));
  std::atomic<bool> cancelled{false};
  ModelCallOptions call = Streaming();
  call.attempt_timeout = absl::Seconds(30);
  call.is_cancelled = [&] { return cancelled.load(); };
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancelled = true;
  });
  const absl::Time start = absl::Now();
  auto response = client.CreateMessage(Request1(), call);
  const absl::Duration elapsed = absl::Now() - start;
  canceller.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  EXPECT_GE(elapsed, absl::Milliseconds(190));
  EXPECT_LT(elapsed, absl::Milliseconds(700));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, CancellationInterruptsTheWaitBetweenRetries) {
  ScriptedHttpServer server({JsonReply(529, ErrorBody("overloaded_error", "Overloaded"),
                                       "retry-after-ms: 20000\r\n")});
  MessagesApiClientOptions options = TestOptions(server);
  options.max_retry_delay = absl::Seconds(60);
  MessagesApiClient client(options);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  ModelCallOptions call = NonStreaming();
  call.is_cancelled = [&] { return absl::Now() > deadline; };
  const absl::Time start = absl::Now();
  auto response = client.CreateMessage(Request1(), call);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(MessagesApiClientTest, AttemptTimeoutIsDeadlineExceeded) {
  Reply stalled = SseReply({MessageStartEvent()});
  stalled.hold_open = true;
  ScriptedHttpServer server({stalled});
  MessagesApiClientOptions options = TestOptions(server);
  options.max_retries = 0;
  MessagesApiClient client(options);
  ModelCallOptions call = Streaming();
  call.attempt_timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto response = client.CreateMessage(Request1(), call);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded)
      << response.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(MessagesApiClientTest, ConnectionRefusedIsUnavailableAfterRetries) {
  // Take a free port and close it again, so nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);

  MessagesApiClientOptions options;
  options.base_url = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  options.api_key = "sk-ant-test-SECRET";
  options.max_retries = 1;
  options.max_retry_delay = absl::Milliseconds(5);
  MessagesApiClient client(options);
  auto response = client.CreateMessage(Request1(), NonStreaming());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("connection error"));
  EXPECT_THAT(response.status().message(), HasSubstr("2 attempts"));
  EXPECT_THAT(response.status().message(), Not(HasSubstr("SECRET")));
}

TEST(MessagesApiClientTest, CountTokensSendsOnlyAcceptedFields) {
  ScriptedHttpServer server({JsonReply(200, {{"input_tokens", 1234}})});
  MessagesApiClient client(TestOptions(server));
  json request = Request1();
  request["system"] = "Be brief.";
  request["temperature"] = 0.5;
  request["tools"] = json::array();
  auto tokens = client.CountTokens(request);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, 1234);
  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].request_line, "POST /v1/messages/count_tokens HTTP/1.1");
  json sent = json::parse(requests[0].body);
  EXPECT_EQ(sent, json({{"model", "claude-sonnet-4-5"},
                        {"messages", Request1()["messages"]},
                        {"system", "Be brief."},
                        {"tools", json::array()}}));
}

TEST(MessagesApiClientTest, SerializedRequestSendsTheBytesOfTheSameJsonRequest) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("a")), JsonReply(200, TextMessage("b")),
                             JsonReply(200, {{"input_tokens", 7}})});
  MessagesApiClient client(TestOptions(server));
  json request = Request1();
  request["system"] = "Be brief.";
  request["temperature"] = 0.5;
  // The messages in three pieces, as RequestBuilder sends a kept prefix and its edits.
  const std::string messages = SerializeJson(request["messages"]);
  const std::string system = SerializeJson(request["system"]), model = SerializeJson(request["model"]);
  SerializedRequest serialized;
  serialized.model = "claude-sonnet-4-5";
  serialized.max_tokens = request["max_tokens"].get<int64_t>();
  const std::string max_tokens = std::to_string(serialized.max_tokens);
  serialized.members = {{"max_tokens", {max_tokens}},
                        {"messages", {std::string_view(messages).substr(0, 5), std::string_view(messages).substr(5)}},
                        {"model", {model}},
                        {"system", {system}},
                        {"temperature", {"0.5"}}};

  ModelCallOptions streamed_as_json = NonStreaming();
  streamed_as_json.stream = true;  // the server answers with JSON anyway
  ASSERT_TRUE(client.CreateMessage(request, streamed_as_json).ok());
  auto response = client.CreateMessageSerialized(serialized, streamed_as_json);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->message, TextMessage("b"));
  auto tokens = client.CountTokensSerialized(serialized, NonStreaming());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, 7);

  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_EQ(json::parse(requests[1].body).value("stream", false), true);
  EXPECT_EQ(requests[2].request_line, "POST /v1/messages/count_tokens HTTP/1.1");
  EXPECT_EQ(json::parse(requests[2].body), json({{"model", "claude-sonnet-4-5"},
                                                 {"messages", Request1()["messages"]},
                                                 {"system", "Be brief."}}));
}

// A request after a longer one sends its own bytes and nothing of the one before.
TEST(MessagesApiClientTest, ASerializedRequestAfterALongerOneSendsOnlyItsOwnBytes) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("a")), JsonReply(200, TextMessage("b"))});
  MessagesApiClient client(TestOptions(server));
  const std::string long_messages =
      SerializeJson(json::array({{{"role", "user"}, {"content", std::string(70'000, 'x')}}}));
  const std::string short_messages = SerializeJson(json::array({{{"role", "user"}, {"content", "hi"}}}));
  auto request = [](const std::string& messages) {
    SerializedRequest r;
    r.model = "claude-sonnet-4-5";
    r.max_tokens = 16;
    r.members = {{"max_tokens", {"16"}}, {"messages", {messages}}, {"model", {"\"claude-sonnet-4-5\""}}};
    return r;
  };
  ASSERT_TRUE(client.CreateMessageSerialized(request(long_messages), NonStreaming()).ok());
  ASSERT_TRUE(client.CreateMessageSerialized(request(short_messages), NonStreaming()).ok());
  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, request(short_messages).Body(false));
  EXPECT_EQ(json::parse(requests[1].body)["messages"][0]["content"], "hi");
  EXPECT_EQ(requests[0].body.size(), request(long_messages).Body(false).size());
}

// A request laid out whole by its builder is sent as those bytes when the call streams
// as they do; otherwise the members are joined with "stream" as the call says.
TEST(MessagesApiClientTest, AWholeRequestIsSentAsItsBytesOnlyWhenItsStreamFlagMatchesTheCall) {
  ScriptedHttpServer server({JsonReply(200, TextMessage("a")), JsonReply(200, TextMessage("b"))});
  MessagesApiClient client(TestOptions(server));
  SerializedRequest r;
  r.model = "claude-sonnet-4-5";
  r.max_tokens = 16;
  const std::string messages = SerializeJson(json::array({{{"role", "user"}, {"content", "hi"}}}));
  r.members = {{"max_tokens", {"16"}}, {"messages", {messages}}, {"model", {"\"claude-sonnet-4-5\""}}};
  // The same request spaced out, so which bytes went is plain to see.
  const std::string whole = "{ \"max_tokens\": 16, \"messages\": " + messages + ", \"model\": \"claude-sonnet-4-5\" }";
  r.whole = whole;
  r.whole_streams = false;
  ASSERT_TRUE(client.CreateMessageSerialized(r, NonStreaming()).ok());
  ModelCallOptions streamed_as_json = NonStreaming();
  streamed_as_json.stream = true;  // the server answers with JSON anyway
  ASSERT_TRUE(client.CreateMessageSerialized(r, streamed_as_json).ok());
  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, whole);
  EXPECT_EQ(requests[1].body, r.Body(/*stream=*/true));
}

TEST(MessagesApiClientTest, ConcurrentCallsEachGetTheirAnswer) {
  std::vector<Reply> replies;
  for (int i = 0; i < 6; ++i) replies.push_back(JsonReply(200, TextMessage("same")));
  ScriptedHttpServer server(std::move(replies));
  MessagesApiClient client(TestOptions(server));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      if (client.CreateMessage(Request1(), NonStreaming()).ok()) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
}

TEST(MessagesApiClientTest, FromEnvironmentReadsAnthropicVariables) {
  setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9", 1);
  setenv("ANTHROPIC_API_KEY", "sk-env", 1);
  setenv("ANTHROPIC_AUTH_TOKEN", "", 1);
  MessagesApiClientOptions options = MessagesApiClientOptions::FromEnvironment();
  EXPECT_EQ(options.base_url, "http://127.0.0.1:9");
  EXPECT_EQ(options.api_key, "sk-env");
  EXPECT_EQ(options.auth_token, "");
  unsetenv("ANTHROPIC_BASE_URL");
  EXPECT_EQ(MessagesApiClientOptions::FromEnvironment().base_url, "https://api.anthropic.com");
  unsetenv("ANTHROPIC_API_KEY");
  unsetenv("ANTHROPIC_AUTH_TOKEN");
}

}  // namespace
}  // namespace baton::worker
