#include "workers/model_sim/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "tests/workers/model_sim/raw_http.h"

namespace baton::model_sim {
namespace {

using testing::PostRequest;
using testing::RawConnection;

// Echoes the request back; /stream answers with three parts; /slow waits 5 s.
HttpResponse Echo(const HttpRequest& req) {
  HttpResponse r;
  if (req.path == "/stream") {
    r.streamed = true;
    r.parts = {"event: a\ndata: {}\n\n", "event: b\ndata: {}\n\n", "event: c\ndata: {}\n\n"};
    r.part_interval = absl::Milliseconds(20);
    return r;
  }
  if (req.path == "/slow") r.delay = absl::Seconds(5);
  r.SetHeader("content-type", "text/plain");
  r.SetHeader("x-method", req.method);
  r.SetHeader("x-query", req.query);
  r.SetHeader("x-test-header", req.Header("x-test") ? *req.Header("x-test") : "none");
  r.body = req.body;
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  HttpServer server_{HttpServerOptions{}, Echo};
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    std::string body = "body-" + std::to_string(i);
    ASSERT_TRUE(c.Send(PostRequest("/echo?x=1", body, {"X-Test: Value"})));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, body);
    EXPECT_EQ(r->headers["connection"], "keep-alive");
    EXPECT_EQ(r->headers["x-query"], "x=1");
    EXPECT_EQ(r->headers["x-test-header"], "Value");  // header names are case-insensitive
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.Send(PostRequest("/a", "first", {}) + PostRequest("/b", "second", {})));
  auto r1 = c.ReadResponse();
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->body, "first");
  EXPECT_EQ(r2->body, "second");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.Send(PostRequest("/a", "x", {"Connection: close"})));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(HttpServerTest, BodyArrivingInPiecesAndExpectContinue) {
  RawConnection c(server_.port());
  std::string body(100000, 'z');
  std::string req = PostRequest("/a", body, {"Expect: 100-continue"});
  size_t head = req.find("\r\n\r\n") + 4;
  ASSERT_TRUE(c.Send(req.substr(0, head)));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(c.Send(req.substr(head, 50000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(c.Send(req.substr(head + 50000)));
  auto r = c.ReadResponse();  // skips the interim 100 Continue
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), body.size());
}

TEST_F(HttpServerTest, StreamedResponseIsChunkedAndKeepsTheConnection) {
  RawConnection c(server_.port());
  std::string get = "GET /stream HTTP/1.1\r\nhost: x\r\n\r\n";
  ASSERT_TRUE(c.Send(get));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->chunked);
  EXPECT_EQ(r->body, "event: a\ndata: {}\n\nevent: b\ndata: {}\n\nevent: c\ndata: {}\n\n");
  ASSERT_TRUE(c.Send(PostRequest("/after", "still open", {})));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->body, "still open");
}

TEST_F(HttpServerTest, Http10StreamEndsWithTheConnection) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->chunked);
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_EQ(r->body, "event: a\ndata: {}\n\nevent: b\ndata: {}\n\nevent: c\ndata: {}\n\n");
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.Send("NONSENSE\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.PeerClosed());
}

TEST_F(HttpServerTest, ChunkedRequestBodyIsRefused) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.Send("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 411);
}

TEST(HttpServerStopTest, StopWakesIdleAndDelayedConnectionsQuickly) {
  HttpServer server(HttpServerOptions{}, Echo);
  ASSERT_TRUE(server.Start().ok());
  RawConnection idle(server.port());
  RawConnection slow(server.port());
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  absl::Time start = absl::Now();
  server.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_FALSE(slow.ReadResponse().has_value());
}

TEST(HttpServerStartTest, BadListenAddressIsAnError) {
  HttpServer server(HttpServerOptions{.listen = "nonsense"}, Echo);
  absl::Status s = server.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerConcurrencyTest, ManyClientsAtOnce) {
  HttpServer server(HttpServerOptions{}, Echo);
  ASSERT_TRUE(server.Start().ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      RawConnection c(server.port());
      for (int j = 0; j < 5; ++j) {
        std::string body = std::to_string(i) + "/" + std::to_string(j);
        if (!c.Send(PostRequest("/e", body, {}))) return;
        auto r = c.ReadResponse();
        if (r && r->body == body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 80);
}

}  // namespace
}  // namespace baton::model_sim
