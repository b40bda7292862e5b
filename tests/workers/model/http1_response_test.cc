#include "workers/model/http1_response.h"

#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::worker {
namespace {

using ::testing::HasSubstr;

// Keeps what the parser hands on; fails a body when told to.
class Recorder final : public Http1ResponseParser::Handler {
 public:
  absl::Status OnHead(int status, HttpHeaders headers) override {
    ++heads;
    this->status = status;
    this->headers = std::move(headers);
    return absl::OkStatus();
  }
  absl::Status OnBody(std::string_view bytes) override {
    if (heads != 1) return absl::InternalError("body before its head");
    body.append(bytes);
    if (!fail_body_with.empty()) return absl::ResourceExhaustedError(fail_body_with);
    return absl::OkStatus();
  }

  int heads = 0;
  int status = 0;
  HttpHeaders headers;
  std::string body;
  std::string fail_body_with;
};

// Feeds `response` in pieces of `piece` bytes; the first error, if any.
absl::Status FeedInPieces(Http1ResponseParser& parser, std::string_view response, size_t piece) {
  for (size_t at = 0; at < response.size(); at += piece) {
    absl::Status status = parser.Feed(response.substr(at, piece));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

constexpr std::string_view kLengthResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "request-id:  req_1 \r\n"
    "Content-Length: 11\r\n"
    "\r\n"
    "{\"a\":\"bcd\"}";

TEST(Http1ResponseParserTest, ALengthFramedAnswerReadsTheSameInPiecesOfAnySize) {
  for (size_t piece = 1; piece <= kLengthResponse.size(); ++piece) {
    Recorder recorder;
    Http1ResponseParser parser(recorder);
    ASSERT_TRUE(FeedInPieces(parser, kLengthResponse, piece).ok()) << piece;
    EXPECT_TRUE(parser.complete()) << piece;
    EXPECT_TRUE(parser.keep_alive()) << piece;
    EXPECT_EQ(parser.status(), 200);
    EXPECT_EQ(recorder.heads, 1);
    EXPECT_EQ(recorder.headers["content-type"], "application/json");
    EXPECT_EQ(recorder.headers["request-id"], "req_1");
    EXPECT_EQ(recorder.body, "{\"a\":\"bcd\"}") << piece;
  }
}

TEST(Http1ResponseParserTest, AChunkedAnswerIsDecodedWithExtensionsAndTrailersInPiecesOfAnySize) {
  const std::string response =
      "HTTP/1.1 200 OK\r\n"
      "content-type: text/event-stream\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "7\r\nevent: \r\n"
      "18;name=value\r\nmessage_start\ndata: {}\n\n\r\n"
      "0\r\n"
      "x-trailer: ignored\r\n"
      "\r\n";
  for (size_t piece = 1; piece <= response.size(); ++piece) {
    Recorder recorder;
    Http1ResponseParser parser(recorder);
    ASSERT_TRUE(FeedInPieces(parser, response, piece).ok()) << piece;
    EXPECT_TRUE(parser.complete()) << piece;
    EXPECT_TRUE(parser.keep_alive()) << piece;
    EXPECT_EQ(recorder.body, "event: message_start\ndata: {}\n\n") << piece;
  }
}

TEST(Http1ResponseParserTest, AnAnswerWithNoLengthEndsWithTheConnectionAndIsNotKept) {
  Recorder recorder;
  Http1ResponseParser parser(recorder);
  ASSERT_TRUE(parser.Feed("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nevent: a\n").ok());
  ASSERT_TRUE(parser.Feed("data: b\n\n").ok());
  EXPECT_FALSE(parser.complete());
  ASSERT_TRUE(parser.FinishAtClose().ok());
  EXPECT_TRUE(parser.complete());
  EXPECT_FALSE(parser.keep_alive());
  EXPECT_EQ(recorder.body, "event: a\ndata: b\n\n");
}

TEST(Http1ResponseParserTest, InterimAnswersAreSkipped) {
  Recorder recorder;
  Http1ResponseParser parser(recorder);
  ASSERT_TRUE(parser
                  .Feed("HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n"
                        "HTTP/1.1 103 Early Hints\r\n\r\n"
                        "HTTP/1.1 529 Overloaded\r\ncontent-length: 2\r\n\r\n{}")
                  .ok());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(recorder.heads, 1);
  EXPECT_EQ(parser.status(), 529);
  EXPECT_EQ(recorder.headers.count("x-interim"), 0u);
  EXPECT_EQ(recorder.body, "{}");
}

TEST(Http1ResponseParserTest, WhatMakesAConnectionUnfitForAnotherRequest) {
  struct Case {
    std::string response;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 204 No Content\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      // Both framings: chunked wins, and the connection is not trusted again.
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
      // More bytes than the answer holds.
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", false},
  };
  for (const Case& c : cases) {
    Recorder recorder;
    Http1ResponseParser parser(recorder);
    ASSERT_TRUE(parser.Feed(c.response).ok()) << c.response;
    EXPECT_TRUE(parser.complete()) << c.response;
    EXPECT_EQ(parser.keep_alive(), c.keep_alive) << c.response;
  }
}

TEST(Http1ResponseParserTest, MalformedAnswersAreRefusedNamingWhatIsWrong) {
  struct Case {
    std::string response;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"HTTP/2 200\r\n\r\n", "malformed HTTP response: status line \"HTTP/2 200\""},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "status line"},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line \"no colon here\""},
      {"HTTP/1.1 200 OK\r\nname : value\r\n\r\n", "header line"},
      {"HTTP/1.1 200 OK\r\na: b\r\n  folded\r\n\r\n", "folded header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length \"-1\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "two different Content-Length headers"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       "unsupported Transfer-Encoding \"gzip, chunked\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size line \"zz\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "chunk data followed by \"b\""},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101 Switching Protocols"},
      {"HTTP/1.1 200 OK\r\nx: " + std::string(Http1ResponseParser::kMaxHeadBytes, 'a'),
       "head longer than 65536 bytes"},
  };
  for (const Case& c : cases) {
    Recorder recorder;
    Http1ResponseParser parser(recorder);
    absl::Status status = parser.Feed(c.response);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << c.response.substr(0, 60);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.response.substr(0, 60);
    EXPECT_FALSE(parser.complete());
    // A refused head has no status, as the handler never heard of it.
    EXPECT_EQ(parser.status(), recorder.status) << c.response.substr(0, 60);
  }
}

TEST(Http1ResponseParserTest, AConnectionClosedEarlySaysWhereTheAnswerStopped) {
  struct Case {
    std::string received;
    std::string error;
    bool started;
  };
  const std::vector<Case> cases = {
      {"", "connection closed before an HTTP response", false},
      {"HTTP/1.1 20", "in the HTTP response's status line", true},
      {"HTTP/1.1 200 OK\r\nContent-Le", "in the HTTP response's headers", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "7 bytes before the HTTP response's end", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked body", true},
  };
  for (const Case& c : cases) {
    Recorder recorder;
    Http1ResponseParser parser(recorder);
    ASSERT_TRUE(parser.Feed(c.received).ok()) << c.received;
    EXPECT_EQ(parser.started(), c.started) << c.received;
    absl::Status status = parser.FinishAtClose();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << c.received;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.received;
    EXPECT_FALSE(parser.complete());
  }
}

TEST(Http1ResponseParserTest, TheHandlersErrorStopsTheParse) {
  Recorder recorder;
  recorder.fail_body_with = "too big";
  Http1ResponseParser parser(recorder);
  absl::Status status = parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "too big");
  EXPECT_FALSE(parser.complete());
}

}  // namespace
}  // namespace baton::worker
