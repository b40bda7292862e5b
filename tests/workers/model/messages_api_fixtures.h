// What the Messages API client's tests share: a request, the answers they script, and
// the pieces of their loopback servers (a listening socket, a connection's bytes, the
// requests read from them).
#ifndef BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_
#define BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace baton::worker::api_test {

// A request as a test server read it.
struct Request {
  std::string request_line;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// A connection's bytes, plain or through TLS.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual ssize_t Read(char* buffer, size_t size) = 0;  // 0: closed (or the server stops)
  virtual bool Write(std::string_view bytes) = 0;       // false: the client went away
};

// A plain TCP connection. With `stop`, a read waits in short slices and gives up once
// it is set, so a server thread never outlives its test.
class PlainStream final : public Stream {
 public:
  explicit PlainStream(int fd, const std::atomic<bool>* stop = nullptr) : fd_(fd), stop_(stop) {}
  ssize_t Read(char* buffer, size_t size) override {
    while (stop_ != nullptr) {
      if (stop_->load()) return 0;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10) > 0) break;
    }
    return recv(fd_, buffer, size, 0);
  }
  bool Write(std::string_view bytes) override {
    for (size_t sent = 0; sent < bytes.size();) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += n;
    }
    return true;
  }

 private:
  int fd_;
  const std::atomic<bool>* stop_;
};

// Reads the next request of a connection; `pending` keeps bytes read past it. False
// when the connection closed first.
inline bool ReadRequest(Stream& stream, std::string& pending, Request* request) {
  char buffer[4096];
  size_t head_end;
  while ((head_end = pending.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = stream.Read(buffer, sizeof(buffer));
    if (n <= 0) return false;
    pending.append(buffer, n);
  }
  const std::string head = pending.substr(0, head_end);
  pending.erase(0, head_end + 4);
  size_t line_end = head.find("\r\n");
  request->request_line = head.substr(0, line_end);
  request->headers.clear();
  size_t content_length = 0;
  while (line_end != std::string::npos) {
    const size_t next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(line_end + 2, next == std::string::npos ? next : next - line_end - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      if (name == "content-length") {
        EXPECT_TRUE(absl::SimpleAtoi(value, &content_length));
      }
      request->headers[name] = value;
    }
    line_end = next;
  }
  while (pending.size() < content_length) {
    ssize_t n = stream.Read(buffer, sizeof(buffer));
    if (n <= 0) return false;
    pending.append(buffer, n);
  }
  request->body = pending.substr(0, content_length);
  pending.erase(0, content_length);
  return true;
}

// A socket listening on 127.0.0.1:<ephemeral>; its port in `port`.
inline int ListenOnLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

inline nlohmann::json Request1() {
  return {{"model", "claude-sonnet-4-5"},
          {"max_tokens", 1024},
          {"messages", {{{"role", "user"}, {"content", "Hello"}}}}};
}

// A whole non-streamed answer: one text block.
inline nlohmann::json TextMessage(const std::string& text) {
  return {{"id", "msg_json"},
          {"type", "message"},
          {"role", "assistant"},
          {"model", "claude-sonnet-4-5"},
          {"content", {{{"type", "text"}, {"text", text}}}},
          {"stop_reason", "end_turn"},
          {"stop_sequence", nullptr},
          {"usage", {{"input_tokens", 12}, {"output_tokens", 3}}}};
}

// One server-sent event, named by its data's `type`.
inline std::string SseEventText(const nlohmann::json& data) {
  return absl::StrCat("event: ", data["type"].get<std::string>(), "\ndata: ", data.dump(), "\n\n");
}

// A stream's first event: the message, empty, with its input tokens.
inline std::string MessageStartEvent() {
  return SseEventText({{"type", "message_start"},
                       {"message",
                        {{"id", "msg_sse"},
                         {"type", "message"},
                         {"role", "assistant"},
                         {"model", "claude-sonnet-4-5"},
                         {"content", nlohmann::json::array()},
                         {"stop_reason", nullptr},
                         {"stop_sequence", nullptr},
                         {"usage", {{"input_tokens", 30}, {"output_tokens", 1}}}}}});
}

}  // namespace baton::worker::api_test

#endif  // BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_
