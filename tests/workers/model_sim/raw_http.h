// A raw-socket HTTP/1.1 client for tests: sends bytes as written, reads one
// response at a time (Content-Length, chunked, or until close), and splits SSE
// bodies into events. Deliberately independent of the server's code.
#ifndef BATON_TESTS_WORKERS_MODEL_SIM_RAW_HTTP_H_
#define BATON_TESTS_WORKERS_MODEL_SIM_RAW_HTTP_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace baton::model_sim::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  bool chunked = false;
};

class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads the next final (non-1xx) response. nullopt on EOF/timeout before a full one.
  std::optional<RawResponse> ReadResponse() {
    for (;;) {
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill()) return std::nullopt;
      }
      std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      RawResponse r;
      r.status = std::atoi(head.substr(9, 3).c_str());
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t v = line.find_first_not_of(' ', colon + 1);
          r.headers[name] = v == std::string::npos ? "" : line.substr(v);
        }
        pos = next;
      }
      if (r.status >= 100 && r.status < 200) continue;  // e.g. 100 Continue
      if (r.headers.count("content-length")) {
        size_t len = std::stoul(r.headers["content-length"]);
        while (buf_.size() < len) {
          if (!Fill()) return std::nullopt;
        }
        r.body = buf_.substr(0, len);
        buf_.erase(0, len);
      } else if (r.headers["transfer-encoding"] == "chunked") {
        r.chunked = true;
        for (;;) {
          size_t eol;
          while ((eol = buf_.find("\r\n")) == std::string::npos) {
            if (!Fill()) return std::nullopt;
          }
          size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
          while (buf_.size() < eol + 2 + size + 2) {
            if (!Fill()) return std::nullopt;
          }
          r.body += buf_.substr(eol + 2, size);
          buf_.erase(0, eol + 2 + size + 2);
          if (size == 0) break;
        }
      } else {
        while (Fill()) {
        }
        r.body = std::move(buf_);
        buf_.clear();
      }
      return r;
    }
  }

  // True when the server closed the connection (reads EOF within the timeout).
  bool PeerClosed() { return buf_.empty() && !Fill(); }

 private:
  bool Fill() {
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

inline std::string PostRequest(const std::string& path, const std::string& body,
                               const std::vector<std::string>& extra_headers = {
                                   "anthropic-version: 2023-06-01"}) {
  std::string req = "POST " + path + " HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n";
  for (const std::string& h : extra_headers) req += h + "\r\n";
  req += "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return req;
}

struct SseEvent {
  std::string event;
  nlohmann::json data;
};

// Splits an SSE body into events; every frame must be "event: X\ndata: {json}\n\n".
// Returns nullopt when a frame breaks that shape.
inline std::optional<std::vector<SseEvent>> ParseSse(const std::string& body) {
  std::vector<SseEvent> events;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) return std::nullopt;
    std::string frame = body.substr(pos, end - pos);
    pos = end + 2;
    size_t nl = frame.find('\n');
    if (nl == std::string::npos || frame.rfind("event: ", 0) != 0 ||
        frame.compare(nl + 1, 6, "data: ") != 0) {
      return std::nullopt;
    }
    SseEvent e;
    e.event = frame.substr(7, nl - 7);
    e.data = nlohmann::json::parse(frame.substr(nl + 7), nullptr, false);
    if (e.data.is_discarded()) return std::nullopt;
    events.push_back(std::move(e));
  }
  return events;
}

}  // namespace baton::model_sim::testing

#endif  // BATON_TESTS_WORKERS_MODEL_SIM_RAW_HTTP_H_
